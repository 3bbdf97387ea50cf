"""Customer.io App API base URLs per region, with an environment override for local testing."""

from __future__ import annotations

import json
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
# Tests only (environment, never the configuration): a JSON object {"us": url, "eu": url} standing in for the two
# regions, so that the wrong-region check can run against two local sandboxes.
REGION_URLS_ENV = "CUSTOMERIO_REGION_URLS"


def region_urls(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The base URL of each region: REGIONS, or the test mapping of CUSTOMERIO_REGION_URLS."""
    raw = (environ.get(REGION_URLS_ENV) or "").strip()
    if not raw:
        return dict(REGIONS)
    try:
        mapping = json.loads(raw)
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict) or set(mapping) != set(REGIONS):
        raise CustomerIoError(f"The environment variable {REGION_URLS_ENV} must be a JSON object with the URLs of "
                              f"{' and '.join(sorted(REGIONS))}: unset it outside tests.")
    return {name: _custom_base_url(str(url)) for name, url in mapping.items()}


def other_region(base_url: str, environ: Mapping[str, str] = os.environ) -> tuple[str, str, str] | None:
    """(this region, the other region, its base URL) when ``base_url`` is one of the two regions' URLs; None with
    CUSTOMERIO_API_URL set or any other URL (a sandbox or a proxy has no other region)."""
    if (environ.get(API_URL_ENV) or "").strip():
        return None
    urls = region_urls(environ)
    base = base_url.rstrip("/")
    for name, url in urls.items():
        if url == base:
            other = next(n for n in urls if n != name)
            return name, other, urls[other]
    return None


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
    return region_urls(environ)[key]


def _custom_base_url(text: str) -> str:
    """The override without a trailing ``/`` or ``/v1`` (the client adds ``/v1/...`` itself)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = text if "@" not in text and len(text) <= 100 else "(the value)"  # never echo credentials in a URL
        raise CustomerIoError(f"The environment variable {API_URL_ENV} must be a URL starting with http:// or "
                              f"https://, not '{shown}': for the local sandbox use for example http://127.0.0.1:8080.")
    return re.sub(r"(/v1)?/*$", "", text)
