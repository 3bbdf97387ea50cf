"""Metrics as time series against the sandbox: every row equals the sandbox's own numbers, continued runs re-read
only the recent buckets, the daylight-saving change gives no duplicate or missing period_start, and a model of
Keboola Storage holds the sandbox's truth after several runs.

The dataset runs in-process with the sandbox's clock (the request time of the older endpoints), so a sandbox with
an anchor in the past behaves as "now". Anchors sit 5 minutes past the hour: the counts grow per sandbox hour, so
the numbers a test computes after a run are those the run read.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from keboola.component import CommonInterface

from configuration import load_configuration
from customerio import CustomerIoClient, RateLimiter
from datasets import RunContext
from datasets.metrics import Metrics
from sandbox import SandboxServer, SandboxSettings
from sandbox.metrics import EASTERN, V1_MAX_STEPS, V2_RES, MetricsModel, eastern_buckets, range_buckets
from sandbox.metrics import UTC as UTC_ZONE
from tests.sandbox_harness import make_data_dir, run_component
from tests.storage_model import Storage

DAY = 86_400
# Tuesday 10 March 2026, 12:05 in New York: the clocks went forward on Sunday 8 March.
AFTER_SPRING_CHANGE = int(datetime(2026, 3, 10, 16, 5, tzinfo=UTC).timestamp())
ALL_ON = {"links": True, "journey": True}


def sandbox(anchor: int, **settings) -> SandboxServer:
    return SandboxServer(SandboxSettings(rate_limit=0, anchor=anchor, **settings))


def run(server: SandboxServer, base: Path, section: dict, state: dict | None = None, workers: int = 4,
        load_incremental: bool = True) -> tuple[dict, Path]:
    """One run of the metrics dataset; returns its new state and the tables folder."""
    base.mkdir(parents=True)
    make_data_dir(base, {})
    config = load_configuration({"#api_secret": "sandbox-key", "incremental_output": int(load_incremental),
                                 "metrics": section})
    component = CommonInterface(data_folder_path=str(base))
    with CustomerIoClient("sandbox-key", server.url, rate_limiter=RateLimiter(1000.0)) as client:
        ctx = RunContext(client=client, component=component, tables_dir=Path(component.tables_out_path),
                         incremental_load=load_incremental, now=server.workspace.now(), max_workers=workers)
        new_state = Metrics(config, clock=server.workspace.now).run(ctx, state or {})
    return new_state, Path(component.tables_out_path)


def read_table(tables: Path, name: str) -> tuple[list[str], list[dict]]:
    with (tables / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def manifest(tables: Path, name: str) -> dict:
    meta = json.loads((tables / f"{name}.csv.manifest").read_text())
    meta["primary_key"] = [column["name"] for column in meta.get("schema", []) if column.get("primary_key")]
    return meta


# ------------------------------------------------------------------------------------------ the sandbox's truth
_PATHS = [
    (re.compile(r"^/v1/campaigns/(\d+)/metrics$"), "campaign_metrics"),
    (re.compile(r"^/v1/campaigns/(\d+)/actions/(\d+)/metrics$"), "campaign_action_metrics"),
    (re.compile(r"^/v1/campaigns/(\d+)/metrics/links$"), "campaign_link_metrics"),
    (re.compile(r"^/v1/campaigns/(\d+)/journey_metrics$"), "campaign_journey_metrics"),
    (re.compile(r"^/v1/newsletters/(\d+)/metrics$"), "newsletter_metrics"),
    (re.compile(r"^/v1/newsletters/(\d+)/contents/(\d+)/metrics$"), "newsletter_content_metrics"),
    (re.compile(r"^/v1/newsletters/(\d+)/metrics/links$"), "newsletter_link_metrics"),
    (re.compile(r"^/v1/broadcasts/(\d+)/metrics$"), "broadcast_metrics"),
    (re.compile(r"^/v1/broadcasts/(\d+)/actions/(\d+)/metrics$"), "broadcast_action_metrics"),
    (re.compile(r"^/v1/broadcasts/(\d+)/metrics/links$"), "broadcast_link_metrics"),
    (re.compile(r"^/v1/transactional/(\d+)/metrics$"), "transactional_metrics"),
    (re.compile(r"^/v1/transactional/(\d+)/metrics/links$"), "transactional_link_metrics"),
]
PARENT = {"campaign": "campaign_id", "newsletter": "newsletter_id", "broadcast": "broadcast_id",
          "transactional": "transactional_message_id"}


def metric_requests(server: SandboxServer) -> list[tuple[str, tuple[int, ...], dict]]:
    out = []
    for entry in list(server.request_log):
        for pattern, table in _PATHS:
            match = pattern.match(entry["path"])
            if match:
                assert entry["status"] == 200, entry
                out.append((table, tuple(int(g) for g in match.groups()), entry["query"]))
    return out


def buckets_of(query: dict, now: int) -> tuple[str, list[int]]:
    """The buckets the sandbox answered for a request (its own bucket maths, not the extractor's)."""
    if query.get("version") == "2":
        res = V2_RES[query["res"]]
        return res, range_buckets(int(query["start"]), int(query["end"]), res, UTC_ZONE)
    if "resolution" in query:  # journey metrics
        return query["resolution"], range_buckets(int(query["start"]), int(query["end"]), query["resolution"],
                                                  UTC_ZONE)
    period = query.get("period", "days")
    steps = int(query.get("steps", 0)) or V1_MAX_STEPS[period]
    return period, eastern_buckets(now, period, max(2, steps))


def truth(server: SandboxServer, requests, now: int, asked_at: int | None = None) -> dict[str, dict[tuple, dict]]:
    """{table: {primary key: series}} of everything the requests asked for (answered at `asked_at`, default `now`),
    as the sandbox counts it at `now`."""
    model = MetricsModel(server.workspace.entities, server.workspace.seed)
    out: dict[str, dict[tuple, dict]] = {}
    for table, ids, query in requests:
        res, buckets = buckets_of(query, now if asked_at is None else asked_at)
        rows = out.setdefault(table, {})
        for b in buckets:
            key = (*map(str, ids), res, str(b))
            if table == "campaign_metrics":
                rows[key] = model.campaign(ids[0], res, b, now)
            elif table == "campaign_journey_metrics":
                rows[key] = model.journey(ids[0], res, b, now)
            elif table == "newsletter_metrics":
                rows[key] = model.newsletter(ids[0], res, b, now)
            elif table == "newsletter_content_metrics":
                rows[key] = model.newsletter_content(*ids, res, b, now)
            elif table == "broadcast_metrics":
                rows[key] = model.broadcast(ids[0], res, b, now)
            elif table == "transactional_metrics":
                rows[key] = model.transactional(ids[0], res, b, now)
            elif table in ("campaign_action_metrics", "broadcast_action_metrics"):
                per_language = (model.campaign_action if table.startswith("campaign") else model.broadcast_action)(
                    *ids, res, b, now)
                for language, series in per_language.items():
                    rows[(*map(str, ids), language, res, str(b))] = series
            else:
                kind = table.split("_")[0]
                for link_id, (href, series) in model.links(kind, ids[0], res, b, now).items():
                    rows[(str(ids[0]), str(link_id), res, str(b))] = {**series, "href": href}
    return out


def assert_rows_equal_truth(rows_by_table: dict[str, tuple[list[str], dict[tuple, dict]]],
                            expected: dict[str, dict[tuple, dict]]) -> None:
    for table, rows in expected.items():
        header, stored = rows_by_table[table]
        assert set(stored) == set(rows), table
        key_columns = {"campaign_id", "action_id", "language", "resolution", "period_start", "newsletter_id",
                       "content_id", "broadcast_id", "transactional_message_id", "link_id"}
        for key, series in rows.items():
            row = stored[key]
            for column in header:
                if column in key_columns:
                    continue
                want = series.get(column)
                assert row[column] == ("" if want is None else str(want)), (table, key, column)


def keyed(tables: Path, name: str) -> tuple[list[str], dict[tuple, dict]]:
    header, rows = read_table(tables, name)
    primary_key = manifest(tables, name)["primary_key"]
    return header, {tuple(row[c] for c in primary_key): row for row in rows}


# ------------------------------------------------------------------------------------------ tests
def test_first_run_every_row_equals_the_sandbox(tmp_path):
    with sandbox(AFTER_SPRING_CHANGE) as server:
        section = {"date_from": "20 days ago", **ALL_ON}
        state, tables = run(server, tmp_path / "run", section)
        now = server.workspace.now()
        requests = metric_requests(server)
        expected = truth(server, requests, now)
        entities = server.workspace.entities
    assert len(expected) == 12  # every table was requested
    assert_rows_equal_truth({name: keyed(tables, name) for name in expected}, expected)
    # One request per entity and table; draft campaigns never started and newsletters never sent are skipped.
    assert len(requests) == len({(table, ids) for table, ids, _ in requests})
    started_campaigns = [c["id"] for c in entities.campaigns() if c["first_started"]]
    assert sorted(ids[0] for table, ids, _ in requests if table == "campaign_metrics") == sorted(started_campaigns)
    sent = [n["id"] for n in entities.newsletters() if n["sent_at"]]
    assert sorted(ids[0] for table, ids, _ in requests if table == "newsletter_metrics") == sorted(sent)
    assert state["never_started"]["campaigns"] == sorted(c["id"] for c in entities.campaigns() if not c["first_started"])
    # Multi-language actions give one row per language, '' for the default; webhook series become columns.
    _, action_rows = read_table(tables, "campaign_action_metrics")
    assert {r["language"] for r in action_rows if r["action_id"] == "501"} == {"", "es"}
    assert {r["language"] for r in action_rows if r["action_id"] == "259"} == {""}
    header, _ = read_table(tables, "campaign_metrics")
    assert {"2xx", "4xx", "sent", "human_opened"} <= set(header)
    schema = manifest(tables, "campaign_metrics")
    assert schema["incremental"] is True
    assert schema["primary_key"] == ["campaign_id", "resolution", "period_start"]
    types = {c["name"]: c["data_type"]["base"]["type"] for c in schema["schema"]}
    assert types["2xx"] == types["sent"] == types["period_start"] == "INTEGER"
    assert types["resolution"] == "STRING"
    assert manifest(tables, "campaign_action_metrics")["primary_key"] == [
        "campaign_id", "action_id", "language", "resolution", "period_start"]
    assert manifest(tables, "newsletter_link_metrics")["primary_key"] == [
        "newsletter_id", "link_id", "resolution", "period_start"]


@pytest.mark.parametrize("resolution", ["hours", "weeks", "months"])
def test_every_resolution_equals_the_sandbox(tmp_path, resolution):
    with sandbox(AFTER_SPRING_CHANGE) as server:
        _, tables = run(server, tmp_path / "run", {"resolution": resolution, "date_from": "20 days ago", **ALL_ON})
        expected = truth(server, metric_requests(server), server.workspace.now())
    assert len(expected) == 12
    assert_rows_equal_truth({name: keyed(tables, name) for name in expected}, expected)
    _, rows = read_table(tables, "newsletter_metrics")
    # Back to the bucket holding date_from (18 February), or as far as the API serves (24 hours).
    assert len({r["period_start"] for r in rows}) == {"hours": 24, "weeks": 4, "months": 2}[resolution]


def test_without_date_from_campaigns_are_read_from_their_creation(tmp_path):
    with sandbox(AFTER_SPRING_CHANGE) as server:
        _, tables = run(server, tmp_path / "run", {"entities": ["campaigns"], "resolution": "months"})
        starts = {ids[0]: int(query["start"]) for _t, ids, query in metric_requests(server)}
        created = {c["id"]: c["created"] for c in server.workspace.entities.campaigns()}
        expected = truth(server, metric_requests(server), server.workspace.now())
    for cid, start in starts.items():
        month = datetime.fromtimestamp(created[cid], UTC)
        assert start == int(datetime(month.year, month.month, 1, tzinfo=UTC).timestamp()), cid
    assert_rows_equal_truth({"campaign_metrics": keyed(tables, "campaign_metrics")}, expected)


def test_an_entity_started_since_the_last_run_gets_a_first_read(tmp_path):
    with sandbox(AFTER_SPRING_CHANGE) as server:
        now = server.workspace.now()
        state = {"marks": {"campaign_metrics:days": now - 2 * DAY}, "never_started": {"campaigns": [5]}}
        section = {"entities": ["campaigns"], "incremental_output": True, "lookback_days": 1,
                   "date_from": "30 days ago"}
        new_state, _ = run(server, tmp_path / "run", section, state)
        starts = {ids[0]: int(query["start"]) for _t, ids, query in metric_requests(server)}
    assert starts[5] == (now - 30 * DAY) // DAY * DAY  # started since: read from date_from
    assert starts[12] == (now - 3 * DAY) // DAY * DAY  # known: from the mark minus the lookback
    assert new_state["never_started"] == {"campaigns": [61]}


def test_daylight_saving_change_gives_no_duplicate_or_missing_period_start(tmp_path):
    with sandbox(AFTER_SPRING_CHANGE) as server:
        _, tables = run(server, tmp_path / "run", {"entities": ["newsletters", "transactional_messages"]})
    _, rows = read_table(tables, "newsletter_metrics")
    starts = sorted(int(r["period_start"]) for r in rows if r["newsletter_id"] == "128275")
    assert len(starts) == len(set(starts)) == V1_MAX_STEPS["days"]  # 45 days, the maximum, nothing doubled
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert sorted(set(gaps)) == [23 * 3600, DAY]  # the 23-hour Sunday, every other day 24 hours
    assert gaps.count(23 * 3600) == 1
    for start in starts:
        local = datetime.fromtimestamp(start, EASTERN)
        assert (local.hour, local.minute) == (0, 0)  # every bucket starts at midnight New York time
    assert datetime.fromtimestamp(starts[-1], EASTERN).date().isoformat() == "2026-03-10"  # the running day last


def test_continued_run_refreshes_recent_buckets_and_requests_nothing_older(tmp_path):
    section = {"incremental_output": True, "lookback_days": 7, **ALL_ON}
    storage = Storage()
    first_anchor = AFTER_SPRING_CHANGE - 40 * DAY
    with sandbox(first_anchor) as server:
        state, tables = run(server, tmp_path / "run1", {**section, "date_from": "60 days ago"})
        first_requests = metric_requests(server)
        first_now = server.workspace.now()
    storage.load(tables)
    later = first_anchor + 2 * DAY + 3 * 3600  # the next run, two days and three hours later
    with sandbox(later) as server:
        state2, tables2 = run(server, tmp_path / "run2", section, state)
        now = server.workspace.now()
        requests = metric_requests(server)
        expected = truth(server, requests, now)
        model_truth = truth(server, first_requests, now, asked_at=first_now)
        for table, rows in expected.items():
            model_truth.setdefault(table, {}).update(rows)
    assert len(requests) == len({(table, ids) for table, ids, _ in requests})  # one request per entity and table
    assert {(t, ids) for t, ids, _ in requests} == {(t, ids) for t, ids, _ in first_requests}
    earliest = first_anchor - 7 * DAY
    for table, _ids, query in requests:
        _res, buckets = buckets_of(query, now)
        assert buckets[0] >= earliest - DAY, (table, query)  # nothing older than the lookback (to its bucket)
        assert buckets[-1] <= now
        if "steps" in query:
            assert int(query["steps"]) == 10  # from the day holding (mark - 7 days) up to today
    assert_rows_equal_truth({name: keyed(tables2, name) for name in expected}, expected)
    # Recent buckets changed between the runs (counts grow) and the second run wrote the new values.
    _, before = keyed(tables, "campaign_metrics")
    _, after = keyed(tables2, "campaign_metrics")
    changed = [key for key in after if key in before and after[key]["opened"] != before[key]["opened"]]
    assert changed
    assert state2["marks"]["campaign_metrics:days"] == later
    # Storage after both runs holds every bucket ever read, each with the sandbox's current number.
    storage.load(tables2)
    assert_rows_equal_truth({name: (list(storage[name].columns), storage[name].keyed()) for name in model_truth},
                            model_truth)
    assert all(storage[name].duplicates == 0 for name in model_truth)  # no run wrote a key twice


def test_output_is_byte_identical_whatever_the_thread_timing(tmp_path):
    section = {"date_from": "10 days ago", **ALL_ON}
    outputs = []
    with sandbox(AFTER_SPRING_CHANGE) as server:
        for workers in (1, 8):
            _, tables = run(server, tmp_path / f"w{workers}", section, workers=workers)
            outputs.append({p.name: p.read_bytes() for p in sorted(tables.glob("*.csv"))})
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 12


def test_full_load_still_upserts(tmp_path):
    with sandbox(AFTER_SPRING_CHANGE) as server:
        _, tables = run(server, tmp_path / "run", {"entities": ["broadcasts"]}, load_incremental=False)
    schema = manifest(tables, "broadcast_metrics")
    assert schema["incremental"] is True and schema["primary_key"] == ["broadcast_id", "resolution", "period_start"]


@pytest.mark.parametrize(("section", "needle"), [
    ({"entities": ["campaigns", "segments"]}, "'metrics.entities': unknown entity 'segments'"),
    ({"resolution": "minutes"}, "'metrics.resolution': must be 'hours', 'days', 'weeks' or 'months'"),
    ({"date_from": "last tuesday"}, "'metrics.date_from': 'last tuesday' is not a date"),
    ([{"resolution": "days"}, {"resolution": "weeks"}], "'metrics': must hold at most one settings object"),
])
def test_configuration_mistakes_are_one_sentence(tmp_path, section, needle):
    data = make_data_dir(tmp_path / "data", {"#api_secret": "sandbox-key", "metrics": section})
    result = run_component(data, "http://127.0.0.1:9", timeout=60)
    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert needle in message and message.endswith(".")
    assert message.count(". ") == 0  # one sentence


class StorageModel:
    """Keboola Storage as far as these tables go: full load replaces, incremental upserts by primary key."""

    def __init__(self):
        self.tables: dict[str, tuple[list[str], dict[tuple, dict]]] = {}

    def load(self, tables: Path) -> None:
        for path in sorted(tables.glob("*.csv")):
            name = path.stem
            meta = manifest(tables, name)
            header, rows = read_table(tables, name)
            primary_key = meta.get("primary_key") or []
            old_header, old_rows = self.tables.get(name, ([], {}))
            if not meta.get("incremental"):
                old_header, old_rows = [], {}
            merged = dict(old_rows)
            for n, row in enumerate(rows):
                merged[tuple(row[c] for c in primary_key) if primary_key else (n,)] = row
            columns = old_header + [c for c in header if c not in old_header]
            self.tables[name] = (columns, merged)

    def keyed(self, name: str) -> tuple[list[str], dict[tuple, dict]]:
        header, rows = self.tables[name]
        return header, {key: {column: row.get(column, "") for column in header} for key, row in rows.items()}
