"""Customers "continue since last run": when a run reads everyone, which people the activity log names, and the
manifest of a changes-only table (delete_where on cio_id, an incremental load)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasets.customers import changes
from datasets.customers.settings import CustomersSettings
from output import LoadPlan, TableSpec, TableWriter, write_manifest
from output.manifest import Changes
from tests.unit.customers.fakes import PEOPLE, Customers, FakeApi, config, context, run

NOW = 1_750_000_000
DAY = 86_400
KEYS = {"customers": ["cio_id"]}


def settings(**values) -> CustomersSettings:
    return CustomersSettings(incremental_output=True, **values)


def previous(**values) -> dict:
    return {"mark": NOW - DAY, "full_read_at": NOW - 2 * DAY, "shape": changes.shape_of(settings()), **values}


def reason(config=None, state=None, table_keys=None):
    return changes.full_read_reason(config or settings(), state, now=NOW, table_keys=table_keys or KEYS, keys=KEYS)


def test_changes_are_enough_after_a_recent_full_read():
    assert reason(state=previous()) is None


@pytest.mark.parametrize(("config", "state", "table_keys", "expected"), [
    (None, {}, None, "first run"),
    (None, previous(mark=NOW - 30 * DAY), None, "the last run was 30 days ago"),
    (None, previous(full_read_at=NOW - 7 * DAY), None, "the last full read was 7 or more days ago"),
    (settings(full_refresh_days=1), previous(), None, "the last full read was 1 or more days ago"),
    (settings(attributes=["plan"]), previous(), None, "the layout, attributes or filter changed"),
    (settings(attributes_layout="long"), previous(), None, "the layout, attributes or filter changed"),
    (None, previous(), {"customers": ["id"]}, "Storage does not hold table customers under its primary key"),
    (settings(filters='{"not": {"segment": {"id": 3}}}'), previous(), None, "the filter uses segments"),
])
def test_a_full_read_and_why(config, state, table_keys, expected):
    assert expected in reason(config, state, table_keys)


def test_an_attribute_filter_is_not_a_reason_but_a_changed_one_is():
    plan = settings(filters='{"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}')
    state = previous(shape=changes.shape_of(plan))
    assert reason(plan, state) is None
    other = settings(filters='{"attribute": {"field": "plan", "operator": "eq", "value": "free"}}')
    assert "filter changed" in reason(other, state)


class Log:
    """GET /v1/activities per type: newest first, two pages per type, the second older than the mark."""

    def __init__(self):
        self.calls = []

    def paginate(self, method, path, params=None, json_body=None):
        self.calls.append(dict(params))
        assert params["deleted"] == "true"  # a deleted person's activities are listed only then
        if params["type"] == "profile_delete":
            yield {"activities": [{"timestamp": NOW, "customer_identifiers": {"cio_id": "cio_b2"}}], "next": "x"}
            yield {"activities": [], "next": "y"}  # an empty page that carries next: go on
            yield {"activities": [{"timestamp": NOW - 5, "customer_identifiers": {"cio_id": "b1"}},
                                  {"timestamp": NOW - 100, "customer_identifiers": {"cio_id": "old"}}], "next": "z"}
            raise AssertionError("read past the mark")
        if params["type"] == "attribute_change":
            yield {"activities": [{"timestamp": NOW, "customer_identifiers": {"cio_id": "a1"}},
                                  {"timestamp": NOW, "customer_identifiers": None},
                                  {"timestamp": NOW, "customer_identifiers": {"cio_id": "b1"}}], "next": ""}
            return
        yield {"activities": [], "next": ""}


def test_the_people_named_since_the_mark_each_once():
    log = Log()
    people, count = changes.changed_people(log, NOW - 10)
    assert people == ["a1", "b1", "b2"]
    assert count == 5
    assert [call["type"] for call in log.calls] == list(changes.PROFILE_TYPES)


def read(component) -> dict:
    return json.loads(Path(component.tables_out_path, "customers.csv.manifest").read_text())


def test_a_changes_manifest_deletes_the_named_people_then_upserts(component):
    spec = TableSpec(name="customers", primary_key=("cio_id",), seed_columns=("cio_id", "plan"))
    with TableWriter(component.tables_out_path, spec) as writer:
        writer.write({"cio_id": "a1", "plan": "pro"})
    result = writer.close()
    plan = LoadPlan(incremental=True, primary_key=("cio_id",), changes=Changes("cio_id", ("b2", "a1", "b2")))
    write_manifest(component, spec, result, incremental=True, plan=plan)
    manifest = read(component)
    assert manifest["incremental"] is True
    assert (manifest["delete_where_column"], manifest["delete_where_values"], manifest["delete_where_operator"]) == (
        "cio_id", ["a1", "b2"], "eq")
    # No one to delete: an ordinary incremental load.
    write_manifest(component, spec, result, incremental=True,
                   plan=LoadPlan(incremental=True, primary_key=("cio_id",), changes=Changes("cio_id")))
    manifest = read(component)
    assert manifest["incremental"] is True and not manifest.get("delete_where_column")


def test_full_load_reads_everyone_every_run_and_says_so(component, caplog):
    api = FakeApi(PEOPLE)
    ctx = context(api, component)
    ctx.incremental_load = False
    state = {"changes": previous(mark=ctx.now - 60, full_read_at=ctx.now - 60)}
    new_state = Customers(config(incremental_output=True)).run(ctx, state)
    assert "needs the load type Incremental update" in caplog.text
    assert len(api.calls_to("/v1/customers/attributes")) == 4  # everyone: 350 people
    assert "changes" not in new_state


def test_a_full_read_starts_the_marks(component):
    new_state = run(FakeApi(PEOPLE), component, incremental_output=True, attributes=["plan"])
    assert new_state["changes"] == {"mark": 1_700_000_000, "full_read_at": 1_700_000_000,
                                    "shape": changes.shape_of(settings(attributes=["plan"]))}
    assert "delete_where_column" not in read(component)
