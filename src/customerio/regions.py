"""Customer.io App API base URLs per region, with an environment override for local testing."""

from __future__ import annotations

import os
from collections.abc import Mapping

REGIONS: dict[str, str] = {
    "us": "https://api.customer.io",
    "eu": "https://api-eu.customer.io",
}

# Set only in the environment (never in the configuration): points the client at the local sandbox.
API_URL_ENV = "CUSTOMERIO_API_URL"


def resolve_base_url(region: str, environ: Mapping[str, str] = os.environ) -> str:
    """Base URL for ``region`` ("us" or "eu", any case); a non-empty ``CUSTOMERIO_API_URL`` wins.

    Requests then go to ``<base>/v1/...``. Customer.io does not redirect between regions, so the region must match
    the workspace. Raises ValueError for an unknown region.
    """
    override = (environ.get(API_URL_ENV) or "").strip()
    if override:
        return override.rstrip("/")
    key = region.strip().lower() if isinstance(region, str) else ""
    if key not in REGIONS:
        raise ValueError(f"Unknown Customer.io region {region!r}: use one of {', '.join(sorted(REGIONS))}.")
    return REGIONS[key]
