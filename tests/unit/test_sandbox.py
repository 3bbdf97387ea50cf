"""Tests of the Customer.io App API sandbox, through real HTTP."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

import pytest
import requests

from sandbox import RateLimiter, SandboxServer, SandboxSettings
from sandbox.workspace import RETENTION, SIX_MONTHS

ANCHOR = 1_750_000_000
KEY = "sandbox-key"
LIMITED = "sandbox-key-limited"
REPO = Path(__file__).resolve().parents[2]


def settings(**overrides) -> SandboxSettings:
    values = {"rate_limit": 0, "anchor": ANCHOR, "export_delay": 0.3}
    values.update(overrides)
    return SandboxSettings(**values)


@pytest.fixture(scope="module")
def server():
    with SandboxServer(settings()) as srv:
        yield srv


@pytest.fixture()
def fresh():
    """A private server for tests that change state (faults, appends, deletions)."""
    with SandboxServer(settings()) as srv:
        yield srv


@pytest.fixture(scope="module")
def api():
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    yield session
    session.close()


def collect(api, url, key, params=None, method="GET", body=None):
    """Follow `next` -> `start` until "" and return (records, pages)."""
    params = dict(params or {})
    records, pages = [], []
    for _ in range(10_000):
        if method == "GET":
            r = api.get(url, params=params)
        else:
            r = api.post(url, params=params, json=body)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page)
        records.extend(page[key])
        if not page["next"]:
            return records, pages
        params["start"] = page["next"]
    raise AssertionError("pagination did not end")


# ---------------------------------------------------------------------- auth, scope, rate limit
def test_missing_or_wrong_key_is_401_with_error_envelope(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                    {"Authorization": f"Bearer {KEY} "}):
        r = requests.get(f"{server.url}/v1/campaigns", headers=headers)
        assert r.status_code == 401
        err = r.json()["errors"][0]
        assert err["status"] == "401" and err["code"] == "invalid_credentials"
        assert re.fullmatch(r"unauthorized \(reference [0-9a-f]{6}\)", err["detail"])


def test_limited_key_reads_only_campaigns_and_segments(server):
    h = {"Authorization": f"Bearer {LIMITED}"}
    assert requests.get(f"{server.url}/v1/campaigns", headers=h).status_code == 200
    assert requests.get(f"{server.url}/v1/segments", headers=h).status_code == 200
    for path in ("/v1/messages", "/v1/activities", "/v1/segments/3/membership", "/v1/exports"):
        r = requests.get(server.url + path, headers=h)
        assert r.status_code == 403
        err = r.json()["errors"][0]
        assert err["status"] == "403" and "scope" in err["detail"]


def test_burst_over_ten_per_second_gets_429_with_retry_after():
    with SandboxServer(settings(rate_limit=10)) as srv, requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {KEY}"
        statuses, limited = [], None
        for _ in range(15):
            r = s.get(f"{srv.url}/v1/segments")
            statuses.append(r.status_code)
            if r.status_code == 429:
                limited = r
        assert statuses[:10] == [200] * 10
        assert 429 in statuses[10:]
        assert limited.headers["Retry-After"] == "1"
        detail = limited.json()["errors"][0]
        assert detail["status"] == "429"
        assert re.fullmatch(r"rate limited to 10 requests per 1s \(reference [0-9a-f]{6}\)", detail["detail"])
        # Each key has its own window: the limited key is still admitted.
        assert requests.get(f"{srv.url}/v1/segments", headers={"Authorization": f"Bearer {LIMITED}"}).ok


def test_rate_limiter_window_edges():
    import random

    rng = random.Random(5)
    jittery = RateLimiter(10)
    refused = sum(not jittery.allow("k", n * 0.1 + rng.uniform(-0.02, 0.02)) for n in range(300))
    assert refused > 0  # exactly 10/s with jitter draws some 429s
    paced = RateLimiter(10)
    assert all(paced.allow("k", n / 9.5) for n in range(300))  # 9.5/s evenly paced: none


def test_rate_limiter_decides_arrivals_that_come_out_of_order_by_their_own_second():
    window = RateLimiter(10)
    assert all(window.allow("k", 0.5 + n * 0.05) for n in range(10))  # 10 arrivals in [0.5, 0.95]
    # An arrival at 0.2, decided after them (its handler ran late), shares the second that ends at 0.95: refused.
    assert not window.allow("k", 0.2)
    assert window.allow("k", -0.6)  # a second before all of them: admitted
    assert window.allow("k", 1.51)  # the second (0.51, 1.51] holds nine of them


_TWO_REQUESTS = """
import sys, time
from http.client import HTTPConnection
conn = HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
conn.request("GET", "/v1/segments", headers={"Authorization": "Bearer " + sys.argv[3]})
conn.getresponse().read()  # a keep-alive connection, as the client keeps them
print("ready", flush=True)
time.sleep(0.1)  # meanwhile the sandbox's process is made busy
print(time.time(), flush=True)
conn.request("GET", "/v1/segments?second=1", headers={"Authorization": "Bearer " + sys.argv[3]})
print(conn.getresponse().status, flush=True)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's receive timestamp (SO_TIMESTAMPNS) is Linux's")
def test_a_request_is_counted_when_it_arrived_not_when_a_busy_sandbox_reads_it():
    with SandboxServer(settings(latency_ms=0, jitter_ms=0)) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        client = subprocess.Popen([sys.executable, "-c", _TWO_REQUESTS, host, port, KEY], stdout=subprocess.PIPE,
                                  text=True)
        assert client.stdout.readline().strip() == "ready"
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1.0)  # this thread keeps the interpreter: the sandbox's handlers cannot run
        try:
            busy_until = time.perf_counter() + 0.4
            while time.perf_counter() < busy_until:
                pass
        finally:
            sys.setswitchinterval(switch)
        sent, status = client.communicate(timeout=10)[0].split()
        assert status == "200"
        (entry,) = [e for e in srv.request_log if e["query"].get("second")]
        assert entry["t"] - float(sent) < 0.1  # when it arrived, though the sandbox read it about 0.3 s later


def test_latency_and_jitter_delay_each_response():
    with SandboxServer(settings(latency_ms=80, jitter_ms=20)) as srv:
        t = time.monotonic()
        r = requests.get(f"{srv.url}/v1/campaigns", headers={"Authorization": f"Bearer {KEY}"})
        assert r.ok and time.monotonic() - t >= 0.058


def test_keep_alive_reuses_one_connection(server):
    conn = HTTPConnection("127.0.0.1", server.port)
    for _ in range(3):
        conn.request("GET", "/v1/segments", headers={"Authorization": f"Bearer {KEY}"})
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Content-Length") and json.loads(r.read())["segments"]
        assert not r.will_close
    conn.close()


# ---------------------------------------------------------------------- catalogue
def test_campaigns_and_segments_shapes(server, api):
    campaigns = api.get(f"{server.url}/v1/campaigns").json()["campaigns"]
    assert len(campaigns) >= 6
    assert {c["type"] for c in campaigns} >= {"segment", "event", "date", "object", "relationship", "webhook"}
    for c in campaigns:
        assert isinstance(c["actions"], list) and all({"id", "type"} <= set(a) for a in c["actions"])
        assert c["deduplicate_id"] == f"{c['id']}:{c['updated']}"
    assert any(isinstance(c.get("audience", {}).get("person_filters"), dict) for c in campaigns)
    segments = api.get(f"{server.url}/v1/segments").json()["segments"]
    assert {s["type"] for s in segments} == {"dynamic", "manual"}
    assert any(s["tags"] is None for s in segments) and any(isinstance(s["tags"], list) for s in segments)
    assert all({"created_at", "updated_at", "progress", "state"} <= set(s) for s in segments)
    one = api.get(f"{server.url}/v1/segments/3").json()["segment"]
    assert one == next(s for s in segments if s["id"] == 3)
    count = api.get(f"{server.url}/v1/segments/3/customer_count").json()
    assert count == {"count": len(server.workspace.segment_member_ids(3)), "segment_id": 3}
    assert api.get(f"{server.url}/v1/segments/999").status_code == 404
    assert api.get(f"{server.url}/v1/segments/abc").status_code == 400
    # Fixed timestamps: the catalogue does not depend on the anchor.
    with SandboxServer(settings(anchor=ANCHOR + 12345)) as other:
        assert api.get(f"{other.url}/v1/campaigns").content == api.get(f"{server.url}/v1/campaigns").content
        assert api.get(f"{other.url}/v1/segments").content == api.get(f"{server.url}/v1/segments").content


# ---------------------------------------------------------------------- page sizes
@pytest.mark.parametrize(
    ("method", "path", "limit", "status"),
    [
        ("GET", "/v1/messages", 1000, 200),
        ("GET", "/v1/messages", 1001, 400),
        ("GET", "/v1/messages", 0, 400),
        ("GET", "/v1/messages", "ten", 400),
        ("GET", "/v1/activities", 100, 200),
        ("GET", "/v1/activities", 101, 400),
        ("GET", "/v1/segments/3/membership", 30000, 200),
        ("GET", "/v1/segments/3/membership", 30001, 400),
        ("GET", "/v1/segments/3/membership", 0, 400),
        ("POST", "/v1/customers", 1000, 200),
        ("POST", "/v1/customers", 1001, 400),
    ],
)
def test_page_size_maxima(server, api, method, path, limit, status):
    body = {"filter": {"segment": {"id": 3}}} if method == "POST" else None
    r = api.request(method, server.url + path, params={"limit": limit}, json=body)
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["errors"][0]["status"] == "400"


# ---------------------------------------------------------------------- messages
def test_message_cursor_paging_covers_every_record_once(server, api):
    end = ANCHOR - 10 * 86400
    start = end - 150 * 86400
    records, pages = collect(api, f"{server.url}/v1/messages", "messages",
                             {"start_ts": start, "end_ts": end, "limit": 100})
    ids = [m["id"] for m in records]
    assert len(ids) == len(set(ids))
    truth = [m["id"] for m in server.workspace.iter_messages() if start <= m["created"] <= end]
    assert ids == truth and len(truth) > 500
    created = [m["created"] for m in records]
    assert created == sorted(created, reverse=True)
    assert len(set(created)) < len(created)  # same-second ties exist
    assert any(not p["messages"] and p["next"] for p in pages), "empty page carrying next"
    assert pages[-1]["next"] == ""
    cursor = pages[0]["next"]
    assert not cursor.isdigit() and str(len(pages[0]["messages"])) not in base64.b64decode(cursor).decode("latin-1")
    bad = api.get(f"{server.url}/v1/messages", params={"start": "MDox"})
    assert bad.status_code == 400


def test_message_shape(server, api):
    msgs = api.get(f"{server.url}/v1/messages", params={"limit": 1000}).json()["messages"]
    keys = {"action_id", "broadcast_id", "campaign_id", "content_id", "created", "customer_id",
            "customer_identifiers", "deduplicate_id", "failure_message", "forgotten", "id", "metrics",
            "msg_template_id", "newsletter_id", "parent_action_id", "recipient", "subject", "trigger_event_id", "type"}
    for m in msgs:
        assert keys <= set(m)
        assert sum(m[k] is not None for k in ("campaign_id", "newsletter_id", "broadcast_id")) <= 1
        assert set(m["customer_identifiers"]) == {"id", "email", "cio_id"}
        assert re.fullmatch(r"[A-Za-z0-9_-]{35}=", m["id"])
        assert "tracked_responses" not in m
        assert all(isinstance(v, int) for v in m["metrics"].values())
    assert {m["type"] for m in msgs} >= {"email", "push", "in_app", "twilio", "webhook"}
    assert any(m["subject"] is None for m in msgs) and any(m["failure_message"] for m in msgs)
    assert any(m["customer_id"] is None for m in msgs)
    assert any("human_opened" in m["metrics"] for m in msgs)


def _window(api, server, **params):
    params.setdefault("limit", 1000)
    now = server.workspace.now()
    records, _ = collect(api, f"{server.url}/v1/messages", "messages", params)
    return [m["created"] for m in records], now


def test_messages_six_month_rule(server, api):
    ws = server.workspace
    all_created = [m["created"] for m in ws.iter_messages()]
    # No timestamps: the most recent 6 months before now.
    got, now = _window(api, server)
    assert got == [c for c in all_created if now - SIX_MONTHS <= c <= now]
    # Only end_ts: 6 months before it.
    end = ANCHOR - 100 * 86400
    got, _ = _window(api, server, end_ts=end)
    assert got == [c for c in all_created if end - SIX_MONTHS <= c <= end]
    # start_ts more than 6 months before end_ts: only the 6 months before end_ts.
    got, _ = _window(api, server, start_ts=end - 300 * 86400, end_ts=end)
    assert min(got) >= end - SIX_MONTHS and got == [c for c in all_created if end - SIX_MONTHS <= c <= end]
    # Within 6 months: exactly [start_ts, end_ts], bounds inclusive.
    lo, hi = all_created[900], all_created[100]
    got, _ = _window(api, server, start_ts=lo, end_ts=hi)
    assert got[0] == hi and got[-1] == lo and got == [c for c in all_created if lo <= c <= hi]
    # Only start_ts: end = now and 6 months before now; start_ts itself is not a lower bound.
    start = ANCHOR - 10 * 86400
    got, now = _window(api, server, start_ts=start)
    assert min(got) < start and got == [c for c in all_created if now - SIX_MONTHS <= c <= now]
    # start after end: nothing.
    assert _window(api, server, start_ts=hi, end_ts=lo)[0] == []
    assert api.get(f"{server.url}/v1/messages", params={"start_ts": "yesterday"}).status_code == 400


def test_message_filters(server, api):
    ws = server.workspace
    pushes, _ = collect(api, f"{server.url}/v1/messages", "messages", {"type": "push", "limit": 1000,
                                                                        "start_ts": ANCHOR - 180 * 86400})
    assert pushes and {m["type"] for m in pushes} == {"push"}
    drafts = api.get(f"{server.url}/v1/messages", params={"drafts": "true", "limit": 1000}).json()["messages"]
    assert drafts and all("drafted" in m["metrics"] for m in drafts)
    assert [m["id"] for m in drafts] == [m["id"] for m in ws.iter_messages(drafts=True)
                                         if m["created"] >= ws.now() - SIX_MONTHS][: len(drafts)]
    opened = api.get(f"{server.url}/v1/messages", params={"metric": "opened", "limit": 200}).json()["messages"]
    assert opened and all("opened" in m["metrics"] for m in opened)
    camp = api.get(f"{server.url}/v1/messages", params={"campaign_id": 5, "limit": 200}).json()["messages"]
    assert camp and {m["campaign_id"] for m in camp} == {5}
    tracked = api.get(f"{server.url}/v1/messages",
                       params={"type": "in_app", "get_tracked_responses": "true", "limit": 1000}).json()["messages"]
    assert any("tracked_responses" in m for m in tracked)
    for bad in ({"type": "sms"}, {"metric": "read"}, {"drafts": "yes"}, {"campaign_id": "x"}):
        assert api.get(f"{server.url}/v1/messages", params=bad).status_code == 400


# ---------------------------------------------------------------------- activities
def test_activities_retention_deleted_and_type(server, api):
    ws = server.workspace
    url = f"{server.url}/v1/activities"
    now = ws.now()
    records, pages = collect(api, url, "activities", {"limit": 100})
    assert [a["id"] for a in records] == [a["id"] for a in ws.iter_activities()]
    assert all(a["timestamp"] >= now - RETENTION for a in records)
    assert ws.activities.time(0) < now - RETENTION  # older activities exist but are never returned
    assert any(not p["activities"] and p["next"] for p in pages)
    live = {c for c, _ in ((ws.identity(j)[0], j) for j in range(ws.people_count))}
    assert all(a["customer_identifiers"] is None or a["customer_identifiers"]["cio_id"] in live for a in records)
    with_deleted, _ = collect(api, url, "activities", {"limit": 100, "deleted": "true"})
    assert len(with_deleted) > len(records)
    assert any(a["customer_identifiers"] and a["customer_identifiers"]["cio_id"] not in live for a in with_deleted)
    assert [a["id"] for a in with_deleted] == [a["id"] for a in ws.iter_activities(deleted=True)]
    types = {a["type"] for a in records}
    assert types >= {"event", "attribute_change", "sent_email", "opened_email", "page", "_o:1:create"}
    pages_only, _ = collect(api, url, "activities", {"limit": 100, "type": "page"})
    assert pages_only and all(a["type"] == "page" and a["url"] for a in pages_only)
    changes = [a for a in records if a["type"] == "attribute_change"]
    assert all(set(next(iter(a["data"].values()))) <= {"from", "to"} for a in changes)
    objects, _ = collect(api, url, "activities", {"limit": 100, "type": "_o:1:create"})
    assert objects == [a for a in records if a["type"] == "_o:1:create"]
    assert api.get(url, params={"type": "no_such_type"}).status_code == 400
    assert api.get(url, params={"type": "_o:1:explode"}).status_code == 400
    person = next(a for a in records if a["customer_id"])
    mine, _ = collect(api, url, "activities", {"limit": 100, "customer_id": person["customer_id"]})
    assert mine and all(a["customer_id"] == person["customer_id"] for a in mine)
    cio = person["customer_identifiers"]["cio_id"]
    by_cio, _ = collect(api, url, "activities", {"limit": 100, "customer_id": cio, "id_type": "cio_id"})
    assert by_cio == mine


# ---------------------------------------------------------------------- membership
def test_membership_paging_quirk_and_404(fresh, api):
    ws = fresh.workspace
    url = f"{fresh.url}/v1/segments/3/membership"
    records, pages = collect(api, url, "identifiers", {"limit": 40})
    assert [r["cio_id"] for r in records] == ws.segment_member_ids(3)
    assert any(not p["identifiers"] and p["next"] for p in pages)
    assert all(p["segment_id"] == 3 and len(p["ids"]) == len(p["identifiers"]) for p in pages)
    assert any(i == "" for p in pages for i in p["ids"])  # people without an id
    assert ws.segment_member_ids(42) == []
    assert api.get(f"{fresh.url}/v1/segments/777/membership").status_code == 404
    first = api.get(url, params={"limit": 40}).json()
    # A cursor means nothing to another segment: live, a 200 with null arrays and no next (not an error).
    other = api.get(f"{fresh.url}/v1/segments/7/membership", params={"start": first["next"]})
    assert other.status_code == 200
    assert other.json() == {"segment_id": 7, "ids": None, "identifiers": None, "next": ""}
    fresh.delete_segment(3)
    r = api.get(url, params={"limit": 40, "start": first["next"]})
    assert r.status_code == 404 and r.json()["errors"][0]["status"] == "404"
    assert 3 not in [s["id"] for s in api.get(f"{fresh.url}/v1/segments").json()["segments"]]


# ---------------------------------------------------------------------- people
FILTERS = [
    {"segment": {"id": 3}},
    {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
    {"attribute": {"field": "名前", "operator": "exists"}},
    {"not": {"attribute": {"field": "email", "operator": "exists"}}},
    {"and": [{"segment": {"id": 7}}, {"not": {"segment": {"id": 12}}}]},
    {"or": [{"attribute": {"field": "state", "operator": "eq", "value": "NM"}},
            {"attribute": {"field": "interest", "operator": "eq", "value": "roadrunners"}}]},
    {"and": [{"segment": {"id": 3}},
             {"or": [{"attribute": {"field": "interest", "operator": "eq", "value": "roadrunners"}},
                     {"attribute": {"field": "state", "operator": "eq", "value": "NM"}},
                     {"not": {"attribute": {"field": "source", "operator": "eq", "value": "website_newsletter"}}}]}]},
    {"segment": {"id": 999}},
]


@pytest.mark.parametrize("flt", FILTERS)
def test_customer_search_evaluates_filters(server, api, flt):
    ws = server.workspace
    records, pages = collect(api, f"{server.url}/v1/customers", "identifiers", {"limit": 70}, "POST",
                             {"filter": flt})
    expected = [p for p in ws.iter_people() if ws.match_filter(flt, p)]
    assert [r["cio_id"] for r in records] == [p["identifiers"]["cio_id"] for p in expected]
    ids = [i for p in pages for i in p["ids"]]
    assert ids == [p["id"] or "" for p in expected]


def test_filter_ground_truth_is_independent(server):
    ws = server.workspace
    people = list(ws.iter_people())
    assert [p["identifiers"]["cio_id"] for p in people if ws.match_filter({"segment": {"id": 3}}, p)] == \
        ws.segment_member_ids(3)
    exists = [p for p in people if ws.match_filter({"attribute": {"field": "名前", "operator": "exists"}}, p)]
    assert exists == [p for p in people if "名前" in p["attributes"]] and 0 < len(exists) < len(people)
    pro = [p for p in people if ws.match_filter({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}, p)]
    assert pro == [p for p in people if p["attributes"].get("plan") == "pro"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/filter"),
        ({"filter": {"attribute": {"field": "a", "operator": "gt", "value": "1"}}}, "/filter/attribute/operator"),
        ({"filter": {"and": [{"segment": {"id": 3}}, {"attribute": {"field": "a", "operator": "eq"}}]}},
         "/filter/and/1/attribute/value"),
        ({"filter": {"or": []}}, "/filter/or"),
        ({"filter": {"segment": {"id": 3}, "not": {"segment": {"id": 3}}}}, "/filter"),
        ({"filter": {"segment": {"id": "3"}}}, "/filter/segment/id"),
        ({"filter": {"nand": []}}, "/filter/nand"),
    ],
)
def test_invalid_filters_are_400_with_pointer(server, api, body, pointer):
    r = api.post(f"{server.url}/v1/customers", json=body)
    assert r.status_code == 400
    assert r.json()["errors"][0]["source"]["pointer"] == pointer


def test_people_data_is_unkind(server):
    people = list(server.workspace.iter_people())
    attrs = [p["attributes"] for p in people]
    assert any(p["id"] is None for p in people) and any(p["identifiers"]["email"] is None for p in people)
    assert any({"Name", "name"} <= set(a) for a in attrs) and any({"First Name", "first_name"} <= set(a) for a in attrs)
    assert any(len(k) > 64 for a in attrs for k in a)
    assert any("město" in a for a in attrs) and any("名前" in a for a in attrs)
    values = [v for a in attrs for v in a.values()]
    assert all(isinstance(v, str) for v in values)
    assert any("," in v for v in values) and any('"' in v for v in values) and any("\n" in v for v in values)
    assert any(p["devices"] for p in people) and any(p["unsubscribed"] for p in people)


def test_customer_attributes_limits_and_omissions(server, api):
    ws = server.workspace
    url = f"{server.url}/v1/customers/attributes"
    people = list(ws.iter_people())[:5]
    ids = [p["identifiers"]["cio_id"] for p in people]
    r = api.post(url, params={"id_type": "cio_id"}, json={"ids": [*ids, "a3ffffff", "nobody"]})
    assert r.status_code == 200
    got = r.json()["customers"]
    assert [c["customer"]["identifiers"]["cio_id"] for c in got] == ids
    first = got[0]["customer"]
    assert set(first) == {"id", "attributes", "devices", "identifiers", "timestamps", "unsubscribed"}
    assert first == ws.person_attributes(ids[0])
    assert api.post(url, params={"id_type": "cio_id"}, json={"ids": [f"cio_{ids[1]}"]}).json()["customers"]
    with_id = next(p for p in ws.iter_people() if p["id"])
    assert api.post(url, json={"ids": [with_id["id"]]}).json()["customers"][0]["customer"]["id"] == with_id["id"]
    with_email = next(p for p in ws.iter_people() if p["identifiers"]["email"])
    r = api.post(url, params={"id_type": "email"}, json={"ids": [with_email["identifiers"]["email"]]})
    assert r.json()["customers"][0]["customer"]["identifiers"]["email"] == with_email["identifiers"]["email"]
    assert api.post(url, params={"id_type": "cio_id"}, json={"ids": ["x"] * 101}).status_code == 400
    assert api.post(url, params={"id_type": "cio_id"}, json={"ids": []}).status_code == 400
    assert api.post(url, params={"id_type": "cio_id"}, json={"ids": ["x"] * 100}).json() == {"customers": []}
    assert api.post(url, params={"id_type": "phone"}, json={"ids": ["+420"]}).status_code == 400
    assert api.post(url, params={"id_type": "cio_id"}, data="not json").status_code == 400


def test_unwrapped_attributes_variant(api):
    with SandboxServer(settings(unwrapped_attributes=True)) as srv:
        r = api.post(f"{srv.url}/v1/customers/attributes", params={"id_type": "cio_id"}, json={"ids": ["a3000001"]})
        item = r.json()["customers"][0]
        assert item["identifiers"]["cio_id"] == "a3000001" and "customer" not in item


# ---------------------------------------------------------------------- exports
def test_export_flow(fresh, api):
    ws = fresh.workspace
    flt = {"and": [{"segment": {"id": 7}}, {"attribute": {"field": "note", "operator": "exists"}}]}
    attributes = ["Name", "note", "名前", "missing_attr"]
    assert api.post(f"{fresh.url}/v1/exports/customers", json={"filter": flt}).status_code == 400
    r = api.post(f"{fresh.url}/v1/exports/customers", json={"filters": flt, "attributes": attributes})
    export = r.json()["export"]
    assert export["status"] == "pending" and export["failed"] is False and export["total"] == 0
    assert export["type"] == "customers"
    eid = export["id"]
    assert api.get(f"{fresh.url}/v1/exports/{eid}/download").status_code == 400
    deadline = time.monotonic() + 5
    while (current := api.get(f"{fresh.url}/v1/exports/{eid}").json()["export"])["status"] == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    expected = [p for p in ws.iter_people() if ws.match_filter(flt, p)]
    assert current["status"] == "done" and current["total"] == len(expected) > 0
    assert [e["id"] for e in api.get(f"{fresh.url}/v1/exports").json()["exports"]] == [eid]
    url = api.get(f"{fresh.url}/v1/exports/{eid}/download").json()["url"]
    assert "X-Expires=" in url and "X-Signature=" in url
    with_auth = api.get(url)
    assert with_auth.status_code == 400 and "<Code>InvalidArgument</Code>" in with_auth.text
    tampered = re.sub(r"X-Signature=[0-9a-f]{4}", "X-Signature=0000", url)
    assert requests.get(tampered).status_code == 403
    r = requests.get(url)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0] == ["cio_id", "id", "email", *attributes]
    assert [row[0] for row in rows[1:]] == [p["identifiers"]["cio_id"] for p in expected]
    for row, p in zip(rows[1:], expected, strict=True):
        assert row[1:3] == [p["id"] or "", p["identifiers"]["email"] or ""]
        assert row[3:] == [p["attributes"].get(a, "") for a in attributes]
    assert any("\n" in row[4] for row in rows[1:]) or any("," in row[4] for row in rows[1:])
    assert api.get(f"{fresh.url}/v1/exports/999999").status_code == 404


def test_export_download_url_expires():
    with SandboxServer(settings(export_delay=0, download_url_ttl=0)) as srv, requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {KEY}"
        eid = s.post(f"{srv.url}/v1/exports/customers", json={"filters": {"segment": {"id": 12}}}).json()["export"]["id"]
        for _ in range(100):
            if s.get(f"{srv.url}/v1/exports/{eid}").json()["export"]["status"] == "done":
                break
            time.sleep(0.02)
        url = s.get(f"{srv.url}/v1/exports/{eid}/download").json()["url"]
        time.sleep(1.05)
        r = requests.get(url)
        assert r.status_code == 403 and "Request has expired" in r.text


# ---------------------------------------------------------------------- append
def test_append_adds_newer_records_and_shifts_positional_tokens(fresh, api):
    # Live tokens are positions (estuary/connectors source-customer-io/bruno/Messages/page walk continued.yml):
    # deliveries created between two pages of a window push the list down, so the next page repeats some.
    ws = fresh.workspace
    url = f"{fresh.url}/v1/messages"
    before_newest = next(ws.iter_messages(drafts=None))
    window = {"start_ts": ws.now() - 100 * 86_400, "end_ts": ws.now() + 3600}
    page1 = api.get(url, params={"limit": 20, **window}).json()
    fresh.append("messages", 25)
    page2 = api.get(url, params={"limit": 20, **window, "start": page1["next"]}).json()
    now_listed = [m["id"] for m in ws.iter_messages() if window["start_ts"] <= m["created"] <= window["end_ts"]]
    old_ids = [m["id"] for m in ws.iter_messages() if m["created"] <= before_newest["created"]]
    assert [m["id"] for m in page1["messages"]] == old_ids[:20]
    assert [m["id"] for m in page2["messages"]] == now_listed[20:40]
    assert len(now_listed) > len([i for i in old_ids if i in set(now_listed)]), "the append landed in the window"
    top = api.get(url, params={"limit": 1000}).json()["messages"]
    new = [m for m in top if m["id"] not in set(old_ids)]
    assert new and top[: len(new)] == new
    assert all(m["created"] > before_newest["created"] for m in new)
    assert len([m for m in ws.iter_messages(drafts=None) if m["created"] > before_newest["created"]]) == 25
    newest_activity = next(ws.iter_activities(deleted=True))
    requests.post(f"{fresh.url}/_sandbox/append", json={"dataset": "activities", "count": 7})
    newer = [a for a in ws.iter_activities(deleted=True) if a["timestamp"] > newest_activity["timestamp"]]
    assert len(newer) == 7


def test_data_is_deterministic():
    a, b = SandboxServer(settings(seed=3)).workspace, SandboxServer(settings(seed=3)).workspace
    assert [a.message(i) for i in range(50)] == [b.message(i) for i in range(50)]
    assert [a.activity(i) for i in range(50)] == [b.activity(i) for i in range(50)]
    assert a.person(7) == b.person(7)
    c = SandboxServer(settings(seed=4)).workspace
    assert a.message(1) != c.message(1)
    ids = {a.message(i)["id"] for i in range(a.messages.total)}
    assert len(ids) == a.messages.total
    assert len({a.activity(i)["id"] for i in range(a.activities.total)}) == a.activities.total


# ---------------------------------------------------------------------- faults
def _get(srv, path="/v1/campaigns", **kw):
    return requests.get(srv.url + path, headers={"Authorization": f"Bearer {KEY}"}, **kw)


def test_fault_errors_with_json_and_html_bodies(fresh):
    fresh.set_faults({"error_rate": 1, "error_statuses": [502, 503]})
    responses = [_get(fresh) for _ in range(12)]
    assert {r.status_code for r in responses} <= {502, 503}
    kinds = {r.headers["Content-Type"].split(";")[0] for r in responses}
    assert kinds == {"application/json", "text/html"}
    assert requests.get(f"{fresh.url}/_sandbox/health").ok  # never applied to /_sandbox


def test_fault_drop_truncate_non_json_slow(fresh):
    fresh.set_faults({"drop_rate": 1})
    with pytest.raises(requests.exceptions.RequestException):
        _get(fresh)
    fresh.set_faults({"truncated_json_rate": 1})
    r = _get(fresh)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    fresh.set_faults({"non_json_rate": 1})
    r = _get(fresh)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    fresh.set_faults({"slow_rate": 1, "slow_seconds": 0.3})
    t = time.monotonic()
    assert _get(fresh).ok and time.monotonic() - t >= 0.3
    fresh.set_faults({"error_rate": 1, "paths": ["/v1/messages"]})
    assert _get(fresh).ok and _get(fresh, "/v1/messages").status_code >= 500
    fresh.set_faults({})
    assert _get(fresh).ok
    faults = [e.get("fault") for e in fresh.request_log]
    assert {"drop", "truncated_json", "non_json", "slow", "error"} <= set(faults)


def test_a_slow_fault_is_logged_before_its_sleep_ends(fresh):
    # A client that gives up on a slow answer may finish its run, and a test read the log, while the sandbox still
    # sleeps: the fault is in the log from the start (the flaky faults[slower_than_the_read_timeout], issue 20).
    fresh.set_faults({"slow_rate": 1, "slow_seconds": 3})
    with pytest.raises(requests.exceptions.ReadTimeout):
        _get(fresh, timeout=0.3)
    assert [entry.get("fault") for entry in list(fresh.request_log)] == ["slow"]


def test_fault_burst_and_long_429(fresh):
    fresh.set_faults({"burst_429": {"every": 4, "length": 2, "retry_after": False}})
    responses = [_get(fresh) for _ in range(8)]
    assert [r.status_code for r in responses] == [200, 200, 429, 429] * 2
    assert all("Retry-After" not in r.headers for r in responses if r.status_code == 429)
    fresh.set_faults({"long_429_seconds": 0.4})
    r = _get(fresh)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    time.sleep(0.45)
    assert _get(fresh).ok


def test_fault_repeat_cursor_once_per_chain(fresh):
    fresh.set_faults({"repeat_cursor": True})
    url = "/v1/activities"
    first = _get(fresh, url, params={"limit": 5}).json()
    second = _get(fresh, url, params={"limit": 5, "start": first["next"]}).json()
    assert second["next"] == first["next"]
    again = _get(fresh, url, params={"limit": 5, "start": first["next"]}).json()
    assert again["activities"] == second["activities"] and again["next"] != first["next"]


def test_fault_export_failed_and_download_cut(fresh, api):
    fresh.set_faults({"export_failed": True})
    eid = api.post(f"{fresh.url}/v1/exports/customers", json={"filters": {"segment": {"id": 3}}}).json()["export"]["id"]
    time.sleep(0.35)
    export = api.get(f"{fresh.url}/v1/exports/{eid}").json()["export"]
    assert export["status"] == "failed" and export["failed"] is True
    assert api.get(f"{fresh.url}/v1/exports/{eid}/download").status_code == 400
    fresh.set_faults({})
    eid = api.post(f"{fresh.url}/v1/exports/customers", json={"filters": {"segment": {"id": 3}}}).json()["export"]["id"]
    time.sleep(0.35)
    url = api.get(f"{fresh.url}/v1/exports/{eid}/download").json()["url"]
    fresh.set_faults({"download_cut_rate": 1})
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url)
    fresh.set_faults({})
    assert requests.get(url).ok


def test_fault_empty_first_page_on_every_paged_endpoint(fresh, api):
    fresh.set_faults({"empty_first_page": True})
    chains = [("GET", "/v1/messages", "messages", {"limit": 1000}, None),
              ("GET", "/v1/activities", "activities", {"limit": 100}, None),
              ("GET", "/v1/segments/3/membership", "identifiers", {"limit": 30000}, None),
              ("POST", "/v1/customers", "identifiers", {"limit": 1000},
               {"filter": {"attribute": {"field": "cio_id", "operator": "exists"}}})]
    for method, path, key, params, body in chains:
        records, pages = collect(api, fresh.url + path, key, params, method=method, body=body)
        assert pages[0][key] == [] and pages[0]["next"], path
        assert records, path
    fresh.set_faults({})
    for method, path, key, params, body in chains:
        assert collect(api, fresh.url + path, key, params, method=method, body=body)[1][0][key], path


def test_fault_expired_download_urls(fresh, api):
    eid = api.post(f"{fresh.url}/v1/exports/customers", json={"filters": {"segment": {"id": 3}}}).json()["export"]["id"]
    time.sleep(0.35)
    fresh.set_faults({"expired_download_urls": 2})
    for _ in range(2):
        url = api.get(f"{fresh.url}/v1/exports/{eid}/download").json()["url"]
        r = requests.get(url)
        assert r.status_code == 403 and "Request has expired" in r.text
    assert requests.get(api.get(f"{fresh.url}/v1/exports/{eid}/download").json()["url"]).ok
    with pytest.raises(ValueError):
        fresh.set_faults({"expired_download_urls": -1})


def test_fault_first_per_path(fresh):
    fresh.set_faults({"error_rate": 0.0001, "first_per_path": True})
    assert _get(fresh).status_code >= 500 and _get(fresh).ok
    assert _get(fresh, "/v1/segments").status_code >= 500 and _get(fresh, "/v1/segments").ok
    fresh.set_faults({"burst_429": {"every": 1000, "length": 1}, "first_per_path": True})
    assert _get(fresh).status_code == 429 and _get(fresh).ok


def test_bad_fault_spec_is_rejected(fresh):
    with pytest.raises(ValueError):
        fresh.set_faults({"eror_rate": 1})
    r = requests.post(f"{fresh.url}/_sandbox/faults", json={"error_rate": 2})
    assert r.status_code == 400


# ---------------------------------------------------------------------- admin and log
def test_admin_endpoints_and_request_log(fresh):
    r = requests.post(f"{fresh.url}/_sandbox/faults", json={"error_rate": 1, "error_statuses": [500]})
    assert r.ok and r.json()["faults"]["error_rate"] == 1
    assert _get(fresh).status_code == 500
    requests.post(f"{fresh.url}/_sandbox/faults", json={})
    requests.post(f"{fresh.url}/_sandbox/requests/reset")
    _get(fresh, "/v1/messages", params={"limit": 3, "api_key": KEY})
    requests.get(f"{fresh.url}/v1/segments", headers={"Authorization": f"Bearer {LIMITED}"})
    log = requests.get(f"{fresh.url}/_sandbox/requests").json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [("GET", "/v1/messages", 200),
                                                                     ("GET", "/v1/segments", 200)]
    assert log[0]["query"]["limit"] == "3" and {"n", "t"} <= set(log[0])
    text = json.dumps(log) + json.dumps(fresh.request_log)
    assert KEY not in text and "Bearer" not in text
    health = requests.get(f"{fresh.url}/_sandbox/health").json()
    assert health["status"] == "ok" and health["counts"]["messages"] == 3000


def test_cli_prints_listening_line_and_stops_on_sigterm():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", "0", "--rate-limit", "0", "--people", "50"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        match = re.fullmatch(r"sandbox listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        r = requests.get(f"{match.group(1)}/v1/segments", headers={"Authorization": f"Bearer {KEY}"})
        assert r.ok
        assert requests.get(f"{match.group(1)}/_sandbox/health").json()["counts"]["people"] == 50
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_request_log_is_live_and_bounded():
    with SandboxServer(settings(request_log_limit=5)) as srv:
        _get(srv)
        assert len(srv.request_log) == 1
        srv.request_log.clear()
        assert srv.request_log == [] and requests.get(f"{srv.url}/_sandbox/requests").json() == []
        with requests.Session() as s:
            for _ in range(1012):
                s.get(f"{srv.url}/nowhere")
        assert 5 <= len(srv.request_log) <= 1005 and srv.request_log[-1]["n"] == 1013


# ---------------------------------------------------------------------- changes between runs (admin API)
def test_admin_changes_people_segments_and_campaigns(fresh, api):
    admin = f"{fresh.url}/_sandbox"
    members = fresh.workspace.segment_member_ids(3)
    leaver, gone, changed = members[:3]
    assert requests.post(f"{admin}/segments/3/leave", json={"cio_id": leaver}, timeout=5).status_code == 200
    assert requests.post(f"{admin}/people/{gone}/delete", timeout=5).status_code == 200
    assert requests.post(f"{admin}/people/{changed}/attributes", json={"plan": "enterprise", "age": None},
                         timeout=5).status_code == 200
    assert requests.post(f"{admin}/catalogue/campaign/12/delete", timeout=5).status_code == 200
    assert requests.post(f"{admin}/people/nobody/delete", timeout=5).status_code == 404
    assert requests.post(f"{admin}/people/{changed}/attributes", json={"email": "x@y"}, timeout=5).status_code == 400

    membership, _ = collect(api, f"{fresh.url}/v1/segments/3/membership", "identifiers")
    assert [m["cio_id"] for m in membership] == members[2:]  # the leaver and the deleted person are gone
    assert 12 not in [c["id"] for c in api.get(f"{fresh.url}/v1/campaigns").json()["campaigns"]]
    everyone = {"attribute": {"field": "cio_id", "operator": "exists"}}
    people, _ = collect(api, f"{fresh.url}/v1/customers", "identifiers", {"limit": 1000}, "POST", {"filter": everyone})
    assert gone not in {p["cio_id"] for p in people} and len(people) == fresh.workspace.people_count - 1
    answer = api.post(f"{fresh.url}/v1/customers/attributes", params={"id_type": "cio_id"},
                      json={"ids": [gone, changed]}).json()["customers"]
    assert [c["customer"]["identifiers"]["cio_id"] for c in answer] == [changed]
    attributes = answer[0]["customer"]["attributes"]
    assert attributes["plan"] == "enterprise" and "age" not in attributes


def test_future_dated_activities_arrive_now_with_a_timestamp_ahead(fresh, api):
    answer = requests.post(f"{fresh.url}/_sandbox/activities/future", json={"count": 2, "seconds": 86_400},
                           timeout=5).json()
    newest = api.get(f"{fresh.url}/v1/activities", params={"limit": 2}).json()["activities"]
    assert answer["to_index"] - answer["from_index"] == 2
    assert all(a["timestamp"] >= fresh.workspace.now() + 86_000 for a in newest)


def test_search_overlap_repeats_the_last_person_of_the_page_before():
    with SandboxServer(settings(people=30, search_overlap=1)) as srv:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {KEY}"
        everyone = {"attribute": {"field": "cio_id", "operator": "exists"}}
        people, pages = collect(session, f"{srv.url}/v1/customers", "identifiers", {"limit": 10}, "POST",
                                {"filter": everyone})
        ids = [p["cio_id"] for p in people]
        assert len(set(ids)) == 30 and len(ids) > 30
        assert pages[1]["identifiers"][0] == pages[0]["identifiers"][-1]


def test_an_activity_keeps_its_id_when_the_sandbox_starts_again_a_day_later():
    from sandbox.workspace import Workspace

    today, tomorrow = Workspace(settings(anchor=1_750_000_000)), Workspace(settings(anchor=1_750_086_400))
    for i in (0, 5, 1999):
        assert today.activity(i)["id"] == tomorrow.activity(i)["id"]
        assert tomorrow.activity(i)["timestamp"] - today.activity(i)["timestamp"] == 86_400
    ids = [today.activity(i)["id"] for i in range(200)]
    assert len(set(ids)) == 200


def test_unsubscribed_works_as_an_attribute_in_filters():
    from sandbox.workspace import Workspace

    ws = Workspace(settings())
    people = list(ws.iter_people())
    flag = {"attribute": {"field": "unsubscribed", "operator": "eq", "value": "true"}}
    matched = [p["identifiers"]["cio_id"] for p in people if ws.match_filter(flag, p)]
    assert matched == [p["identifiers"]["cio_id"] for p in people if p["unsubscribed"]] and matched
    negated = {"not": flag}
    assert sum(ws.match_filter(negated, p) for p in people) == len(people) - len(matched)


def test_the_readme_filter_examples_are_valid_and_match_people_in_the_sandbox():
    from customerio.filters import parse_filter
    from sandbox.workspace import Workspace

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    paragraph = readme.split("Examples of filters", 1)[1].split("\n\n", 1)[0]
    examples = re.findall(r"`(\{.*?\})`", paragraph.replace("\n", " "))
    assert len(examples) == 2
    ws = Workspace(settings())
    people = list(ws.iter_people())
    for text in examples:
        flt = parse_filter(text)
        assert any(ws.match_filter(flt, person) for person in people), text


def test_some_events_carry_a_flat_and_a_nested_key_that_meet_and_null_objects():
    from sandbox.workspace import Workspace

    ws = Workspace(settings())
    events = [ws.activity(i)["data"] for i in range(ws.activities.total) if ws.activity(i)["type"] == "event"]
    assert any("product_id" in d and isinstance(d.get("product"), dict) and "id" in d["product"] for d in events)
    assert any("variant" in d and d["variant"] is None for d in events)


# ---------------------------------------------------------------------- messages as the live API answers them
def walk_messages(api, url: str, **params) -> list[dict]:
    found, start = [], None
    while True:
        page = api.get(url, params={**params, **({"start": start} if start else {})}).json()
        found += page["messages"]
        if not page["next"]:
            return found
        start = page["next"]


@pytest.mark.parametrize("order", ["newest", "oldest", "unrelated"])
def test_message_order_is_a_setting_and_every_delivery_comes_once(order):
    with SandboxServer(settings(message_order=order)) as srv, requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {KEY}"
        ws = srv.workspace
        window = {"start_ts": ws.now() - 150 * 86_400, "end_ts": ws.now(), "limit": 100}
        got = [m["created"] for m in walk_messages(s, f"{srv.url}/v1/messages", **window)]
        truth = [m["created"] for m in ws.iter_messages() if window["start_ts"] <= m["created"] <= window["end_ts"]]
        assert sorted(got) == sorted(truth) and len(got) > 300
        expected = {"newest": sorted(got, reverse=True), "oldest": sorted(got)}.get(order)
        assert got == expected if expected else got not in (sorted(got), sorted(got, reverse=True))


def test_a_message_token_out_of_range_restarts_at_page_1(server, api):
    url = f"{server.url}/v1/messages"
    deep = api.get(url, params={"limit": 200}).json()["next"]  # a position past every slack delivery of a week
    week = {"start_ts": server.workspace.now() - 7 * 86_400, "end_ts": server.workspace.now(), "type": "slack"}
    first = api.get(url, params={"limit": 200, **week}).json()
    again = api.get(url, params={"limit": 200, **week, "start": deep}).json()
    assert first["messages"] and again["messages"] == first["messages"]


def test_message_metrics_hold_timestamps_and_link_keys(server, api):
    messages = walk_messages(api, f"{server.url}/v1/messages", limit=1000)
    human = [m["metrics"] for m in messages if "human_opened" in m["metrics"]]
    assert human and all(m["human_opened"] >= m["opened"] > 1_000_000_000 for m in human)
    clicked = [m["metrics"] for m in messages if "clicked" in m["metrics"]]
    assert clicked and all(any(k.startswith("link:") for k in m) for m in clicked)
    assert any(k.startswith("human_link:") for m in clicked for k in m)
    assert all(m[k] >= m["clicked"] for m in clicked for k in m if "link:" in k)
