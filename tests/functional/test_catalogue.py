"""The whole catalogue against the sandbox, through the real component process: every record of every declared
dataset exactly once, keys and manifests right, lists as valid JSON text; webhook credentials nowhere; a 403
names the dataset and what to grant; a parent deleted mid-run is skipped."""

from __future__ import annotations

import json
import threading
import time

import pytest

from datasets import REGISTRY
from sandbox import SandboxServer, SandboxSettings
from sandbox.catalogue_api import OPTOUT_EVERY
from sandbox.entities import SUPPRESSION_TYPES, WEBHOOK_CREDENTIALS
from tests.sandbox_harness import SECRET, make_data_dir, run_component

SIZES = {"campaigns": 10, "actions_per_campaign": 12, "newsletters": 6, "broadcasts": 4, "transactional": 4,
         "design_studio_emails": 2100}  # three pages of 1000
FLAGS = REGISTRY.flags()


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxSettings(scenario="test", **SIZES)) as srv:
        yield srv


@pytest.fixture(scope="module")
def result(server, tmp_path_factory):
    data = make_data_dir(tmp_path_factory.mktemp("catalogue"), {"#api_secret": SECRET, **dict.fromkeys(FLAGS, True)})
    run = run_component(data, server.url)
    assert run.code == 0, run.stderr
    return run


def expected_keys(server) -> dict[str, set[tuple]]:
    e = server.workspace.entities
    ws = server.workspace
    keys: dict[str, set[tuple]] = {
        "campaigns": {(c,) for c in e.campaign_ids()},
        "segments": {(s["id"],) for s in ws.segments()},
        "campaign_actions": {(c, a) for c in e.campaign_ids() for a in e.campaign_action_ids(c)},
        "newsletters": {(n,) for n in e.newsletter_ids()},
        "newsletter_contents": {(n, c) for n in e.newsletter_ids() for c in e.newsletter_content_ids(n)},
        "newsletter_test_groups": {(n, g["id"]) for n in e.newsletter_ids() for g in e.newsletter_test_groups(n)},
        "broadcasts": {(b,) for b in e.broadcast_ids()},
        "broadcast_actions": {(b, a) for b in e.broadcast_ids() for a in e.broadcast_action_ids(b)},
        "broadcast_triggers": {(b, t["id"]) for b in e.broadcast_ids() for t in e.broadcast_triggers(b)},
        "transactional_messages": {(t,) for t in e.transactional_ids()},
        "transactional_contents": {(t, c) for t in e.transactional_ids() for c in e.transactional_content_ids(t)},
        "sender_identities": {(s["id"],) for s in e.sender_identities},
        "subscription_topics": {(t["id"],) for t in e.subscription_topics},
        "optouts": {(f"cio_{ws.identity(j)[0]}",) for j in range(0, ws.people_count, OPTOUT_EVERY)},
        "object_types": {(t,) for t in e.object_type_ids()},
        "objects": {(t, o) for t in e.object_type_ids() for o in e.object_ids(t)},
        "object_relationships": {(t, o, ws.identity(j)[0]) for t in e.object_type_ids() for o in e.object_ids(t)
                                 for j in e.object_relationships(t, o)},
        "workspaces": {(w["id"],) for w in e.workspaces},
        "reporting_webhooks": {(w["id"],) for w in e.reporting_webhooks},
        "snippets": {(s["name"],) for s in e.snippets},
        "collections": {(c["id"],) for c in e.collections},
        "segment_usage": {(s["id"], kind[:-1], ident) for s in ws.segments()
                          for kind, ids in e.segment_usage(s["id"]).items() for ident in ids},
        "esp_suppressions": {(kind, s["email"]) for kind in SUPPRESSION_TYPES for s in e.suppressions[kind]},
        "subscription_channels": {(c["id"],) for c in e.subscription_channels},
        **{f"design_studio_{kind}": {(row["id"],) for row in e.design_studio[kind]}
           for kind in ("emails", "components", "folders")},
    }
    return {name: {tuple(str(v) for v in key) for key in values} for name, values in keys.items()}


@pytest.mark.parametrize("key", FLAGS)
def test_every_record_exactly_once_with_its_keys_and_manifest(server, result, key):
    spec = REGISTRY[key].declaration.table
    rows = result.csv(spec.name)
    found = [tuple(row[column] for column in spec.primary_key) for row in rows]
    assert len(found) == len(set(found)), f"{key}: duplicate primary keys"
    assert set(found) == expected_keys(server)[key]
    assert all(all(part != "" for part in pk) for pk in found)
    manifest = json.loads((result.tables / f"{spec.name}.csv.manifest").read_text())
    # A snapshot table: a full load that keeps its primary key, so Storage equals the workspace after every run.
    assert manifest["incremental"] is False
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == list(spec.primary_key)
    assert manifest["table_metadata"]["KBC.description"] == spec.description
    header = list(rows[0]) if rows else []
    assert header[: len(spec.seed_columns)] == list(spec.seed_columns)
    for row in rows:  # lists (and the objects' timestamps) are valid JSON text; Liquid ({{...}}) is not JSON
        for value in row.values():
            if value[:1] == "[" or value[:2] == '{"':
                json.loads(value)


def test_segment_conditions_are_one_json_column_whatever_their_shape(server, result):
    rows = result.csv("segments")
    assert not [c for c in rows[0] if c.startswith("conditions_")]
    truth = {str(s["id"]): s["conditions"] for s in server.workspace.segments()}
    assert {r["id"]: json.loads(r["conditions"]) for r in rows} == truth


def test_every_json_column_is_described_as_json_text_in_its_manifest(result):
    # Issue 20: "JSON text on every JSON column". A column is JSON when every value it holds parses as a JSON list or
    # object (a text field whose values merely start with '[' or '{', such as an in-app body, is not).
    undescribed = {}
    for path in sorted(result.tables.glob("*.csv")):
        rows = result.csv(path.stem)
        manifest = json.loads(path.with_name(path.name + ".manifest").read_text())
        described = {column["name"]: column.get("description") or "" for column in manifest["schema"]}
        for column in rows[0] if rows else ():
            if column.startswith("attributes_"):  # the objects' own attributes: whatever each object holds
                continue
            values = [row[column] for row in rows if row[column]]
            if values and all(_is_json_container(v) for v in values) and "JSON text" not in described[column]:
                undescribed.setdefault(path.stem, []).append(column)
    assert undescribed == {}


def _is_json_container(text: str) -> bool:
    try:
        return isinstance(json.loads(text), (list, dict))
    except ValueError:
        return False


def test_campaign_action_rows_carry_the_action(server, result):
    rows = {(r["campaign_id"], r["id"]): r for r in result.csv("campaign_actions")}
    action = server.workspace.entities.campaign_action(1002, server.workspace.entities.campaign_action_ids(1002)[11])
    row = rows[("1002", str(action["id"]))]
    assert (row["name"], row["type"], row["sending_state"]) == (action["name"], action["type"],
                                                                 action["sending_state"])


def test_objects_have_their_attributes_as_columns_and_sender_identities_the_hidden_flag(server, result):
    e = server.workspace.entities
    objects = {(r["object_type_id"], r["object_id"]): r for r in result.csv("objects")}
    oid = e.object_ids("2")[3]
    assert objects[("2", oid)]["attributes_name"] == e.object("2", oid)["attributes"]["name"]
    hidden = {r["id"]: r["hidden"] for r in result.csv("sender_identities")}
    assert set(hidden.values()) == {"true", "false"}


def test_no_webhook_credential_reaches_the_output_or_the_logs(result):
    rows = result.csv("reporting_webhooks")
    assert {r["endpoint"] for r in rows} >= {"https://hooks.example.com/cio?src=x", "http://10.0.0.5:8080/in"}
    secrets = [part for credential in WEBHOOK_CREDENTIALS for part in credential.rstrip("@").split(":")]
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr
        for path in (result.data_dir / "out").rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(encoding="utf-8", errors="replace"), (secret, path)


def test_output_is_byte_identical_on_a_second_run(server, result, tmp_path):
    again = run_component(make_data_dir(tmp_path, {"#api_secret": SECRET, "campaign_actions": True,
                                                   "objects": True, "esp_suppressions": True}), server.url)
    assert again.code == 0, again.stderr
    for name in ("campaign_actions", "objects", "esp_suppressions"):
        assert (again.tables / f"{name}.csv").read_bytes() == (result.tables / f"{name}.csv").read_bytes()


def test_a_403_names_the_dataset_and_what_to_grant(server, tmp_path):
    run = run_component(make_data_dir(tmp_path, {"#api_secret": server.settings.limited_api_key, "campaigns": True,
                                                 "newsletter_contents": True}), server.url)
    assert run.code == 1
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, run.stderr
    assert "may not read newsletter contents" in errors[0]
    assert "access to Newsletters" in errors[0] and "'newsletter_contents' off" in errors[0]
    assert not run.state


def test_a_campaign_deleted_mid_run_is_skipped_with_a_warning(tmp_path):
    with SandboxServer(SandboxSettings(scenario="test", campaigns=40, actions_per_campaign=3)) as srv:
        victim = srv.workspace.entities.campaign_ids()[-1]
        deleted = threading.Event()

        def delete_after_listing():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(e["path"] == "/v1/campaigns" and e["status"] == 200 for e in list(srv.request_log)):
                    srv.workspace.entities.delete("campaign", victim)
                    deleted.set()
                    return
                time.sleep(0.002)

        watcher = threading.Thread(target=delete_after_listing, daemon=True)
        watcher.start()
        run = run_component(make_data_dir(tmp_path, {"#api_secret": SECRET, "campaign_actions": True}), srv.url)
        watcher.join()
        assert deleted.is_set() and run.code == 0, run.stderr
        assert f"campaign_id {victim} was deleted during the run (404)" in run.stderr
        got = {r["campaign_id"] for r in run.csv("campaign_actions")}
        assert str(victim) not in got and len(got) == 39
        assert any(e["path"] == f"/v1/campaigns/{victim}/actions" and e["status"] == 404 for e in srv.request_log)


def test_storage_follows_the_catalogue_run_after_run(tmp_path):
    """Catalogue tables are snapshots: a newsletter deleted between two scheduled runs leaves Storage with its
    contents and test groups, and the rest is kept, under the incremental load type."""
    from tests.storage_model import Storage

    tables = ("newsletters", "newsletter_contents", "newsletter_test_groups", "broadcasts", "broadcast_actions")
    parameters = {"#api_secret": SECRET, "incremental_output": 1, **dict.fromkeys(tables, True)}
    storage = Storage()
    with SandboxServer(SandboxSettings(scenario="test", **SIZES)) as srv:
        first = run_component(make_data_dir(tmp_path / "run1", parameters), srv.url)
        assert first.code == 0, first.stderr
        storage.load(first.tables)
        victim = srv.workspace.entities.newsletter_ids()[0]
        srv.workspace.entities.delete("newsletter", victim)
        second = run_component(make_data_dir(tmp_path / "run2", parameters, state=first.state), srv.url)
        assert second.code == 0, second.stderr
        storage.load(second.tables)
        truth = expected_keys(srv)
    for name in tables:
        assert set(storage[name].keyed()) == {tuple(str(part) for part in key) for key in truth[name]}, name
        assert storage[name].duplicates == 0
    assert str(victim) not in storage["newsletters"].values("id")
    assert str(victim) not in storage["newsletter_contents"].values("newsletter_id")


def test_each_parent_is_listed_once_per_run_with_every_reader_on(tmp_path):
    """The tables, their children, segment membership and metrics share one listing per endpoint (pages aside):
    the table's own read fills it (metrics runs after the tables it lists). Messages, activities and customers
    read none of these endpoints, so the run holds every reader of them; in-process for a fast rate limit."""
    from keboola.component import CommonInterface

    from configuration import load_configuration
    from customerio import CustomerIoClient, RateLimiter
    from datasets import RunContext, run_dataset

    parameters = {"#api_secret": SECRET, **dict.fromkeys(FLAGS, True), "segment_membership": {},
                  "metrics": {"links": True, "journey": True, "lookback_days": 2}}
    config = load_configuration(parameters)
    with SandboxServer(SandboxSettings(scenario="test", rate_limit=0, design_studio_emails=3)) as srv:
        make_data_dir(tmp_path, parameters)
        component = CommonInterface(data_folder_path=str(tmp_path))
        with CustomerIoClient(SECRET, srv.url, rate_limiter=RateLimiter(1000.0)) as client:
            ctx = RunContext(client=client, component=component, tables_dir=tmp_path / "out" / "tables",
                             incremental_load=True, now=srv.workspace.now(), max_workers=4)
            for key in config.enabled_datasets():
                run_dataset(REGISTRY[key](config), ctx, {})
        listings = [(e["path"]) for e in list(srv.request_log) if e["method"] == "GET" and "start" not in e["query"]]
    assert config.enabled_datasets().index("metrics") > config.enabled_datasets().index("transactional_messages")
    for path in ("/v1/campaigns", "/v1/segments", "/v1/newsletters", "/v1/broadcasts", "/v1/transactional",
                 "/v1/object_types"):
        assert listings.count(path) == 1, (path, listings.count(path))
    assert any(path.endswith("/metrics") for path in listings)  # metrics did read its entities


def test_every_dataset_skips_a_listed_parent_that_answers_404_and_the_run_succeeds(tmp_path):
    """The sandbox's deleted-but-listed quirk (one parent of each kind stays in its list, its children answer 404):
    every dataset that reads per parent, metrics included, skips it with a warning; never a failed run."""
    with SandboxServer(SandboxSettings(scenario="test", design_studio_emails=5, design_studio_components=5)) as srv:
        e = srv.workspace.entities
        victims = {"campaign": e.campaign_ids()[0], "newsletter": e.newsletter_ids()[0],
                   "broadcast": e.broadcast_ids()[0], "transactional": e.transactional_ids()[0],
                   "object": f"1/{e.object_ids('1')[0]}"}
        for kind, ident in victims.items():
            assert e.delete(kind, ident, listed=True)
        assert victims["campaign"] in e.campaign_ids()  # still listed
        parameters = {"#api_secret": SECRET, **dict.fromkeys(FLAGS, True),
                      "metrics": {"resolution": "months", "links": True, "journey": True}}
        run = run_component(make_data_dir(tmp_path, parameters), srv.url)
    assert run.code == 0, run.stderr
    for noun, column, ident in [("campaign", "campaign_id", victims["campaign"]),
                                ("newsletter", "newsletter_id", victims["newsletter"]),
                                ("broadcast", "broadcast_id", victims["broadcast"]),
                                ("transactional message", "transactional_message_id", victims["transactional"])]:
        assert f"The {noun} with {column} {ident} was deleted during the run (404)" in run.stderr, noun
    object_id = victims["object"].split("/")[1]
    assert f"object_id {object_id} was deleted during the run (404)" in run.stderr
    for kind in ("campaign", "newsletter", "broadcast", "transactional"):
        assert f"metrics: {kind} {victims[kind]} was deleted during the run" in run.stderr, kind
    assert str(victims["campaign"]) not in {r["campaign_id"] for r in run.csv("campaign_actions")}
    assert str(victims["newsletter"]) not in {r["newsletter_id"] for r in run.csv("newsletter_contents")}
    assert str(victims["broadcast"]) not in {r["broadcast_id"] for r in run.csv("broadcast_actions")}
    assert str(victims["campaign"]) in {r["id"] for r in run.csv("campaigns")}  # listed, so written
