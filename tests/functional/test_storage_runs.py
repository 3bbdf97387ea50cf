"""Storage over many runs: the same configuration run after run, the sandbox changed between the runs through its
admin API, every run's tables loaded into a model of Keboola Storage (tests/storage_model.py); after every run each
Storage table equals what the sandbox holds. The same model starts from the older component's tables and state."""

from __future__ import annotations

import json
import time

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import SECRET, admin, make_data_dir, run_component
from tests.storage_model import Storage

ATTRIBUTES = ("plan", "note", "interest", "state", "source", "vip", "age")
DAY = 86_400


@pytest.fixture()
def server():
    # 1,200 people: two search pages of 1,000, and every later page repeats the last person of the page before.
    with SandboxServer(SandboxSettings(scenario="test", people=1200, search_overlap=1)) as srv:
        yield srv


def parameters(**overrides) -> dict:
    return {
        "#api_secret": SECRET, "incremental_output": 1, "campaigns": True, "segments": True,
        "customers": {"mode": "search"}, "segment_membership": {},
        "messages": {"incremental_output": True, "metrics_lookback_days": 0, "drafts": True},
        "activities": {"mode": "SINGLE_TABLE", "incremental_output": True},
        **overrides,
    }


class Runs:
    """Runs the component again and again, each time with the state of the run before, into one Storage."""

    def __init__(self, server, tmp_path, storage: Storage | None = None, state: dict | None = None):
        self.server, self.tmp_path = server, tmp_path
        self.storage = storage or Storage()
        self.state = state or {}
        self.count = 0
        self.activities_seen: set[str] = set()  # every activity the sandbox listed at some run (events accumulate)

    def run(self, params: dict):
        self.count += 1
        ws = self.server.workspace
        # Records appended just now may lie up to a second ahead of the sandbox clock (it counts whole seconds),
        # and the API lists nothing newer than its clock: let them be in the past, as between scheduled runs.
        time.sleep(1.5)
        self.activities_before = {a["id"] for a in ws.iter_activities()}
        self.activities_seen |= self.activities_before
        result = run_component(make_data_dir(self.tmp_path / f"run{self.count}", params, state=self.state),
                               self.server.url)
        assert result.code == 0, result.stderr
        self.activities_seen |= {a["id"] for a in ws.iter_activities()}
        self.storage.load(result.tables)
        self.state = result.state
        return result


def assert_storage_equals_sandbox(runs: Runs) -> None:
    storage, ws = runs.storage, runs.server.workspace
    for name, table in storage.tables.items():
        assert table.duplicates == 0, f"{name}: a primary key written twice in one run"
    assert set(storage["campaigns"].values("id")) == {str(c["id"]) for c in ws.campaigns()}
    assert set(storage["segments"].values("id")) == {str(s["id"]) for s in ws.segments()}
    membership = {(row["segment_id"], row["cio_id"]) for row in storage.rows("segment_membership")}
    assert membership == {(str(s["id"]), cio) for s in ws.segments() for cio in ws.segment_member_ids(s["id"])}
    people = {p["identifiers"]["cio_id"]: p["attributes"] for p in ws.iter_people()}
    customers = storage["customers"].keyed()
    assert set(customers) == {(cio,) for cio in people}
    for cio, attributes in people.items():
        row = customers[(cio,)]
        assert {a: row.get(a, "") for a in ATTRIBUTES} == {a: attributes.get(a, "") for a in ATTRIBUTES}, cio
    assert set(storage["messages"].values("id")) == {m["id"] for m in ws.iter_messages()}
    # Clicks per link are upserted like the deliveries (events); drafts are a snapshot, replaced every run.
    clicks = {(m["id"], key.split(":", 1)[1]) for m in ws.iter_messages() for key in (m.get("metrics") or {})
              if key.startswith(("link:", "human_link:"))}
    assert clicks and {(r["message_id"], r["link_id"]) for r in storage.rows("message_link_clicks")} == clicks
    assert set(storage["message_drafts"].values("id")) == {m["id"] for m in ws.iter_messages(drafts=True)}
    stored = set(storage["activities_all"].values("id"))
    # Events accumulate: everything listed when the run started is in Storage, and nothing the sandbox never listed
    # (activities older than 30 days leave the API, not Storage).
    assert runs.activities_before <= stored <= runs.activities_seen


def test_storage_equals_the_sandbox_after_every_run(server, tmp_path):
    runs = Runs(server, tmp_path)
    first = runs.run(parameters())
    assert_storage_equals_sandbox(runs)
    assert runs.storage["customers"].primary_key == ("cio_id",)
    assert runs.storage["messages"].primary_key == ("id",)
    assert "listed again on a later search page" in first.stdout

    ws = server.workspace
    members = ws.segment_member_ids(3)
    leaver, deleted, changed = members[0], members[1], members[2]
    admin(server, "segments/3/leave", {"cio_id": leaver})
    admin(server, f"people/{deleted}/delete")
    admin(server, f"people/{changed}/attributes", {"plan": "enterprise", "note": None})
    admin(server, "catalogue/campaign/12/delete")
    admin(server, "segments/21/delete")
    admin(server, "append", {"dataset": "messages", "count": 30})
    admin(server, "append", {"dataset": "activities", "count": 20})
    future = admin(server, "activities/future", {"count": 1, "seconds": DAY})
    second = runs.run(parameters())
    assert "no table columns" not in second.stderr
    assert_storage_equals_sandbox(runs)
    customers = runs.storage["customers"].keyed()
    assert (deleted,) not in customers
    assert customers[(changed,)]["plan"] == "enterprise" and customers[(changed,)]["note"] == ""
    assert ("3", leaver) not in {(r["segment_id"], r["cio_id"]) for r in runs.storage.rows("segment_membership")}
    assert runs.state["activities"]["marks"]["*"] <= ws.now()  # the future-dated event does not become the mark
    assert ws.activity(future["from_index"])["id"] in runs.storage["activities_all"].values("id")

    # New activities after the future-dated one are read (the mark was capped at the run's clock).
    admin(server, "append", {"dataset": "activities", "count": 15})
    before = set(runs.storage["activities_all"].values("id"))
    runs.run(parameters())
    assert_storage_equals_sandbox(runs)
    assert len(set(runs.storage["activities_all"].values("id")) - before) >= 1

    # A run with nothing changed keeps every table as it is.
    snapshot = {name: [dict(r) for r in table.rows] for name, table in runs.storage.tables.items()}
    runs.run(parameters())
    assert_storage_equals_sandbox(runs)
    assert {n: sorted(map(json.dumps, rows)) for n, rows in snapshot.items() if n != "activities_all"} == {
        n: sorted(map(json.dumps, t.rows)) for n, t in runs.storage.tables.items() if n != "activities_all"}


OLDER_CAMPAIGN_COLUMNS = ["actions", "active", "created", "created_by", "customer_id", "date_attribute",
                          "deduplicate_id", "first_started", "frequency", "id", "name", "start_hour", "start_minutes",
                          "state", "tags", "timezone"]
OLDER_SEGMENT_COLUMNS = ["deduplicate_id", "description", "id", "name", "progress", "state", "tags", "type"]
OLDER_MESSAGE_HEADERS = ["id", "deduplicate_id", "created", "type", "campaign_id", "customer_id", "recipient",
                         "subject", "metrics_sent", "metrics_delivered", "metrics_opened", "urban_airship_token"]
OLDER_EVENT_HEADERS = ["customer_id", "data_description", "data_project", "data_start", "id", "name", "timestamp",
                       "type"]
OLDER_ACTIVITY_COLUMNS = ["id", "customer_id", "type", "timestamp", "data", "delivery_id", "delivery_type"]


def test_the_older_components_tables_and_state_accept_every_load(server, tmp_path):
    storage = Storage()
    storage.create("campaigns", OLDER_CAMPAIGN_COLUMNS, [{"id": "999", "name": "Gone long ago"}], primary_key=["id"])
    storage.create("segments", OLDER_SEGMENT_COLUMNS, [{"id": "3", "name": "Signed up"}], primary_key=["id"])
    storage.create("messages", OLDER_MESSAGE_HEADERS, [{"id": "old", "deduplicate_id": "old:1"}],
                   primary_key=["deduplicate_id"])
    storage.create("activity_event", OLDER_EVENT_HEADERS, [{"id": "old-event"}], primary_key=["id"])
    storage.create("activities_all", OLDER_ACTIVITY_COLUMNS, [{"id": "old-activity"}], primary_key=["id"])
    storage.create("customers", ["id", "email", "plan"], [{"id": "1", "email": "a@example.com"}], primary_key=["id"])
    older_state = {"message_headers": OLDER_MESSAGE_HEADERS, "activity_headers": {"event": OLDER_EVENT_HEADERS},
                   "message_last_token": {"email": "older-token"}}
    runs = Runs(server, tmp_path, storage=storage, state=older_state)
    params = parameters(activities={"mode": "PARSED_DATA", "types": ["event"], "incremental_output": True})
    first = runs.run(params)  # every load accepted (Storage would refuse one that lacks a column)
    assert storage["messages"].primary_key == ("id",)
    assert storage["customers"].primary_key == ("cio_id",)
    assert "Table messages: the Storage table's primary key is deduplicate_id" in first.stderr
    assert "loads the table in full" in first.stderr
    assert "Table customers: the primary key changes from id to cio_id" in first.stdout
    assert "urban_airship_token" in storage["messages"].columns and "data_project" in storage["activity_event"].columns
    assert set(storage["messages"].values("id")) == {m["id"] for m in server.workspace.iter_messages()}
    assert set(storage["campaigns"].values("id")) == {str(c["id"]) for c in server.workspace.campaigns()}
    assert set(OLDER_CAMPAIGN_COLUMNS) <= set(storage["campaigns"].columns)
    server.append("messages", 10)
    second = runs.run(params)
    assert "primary key" not in second.stderr
    assert ("messages", True) in storage.loads  # from now on an ordinary incremental load
    assert set(storage["messages"].values("id")) == {m["id"] for m in server.workspace.iter_messages()}
