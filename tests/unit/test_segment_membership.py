"""The segment_membership dataset against an in-memory fake of the App API: chosen and all segments, paging,
deterministic order under concurrency, the 404 skip, progress totals, read-ahead and one parsed page at a time."""

from __future__ import annotations

import csv
import json
import logging
import random
import threading
import time
import weakref
from pathlib import Path

import pytest
from keboola.component import CommonInterface

from configuration import load_configuration
from customerio import DeferredPage
from customerio.errors import NotFoundError, ServerError
from datasets import REGISTRY, RunContext, run_dataset
from datasets.segment_membership import SegmentMembership


def member(n: int, *, with_id=True, with_email=True) -> dict:
    item = {"cio_id": f"c{n:06d}"}
    item["id"] = str(n) if with_id else None
    if with_email is not None:
        item["email"] = f"p{n}@example.com" if with_email else None
    return item


class FakeApi:
    def __init__(self, segments: dict[int, list[dict]], *, delay: float = 0.0, seed: int = 0, listed=None):
        self.segments = segments
        self.listed = listed if listed is not None else sorted(segments, reverse=True)  # the API's order is not ours
        self.delay = delay
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, dict]] = []
        self.delete_after_first_page: set[int] = set()
        self.fail: dict[int, Exception] = {}
        self.states: dict[int, dict] = {}  # segment id -> extra fields of its listing (state, progress)

    def _record(self, method, path, params=None):
        with self.lock:
            self.calls.append((method, path, dict(params or {})))
            jitter = self.random.random() * self.delay
        if jitter:
            time.sleep(jitter)

    def request_json(self, method, path, *, params=None, json_body=None):
        self._record(method, path, params)
        if path == "/v1/segments":
            return {"segments": [{"id": sid, "name": f"S{sid}", "state": "finished", **self.states.get(sid, {})}
                                 for sid in self.listed]}
        if path.endswith("/customer_count"):
            sid = int(path.split("/")[3])
            if sid not in self.segments:
                raise NotFoundError("gone", status=404, path=path)
            return {"count": len(self.segments[sid]), "segment_id": sid}
        raise AssertionError(path)

    def paginate(self, method, path, *, params=None, json_body=None, defer_parse=False):
        assert method == "GET" and path.endswith("/membership")
        sid = int(path.split("/")[3])
        limit = params["limit"]
        start = 0
        while True:
            self._record(method, path, {**params, "start": start})
            if sid in self.fail:
                raise self.fail[sid]
            if sid not in self.segments or (start and sid in self.delete_after_first_page):
                raise NotFoundError(f"Customer.io found nothing at GET {path} (404).", status=404, path=path)
            members = self.segments[sid]
            chunk = members[start:start + limit]
            start += limit
            more = start < len(members)
            page = self.make_page({"identifiers": chunk or None, "ids": [m.get("id") or "" for m in chunk] or None,
                                   "next": str(start) if more else "", "segment_id": sid})
            yield page
            page = None  # like the client's paginate: not kept while the next page is fetched
            if not more:
                return

    def make_page(self, data: dict) -> DeferredPage:
        return DeferredPage(json.dumps(data).encode(), "GET fake", lambda: data)

    def calls_to(self, suffix):
        return [call for call in self.calls if call[1].endswith(suffix)]


def make_component(path: Path) -> CommonInterface:
    (path / "out" / "tables").mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
    return CommonInterface(data_folder_path=str(path))


@pytest.fixture()
def component(tmp_path, monkeypatch):
    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)
    return make_component(tmp_path / "data")


def run(api, component, segment_ids=(), workers=4, state=None, progress_interval=30.0) -> dict:
    config = load_configuration({"#api_secret": "k", "segment_membership": {"segment_ids": list(segment_ids)}})
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=0, max_workers=workers, progress_interval=progress_interval)
    return SegmentMembership(config).run(ctx, state or {})


def read(component) -> tuple[list[str], list[dict]]:
    with open(Path(component.tables_out_path) / "segment_membership.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def expected_rows(api, order):
    return [{"segment_id": str(sid), "cio_id": m["cio_id"], "id": m.get("id") or "", "email": m.get("email") or ""}
            for sid in order for m in api.segments.get(sid, [])]


SEGMENTS = {
    3: [member(n) for n in range(1, 40)],
    7: [member(n, with_id=n % 2 == 0) for n in range(20, 120)],  # email-only people too
    12: [],
    15: [member(n, with_email=n % 3 != 0) for n in range(100, 105)],
}


def test_chosen_segments_in_the_configured_order(component):
    api = FakeApi(SEGMENTS)
    state = run(api, component, segment_ids=[15, 3])
    header, rows = read(component)
    assert header == ["segment_id", "cio_id", "id", "email"]
    assert rows == expected_rows(api, [15, 3])
    assert len(api.calls_to("/v1/segments")) == 1  # the listing tells which segments are being rebuilt
    assert all(call[2]["limit"] == 30000 for call in api.calls_to("/membership"))
    assert state == {"columns": {"segment_membership": header}}
    manifest = json.loads((Path(component.tables_out_path) / "segment_membership.csv.manifest").read_text())
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == ["segment_id", "cio_id"]


def test_all_segments_when_the_list_is_empty_in_id_order(component):
    api = FakeApi(SEGMENTS)
    run(api, component)
    _, rows = read(component)
    assert rows == expected_rows(api, [3, 7, 12, 15])
    assert len(api.calls_to("/v1/segments")) == 1


def test_many_pages_and_threads_give_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(SegmentMembership, "PAGE_LIMIT", 7)
    outputs = []
    for seed, workers in ((1, 8), (2, 2), (3, 1)):
        comp = make_component(tmp_path / f"r{seed}")
        api = FakeApi(SEGMENTS, delay=0.002, seed=seed)
        run(api, comp, workers=workers)
        outputs.append((Path(comp.tables_out_path) / "segment_membership.csv").read_bytes())
        _, rows = read(comp)
        assert rows == expected_rows(api, [3, 7, 12, 15])
    assert outputs[0] == outputs[1] == outputs[2]


def test_a_deleted_segment_is_skipped_with_a_warning(component, caplog):
    api = FakeApi(SEGMENTS, listed=[3, 7, 99, 15])  # 99 is listed but deleted before it is read
    with caplog.at_level(logging.WARNING):
        run(api, component)
    _, rows = read(component)
    assert rows == expected_rows(api, [3, 7, 15])
    assert "segment 99 was not found (404)" in caplog.text


def test_a_chosen_segment_that_does_not_exist_is_skipped_too(component, caplog):
    api = FakeApi(SEGMENTS)
    with caplog.at_level(logging.WARNING):
        run(api, component, segment_ids=[404, 3])
    _, rows = read(component)
    assert rows == expected_rows(api, [3])
    assert "segment 404 was not found" in caplog.text


def test_a_segment_deleted_while_it_is_read_leaves_no_rows(component, caplog, monkeypatch):
    monkeypatch.setattr(SegmentMembership, "PAGE_LIMIT", 30)
    api = FakeApi(SEGMENTS)
    api.delete_after_first_page = {7}
    with caplog.at_level(logging.WARNING):
        run(api, component, segment_ids=[7, 3])
    _, rows = read(component)
    assert rows == expected_rows(api, [3])  # half a deleted segment would stay in the snapshot table
    assert "segment 7 was deleted while it was read" in caplog.text and "left out" in caplog.text


def test_other_errors_fail_the_run_and_write_nothing(component):
    api = FakeApi(SEGMENTS)
    api.fail[7] = ServerError("Customer.io is unavailable.")
    with pytest.raises(ServerError):
        run(api, component)
    assert not (Path(component.tables_out_path) / "segment_membership.csv").exists()


def test_customer_count_is_asked_only_for_segments_with_more_than_one_page(component, monkeypatch, caplog):
    # Asked once a segment is still read after the progress interval (0 here: at once).
    monkeypatch.setattr(SegmentMembership, "PAGE_LIMIT", 50)
    api = FakeApi(SEGMENTS)
    with caplog.at_level(logging.DEBUG):
        run(api, component, progress_interval=0)
    assert [call[1] for call in api.calls_to("/customer_count")] == ["/v1/segments/7/customer_count"]
    assert "Segment 7: 100 members to read." in caplog.text


def test_a_short_run_asks_no_customer_count(component, monkeypatch):
    monkeypatch.setattr(SegmentMembership, "PAGE_LIMIT", 50)
    api = FakeApi(SEGMENTS)
    run(api, component)
    assert not api.calls_to("/customer_count")


def test_id_only_workspace_and_null_values(component):
    api = FakeApi({5: [member(1, with_email=None), member(2, with_id=False, with_email=None)]})
    run(api, component, segment_ids=[5])
    _, rows = read(component)
    assert rows == [{"segment_id": "5", "cio_id": "c000001", "id": "1", "email": ""},
                    {"segment_id": "5", "cio_id": "c000002", "id": "", "email": ""}]


def test_an_empty_run_writes_a_header(component):
    api = FakeApi({12: []})
    run(api, component, segment_ids=[12])
    header, rows = read(component)
    assert header == ["segment_id", "cio_id", "id", "email"] and rows == []


class MemberList(list):
    """A parsed page's members; unlike a plain list it can be watched with weakref.finalize."""


class CountedPage(DeferredPage):
    """A DeferredPage that counts the parsed pages alive (their member lists) in ``tracker``."""

    def __init__(self, data: dict, tracker: dict) -> None:
        super().__init__(json.dumps(data).encode(), "GET fake", lambda: data)
        self.tracker = tracker

    def _parsed(self) -> dict:
        fresh = self._data is None
        data = super()._parsed()
        if fresh and data.get("identifiers"):
            members = data["identifiers"] = MemberList(data["identifiers"])
            with self.tracker["lock"]:
                self.tracker["alive"] += 1
                self.tracker["most"] = max(self.tracker["most"], self.tracker["alive"])
            weakref.finalize(members, _page_freed, self.tracker)
        return data


def _page_freed(tracker: dict) -> None:
    with tracker["lock"]:
        tracker["alive"] -= 1


class CountingApi(FakeApi):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tracker = {"lock": threading.Lock(), "alive": 0, "most": 0}

    def make_page(self, data: dict) -> DeferredPage:
        return CountedPage(data, self.tracker)


def test_one_parsed_page_at_a_time_whatever_the_number_of_segments(tmp_path, monkeypatch):
    monkeypatch.setattr(SegmentMembership, "PAGE_LIMIT", 10)
    segments = {sid: [member(n) for n in range(sid * 100, sid * 100 + 45)] for sid in range(1, 9)}
    api = CountingApi(segments, delay=0.003, seed=4)
    comp = make_component(tmp_path / "lazy")
    run(api, comp, workers=8)
    _, rows = read(comp)
    assert rows == expected_rows(api, sorted(segments))
    assert api.tracker["most"] == 1
    assert api.tracker["alive"] == 0


def test_a_segment_being_rebuilt_is_read_with_a_warning_naming_it(component, caplog):
    api = FakeApi(SEGMENTS)
    api.states = {7: {"state": "build", "progress": 42}, 3: {"state": "finished"}}
    with caplog.at_level(logging.WARNING):
        run(api, component, segment_ids=[3, 7])
    _, rows = read(component)
    assert rows == expected_rows(api, [3, 7])  # the roster as listed now is kept, not dropped
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [("segment_membership: segment 7 (S7) is being rebuilt by Customer.io (state 'build', 42% "
                         "done): its members are written as listed now, which may be only part of them; run again "
                         "once it has finished.")]


def test_a_member_listed_twice_across_pages_is_written_once(component, monkeypatch):
    # Live tokens are positions: a member who moves while the segment is paged is listed on two pages.
    monkeypatch.setattr(SegmentMembership, "PAGE_LIMIT", 5)
    repeated = [member(n) for n in range(1, 6)] + [member(n) for n in range(5, 12)] + [member(3)]
    api = FakeApi({3: repeated, 15: SEGMENTS[15]})
    run(api, component, segment_ids=[3, 15])
    _, rows = read(component)
    pairs = [(r["segment_id"], r["cio_id"]) for r in rows]
    assert len(pairs) == len(set(pairs))
    assert pairs == [("3", f"c{n:06d}") for n in range(1, 12)] + [("15", f"c{n:06d}") for n in range(100, 105)]


def test_repeats_within_a_page_and_of_a_page_long_before_are_written_once(component, monkeypatch):
    # Pages of 3,000 (the set grows several times inside one): a page lists a member twice, a page comes again
    # three pages later (a token that went back), and the same people in another segment are its own.
    monkeypatch.setattr(SegmentMembership, "PAGE_LIMIT", 3_000)
    people = [member(n) for n in range(12_000)]
    listed = people[:3_000] + people[3_000:4_500] * 2 + people[6_000:12_000] + people[:3_000]
    api = FakeApi({3: listed, 7: people[:5]})
    run(api, component, segment_ids=[3, 7])
    _, rows = read(component)
    pairs = [(r["segment_id"], r["cio_id"]) for r in rows]
    assert pairs == ([("3", m["cio_id"]) for m in people[:4_500] + people[6_000:]]
                     + [("7", m["cio_id"]) for m in people[:5]])


def test_against_the_sandbox_a_page_that_repeats_members_writes_each_pair_once(component, monkeypatch):
    from customerio import CustomerIoClient, RateLimiter
    from sandbox import SandboxServer, SandboxSettings

    monkeypatch.setattr(SegmentMembership, "PAGE_LIMIT", 7)
    with SandboxServer(SandboxSettings(rate_limit=0, anchor=1_750_000_000, membership_overlap=2)) as server, \
            CustomerIoClient("sandbox-key", server.url, rate_limiter=RateLimiter(1000.0)) as client:
        listed = []  # what the pages list: members of the page before come again
        for page in client.paginate("GET", "/v1/segments/3/membership", params={"limit": 7}):
            listed += [m["cio_id"] for m in page.get("identifiers") or []]
        truth = server.workspace.segment_member_ids(3)
        assert len(listed) > len(set(listed)) and set(listed) == set(truth)
        run(client, component, segment_ids=[3, 21])
        expected = [("3", c) for c in truth] + [("21", c) for c in server.workspace.segment_member_ids(21)]
    _, rows = read(component)
    assert [(r["segment_id"], r["cio_id"]) for r in rows] == expected


def test_segment_usage_takes_its_segments_from_the_listing_membership_made(component):
    class WithUsage(FakeApi):
        def request_json(self, method, path, *, params=None, json_body=None):
            if path.endswith("/used_by"):
                self._record(method, path, params)
                return {"used_by": {"campaigns": [int(path.split("/")[3])]}}
            return super().request_json(method, path, params=params, json_body=json_body)

    api = WithUsage(SEGMENTS)
    config = load_configuration({"#api_secret": "k", "segment_membership": {}, "segment_usage": True})
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=0, max_workers=4)
    for key in config.enabled_datasets():
        run_dataset(REGISTRY[key](config), ctx, {})
    assert config.enabled_datasets() == ["segment_membership", "segment_usage"]
    assert len(api.calls_to("/v1/segments")) == 1
    with open(Path(component.tables_out_path) / "segment_usage.csv", newline="", encoding="utf-8") as f:
        usage = [(row["segment_id"], row["used_by_id"]) for row in csv.DictReader(f)]
    assert sorted(usage) == sorted((str(sid), str(sid)) for sid in SEGMENTS)


def test_a_segment_whose_rows_disagree_with_its_customer_count_is_named_with_both_numbers(component, caplog):
    api = FakeApi(SEGMENTS)
    config = load_configuration({"#api_secret": "k", "segment_membership": {"segment_ids": [3, 7, 15]}})
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=0, max_workers=2)
    dataset = SegmentMembership(config)
    dataset.run(ctx, {})
    # After the read, Customer.io counts 300 more members in segment 7 (the count is cached, but not that far off)
    # and one more in segment 15 (within the tolerance of a two-hour-old count).
    api.segments[7] = api.segments[7] + [member(n) for n in range(1000, 1300)]
    api.segments[15] = api.segments[15] + [member(2000)]
    with caplog.at_level(logging.WARNING):
        dataset.check_completeness(ctx)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [("segment_membership: segment 7 has 100 rows in the table, Customer.io counts 400 members "
                        "(customer_count): check the table before relying on it, and run again if the segment "
                        "changed a lot meanwhile.")]
