"""Activities against an in-memory fake of GET /v1/activities: marks (capped at the run's clock, overlap setting),
types read once, the full-load warning."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from configuration import load_configuration
from datasets import RunContext, run_dataset
from datasets.activities import Activities
from datasets.marks import Marks

NOW = 1_700_000_000
HOUR = 3600


class FakeActivitiesApi:
    """Newest first (by arrival), 3 per page; each activity is {"id", "type", "timestamp"}."""

    def __init__(self, activities: list[dict]):
        self.activities = activities  # arrival order, oldest first
        self.calls: list[dict] = []

    def paginate(self, method, path, *, params=None, json_body=None):
        assert (method, path) == ("GET", "/v1/activities")
        self.calls.append(dict(params))
        wanted = [a for a in reversed(self.activities) if params.get("type") in (None, a["type"])]
        for start in range(0, max(len(wanted), 1), 3):
            yield {"activities": wanted[start:start + 3], "next": "" if start + 3 >= len(wanted) else str(start + 3)}


def run(api, component, state, *, now=NOW, incremental_load=True, **activities) -> dict:
    config = load_configuration({"#api_secret": "k", "activities": {"mode": "SINGLE_TABLE", **activities}})
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=incremental_load, now=now)
    return run_dataset(Activities(config), ctx, state)


def ids(component, table="activities_all") -> list[str]:
    with open(Path(component.tables_out_path) / f"{table}.csv", newline="", encoding="utf-8") as f:
        return [row["id"] for row in csv.DictReader(f)]


def event(n: int, timestamp: int, activity_type: str = "event") -> dict:
    return {"id": f"a{n}", "type": activity_type, "timestamp": timestamp, "data": {}}


def test_a_future_dated_event_does_not_freeze_the_next_runs(component):
    # Issue 10, bug 1: one event dated a day ahead (a device clock) became the mark, and every later activity
    # was skipped until real time passed it.
    history = [event(n, NOW - 10 * HOUR + n * 60) for n in range(5)] + [event(99, NOW + 24 * HOUR)]
    api = FakeActivitiesApi(history)
    state = run(api, component, {}, incremental_output=True)
    assert state["marks"]["*"] == NOW  # capped at the run's clock
    later = NOW + 2 * HOUR
    api.activities += [event(100, later - 600), event(101, later - 300)]
    run(api, component, state, now=later, incremental_output=True)
    assert {"a100", "a101"} <= set(ids(component))


def test_the_overlap_is_a_setting(component):
    api = FakeActivitiesApi([event(n, NOW - 100 * 60 + n * 60) for n in range(100)])  # one a minute up to NOW - 60
    state = {"marks": {"*": NOW}}
    run(api, component, state, incremental_output=True)
    assert min(int(i[1:]) for i in ids(component)) == 40  # the default: 60 minutes before the mark
    run(api, component, state, incremental_output=True, overlap_minutes=10)
    assert min(int(i[1:]) for i in ids(component)) == 90


def test_a_mark_saved_in_the_future_by_an_earlier_version_is_capped():
    marks = Marks({"*": NOW + 86_400, "event": NOW - 5, "bad": "x"}, enabled=True, now=NOW)
    assert marks.get("*") == NOW and marks.get("event") == NOW - 5 and marks.get("bad") is None
    marks.see("event", NOW + 50)
    marks.see("page", NOW - 7)
    assert marks.state() == {"*": NOW, "event": NOW, "page": NOW - 7}
    assert Marks({"*": 5}, enabled=False, now=NOW).get("*") is None


def test_secondary_and_plain_names_of_one_type_are_read_once(component, caplog):
    # Issue 10, bug 5: both names survived de-duplication and both chains wrote into activities_all.
    api = FakeActivitiesApi([event(n, NOW - n, "delivered_email") for n in range(4)])
    with caplog.at_level(logging.WARNING):
        run(api, component, {}, types=["secondary:delivered_email", "delivered_email"])
    assert len(api.calls) == 1
    assert sorted(ids(component)) == ["a0", "a1", "a2", "a3"]
    assert "is the same type as 'secondary:delivered_email'" in caplog.text


def test_continue_since_last_run_with_a_full_load_warns(component, caplog):
    with caplog.at_level(logging.WARNING):
        run(FakeActivitiesApi([event(1, NOW)]), component, {}, incremental_load=False, incremental_output=True)
    assert "'Continue since last run' with Full load" in caplog.text


def test_activity_tables_are_event_tables(component):
    run(FakeActivitiesApi([event(1, NOW)]), component, {})
    manifest = json.loads((Path(component.tables_out_path) / "activities_all.csv.manifest").read_text())
    assert manifest["incremental"] is True
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == ["id"]


def test_tables_record_the_storage_key_and_change_it_by_a_full_load(component, caplog):
    config = load_configuration({"#api_secret": "k", "activities": {"mode": "SINGLE_TABLE"}})
    ctx = RunContext(client=FakeActivitiesApi([event(1, NOW)]), component=component,
                     tables_dir=Path(component.tables_out_path), incremental_load=True, now=NOW,
                     table_keys={"activities_all": []})  # the last run was a full load: the table has no key
    with caplog.at_level(logging.WARNING):
        state = Activities(config).run(ctx, {})
    assert "loads the table in full" in caplog.text
    manifest = json.loads((Path(component.tables_out_path) / "activities_all.csv.manifest").read_text())
    assert manifest["incremental"] is False  # the key changes (none -> id) only through a full load
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == ["id"]
    assert ctx.table_keys == {"activities_all": ["id"]}
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        Activities(config).run(ctx, state)
    assert "in full" not in caplog.text
    manifest = json.loads((Path(component.tables_out_path) / "activities_all.csv.manifest").read_text())
    assert manifest["incremental"] is True
