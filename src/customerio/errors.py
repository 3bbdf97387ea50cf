"""Typed errors of the Customer.io App API client.

Every error carries ``message``: one readable sentence that says what happened and what to do about it. ``str(e)``
is that sentence. Messages never contain the API key (the client builds them from its own templates, the HTTP
method, the path without its query string and, for 400/422, the API's own ``errors[].detail`` text with the key
redacted). Every error also keeps ``status`` (the HTTP status, or None when no response arrived) and ``path``.
"""

from __future__ import annotations


class CustomerIoError(Exception):
    """Base class: something a user can act on (the component maps it to a user error, exit code 1)."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.path = path

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep status and path across pickling (e.g. multiprocessing)
        return _rebuild, (type(self), self.message, self.status, self.path)


def _rebuild(cls: type[CustomerIoError], message: str, status: int | None, path: str | None) -> CustomerIoError:
    error = cls.__new__(cls)
    CustomerIoError.__init__(error, message, status=status, path=path)
    return error


class AuthenticationError(CustomerIoError):
    """401: the key was rejected."""

    @classmethod
    def for_request(cls, method: str, path: str) -> AuthenticationError:
        return cls(
            f"Customer.io rejected the API key (401) for {method} {path}: use an App API key (Track API keys and "
            "service-account tokens do not work), check that the region (US or EU) matches your workspace "
            "(Customer.io does not redirect between regions), and check that the key has not been revoked or deleted.",
            status=401, path=path)

    @classmethod
    def wrong_region(cls, method: str, path: str, region: str, other: str) -> AuthenticationError:
        return cls(
            f"Customer.io rejected the API key (401) for {method} {path} in the {region.upper()} region, but the "
            f"{other.upper()} region accepts it: the workspace is in the {other.upper()} region, so set api_region "
            f"(Region) to {other}.", status=401, path=path)


class PermissionDeniedError(CustomerIoError):
    """403: the key may not read this endpoint (scope) or the caller's IP is not allowed."""

    @classmethod
    def for_request(cls, method: str, path: str) -> PermissionDeniedError:
        return cls(
            f"The App API key is not allowed to read {method} {path} (403): give the key access to this data in "
            "Customer.io (Settings > API Credentials) or check the workspace's IP allowlist.",
            status=403, path=path)


class NotFoundError(CustomerIoError):
    """404: the object or endpoint does not exist."""

    @classmethod
    def for_request(cls, method: str, path: str) -> NotFoundError:
        return cls(
            f"Customer.io found nothing at {method} {path} (404): check the ID in the configuration, "
            "the object may have been deleted.",
            status=404, path=path)


class BadRequestError(CustomerIoError):
    """400/422: Customer.io refused the request; the message quotes the API's explanation."""

    @classmethod
    def for_request(cls, method: str, path: str, status: int, detail: str) -> BadRequestError:
        explanation = f" saying \"{detail}\"" if detail else ""
        return cls(
            f"Customer.io refused {method} {path} ({status}){explanation}; check the configuration values "
            "used for this request.",
            status=status, path=path)


class RateLimitError(CustomerIoError):
    """429 still after the retry budget."""


class ServerError(CustomerIoError):
    """5xx, connection errors or timeouts still after the retry budget."""


class UnreachableError(ServerError):
    """No connection could be opened to the host (DNS, refused, proxy, connect timeout): a local problem."""


class InvalidResponseError(CustomerIoError):
    """A successful status with a body that is not a JSON object or is cut off, still after the retry budget."""


class PaginationError(CustomerIoError):
    """Customer.io sent a page cursor that this pagination chain had already used."""

    @classmethod
    def for_request(cls, method: str, path: str) -> PaginationError:
        return cls(
            f"Customer.io sent a page cursor for {method} {path} that was already used, so paging stopped to avoid "
            "an endless loop: run the extraction again later and contact Customer.io support if it persists.",
            path=path)


class ExpiredDownloadError(CustomerIoError):
    """403 (or 401) from a pre-signed download URL: it has most likely expired; fetch a fresh URL and retry."""


__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CustomerIoError",
    "ExpiredDownloadError",
    "InvalidResponseError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UnreachableError",
]
