"""Customers with "continue since last run": run after run with people created, changed, merged and deleted in the
sandbox between the runs (its admin API), every run's tables loaded into the Storage model; after every run the
Storage tables equal the sandbox's people, in both layouts, and a run after changes costs far fewer requests than a
full read."""

from __future__ import annotations

import json
import time

import pytest

from output import to_json
from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import SECRET, admin, make_data_dir, run_component
from tests.storage_model import Storage, manifest_of

DAY = 86_400
SIMPLE = ("plan", "note", "interest", "vip", "age", "loyalty")  # attribute names Storage keeps as they are


@pytest.fixture()
def server():
    # 3,000 people: a full read is 3 search pages and 30 attribute batches.
    with SandboxServer(SandboxSettings(scenario="test", people=3000, rate_limit=0)) as srv:
        yield srv


@pytest.fixture()
def small():
    with SandboxServer(SandboxSettings(scenario="test", people=1000, rate_limit=0)) as srv:
        yield srv


def parameters(**customers) -> dict:
    return {"#api_secret": SECRET, "incremental_output": 1, "campaigns": False, "segments": False,
            "customers": {"mode": "search", "incremental_output": True, **customers}}


class Runs:
    def __init__(self, server, tmp_path):
        self.server, self.tmp_path = server, tmp_path
        self.storage = Storage()
        self.state: dict = {}
        self.count = 0
        self.requests = 0  # the /v1 requests of the last run

    def run(self, params: dict):
        self.count += 1
        time.sleep(1.1)  # changes logged just now lie in the sandbox clock's current second
        before = len([r for r in self.server.request_log if r["path"].startswith("/v1")])
        result = run_component(make_data_dir(self.tmp_path / f"run{self.count}", params, state=self.state),
                               self.server.url)
        assert result.code == 0, result.stderr
        self.requests = len([r for r in self.server.request_log if r["path"].startswith("/v1")]) - before
        self.storage.load(result.tables)
        self.state = result.state
        return result


def people(server, filter_: dict | None = None) -> dict[str, dict]:
    ws = server.workspace
    return {p["identifiers"]["cio_id"]: p for p in ws.iter_people() if filter_ is None or ws.match_filter(filter_, p)}


def assert_equal(runs: Runs, long: bool, filter_: dict | None = None) -> None:
    truth = people(runs.server, filter_)
    customers = runs.storage["customers"]
    assert customers.duplicates == 0
    rows = customers.keyed()
    assert set(rows) == {(cio,) for cio in truth}
    for cio, person in truth.items():
        row = rows[(cio,)]
        ident = person["identifiers"]
        assert (row["id"], row["email"], row["unsubscribed"], row["devices"]) == (
            ident["id"] or "", ident["email"] or "", "true" if person["unsubscribed"] else "false",
            to_json(person["devices"])), cio
        if not long:
            assert {a: row.get(a, "") for a in SIMPLE} == {a: person["attributes"].get(a, "") for a in SIMPLE}, cio
    if long:
        stored = {(r["cio_id"], r["name"], r["value"]) for r in runs.storage.rows("customer_attributes")}
        assert stored == {(cio, name, value) for cio, p in truth.items() for name, value in p["attributes"].items()}


def change_people(server) -> dict:
    ws = server.workspace
    ids = sorted(people(server))
    created = [admin(server, "people/create")["cio_id"] for _ in range(3)]
    admin(server, f"people/{ids[10]}/attributes", {"plan": "enterprise", "note": None, "loyalty": "gold"})
    admin(server, f"people/{ids[11]}/attributes", {"vip": "true"})
    admin(server, f"people/{ids[12]}/delete")
    admin(server, f"people/{ids[13]}/merge", {"secondary": ids[14]})
    admin(server, f"people/{created[0]}/attributes", {"loyalty": "silver"})
    assert ws.person_attributes(ids[14]) is None
    return {"created": created, "changed": ids[10], "deleted": ids[12], "merged_away": ids[14]}


@pytest.mark.parametrize("layout", ["wide", "long"])
def test_changes_only_keep_storage_equal_to_customerio(server, tmp_path, layout):
    long = layout == "long"
    runs = Runs(server, tmp_path)
    params = parameters(attributes_layout=layout)
    first = runs.run(params)
    assert "it is the first run with 'Continue since last run'" in first.stdout
    assert_equal(runs, long)
    full_requests = runs.requests
    assert full_requests >= 33  # 3 search pages + 30 attribute batches

    what = change_people(server)
    second = runs.run(params)
    assert_equal(runs, long)
    assert "reading only them" in second.stdout
    rows = runs.storage["customers"].keyed()
    assert rows[(what["changed"],)]["cio_id"] == what["changed"]
    assert (what["deleted"],) not in rows and (what["merged_away"],) not in rows
    assert {(c,) for c in what["created"]} <= set(rows)
    manifest = manifest_of(second.tables / "customers.csv")
    assert manifest["incremental"] is True
    assert manifest["delete_where_column"] == "cio_id" and manifest["delete_where_operator"] == "eq"
    assert {what["deleted"], what["merged_away"], what["changed"]} <= set(manifest["delete_where_values"])
    # 8 activity chains and one attribute batch, against 33 requests for everyone.
    assert runs.requests <= 12 < full_requests
    assert ("customers", True) in runs.storage.loads

    # Nothing changed: nothing read but the log, every table as it was.
    snapshot = {name: sorted(map(json.dumps, t.rows)) for name, t in runs.storage.tables.items()}
    runs.run(params)
    assert_equal(runs, long)
    assert runs.requests <= 10
    assert {name: sorted(map(json.dumps, t.rows)) for name, t in runs.storage.tables.items()} == snapshot

    # More changes, then (wide) the same run again: the output of a changes-only run is byte-identical.
    change_people(server)
    state = runs.state
    third = runs.run(params)
    assert_equal(runs, long)
    if long:
        return
    again = run_component(make_data_dir(tmp_path / "again", params, state=state), server.url)
    for name in ("customers.csv", "customers.csv.manifest"):
        assert (again.tables / name).read_bytes() == (third.tables / name).read_bytes()


def test_a_full_read_after_the_logs_30_days_and_after_full_refresh_days(small, tmp_path):
    server = small
    runs = Runs(server, tmp_path)
    params = parameters(full_refresh_days=3)
    runs.run(params)
    full_requests = runs.requests
    change_people(server)

    runs.state["customers"]["changes"]["mark"] -= 31 * DAY  # the last run was 31 days ago
    stale = runs.run(params)
    assert "the last run was 31 days ago, and Customer.io's activity log keeps 30 days" in stale.stdout
    assert runs.requests >= full_requests and ("customers", False) in runs.storage.loads[-1:]
    assert_equal(runs, long=False)

    runs.state["customers"]["changes"]["full_read_at"] -= 3 * DAY
    change_people(server)
    refresh = runs.run(params)
    assert "the last full read was 3 or more days ago (full_refresh_days)" in refresh.stdout
    assert runs.storage.loads[-1] == ("customers", False)
    assert_equal(runs, long=False)

    # A changed configuration (another attribute list) is read in full too.
    changed = runs.run(parameters(full_refresh_days=3, attributes=["plan"]))
    assert "the layout, attributes or filter changed" in changed.stdout


def test_a_filter_of_attributes_is_checked_by_customerio_and_a_segment_filter_reads_everyone(small, tmp_path):
    server = small
    plan_pro = {"attribute": {"field": "plan", "operator": "eq", "value": "enterprise"}}  # about 1 in 6
    runs = Runs(server, tmp_path)
    params = parameters(filters=json.dumps(plan_pro))
    runs.run(params)
    assert_equal(runs, long=False, filter_=plan_pro)
    ids = sorted(people(server))
    inside = sorted(people(server, plan_pro))
    admin(server, f"people/{ids[20]}/attributes", {"plan": "enterprise"})  # moves into the filter
    admin(server, f"people/{inside[0]}/attributes", {"plan": "free"})  # moves out of it
    runs.run(params)
    assert_equal(runs, long=False, filter_=plan_pro)
    assert (ids[20],) in runs.storage["customers"].keyed() and (inside[0],) not in runs.storage["customers"].keyed()

    segment = {"segment": {"id": 3}}
    runs.run(parameters(filters=json.dumps(segment)))
    again = runs.run(parameters(filters=json.dumps(segment)))
    assert "the filter uses segments" in again.stdout
    assert runs.storage.loads[-1] == ("customers", False)
    assert_equal(runs, long=False, filter_=segment)
