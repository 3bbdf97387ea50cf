"""CustomerIoClient.paginate over a fake transport: a requests HTTPAdapter that answers from a script."""

from __future__ import annotations

import io
import json
from collections import deque
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter

from customerio import CustomerIoClient, NotFoundError, PaginationError, RateLimiter

BASE = "https://api.test"
MISSING = object()


@dataclass
class Sent:
    method: str
    path: str
    query: dict
    body: bytes | None

    @property
    def start(self) -> str | None:
        return self.query.get("start", [None])[0]


class ScriptedAdapter(HTTPAdapter):
    """Answers each request with the next scripted page (a dict, or a (status, dict) pair), in order."""

    def __init__(self, answers: list) -> None:
        super().__init__()
        self.answers = deque(answers)
        self.sent: list[Sent] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        parts = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        self.sent.append(Sent(request.method, parts.path, parse_qs(parts.query), body))
        answer = self.answers.popleft() if self.answers else (404, {"errors": [{"detail": "script exhausted"}]})
        status, payload = answer if isinstance(answer, tuple) else (200, answer)
        response = requests.Response()
        response.status_code = status
        response.headers["Content-Type"] = "application/json"
        response.raw = io.BytesIO(json.dumps(payload).encode())
        response.url = request.url
        response.request = request
        return response


def page(items: list, next_cursor: object = MISSING) -> dict:
    result: dict = {"messages": items}
    if next_cursor is not MISSING:
        result["next"] = next_cursor
    return result


def client_with(answers: list) -> tuple[CustomerIoClient, ScriptedAdapter]:
    adapter = ScriptedAdapter(answers)
    session = requests.Session()
    session.mount("https://", adapter)
    limiter = RateLimiter(rate_per_second=1000.0, clock=lambda: 0.0, sleep=lambda seconds: None)
    return CustomerIoClient("test-key", BASE, session=session, rate_limiter=limiter), adapter


def test_follows_next_across_pages_and_keeps_the_other_params():
    answers = [page([1, 2], "c1"), page([3, 4], "c2"), page([5], "")]
    client, adapter = client_with(list(answers))
    params = {"limit": 1000, "type": "email"}
    pages = list(client.paginate("GET", "/v1/messages", params=params))
    assert pages == answers
    assert [sent.start for sent in adapter.sent] == [None, "c1", "c2"]
    assert all(sent.query["limit"] == ["1000"] and sent.query["type"] == ["email"] for sent in adapter.sent)
    assert all((sent.method, sent.path) == ("GET", "/v1/messages") for sent in adapter.sent)
    assert params == {"limit": 1000, "type": "email"}  # the caller's dict is not changed


@pytest.mark.parametrize("last", [page([3]), page([3], None), page([3], "")], ids=["missing", "null", "empty"])
def test_stops_when_next_is_missing_null_or_empty(last):
    client, adapter = client_with([page([1, 2], "c1"), last, page([99], "never")])
    pages = list(client.paginate("GET", "/v1/messages"))
    assert pages == [page([1, 2], "c1"), last]
    assert len(adapter.sent) == 2


def test_an_empty_page_with_next_does_not_end_the_chain():
    client, adapter = client_with([page([], "c1"), page([], "c2"), page([7], None)])
    pages = list(client.paginate("GET", "/v1/activities"))
    assert [p["messages"] for p in pages] == [[], [], [7]]
    assert [sent.start for sent in adapter.sent] == [None, "c1", "c2"]


def test_a_repeated_cursor_raises_instead_of_looping():
    client, adapter = client_with([page([1], "c1"), page([2], "c2"), page([3], "c1"), page([4], "c2")])
    chain = client.paginate("GET", "/v1/messages", params={"limit": 2})
    assert [next(chain)["messages"] for _ in range(3)] == [[1], [2], [3]]
    with pytest.raises(PaginationError) as caught:
        next(chain)
    assert len(adapter.sent) == 3  # the repeated cursor was never sent again
    assert "GET /v1/messages" in str(caught.value)
    assert caught.value.path == "/v1/messages"
    assert str(caught.value).endswith(".") and "\n" not in str(caught.value)


def test_a_cursor_pointing_at_itself_raises():
    client, adapter = client_with([page([1], "same"), page([2], "same")])
    with pytest.raises(PaginationError):
        list(client.paginate("GET", "/v1/messages"))
    assert [sent.start for sent in adapter.sent] == [None, "same"]


def test_start_argument_is_the_first_cursor_and_counts_as_sent():
    client, adapter = client_with([page([1], "c6"), page([2], "c5")])
    with pytest.raises(PaginationError):
        list(client.paginate("GET", "/v1/messages", start="c5"))
    assert [sent.start for sent in adapter.sent] == ["c5", "c6"]


def test_post_pagination_sends_start_in_the_query_string():
    body = {"filter": {"segment": {"id": 7}}}
    client, adapter = client_with([page([1], "n1"), page([2], "n2"), page([3], "")])
    pages = list(client.paginate("POST", "/v1/customers", params={"limit": 2}, json_body=body))
    assert len(pages) == 3
    assert [sent.method for sent in adapter.sent] == ["POST"] * 3
    assert [sent.start for sent in adapter.sent] == [None, "n1", "n2"]
    assert all(json.loads(sent.body) == body for sent in adapter.sent)  # the cursor is not put in the body


def test_chains_only_remember_their_own_cursors():
    client, adapter = client_with([page([1], "a"), page([10], "a"), page([2], ""), page([20], "")])
    first = client.paginate("GET", "/v1/messages")
    second = client.paginate("GET", "/v1/activities")
    assert next(first)["messages"] == [1]
    assert next(second)["messages"] == [10]
    assert next(first)["messages"] == [2]
    assert next(second)["messages"] == [20]
    assert list(first) == [] and list(second) == []
    assert [(sent.path, sent.start) for sent in adapter.sent] == [
        ("/v1/messages", None), ("/v1/activities", None), ("/v1/messages", "a"), ("/v1/activities", "a")]


def test_nothing_is_sent_before_the_first_page_is_asked_for():
    client, adapter = client_with([page([1], None)])
    chain = client.paginate("GET", "/v1/messages")
    assert adapter.sent == []
    assert list(chain) == [page([1], None)]


def test_an_error_in_the_middle_of_a_chain_propagates():
    client, adapter = client_with([page([1], "c1"), (404, {"errors": [{"detail": "gone"}]})])
    chain = client.paginate("GET", "/v1/segments/3/membership")
    assert next(chain)["messages"] == [1]
    with pytest.raises(NotFoundError):
        next(chain)
    assert len(adapter.sent) == 2


@settings(max_examples=80, deadline=None)
@given(cursors=st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"]), max_size=10))
def test_any_chain_ends_or_raises_exactly_at_the_first_repeat(cursors):
    # Page i answers next=cursors[i]; the page after the last cursor ends the chain.
    answers = [page([i], cursor) for i, cursor in enumerate(cursors)] + [page(["end"], "")]
    client, adapter = client_with(answers)
    repeat_at = next((i for i, cursor in enumerate(cursors) if cursor in cursors[:i]), None)
    pages = []
    if repeat_at is None:
        pages.extend(client.paginate("GET", "/v1/messages"))
        assert len(pages) == len(cursors) + 1
    else:
        with pytest.raises(PaginationError):
            pages.extend(client.paginate("GET", "/v1/messages"))
        assert len(pages) == repeat_at + 1
    assert [sent.start for sent in adapter.sent] == [None, *cursors[: len(pages) - 1]]


def test_an_empty_page_with_a_cursor_already_used_ends_the_chain():
    # Issue 10, bug 6: Customer.io may answer the last page empty with the cursor just sent; that is the end.
    client, adapter = client_with([page([1], "c1"), page([2], "c2"), page([], "c2"), page([99], "never")])
    pages = list(client.paginate("GET", "/v1/activities"))
    assert [p["messages"] for p in pages] == [[1], [2], []]
    assert [sent.start for sent in adapter.sent] == [None, "c1", "c2"]


def test_an_empty_deferred_page_with_a_used_cursor_ends_the_chain_even_after_release():
    client, adapter = client_with([{"identifiers": [{"cio_id": "a"}], "next": "c1"},
                                   {"identifiers": [], "ids": [], "next": "c1"}])
    pages = []
    for deferred in client.paginate("GET", "/v1/segments/1/membership", defer_parse=True):
        pages.append(len(deferred.get("identifiers") or []))
        deferred.release()  # segment membership releases every page before the chain goes on
    assert pages == [1, 0]
    assert len(adapter.sent) == 2


def test_a_released_deferred_page_with_records_and_a_used_cursor_still_raises():
    client, _ = client_with([{"identifiers": [{"cio_id": "a"}], "next": "c1"},
                             {"identifiers": [{"cio_id": "b"}], "next": "c1"}])
    with pytest.raises(PaginationError):
        for deferred in client.paginate("GET", "/v1/segments/1/membership", defer_parse=True):
            deferred.release()
