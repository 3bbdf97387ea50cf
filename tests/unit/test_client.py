"""CustomerIoClient against a loopback HTTP server that answers from a script and records every request.

Waiting is faked: ``time.sleep`` (which backoff uses) is replaced by a recorder that advances a fake clock, and the
client measures its retry budget with that clock. The only real waits are the 0.05 s read timeouts of the timeout
tests.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import random
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import urllib3
from requests.adapters import HTTPAdapter

from customerio import (
    REGIONS,
    AuthenticationError,
    BadRequestError,
    CustomerIoClient,
    CustomerIoError,
    ExpiredDownloadError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimiter,
    RateLimitError,
    ServerError,
    UnreachableError,
    parse_retry_after,
    resolve_base_url,
)

KEY = "cio-SECRET-7f3a9b2c4d5e6f708192a3b4c5d6e7f8"


# --------------------------------------------------------------------------------------------- loopback server


@dataclass
class Reply:
    status: int = 200
    body: object = None  # dict/list -> JSON, str/bytes as-is, None -> {"ok": true}
    headers: dict = field(default_factory=dict)
    action: str = "respond"  # respond | drop (close without answering) | truncate (short body) | delay
    delay: float = 0.0

    def payload(self) -> bytes:
        if self.body is None:
            return b'{"ok": true}'
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    headers: dict  # lower-case names
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the default backlog of 5 drops concurrent connects (then a 1 s SYN retry)


class LoopbackApi:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api._serve(self)

            do_POST = do_DELETE = do_PATCH = do_GET

            def log_message(self, *args) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.handle_error = lambda *args: None
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        with self._lock:
            self.seen.append(Seen(handler.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in handler.headers.items()}, body))
            reply = self.replies.popleft() if self.replies else Reply(599, {"errors": [{"detail": "no reply left"}]})
        if reply.action == "drop":
            handler.close_connection = True
            return
        if reply.action == "delay":
            threading.Event().wait(reply.delay)  # not time.sleep: that one is faked in the tests
        payload = reply.payload()
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            announced = len(payload) + (1000 if reply.action == "truncate" else 0)
            handler.send_header("Content-Length", str(announced))
            handler.end_headers()
            handler.wfile.write(payload)
            handler.wfile.flush()
        except OSError:
            pass
        handler.close_connection = True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []  # backoff's waits (time.sleep)
        self.limiter_waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def limiter_sleep(self, seconds: float) -> None:
        self.limiter_waits.append(seconds)  # recorded only: pacing is tested in test_rate_limiter.py


class SpyLimiter(RateLimiter):
    def __init__(self, fake: FakeTime) -> None:
        super().__init__(rate_per_second=1000.0, margin=0.0, clock=fake.clock, sleep=fake.limiter_sleep)
        self.pauses: list[float] = []

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        super().pause(seconds)


@pytest.fixture
def api():
    server = LoopbackApi()
    yield server
    server.close()


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake


@pytest.fixture
def no_jitter(monkeypatch):
    """backoff.full_jitter draws random.uniform(0, wait); take the top of the range to make waits exact."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)


@pytest.fixture
def client_for(api, fake_time):
    clients = []

    def make(**kwargs) -> CustomerIoClient:
        kwargs.setdefault("rate_limiter", SpyLimiter(fake_time))
        kwargs.setdefault("timeout", (2, 2))
        base_url = kwargs.pop("base_url", api.url)
        client = CustomerIoClient(KEY, base_url, clock=fake_time.clock, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def assert_one_sentence(message: str) -> None:
    assert KEY not in message
    assert "\n" not in message
    assert message.endswith(".")
    assert 40 < len(message) < 700


# ---------------------------------------------------------------------------------------------------- basics


def test_sends_bearer_key_accept_and_user_agent(api, client_for):
    api.add(Reply(200, {"campaigns": [{"id": 1}]}))
    client = client_for(user_agent="test-agent/1")
    assert client.request_json("GET", "/v1/campaigns", params={"limit": 5}) == {"campaigns": [{"id": 1}]}
    [seen] = api.seen
    assert (seen.method, seen.path, seen.query) == ("GET", "/v1/campaigns", {"limit": ["5"]})
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["user-agent"] == "test-agent/1"


def test_post_sends_the_json_body(api, client_for):
    api.add(Reply(200, {"identifiers": []}))
    body = {"filter": {"and": [{"segment": {"id": 3}}]}}
    client_for().request_json("post", "/v1/customers", params={"limit": 2}, json_body=body)
    [seen] = api.seen
    assert seen.method == "POST"
    assert json.loads(seen.body) == body
    assert seen.headers["content-type"] == "application/json"
    assert seen.query == {"limit": ["2"]}


def test_every_attempt_goes_through_the_rate_limiter(api, client_for, fake_time):
    api.add(Reply(503), Reply(429, headers={"Retry-After": "1"}), Reply(200))
    client = client_for()
    client.request_json("GET", "/v1/segments")
    assert len(api.seen) == 3
    assert client.rate_limiter.acquisitions == 3
    assert client.stats.requests == 3


def test_stats_count_requests_429s_and_retries(api, client_for, fake_time):
    api.add(Reply(429, headers={"Retry-After": "1"}), Reply(503), Reply(200))
    client = client_for()
    client.request_json("GET", "/v1/segments")
    stats = client.stats
    assert (stats.requests, stats.rate_limited, stats.retries, stats.server_errors) == (3, 1, 2, 1)


def test_204_answers_an_empty_dict(api, client_for):
    api.add(Reply(204, b""))
    assert client_for().request_json("DELETE", "/v1/segments/1") == {}


# ------------------------------------------------------------------------------------------------------- 429


def test_retry_after_seconds_is_waited_exactly(api, client_for, fake_time):
    api.add(Reply(429, {"errors": [{"detail": "rate limited"}]}, headers={"Retry-After": "3"}),
            Reply(200, {"segments": []}))
    client = client_for()
    assert client.request_json("GET", "/v1/segments") == {"segments": []}
    assert fake_time.waits == [3.0]
    assert client.rate_limiter.pauses == [3.0]  # every thread holds back, not only this one
    assert len(api.seen) == 2


def test_retry_after_http_date_is_waited_until_that_moment(api, client_for, fake_time):
    api.add(Reply(429, headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)}), Reply(200))
    client = client_for()
    client.request_json("GET", "/v1/segments")
    [wait] = fake_time.waits
    assert 28.5 < wait <= 30.0  # the date has whole seconds
    assert client.rate_limiter.pauses == [wait]


def test_parse_retry_after():
    moment = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=moment - 12.5) == 12.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=moment + 60) == 0.0  # already past
    assert parse_retry_after("7", now=0) == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-3") == 0.0
    for unusable in (None, "", "soon", "inf", "nan"):
        assert parse_retry_after(unusable) is None


def test_429_without_retry_after_backs_off_exponentially(api, client_for, fake_time, no_jitter):
    api.add(*[Reply(429) for _ in range(7)], Reply(200))
    client = client_for()
    client.request_json("GET", "/v1/messages")
    assert fake_time.waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert client.rate_limiter.pauses == fake_time.waits
    assert client.stats.rate_limited == 7


def test_429_backoff_is_jittered_below_the_exponential_bound(api, client_for, fake_time):
    api.add(*[Reply(429) for _ in range(5)], Reply(200))
    client_for().request_json("GET", "/v1/messages")
    assert len(fake_time.waits) == 5
    for attempt, wait in enumerate(fake_time.waits):
        assert 0 <= wait <= 2.0**attempt


def test_rate_limit_gives_up_when_the_budget_is_spent(api, client_for, fake_time):
    api.add(*[Reply(429, headers={"Retry-After": "1"}) for _ in range(20)])
    with pytest.raises(RateLimitError) as caught:
        client_for(max_retry_seconds=5).request_json("GET", "/v1/messages", params={"start": "abc"})
    assert len(api.seen) == 6  # at 0, 1, 2, 3, 4 and 5 s
    assert fake_time.waits == [1.0] * 5
    error = caught.value
    assert (error.status, error.path) == (429, "/v1/messages")
    assert "GET /v1/messages" in str(error) and "later" in str(error)
    assert_one_sentence(str(error))


def test_retry_after_longer_than_the_budget_gives_up_at_once(api, client_for, fake_time):
    api.add(Reply(429, headers={"Retry-After": "120"}))
    with pytest.raises(RateLimitError, match="120 s"):
        client_for(max_retry_seconds=60).request_json("GET", "/v1/messages")
    assert len(api.seen) == 1
    assert fake_time.waits == []


# ------------------------------------------------------------------------------------- 5xx, network, bodies


def test_server_errors_then_success(api, client_for, fake_time, no_jitter, caplog):
    api.add(Reply(503), Reply(502), Reply(200, {"campaigns": []}))
    caplog.set_level(logging.WARNING, logger="customerio")
    client = client_for()
    assert client.request_json("GET", "/v1/campaigns", params={"x": "1"}) == {"campaigns": []}
    assert fake_time.waits == [0.5, 1.0]
    assert client.rate_limiter.pauses == []  # only 429s pause everyone
    messages = [record.getMessage() for record in caplog.records if record.name == "customerio"]
    assert messages == ["GET /v1/campaigns answered 503; retrying in 0.5 s (attempt 2)",
                        "GET /v1/campaigns answered 502; retrying in 1.0 s (attempt 3)"]
    assert all(record.levelno == logging.WARNING for record in caplog.records if record.name == "customerio")


def test_server_error_waits_are_jittered_within_the_bound(api, client_for, fake_time):
    api.add(Reply(500), Reply(500), Reply(500), Reply(200))
    client_for().request_json("GET", "/v1/campaigns")
    assert len(fake_time.waits) == 3
    for attempt, wait in enumerate(fake_time.waits):
        assert 0 <= wait <= 0.5 * 2**attempt


def test_connection_dropped_then_success(api, client_for, fake_time):
    api.add(Reply(action="drop"), Reply(200, {"segments": [1]}))
    assert client_for().request_json("GET", "/v1/segments") == {"segments": [1]}
    assert len(api.seen) == 2
    assert len(fake_time.waits) == 1


def test_timeout_then_success(api, client_for, fake_time, caplog):
    api.add(Reply(action="delay", delay=0.4), Reply(200, {"segments": []}))
    caplog.set_level(logging.WARNING, logger="customerio")
    assert client_for(timeout=(1, 0.05)).request_json("GET", "/v1/segments") == {"segments": []}
    assert "GET /v1/segments timed out; retrying in" in caplog.text


def test_truncated_body_is_retried(api, client_for, fake_time):
    api.add(Reply(200, {"campaigns": [1, 2, 3]}, action="truncate"), Reply(200, {"campaigns": [1, 2, 3]}))
    assert client_for().request_json("GET", "/v1/campaigns") == {"campaigns": [1, 2, 3]}
    assert len(api.seen) == 2


def test_non_json_200_is_retried_then_invalid_response_error(api, client_for, fake_time):
    api.add(*[Reply(200, "<html>maintenance</html>") for _ in range(3)])
    with pytest.raises(InvalidResponseError) as caught:
        client_for(max_server_retries=3).request_json("GET", "/v1/campaigns")
    assert len(api.seen) == 3
    assert len(fake_time.waits) == 2
    message = str(caught.value)
    assert "GET /v1/campaigns" in message and "not JSON" in message and "later" in message
    assert caught.value.path == "/v1/campaigns"
    assert_one_sentence(message)


def test_json_that_is_not_an_object_is_invalid(api, client_for, fake_time):
    api.add(Reply(200, [1, 2]), Reply(200, {"ok": 1}))
    assert client_for().request_json("GET", "/v1/campaigns") == {"ok": 1}
    assert len(api.seen) == 2


def test_deferred_pages_are_parsed_on_first_read_and_follow_the_cursor(api, client_for):
    api.add(Reply(200, {"identifiers": [{"cio_id": "a"}], "next": "c1"}), Reply(200, {"identifiers": [], "next": ""}))
    pages = client_for().paginate("GET", "/v1/segments/3/membership", params={"limit": 2}, defer_parse=True)
    first = next(pages)
    assert "not parsed" in repr(first)
    assert first["identifiers"] == [{"cio_id": "a"}]
    assert "not parsed" not in repr(first)
    first.release()  # keeps the cursor only: the chain goes on from it
    assert dict(first) == {"next": "c1"}
    assert [dict(page) for page in pages] == [{"identifiers": [], "next": ""}]
    assert [seen.query.get("start") for seen in api.seen] == [None, ["c1"]]


@pytest.mark.parametrize("broken", [b'{"identifiers": [{"cio_id": "a"}, {"ci', b"<html>maintenance</html>", b"[1, 2]"],
                         ids=["cut-off", "html", "array"])
def test_deferred_pages_retry_bodies_that_are_not_json_objects_before_yielding(api, client_for, fake_time, broken):
    api.add(Reply(200, broken), Reply(200, {"identifiers": [], "next": ""}))
    client = client_for()
    pages = list(client.paginate("GET", "/v1/segments/3/membership", defer_parse=True))
    assert [dict(page) for page in pages] == [{"identifiers": [], "next": ""}]
    assert len(api.seen) == 2 and client.stats.retries == 1


def test_a_deferred_page_that_only_looks_like_json_is_fetched_again_when_read(api, client_for, caplog):
    api.add(Reply(200, b'{"identifiers": [}'), Reply(200, {"identifiers": [{"cio_id": "a"}]}))
    client = client_for()
    page = next(client.paginate("GET", "/v1/segments/3/membership", defer_parse=True))
    assert len(api.seen) == 1
    with caplog.at_level(logging.WARNING, logger="customerio"):
        assert page.get("identifiers") == [{"cio_id": "a"}]
    assert len(api.seen) == 2 and api.seen[1].path == "/v1/segments/3/membership"
    assert "GET /v1/segments/3/membership answered a body that is not JSON; fetching it again." in caplog.text


def test_server_errors_give_up_after_max_tries(api, client_for, fake_time):
    api.add(*[Reply(503) for _ in range(10)])
    with pytest.raises(ServerError) as caught:
        client_for(max_server_retries=4).request_json("GET", "/v1/messages", params={"start": "c"})
    assert len(api.seen) == 4
    error = caught.value
    assert (error.status, error.path) == (503, "/v1/messages")
    assert "unavailable" in str(error) and "GET /v1/messages" in str(error) and "try again later" in str(error)
    assert_one_sentence(str(error))


def test_server_errors_stop_at_the_time_budget(api, client_for, fake_time, no_jitter):
    api.add(*[Reply(500) for _ in range(20)])
    with pytest.raises(ServerError):
        client_for(max_retry_seconds=3, max_server_retries=100).request_json("GET", "/v1/messages")
    assert fake_time.waits == [0.5, 1.0, 1.5]  # the third wait is clipped to what is left of the budget
    assert len(api.seen) == 4


def test_unreachable_host_gives_up_with_a_server_error(client_for, fake_time):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_for(base_url=f"http://127.0.0.1:{port}", max_server_retries=2)
    with pytest.raises(ServerError, match="Could not connect") as caught:
        client.request_json("GET", "/v1/segments")
    assert caught.value.status is None
    assert_one_sentence(str(caught.value))


class RefusingAdapter(HTTPAdapter):
    """Every connection fails the way requests reports a refused connection or a DNS failure (no socket opened)."""

    def __init__(self, fake: FakeTime, cause: type[Exception], cost: float = 0.0) -> None:
        super().__init__()
        self.fake, self.cause, self.cost, self.attempts = fake, cause, cost, 0

    def send(self, request, **kwargs):
        self.attempts += 1
        self.fake.now += self.cost  # what one failed attempt costs (a connect timeout costs its timeout)
        inner = self.cause.__new__(self.cause)
        Exception.__init__(inner, "failed")
        raise requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, request.url, inner))


def _refusing_client(client_for, fake_time, cause, cost=0.0):
    session = requests.Session()
    adapter = RefusingAdapter(fake_time, cause, cost)
    session.mount("http://", adapter)
    client = client_for(base_url="http://sandbox.invalid:8081", session=session, timeout=(10, 60),
                        max_retry_seconds=600, max_server_retries=100)
    return client, adapter


@pytest.mark.parametrize("cause", [urllib3.exceptions.NameResolutionError, urllib3.exceptions.NewConnectionError])
def test_an_unreachable_host_is_given_up_within_15_seconds_naming_the_host(client_for, fake_time, cause, caplog):
    client, adapter = _refusing_client(client_for, fake_time, cause)
    started = fake_time.now
    with caplog.at_level(logging.DEBUG, logger="customerio"), pytest.raises(UnreachableError) as caught:
        client.request_json("GET", "/v1/campaigns")
    spent = fake_time.now - started
    assert 10 <= spent <= 15.5  # the long patience (600 s, 8 attempts) is for answers from Customer.io
    message = str(caught.value)
    assert_one_sentence(message)
    assert "sandbox.invalid:8081" in message and cause.__name__ in message
    for what in ("network", "DNS", "proxy", "CUSTOMERIO_API_URL"):
        assert what in message
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [f"Cannot connect to sandbox.invalid:8081 ({cause.__name__}); retrying for up to 15 s."]
    assert adapter.attempts > 2


def test_connect_timeouts_are_shortened_to_give_up_within_15_seconds(client_for, fake_time):
    session = requests.Session()
    timeouts = []

    class SlowAdapter(HTTPAdapter):
        def send(self, request, **kwargs):
            connect = kwargs["timeout"][0]
            timeouts.append(connect)
            fake_time.now += connect
            raise requests.ConnectTimeout("connect timed out")

    session.mount("http://", SlowAdapter())
    client = client_for(base_url="http://10.255.255.1", session=session, timeout=(10, 60), max_retry_seconds=600)
    started = fake_time.now
    with pytest.raises(UnreachableError, match="10.255.255.1"):
        client.request_json("GET", "/v1/campaigns")
    assert fake_time.now - started <= 16.5
    assert timeouts[0] == 10 and all(t < 10 for t in timeouts[1:])


def test_once_one_call_gave_up_on_the_host_the_others_give_up_at_once(client_for, fake_time, caplog):
    client, adapter = _refusing_client(client_for, fake_time, urllib3.exceptions.NewConnectionError)
    with caplog.at_level(logging.WARNING, logger="customerio"):
        for path in ("/v1/messages", "/v1/activities", "/v1/segments"):
            with pytest.raises(UnreachableError):
                client.request_json("GET", path)
    attempts_of_first = adapter.attempts
    with pytest.raises(UnreachableError):
        client.request_json("GET", "/v1/campaigns")
    assert adapter.attempts == attempts_of_first  # no new attempt
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1  # one line per kind, not per call


def test_a_connection_lost_mid_answer_keeps_the_long_patience(api, client_for, fake_time):
    api.add(*[Reply(action="drop") for _ in range(3)], Reply(body={"ok": True}))
    assert client_for().request_json("GET", "/v1/campaigns") == {"ok": True}


# ------------------------------------------------------------------------------------------ immediate errors


def test_401_names_key_type_region_and_revocation(api, client_for):
    api.add(Reply(401, {"errors": [{"detail": "unauthorized", "status": "401"}]}))
    with pytest.raises(AuthenticationError) as caught:
        client_for().request_json("GET", "/v1/segments")
    message = str(caught.value)
    for needle in ("App API key", "Track API", "service-account", "region", "US", "EU", "revoked", "deleted"):
        assert needle in message
    assert caught.value.status == 401
    assert len(api.seen) == 1
    assert_one_sentence(message)


def test_403_names_the_endpoint(api, client_for):
    api.add(Reply(403))
    with pytest.raises(PermissionDeniedError) as caught:
        client_for().request_json("GET", "/v1/segments/4/membership", params={"limit": 10})
    message = str(caught.value)
    assert "GET /v1/segments/4/membership" in message and "access" in message and "allowlist" in message
    assert len(api.seen) == 1
    assert_one_sentence(message)


def test_404_is_not_retried(api, client_for, fake_time):
    api.add(Reply(404), Reply(200))
    with pytest.raises(NotFoundError) as caught:
        client_for().request_json("GET", "/v1/campaigns/7", params={"start": "zz"})
    assert (caught.value.status, caught.value.path) == (404, "/v1/campaigns/7")
    assert "zz" not in str(caught.value)
    assert len(api.seen) == 1
    assert fake_time.waits == []


@pytest.mark.parametrize("status", [400, 422])
def test_bad_request_quotes_the_api_detail_and_is_not_retried(api, client_for, status):
    api.add(Reply(status, {"errors": [{"detail": "id_type email is not enabled", "status": str(status)}]}))
    with pytest.raises(BadRequestError) as caught:
        client_for().request_json("GET", "/v1/customers/x/attributes")
    assert "id_type email is not enabled" in str(caught.value)
    assert caught.value.status == status
    assert len(api.seen) == 1
    assert_one_sentence(str(caught.value))


def test_bad_request_detail_is_trimmed(api, client_for):
    api.add(Reply(400, {"errors": [{"detail": "x" * 2000}]}))
    with pytest.raises(BadRequestError) as caught:
        client_for().request_json("GET", "/v1/customers")
    assert "x" * 250 in str(caught.value)
    assert "x" * 301 not in str(caught.value)


def test_other_statuses_raise_a_customerio_error_at_once(api, client_for):
    api.add(Reply(405, {"errors": [{"detail": "method not allowed"}]}))
    with pytest.raises(CustomerIoError, match="405") as caught:
        client_for().request_json("PATCH", "/v1/segments")
    assert type(caught.value) is CustomerIoError
    assert len(api.seen) == 1


# ----------------------------------------------------------------------------------------------------- secrets


def test_the_key_never_appears_in_errors_or_logs(api, client_for, fake_time, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 included
    client = client_for(max_server_retries=2)
    errors: list[BaseException] = []
    scenarios = [
        [Reply(401, {"errors": [{"detail": f"key {KEY} is not valid"}]})],
        [Reply(403, {"errors": [{"detail": f"{KEY} lacks scope"}]})],
        [Reply(404)],
        [Reply(400, {"errors": [{"detail": f"bad key {KEY}"}]})],
        [Reply(422, f"raw text mentioning {KEY}")],
        [Reply(503), Reply(503)],
        [Reply(200, f"not json {KEY}"), Reply(200, f"not json {KEY}")],
        [Reply(action="drop"), Reply(action="drop")],
        [Reply(429, headers={"Retry-After": "5000"})],
    ]
    for replies in scenarios:
        api.add(*replies)
        with pytest.raises(CustomerIoError) as caught:
            client.request_json("GET", "/v1/segments", params={"limit": 1})
        errors.append(caught.value)
    assert len(errors) == len(scenarios)
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error) and KEY not in repr(error.args)
        assert_one_sentence(str(error))
    assert "(hidden)" in str(errors[3])  # the API's own text is quoted, with the key redacted
    assert caplog.records, "expected retry log lines"
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert KEY not in repr(client) and KEY not in repr(client._auth)


@pytest.mark.parametrize("bad_key", ["", "   ", f"{KEY}\nX-Injected: 1", f"{KEY} extra", f"{KEY}é"])
def test_unusable_keys_are_refused_without_echoing_them(bad_key):
    with pytest.raises(CustomerIoError) as caught:
        CustomerIoClient(bad_key, "https://api.customer.io")
    assert KEY not in str(caught.value)
    assert_one_sentence(str(caught.value))


def test_surrounding_whitespace_is_stripped_from_the_key(api, client_for):
    api.add(Reply(200))
    client = CustomerIoClient(f"  {KEY}\n", api.url, rate_limiter=RateLimiter(1000.0))
    client.request_json("GET", "/v1/segments")
    client.close()
    assert api.seen[0].headers["authorization"] == f"Bearer {KEY}"


# ------------------------------------------------------------------------------------------------- threads


def test_one_client_serves_many_threads(api):
    total = 40
    api.add(*[Reply(200, {"n": i}) for i in range(total)])
    limiter = RateLimiter(rate_per_second=100000.0)
    client = CustomerIoClient(KEY, api.url, rate_limiter=limiter, pool_size=8)
    results: list[dict] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(total // 8):
                results.append(client.request_json("GET", "/v1/segments"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    client.close()
    assert failures == []
    assert sorted(result["n"] for result in results) == list(range(total))
    assert client.stats.requests == total == limiter.acquisitions


# ------------------------------------------------------------------------------------------------- downloads

SIGNED = "/exports/42.csv.gz?X-Amz-Signature=deadbeef&X-Amz-Expires=900"


def test_download_streams_without_authorization_and_without_the_limiter(api, client_for):
    data = random.Random(7).randbytes(100_000)
    api.add(Reply(200, data, headers={"Content-Type": "application/octet-stream"}))
    client = client_for()
    target = io.BytesIO()
    assert client.download(api.url + SIGNED, target, chunk_size=4096) == len(data)
    assert target.getvalue() == data
    [seen] = api.seen
    assert "authorization" not in seen.headers
    assert seen.query["X-Amz-Signature"] == ["deadbeef"]  # the signed query string is sent untouched
    assert client.rate_limiter.acquisitions == 0
    assert (client.stats.downloads, client.stats.download_bytes, client.stats.requests) == (1, len(data), 0)


def test_download_restarts_into_an_emptied_file_after_a_cut_off_body(api, client_for, fake_time):
    data = b"id,email\n" + b"".join(b"%d,p%d@example.com\n" % (i, i) for i in range(2000))
    api.add(Reply(200, data[:5000], action="truncate"), Reply(200, data))
    target = io.BytesIO(b"STALE CONTENT FROM AN EARLIER RUN " * 2000)
    assert client_for().download(api.url + SIGNED, target) == len(data)
    assert target.getvalue() == data
    assert len(api.seen) == 2
    assert len(fake_time.waits) == 1


def test_download_checks_the_length_itself_when_the_transport_does_not(client_for, fake_time):
    # urllib3 already raises on a short body over a real socket; this transport does not, so the client must.
    data = b"0123456789" * 10
    bodies = deque([data[:40], data])

    class LenientTransport(HTTPAdapter):
        def send(self, request, **kwargs):
            response = requests.Response()
            response.status_code = 200
            response.headers["Content-Length"] = str(len(data))
            response.raw = io.BytesIO(bodies.popleft())
            response.url, response.request = request.url, request
            return response

    client = client_for()
    client._download_session.mount("https://", LenientTransport())
    target = io.BytesIO()
    assert client.download("https://files.test" + SIGNED, target) == len(data)
    assert target.getvalue() == data
    assert not bodies
    assert len(fake_time.waits) == 1


def test_download_retries_server_errors(api, client_for, fake_time):
    api.add(Reply(503), Reply(action="drop"), Reply(200, b"a,b\n1,2\n"))
    target = io.BytesIO()
    assert client_for().download(api.url + SIGNED, target) == 8
    assert target.getvalue() == b"a,b\n1,2\n"
    assert len(api.seen) == 3


def test_download_403_means_the_link_expired(api, client_for, fake_time):
    api.add(Reply(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"))
    with pytest.raises(ExpiredDownloadError) as caught:
        client_for().download(api.url + SIGNED, io.BytesIO())
    message = str(caught.value)
    assert "fresh download URL" in message
    assert "deadbeef" not in message  # the signature stays out of messages
    assert (caught.value.status, caught.value.path) == (403, "/exports/42.csv.gz")
    assert len(api.seen) == 1
    assert_one_sentence(message)


def test_download_404_is_not_found(api, client_for, fake_time):
    api.add(Reply(404))
    with pytest.raises(NotFoundError):
        client_for().download(api.url + SIGNED, io.BytesIO())
    assert len(api.seen) == 1


def test_download_keeps_getting_cut_off(api, client_for, fake_time):
    api.add(*[Reply(200, b"partial", action="truncate") for _ in range(3)])
    with pytest.raises(InvalidResponseError) as caught:
        client_for(max_server_retries=3).download(api.url + SIGNED, io.BytesIO())
    assert "/exports/42.csv.gz" in str(caught.value)
    assert len(api.seen) == 3


# ----------------------------------------------------------------------------------------- regions, errors


def test_resolve_base_url_regions():
    assert resolve_base_url("us", environ={}) == "https://api.customer.io" == REGIONS["us"]
    assert resolve_base_url("eu", environ={}) == "https://api-eu.customer.io" == REGIONS["eu"]
    assert resolve_base_url(" EU ", environ={}) == "https://api-eu.customer.io"


def test_resolve_base_url_environment_override_wins():
    environ = {"CUSTOMERIO_API_URL": "http://127.0.0.1:8080/"}
    assert resolve_base_url("us", environ=environ) == "http://127.0.0.1:8080"
    assert resolve_base_url("eu", environ=environ) == "http://127.0.0.1:8080"
    assert resolve_base_url("eu", environ={"CUSTOMERIO_API_URL": ""}) == "https://api-eu.customer.io"


def test_resolve_base_url_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setitem(os.environ, "CUSTOMERIO_API_URL", "http://sandbox:9000")
    assert resolve_base_url("us") == "http://sandbox:9000"


def test_the_other_region_only_for_the_two_region_urls():
    from customerio.regions import other_region

    assert other_region("https://api.customer.io", environ={}) == ("us", "eu", "https://api-eu.customer.io")
    assert other_region("https://api-eu.customer.io/", environ={}) == ("eu", "us", "https://api.customer.io")
    assert other_region("http://127.0.0.1:8080", environ={}) is None
    custom = {"CUSTOMERIO_API_URL": "https://api.customer.io"}  # set by hand: no other region is asked
    assert other_region("https://api.customer.io", environ=custom) is None
    mapped = {"CUSTOMERIO_REGION_URLS": '{"us": "http://127.0.0.1:1/v1", "eu": "http://127.0.0.1:2"}'}
    assert resolve_base_url("us", environ=mapped) == "http://127.0.0.1:1"
    assert other_region("http://127.0.0.1:1", environ=mapped) == ("us", "eu", "http://127.0.0.1:2")
    with pytest.raises(CustomerIoError, match="CUSTOMERIO_REGION_URLS"):
        resolve_base_url("us", environ={"CUSTOMERIO_REGION_URLS": '{"us": "x"}'})


def test_resolve_base_url_unknown_region():
    with pytest.raises(ValueError, match="'asia'"):
        resolve_base_url("asia", environ={})


def test_errors_keep_message_status_and_path():
    error = ServerError("Customer.io is unavailable.", status=503, path="/v1/x")
    assert str(error) == error.message == "Customer.io is unavailable."
    assert isinstance(error, CustomerIoError)
    clone = pickle.loads(pickle.dumps(error))
    assert (type(clone), str(clone), clone.status, clone.path) == (ServerError, str(error), 503, "/v1/x")
    assert InvalidResponseError("x", path="/v1/y").status is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/"])
def test_a_custom_api_url_may_end_in_v1(url):
    assert resolve_base_url("us", environ={"CUSTOMERIO_API_URL": url}) == "http://127.0.0.1:8080"


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "localhost", "ftp://x"])
def test_a_custom_api_url_without_a_scheme_is_one_sentence(url):
    with pytest.raises(CustomerIoError, match="CUSTOMERIO_API_URL must be a URL starting with http://") as caught:
        resolve_base_url("us", environ={"CUSTOMERIO_API_URL": url})
    assert str(caught.value).endswith(".") and "\n" not in str(caught.value)
