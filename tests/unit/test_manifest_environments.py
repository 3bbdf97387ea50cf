"""The manifest a Storage load reads, in each environment Keboola's runner may start the component in.

The runner always sets KBC_STACKID; KBC_DATA_TYPE_SUPPORT only for projects with native types; config.json's
storage.output.data_type_support overrides both. keboola.component 1.11 picks the legacy manifest unless the
project has native types (hints/authoritative), and outside Keboola (no KBC_STACKID) the typed one.
"""

from __future__ import annotations

import json
import logging

import pytest
from keboola.component import CommonInterface

from output import EVENTS, TableSpec, TableWriter, write_manifest

SPEC = TableSpec(
    name="messages",
    primary_key=("id",),
    seed_columns=("id", "created", "sent_at", "forgotten", "Sub ject", "filters"),
    column_types={"created": "INTEGER", "sent_at": "INTEGER", "forgotten": "BOOLEAN", "metrics_opened": "INTEGER"},
    description="Deliveries.",
    kind=EVENTS,
    json_fields=frozenset({"filters"}),
    time_columns=frozenset({"metrics_opened"}),
)

TYPES = {"id": "STRING", "created": "INTEGER", "sent_at": "INTEGER", "forgotten": "BOOLEAN", "Sub_ject": "STRING",
         "filters": "STRING", "metrics_opened": "INTEGER"}
DESCRIPTIONS = {"created": "unix seconds (UTC).", "sent_at": "unix seconds (UTC).", "Sub_ject": "Customer.io field 'Sub ject'.",
                "filters": "JSON text.", "metrics_opened": "unix seconds (UTC)."}


def _run(tmp_path, monkeypatch, caplog, env: dict[str, str], storage_output: dict | None = None) -> dict:
    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "data"
    (data / "out" / "tables").mkdir(parents=True)
    config: dict = {"parameters": {}, "action": "run"}
    if storage_output is not None:
        config["storage"] = {"output": storage_output}
    (data / "config.json").write_text(json.dumps(config))
    component = CommonInterface(data_folder_path=str(data))
    caplog.set_level(logging.DEBUG)
    for _ in range(3):  # three tables: the legacy-queue warning must not come once per table
        with TableWriter(component.tables_out_path, SPEC) as writer:
            writer.write({"id": "m1", "created": "1", "sent_at": "2", "forgotten": "false", "Sub ject": "Hi",
                          "filters": "[]", "metrics_opened": "3"})
        write_manifest(component, SPEC, writer.close(), incremental=True)
    assert "legacy queue" not in caplog.text
    return json.loads((data / "out" / "tables" / "messages.csv.manifest").read_text())


def _assert_typed(manifest: dict) -> None:
    assert "column_metadata" not in manifest and "columns" not in manifest and "metadata" not in manifest
    assert manifest["has_header"] is True and manifest["incremental"] is True
    assert manifest["table_metadata"] == {"KBC.description": "Deliveries."}
    schema = {column["name"]: column for column in manifest["schema"]}
    assert list(schema) == list(TYPES)
    assert {name: column["data_type"]["base"]["type"] for name, column in schema.items()} == TYPES
    assert {name: column["description"] for name, column in schema.items() if column.get("description")} == DESCRIPTIONS
    assert schema["id"]["primary_key"] is True and schema["id"]["nullable"] is False
    assert [name for name, column in schema.items() if column.get("primary_key")] == ["id"]


def _assert_legacy(manifest: dict) -> None:
    assert "schema" not in manifest and "table_metadata" not in manifest
    # The CSV has a header: Storage reads the columns from it (no `columns`, which would mean no header).
    assert "columns" not in manifest
    assert manifest["incremental"] is True and manifest["primary_key"] == ["id"]
    assert manifest["metadata"] == [{"key": "KBC.description", "value": "Deliveries."}]
    assert manifest.get("write_always", False) is False  # dropped on a legacy queue, where it is not allowed
    metadata = {column: {item["key"]: item["value"] for item in items}
                for column, items in manifest["column_metadata"].items()}
    assert list(metadata) == list(TYPES)
    assert {column: m["KBC.datatype.basetype"] for column, m in metadata.items()} == TYPES
    assert {column: m["KBC.datatype.nullable"] for column, m in metadata.items()} == {
        column: column != "id" for column in TYPES}
    assert {column: m["KBC.description"] for column, m in metadata.items() if "KBC.description" in m} == DESCRIPTIONS


@pytest.mark.parametrize(("env", "storage_output", "legacy"), [
    pytest.param({}, None, False, id="outside-keboola"),
    pytest.param({"KBC_STACKID": "connection.keboola.com"}, None, True, id="stack-only"),
    pytest.param({"KBC_STACKID": "connection.keboola.com", "KBC_PROJECT_FEATURE_GATES": "queuev2"}, None, True,
                 id="stack-only-queuev2"),
    pytest.param({"KBC_STACKID": "connection.keboola.com", "KBC_DATA_TYPE_SUPPORT": "none"}, None, True,
                 id="types-none"),
    pytest.param({"KBC_STACKID": "connection.keboola.com", "KBC_DATA_TYPE_SUPPORT": "hints"}, None, False,
                 id="types-hints"),
    pytest.param({"KBC_STACKID": "connection.keboola.com", "KBC_DATA_TYPE_SUPPORT": "authoritative"}, None, False,
                 id="types-authoritative"),
    pytest.param({"KBC_STACKID": "connection.keboola.com"}, {"data_type_support": "hints"}, False,
                 id="config-override-hints"),
    pytest.param({"KBC_STACKID": "connection.keboola.com", "KBC_DATA_TYPE_SUPPORT": "authoritative"},
                 {"data_type_support": "none"}, True, id="config-override-none"),
])
def test_the_manifest_each_environment_gets(tmp_path, monkeypatch, caplog, env, storage_output, legacy):
    manifest = _run(tmp_path, monkeypatch, caplog, env, storage_output)
    (_assert_legacy if legacy else _assert_typed)(manifest)
    if "KBC_STACKID" in env and "queuev2" not in env.get("KBC_PROJECT_FEATURE_GATES", ""):
        assert "write_always" not in manifest  # the legacy queue refuses it


def test_legacy_full_load_has_no_primary_key_and_nullable_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("KBC_STACKID", "connection.keboola.com")
    monkeypatch.delenv("KBC_DATA_TYPE_SUPPORT", raising=False)
    data = tmp_path / "data"
    (data / "out" / "tables").mkdir(parents=True)
    (data / "config.json").write_text('{"parameters": {}}')
    component = CommonInterface(data_folder_path=str(data))
    with TableWriter(component.tables_out_path, SPEC) as writer:
        writer.write({"id": "m1"})
    write_manifest(component, SPEC, writer.close(), incremental=False)
    manifest = json.loads((data / "out" / "tables" / "messages.csv.manifest").read_text())
    assert manifest["incremental"] is False and "primary_key" not in manifest
    nullable = {column: {i["key"]: i["value"] for i in items}["KBC.datatype.nullable"]
                for column, items in manifest["column_metadata"].items()}
    assert all(nullable.values())
