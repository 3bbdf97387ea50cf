"""Customer.io App API base URLs per region, with an environment override for local testing."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from .errors import CustomerIoError

REGIONS: dict[str, str] = {
    "us": "https://api.customer.io",
    "eu": "https://api-eu.customer.io",
}

# Set only in the environment (never in the configuration): points the client at the local sandbox.
API_URL_ENV = "CUSTOMERIO_API_URL"


def resolve_base_url(region: str, environ: Mapping[str, str] = os.environ) -> str:
    """Base URL for ``region`` ("us" or "eu", any case); a non-empty ``CUSTOMERIO_API_URL`` wins.

    Requests then go to ``<base>/v1/...``; an override ending in ``/v1`` is accepted (the suffix is dropped), one
    without http(s):// raises a CustomerIoError (one sentence). Customer.io does not redirect between regions, so
    the region must match the workspace. Raises ValueError for an unknown region.
    """
    override = (environ.get(API_URL_ENV) or "").strip()
    if override:
        return _custom_base_url(override)
    key = region.strip().lower() if isinstance(region, str) else ""
    if key not in REGIONS:
        raise ValueError(f"Unknown Customer.io region {region!r}: use one of {', '.join(sorted(REGIONS))}.")
    return REGIONS[key]


def _custom_base_url(text: str) -> str:
    """The override without a trailing ``/`` or ``/v1`` (the client adds ``/v1/...`` itself)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = text if "@" not in text and len(text) <= 100 else "(the value)"  # never echo credentials in a URL
        raise CustomerIoError(f"The environment variable {API_URL_ENV} must be a URL starting with http:// or "
                              f"https://, not '{shown}': for the local sandbox use for example http://127.0.0.1:8080.")
    return re.sub(r"(/v1)?/*$", "", text)
