"""Customer.io App API client (no Keboola imports)."""

from .client import (
    STATUS_ERRORS,
    ClientStats,
    CustomerIoClient,
    DeferredPage,
    parse_retry_after,
    response_part,
)
from .errors import (
    AuthenticationError,
    BadRequestError,
    CustomerIoError,
    ExpiredDownloadError,
    InvalidResponseError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnreachableError,
)
from .rate_limiter import Cancelled, ChainPriority, RateLimiter, chain_priority
from .regions import REGIONS, resolve_base_url

__all__ = [
    "REGIONS",
    "STATUS_ERRORS",
    "AuthenticationError",
    "BadRequestError",
    "Cancelled",
    "ChainPriority",
    "ClientStats",
    "CustomerIoClient",
    "CustomerIoError",
    "DeferredPage",
    "ExpiredDownloadError",
    "InvalidResponseError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiter",
    "ServerError",
    "UnreachableError",
    "chain_priority",
    "parse_retry_after",
    "resolve_base_url",
    "response_part",
]
