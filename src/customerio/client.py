"""Customer.io App API client: pooled session, Bearer auth, pacing, retries, pagination and downloads.

Retries (``backoff`` library, decorators built per call so each call keeps its own budget and counters):

* 429 with ``Retry-After`` (seconds or an HTTP date): wait exactly that long (``backoff.runtime``).
* 429 without a usable ``Retry-After``: ``backoff.expo`` from 1 s, capped at 30 s, with ``backoff.full_jitter``.
  On every 429 the shared rate limiter is paused for the wait, so every thread holds back, not only this one.
* A connection that cannot be opened (DNS failure, refused, proxy error, connect timeout) is a local problem, not
  Customer.io's: such a call gives up ``UNREACHABLE_SECONDS`` after its first failed connection (connect timeouts
  are shortened to fit) with an ``UnreachableError`` naming the host, and every other call of the client then gives
  up at once. It is logged once per host and kind of failure, not once per thread and attempt.
* 500/502/503/504, connections lost mid-answer, read timeouts and broken bodies (cut off, not a JSON object):
  ``backoff.expo`` from 0.5 s, capped at 30 s, with full jitter; at most ``max_server_retries`` such attempts per
  call.
* All retries of one call stop once ``max_retry_seconds`` have passed since the call started (waits are clipped
  to what remains of that budget; a ``Retry-After`` longer than what remains ends the call at once).
* 400/401/403/404/422 and any other status raise a typed error at once.

Waiting and testing: ``backoff`` sleeps with ``time.sleep``, which it looks up on the ``time`` module at the moment
it waits. Tests therefore replace ``time.sleep`` (pytest ``monkeypatch``) with a fake that records the wait and
advances a fake clock, and pass that fake clock as ``clock=``; the client measures its retry budget only with
``clock`` (``time.monotonic`` by default). Nothing else in the client sleeps except the rate limiter, which has
its own ``clock``/``sleep`` hooks. Retry-After HTTP dates are compared with the wall clock (``time.time``).

Secrets: the key only ever travels in the Authorization header (set by an auth object per request). Errors and
log lines are built from our own sentences, the method, the path without query string, status codes and
exception class names; never from request headers or exception text.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import IO, Any, Self, TypeVar
from urllib.parse import urlsplit

import backoff
import requests
from requests.auth import AuthBase
from requests.exceptions import ChunkedEncodingError, ContentDecodingError

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
from .rate_limiter import RateLimiter
from .regions import other_region
from .transport import SendTimedAdapter, on_send

logger = logging.getLogger("customerio")

RETRY_STATUSES = frozenset({500, 502, 503, 504})
SERVER_BACKOFF_BASE = 0.5  # seconds; doubles per attempt
RATE_LIMIT_BACKOFF_BASE = 1.0  # seconds; doubles per attempt (429 without Retry-After)
BACKOFF_CAP = 30.0  # seconds; longest single exponential wait
DETAIL_LIMIT = 300  # characters of the API's error detail quoted in a BadRequestError
STATUS_PAGE = "https://status.customerio.com/"
UNREACHABLE_SECONDS = 15.0  # give up on a host no connection can be opened to after this long

# The statuses that end a call at once, each with its typed error: (method, path, status, detail()) -> error.
# detail() is the API's own explanation, read only for the errors that quote it.
STATUS_ERRORS: dict[int, Callable[[str, str, int, Callable[[], str]], CustomerIoError]] = {
    400: lambda method, path, status, detail: BadRequestError.for_request(method, path, status, detail()),
    401: lambda method, path, status, detail: AuthenticationError.for_request(method, path),
    403: lambda method, path, status, detail: PermissionDeniedError.for_request(method, path),
    404: lambda method, path, status, detail: NotFoundError.for_request(method, path),
    422: lambda method, path, status, detail: BadRequestError.for_request(method, path, status, detail()),
}

_KEY_PATTERN = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: anything else breaks the header

T = TypeVar("T")


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of the client's counters (all calls, all threads, since the client was created)."""

    requests: int = 0  # App API attempts sent, retries included
    rate_limited: int = 0  # 429 answers seen
    retries: int = 0  # waits followed by another attempt (App API and downloads)
    server_errors: int = 0  # retryable failures seen: 5xx, connection errors, timeouts, broken bodies
    downloads: int = 0  # download attempts
    download_bytes: int = 0  # bytes written by successful downloads


class _BearerAuth(AuthBase):
    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return "<BearerAuth (hidden)>"


class _NoAuth(AuthBase):
    """Pre-signed URLs reject an Authorization header; this also keeps ~/.netrc credentials off them."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


class _Call:
    """State of one logical call (all its attempts): budget, counters, and how to name it in messages."""

    def __init__(self, method: str, path: str, display: str, clock: Callable[[], float], budget: float,
                 host: str = "") -> None:
        self.host = host
        self.unreachable_since: float | None = None  # when the current run of failed connections began
        self.attempt_started = 0.0  # set before each attempt
        self.method = method
        self.path = path
        self.endpoint = f"{method} {display}"
        self.clock = clock
        self.started = clock()
        self.deadline = self.started + budget
        self.attempts = 0
        self.transient_failures = 0

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started


class _RetrySignal(Exception):
    """Internal: an attempt failed in a retryable way. Never escapes the client."""

    def __init__(self, reason: str, *, status: int | None = None, wait: float | None = None,
                 invalid: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason  # completes "GET /v1/x ...", e.g. "answered 503", "timed out"
        self.status = status
        self.wait = wait
        self.invalid = invalid  # the answer arrived but its body was broken


class _Transient(_RetrySignal):
    """5xx, connection error, timeout, broken body."""


class _Unreachable(_Transient):
    """No connection could be opened (``kind``: the cause's class name, e.g. NameResolutionError)."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind


class _RateLimited(_RetrySignal):
    """429 without a usable Retry-After."""


class _RateLimitedFor(_RetrySignal):
    """429 with Retry-After (``wait`` seconds)."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delay seconds or an HTTP date); None if absent or unreadable.

    ``now`` is the wall clock (unix seconds) an HTTP date is compared with; default ``time.time()``.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _cause_name(exc: BaseException) -> str:
    """Class name of the innermost cause of a requests/urllib3 exception (class names only: no URL, no headers)."""
    current: BaseException = exc
    for _ in range(6):
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException) and current.args and isinstance(current.args[-1], BaseException):
            inner = current.args[-1]
        if not isinstance(inner, BaseException):
            break
        current = inner
    return type(current).__name__


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class CustomerIoClient:
    """Thread-safe client for the Customer.io App API (one instance shared by all worker threads).

    ``clock`` measures the retry budget (see the module docstring); ``session`` may be supplied (e.g. with a test
    adapter mounted) and is then used as-is and not closed by ``close()``.
    """

    def __init__(self, api_key: str, base_url: str, *, rate_limiter: RateLimiter | None = None,
                 timeout: tuple[float, float] = (10, 60), max_retry_seconds: float = 600,
                 max_server_retries: int = 8, pool_size: int = 16, session: requests.Session | None = None,
                 user_agent: str = "keboola-ex-customerio", clock: Callable[[], float] = time.monotonic) -> None:
        key = api_key.strip() if isinstance(api_key, str) else ""
        if not key:
            raise CustomerIoError("The Customer.io App API key is empty: enter an App API key in the configuration.")
        if not _KEY_PATTERN.fullmatch(key):
            raise CustomerIoError("The Customer.io App API key contains spaces, line breaks or other characters an "
                                  "API key cannot have: copy the App API key again from Customer.io.")
        base = (base_url or "").strip().rstrip("/")
        if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        if max_server_retries < 1:
            raise ValueError("max_server_retries must be at least 1")
        if max_retry_seconds < 0:
            raise ValueError("max_retry_seconds must not be negative")

        self._key = key
        self._auth = _BearerAuth(key)
        self._no_auth = _NoAuth()
        self.base_url = base
        self._limiter = rate_limiter if rate_limiter is not None else RateLimiter()
        self._timeout = timeout
        self._max_retry_seconds = float(max_retry_seconds)
        self._max_server_retries = int(max_server_retries)
        self._clock = clock
        self._api_headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._download_headers = {"User-Agent": user_agent}

        self._owns_session = session is None
        self._session = session if session is not None else self._new_session(pool_size)
        # Downloads use their own plain session: no Authorization header, no sharing with the API pool.
        self._download_session = self._new_session(max(2, pool_size // 4))

        self._stats_lock = threading.Lock()
        self._counters = dict.fromkeys(ClientStats.__dataclass_fields__, 0)
        self._logged_unreachable: set[tuple[str, str]] = set()  # (host, kind) already in the log
        self._unreachable: UnreachableError | None = None  # set once a call gave up on an unreachable host
        # Customer.io does not redirect App API requests between regions, and a key of the other region gets a 401
        # that reads like a bad key: on a 401 the other region is asked once (see _key_belongs_elsewhere).
        self._other_region = other_region(base)  # (this region, the other, its URL) or None
        self._region_lock = threading.Lock()
        self._elsewhere: bool | None = None  # the other region's answer, once asked

    @staticmethod
    def _new_session(pool_size: int) -> requests.Session:
        session = requests.Session()
        # max_retries=0: urllib3 never retries on its own; every retry goes through this client's policy.
        adapter = SendTimedAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # ----------------------------------------------------------------------------------------------- public API

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._limiter

    @property
    def stats(self) -> ClientStats:
        with self._stats_lock:
            return ClientStats(**self._counters)

    def request_json(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                     json_body: Any = None) -> dict:
        """Send one App API request (with retries) and return the JSON object it answers."""
        return self._request(method, path, params=params, json_body=json_body, defer_parse=False)

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None, json_body: Any,
                 defer_parse: bool) -> Any:
        method = method.upper()
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        clean_path = path.split("?", 1)[0]
        url = self.base_url + path
        call = _Call(method, clean_path, clean_path, self._clock, self._max_retry_seconds,
                     host=urlsplit(self.base_url).netloc)

        def attempt() -> Any:
            self._check_reachable()
            ticket = self._limiter.acquire()  # before every attempt, retries included (the thread's chain_priority)
            call.attempts += 1
            self._count(requests=1)
            try:
                with on_send(lambda: self._limiter.leaving(ticket), lambda: self._limiter.left(ticket)):
                    response = self._session.request(
                        method, url, params=params, json=json_body, headers=self._api_headers, auth=self._auth,
                        timeout=self._attempt_timeout(call))
            except requests.RequestException as exc:
                raise self._request_failure(call, exc) from None
            call.unreachable_since = None
            if not defer_parse:
                return self._read_api_response(call, response)
            return DeferredPage(self._read_api_body(call, response), call.endpoint, lambda: self.request_json(
                method, path, params=params, json_body=json_body))

        try:
            return self._run(call, attempt, rate_limited=True)
        except AuthenticationError:
            if self._other_region is not None and self._key_belongs_elsewhere():
                region, other, _url = self._other_region
                raise AuthenticationError.wrong_region(method, clean_path, region, other) from None
            raise

    def _key_belongs_elsewhere(self) -> bool:
        """Whether the other region accepts the key: one GET /v1/segments there, asked once per client.

        Customer.io does not redirect App API requests between regions, and a key sent to the other region gets a
        401 like an invalid key (docs.customer.io/accounts/settings/data-centers/, as airbytehq/airbyte
        airbyte-integrations/connectors/source-customer-io/AGENTS.md notes).

        Any answer but 401 (a 403 of a limited key too) means the key is known there; no answer, or a 5xx, says
        nothing, and the usual sentence stands."""
        with self._region_lock:
            if self._elsewhere is None:
                _region, _other, url = self._other_region
                self._limiter.acquire()
                self._count(requests=1)
                try:
                    response = self._session.get(url + "/v1/segments", headers=self._api_headers, auth=self._auth,
                                                 timeout=self._timeout)
                    self._elsewhere = response.status_code != 401 and response.status_code < 500
                    response.close()
                except requests.RequestException:
                    self._elsewhere = False
            return self._elsewhere

    def paginate(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json_body: Any = None,
                 start: str | None = None, defer_parse: bool = False) -> Iterator[Any]:
        """Yield every page of a cursor endpoint, sending the cursor as query parameter ``start`` (POST too).

        Stops when ``next`` is missing, null or ""; goes on past an empty page that still has ``next``. A cursor this
        chain has already sent ends the chain when it comes on an empty page (the end of the chain, as the other
        Customer.io connectors treat it) and raises PaginationError on a page with records (the chain would loop,
        reading those records again). With ``defer_parse``
        the pages are DeferredPage objects, parsed by the thread that first reads them (see DeferredPage).
        """
        base_params = dict(params or {})
        cursor = start if start is not None else base_params.pop("start", None)
        base_params.pop("start", None)
        sent: set[str] = set()
        while True:
            page_params = dict(base_params)
            if cursor is not None:
                cursor = str(cursor)
                sent.add(cursor)
                page_params["start"] = cursor
            page = self._request(method, path, params=page_params, json_body=json_body, defer_parse=defer_parse)
            yield page
            following = page.get("next")
            if following is None or following == "":
                return
            if str(following) in sent:
                if _is_empty_page(page):
                    return
                raise PaginationError.for_request(method.upper(), path.split("?", 1)[0])
            page = None  # not kept alive while the next page is fetched
            cursor = following

    def download(self, url: str, fileobj: IO[bytes], *, chunk_size: int = 1 << 20) -> int:
        """Stream a pre-signed absolute URL into ``fileobj``; returns the number of bytes written.

        Sent WITHOUT the Authorization header and NOT paced by the rate limiter (it is not an App API call).
        Before EVERY attempt the file is rewound and emptied (``fileobj.seek(0); fileobj.truncate()``), so a retry
        after a cut-off body starts from a clean file; ``fileobj`` must therefore be seekable and writable.
        403/401 raise ExpiredDownloadError (fetch a fresh URL), 404 NotFoundError; 429, 5xx, connection errors,
        timeouts and bodies shorter than their Content-Length are retried like App API server errors.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("download() needs an absolute http(s) URL")
        path = parts.path or "/"
        call = _Call("GET", path, parts.netloc + path, self._clock, self._max_retry_seconds, host=parts.netloc)

        def attempt() -> int:
            call.attempts += 1
            self._count(downloads=1)
            fileobj.seek(0)
            fileobj.truncate()
            written = 0
            try:
                with self._download_session.get(url, stream=True, timeout=self._attempt_timeout(call),
                                                auth=self._no_auth, headers=self._download_headers) as response:
                    self._check_download_status(call, response)
                    expected = _expected_length(response)
                    for chunk in response.iter_content(chunk_size=chunk_size):
                        if chunk:
                            fileobj.write(chunk)
                            written += len(chunk)
            except requests.RequestException as exc:
                raise self._request_failure(call, exc) from None
            if expected is not None and written != expected:
                raise self._transient(call, f"broke off after {written} of {expected} bytes", invalid=True)
            self._count(download_bytes=written)
            return written

        return self._run(call, attempt, rate_limited=False)

    def close(self) -> None:
        if self._owns_session:
            self._session.close()
        self._download_session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CustomerIoClient {self.base_url}>"

    # ------------------------------------------------------------------------------------------------ internals

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for name, value in increments.items():
                self._counters[name] += value

    def _run(self, call: _Call, attempt: Callable[[], T], *, rate_limited: bool) -> T:
        """Run ``attempt`` under the retry policy; turn a final retryable failure into a typed error."""

        def clip(wait: float) -> float:
            # Full jitter, then never wait past the call's budget (nor past the patience for an unreachable host).
            return max(0.0, min(backoff.full_jitter(wait), call.remaining(), self._unreachable_remaining(call)))

        def on_backoff(details: dict) -> None:
            self._on_backoff(call, details)

        def server_budget_spent(exc: Exception) -> bool:
            if isinstance(exc, _Unreachable):
                return self._unreachable_remaining(call) <= 0 or call.remaining() <= 0
            return call.transient_failures >= self._max_server_retries or call.remaining() <= 0

        def time_budget_spent(exc: Exception) -> bool:
            return call.remaining() <= 0

        def hint_exceeds_budget(exc: Exception) -> bool:
            remaining = call.remaining()
            return remaining <= 0 or (exc.wait or 0.0) > remaining

        retrying = backoff.on_exception(
            backoff.expo, _Transient, factor=SERVER_BACKOFF_BASE, max_value=BACKOFF_CAP, jitter=clip,
            giveup=server_budget_spent, on_backoff=on_backoff, logger=None)(attempt)
        if rate_limited:
            retrying = backoff.on_exception(
                backoff.expo, _RateLimited, factor=RATE_LIMIT_BACKOFF_BASE, max_value=BACKOFF_CAP, jitter=clip,
                giveup=time_budget_spent, on_backoff=on_backoff, logger=None)(retrying)
            retrying = backoff.on_exception(
                backoff.runtime, _RateLimitedFor, value=lambda exc: exc.wait, jitter=None,
                giveup=hint_exceeds_budget, on_backoff=on_backoff, logger=None)(retrying)
        try:
            return retrying()
        except _RetrySignal as exc:
            raise self._give_up_error(call, exc) from None

    def _on_backoff(self, call: _Call, details: dict) -> None:
        exc = details["exception"]
        wait = details["wait"]
        self._count(retries=1)
        if isinstance(exc, (_RateLimited, _RateLimitedFor)):
            self._limiter.pause(wait)  # every thread holds back, not only this one
        if isinstance(exc, _Unreachable):
            with self._stats_lock:
                first = (call.host, exc.kind) not in self._logged_unreachable
                self._logged_unreachable.add((call.host, exc.kind))
            if first:  # many threads fail at once: one line per host and kind of failure, not per attempt
                logger.warning("Cannot connect to %s (%s); retrying for up to %.0f s.", call.host, exc.kind,
                               UNREACHABLE_SECONDS)
                return
        logger.log(logging.DEBUG if isinstance(exc, _Unreachable) else logging.WARNING,
                   "%s %s; retrying in %.1f s (attempt %d)", call.endpoint, exc.reason, wait, call.attempts + 1)

    # -- unreachable hosts: a local problem, so little patience ---------------------------------------------------

    def _unreachable_remaining(self, call: _Call) -> float:
        if call.unreachable_since is None:
            return math.inf
        return call.unreachable_since + UNREACHABLE_SECONDS - call.clock()

    def _attempt_timeout(self, call: _Call) -> Any:
        """The configured timeout; while connections fail, the connect part shrinks to the patience left."""
        call.attempt_started = call.clock()
        remaining = self._unreachable_remaining(call)
        if remaining == math.inf or not isinstance(self._timeout, tuple):
            return self._timeout
        connect, read = self._timeout
        return (max(1.0, min(connect, remaining)), read)

    def _check_reachable(self) -> None:
        """Once one call gave up on an unreachable host, the others (other threads) give up at once."""
        error = self._unreachable
        if error is not None:
            raise UnreachableError(error.message, path=error.path)

    def _give_up_error(self, call: _Call, exc: _RetrySignal) -> CustomerIoError:
        elapsed = f"{call.elapsed():.0f} s"
        if isinstance(exc, _Unreachable):
            error = UnreachableError(
                f"Could not connect to {call.host} ({exc.kind}) for {elapsed}: check the network connection, DNS "
                "and proxy settings, and CUSTOMERIO_API_URL if it is set.", path=call.path)
            self._unreachable = error
            return error
        if isinstance(exc, (_RateLimited, _RateLimitedFor)):
            if isinstance(exc, _RateLimitedFor) and call.remaining() > 0:
                what = (f"still asked to wait {exc.wait:.0f} s more after {call.attempts} attempts over {elapsed}, past "
                        "the retry budget")
            else:
                what = f"kept answering 429 to {call.attempts} attempts over {elapsed}"
            return RateLimitError(
                f"Customer.io rate limited {call.endpoint} and {what}: another integration may be using the "
                "workspace's App API limit of 10 requests per second, so run the extraction again later.",
                status=429, path=call.path)
        if exc.invalid:
            return InvalidResponseError(
                f"Customer.io sent a broken response to {call.endpoint} {call.attempts} times, the last one "
                f"{exc.reason}: the service is probably having problems, so try again later.",
                status=exc.status, path=call.path)
        return ServerError(
            f"Customer.io is unavailable: {call.attempts} attempts at {call.endpoint} failed within {elapsed}, the "
            f"last one {exc.reason}; try again later (see {STATUS_PAGE}).",
            status=exc.status, path=call.path)

    def _unreachable_failure(self, call: _Call, kind: str) -> _Unreachable:
        self._count(server_errors=1)
        if call.unreachable_since is None:  # patience counts from the start of the first failed attempt
            call.unreachable_since = call.attempt_started
        return _Unreachable(f"could not connect ({kind})", kind)

    def _transient(self, call: _Call, reason: str, *, status: int | None = None,
                   invalid: bool = False) -> _Transient:
        call.unreachable_since = None  # the host answered (or at least accepted a connection)
        call.transient_failures += 1
        self._count(server_errors=1)
        return _Transient(reason, status=status, invalid=invalid)

    def _request_failure(self, call: _Call, exc: requests.RequestException) -> Exception:
        """Translate a requests exception without using its text (which may carry URLs or header values)."""
        cause = _cause_name(exc)
        if (isinstance(exc, (requests.ConnectTimeout, requests.exceptions.ProxyError)) or "NewConnection" in cause
                or "NameResolution" in cause or cause in ("ConnectTimeoutError", "ProxyError")):
            return self._unreachable_failure(call, cause)
        if isinstance(exc, requests.Timeout) or cause in ("ReadTimeoutError", "ConnectTimeoutError", "TimeoutError"):
            return self._transient(call, "timed out")
        if isinstance(exc, (ChunkedEncodingError, ContentDecodingError)):
            return self._transient(call, f"broke off while reading the response ({cause})", invalid=True)
        if isinstance(exc, requests.ConnectionError):
            return self._transient(call, f"lost the connection ({cause})")
        return CustomerIoError(
            f"The request {call.endpoint} could not be sent ({type(exc).__name__}): check the Customer.io API URL.",
            path=call.path)

    def _read_api_response(self, call: _Call, response: requests.Response) -> dict:
        body = self._read_api_body(call, response)
        try:
            return json.loads(body)  # an object: the body starts with { and ends with }
        except ValueError:
            raise self._transient(call, f"answered {response.status_code} with a body that is not JSON",
                                  status=response.status_code, invalid=True) from None

    def _read_api_body(self, call: _Call, response: requests.Response) -> bytes:
        """The body of a 2xx answer that looks like a JSON object (not parsed); a typed error or retry otherwise."""
        status = response.status_code
        if 200 <= status < 300:
            if status == 204:
                return b"{}"
            body = response.content
            # A cheap shape check that catches cut-off and non-JSON bodies without parsing them; json.loads is
            # the full check (right here, or later for a DeferredPage).
            if not _looks_like_json_object(body):
                raise self._transient(call, f"answered {status} with a body that is not JSON", status=status,
                                      invalid=True)
            return body
        if status == 429:
            self._count(rate_limited=1)
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                raise _RateLimited("answered 429 (rate limited)", status=429)
            raise _RateLimitedFor(f"answered 429 (rate limited, Retry-After {wait:g} s)", status=429, wait=wait)
        if status in RETRY_STATUSES:
            raise self._transient(call, f"answered {status}", status=status)
        if status in STATUS_ERRORS:
            raise STATUS_ERRORS[status](call.method, call.path, status, lambda: self._error_detail(response))
        if status >= 500:
            raise ServerError(f"Customer.io is unavailable: {call.endpoint} answered {status}; try again later "
                              f"(see {STATUS_PAGE}).", status=status, path=call.path)
        detail = self._error_detail(response)
        saying = f" saying \"{detail}\"" if detail else ""
        raise CustomerIoError(f"Customer.io answered {status} to {call.endpoint}{saying}; check the configuration "
                              "and contact Customer.io support if it persists.", status=status, path=call.path)

    def _error_detail(self, response: requests.Response) -> str:
        """The API's own explanation (``errors[].detail``), one line, at most DETAIL_LIMIT characters, no key."""
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        parts: list[str] = []
        if isinstance(data, dict):
            errors = data.get("errors")
            if isinstance(errors, list):
                for item in errors:
                    if isinstance(item, dict) and item.get("detail"):
                        parts.append(str(item["detail"]))
                    elif isinstance(item, str):
                        parts.append(item)
            meta = data.get("meta")
            if not parts and isinstance(meta, dict) and meta.get("error"):
                parts.append(str(meta["error"]))
            for key in ("error", "message"):
                if not parts and isinstance(data.get(key), str):
                    parts.append(data[key])
            text = "; ".join(parts)
        elif data is None:
            text = response.content.decode("utf-8", "replace")
        else:
            text = json.dumps(data)
        return _one_line(text.replace(self._key, "(hidden)"), DETAIL_LIMIT)

    def _check_download_status(self, call: _Call, response: requests.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (401, 403):
            raise ExpiredDownloadError(
                f"The download link {call.endpoint} was refused ({status}), most likely because it expired "
                "(Customer.io download links last 15 minutes): request a fresh download URL and download again.",
                status=status, path=call.path)
        if status == 404:
            raise NotFoundError(
                f"Nothing was found at the download link {call.endpoint} (404): request a fresh download URL, "
                "or create the export again.", status=404, path=call.path)
        if status == 429 or status in RETRY_STATUSES:
            raise self._transient(call, f"answered {status}", status=status)
        raise CustomerIoError(
            f"The download link {call.endpoint} answered {status}: request a fresh download URL and try again.",
            status=status, path=call.path)


def response_part(body: Mapping[str, Any], key: str, endpoint: str, *, kind: type = list,
                  required: bool = False) -> Any:
    """The one shape check of an App API answer: ``body[key]`` must be a ``kind`` (list or dict).

    A missing or null part counts as empty (``[]`` / ``{}``) unless ``required``; anything else raises
    InvalidResponseError naming the endpoint ("GET /v1/x") and the part.
    """
    value = body.get(key)
    if value is None and not required:
        return kind()
    if isinstance(value, kind):
        return value
    noun = "list" if kind is list else "object"
    method, _, path = endpoint.partition(" ")
    raise InvalidResponseError(f"Customer.io answered {endpoint} without {'an' if noun == 'object' else 'a'} "
                               f"'{key}' {noun}; try again later.", path=path.split("?", 1)[0] or method)


def _looks_like_json_object(body: bytes) -> bool:
    text = body.strip()
    return text[:1] == b"{" and text[-1:] == b"}"


class DeferredPage(Mapping):
    """A page whose body was fetched (and checked for status and shape) but is parsed only when first read.

    Why: a page that waits (read ahead, or queued behind another segment's) is held as its compact bytes (about
    100 bytes per segment member) instead of the parsed objects (4-5 times that). Parsing happens once, in
    whichever thread reads the page first. A body that passed the shape check but still is not a JSON object is
    fetched again through the client (with its usual retries) instead of failing the run.
    """

    __slots__ = ("_body", "_data", "_empty", "_endpoint", "_lock", "_refetch")

    def __init__(self, body: bytes, endpoint: str, refetch: Callable[[], dict]) -> None:
        self._body: bytes | None = body
        self._endpoint = endpoint
        self._data: dict | None = None
        self._refetch = refetch
        self._lock = threading.Lock()
        self._empty: bool | None = None  # known once released: whether the page had no records

    def _parsed(self) -> dict:
        if self._data is None:
            with self._lock:
                if self._data is None:
                    try:
                        data = json.loads(self._body)  # an object, as the shape check made sure
                    except ValueError:
                        logger.warning("%s answered a body that is not JSON; fetching it again.", self._endpoint)
                        data = self._refetch()
                    self._data, self._body = data, None
        return self._data

    def release(self) -> None:
        """Forget the parsed page but keep its cursor (``next``): whoever still holds the page holds a few bytes."""
        data = self._parsed()
        with self._lock:
            if self._empty is None:
                self._empty = _is_empty_page(data)
            self._data = {"next": data["next"]} if "next" in data else {}

    @property
    def empty(self) -> bool:
        """Whether the page holds no records (known after ``release()`` too)."""
        return self._empty if self._empty is not None else _is_empty_page(self._parsed())

    def __getitem__(self, key: str) -> Any:
        return self._parsed()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsed())

    def __len__(self) -> int:
        return len(self._parsed())

    def __repr__(self) -> str:
        state = "parsed" if self._data is not None else f"{len(self._body or b'')} bytes, not parsed"
        return f"<DeferredPage {state}>"


def _is_empty_page(page: Any) -> bool:
    """A page without records: none of its values is a non-empty list (``messages``, ``identifiers``, ...)."""
    if isinstance(page, DeferredPage):
        return page.empty
    return not any(isinstance(value, list) and value for value in page.values())


def _expected_length(response: requests.Response) -> int | None:
    """Content-Length when it describes the bytes iter_content yields (no content coding), else None."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    length = response.headers.get("Content-Length")
    if encoding not in ("", "identity") or length is None:
        return None
    try:
        value = int(length)
    except ValueError:
        return None
    return value if value >= 0 else None
