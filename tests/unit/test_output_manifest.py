import json
import os

import pytest

from output import EVENTS, SNAPSHOT, LoadPlan, TableSpec, TableWriter, load_plan, write_manifest

SPEC = TableSpec(
    name="messages",
    primary_key=("id", "type"),
    seed_columns=("id", "type", "created"),
    column_types={"created": "INTEGER", "forgotten": "BOOLEAN", "metrics_sent": "INTEGER", "ratio": "FLOAT"},
    description="Messages sent by Customer.io.",
    kind=EVENTS,
)


def write_table(component):
    with TableWriter(component.tables_out_path, SPEC, known_columns=["Name"]) as writer:
        writer.write(
            {
                "id": "m1",
                "type": "email",
                "created": "1",
                "forgotten": "false",
                "metrics_sent": "2",
                "name": "clash",
                "ratio": "0.5",
            }
        )
    return writer.close()


def read_manifest(component):
    with open(f"{component.tables_out_path}/messages.csv.manifest") as f:
        return json.load(f)


def schema_by_name(manifest):
    return {column["name"]: column for column in manifest["schema"]}


def test_full_load_manifest(component):
    result = write_table(component)
    definition = write_manifest(component, SPEC, result, incremental=False)
    manifest = read_manifest(component)
    assert definition is not None
    assert manifest["incremental"] is False
    assert manifest["has_header"] is True
    assert manifest["delimiter"] == "," and manifest["enclosure"] == '"'
    assert manifest["manifest_type"] == "out"
    assert manifest["table_metadata"] == {"KBC.description": "Messages sent by Customer.io."}
    assert "primary_key" not in manifest
    assert [column["name"] for column in manifest["schema"]] == result.names
    assert result.names == ["Name", "id", "type", "created", "forgotten", "metrics_sent", "name_2", "ratio"]
    assert not any(column.get("primary_key") for column in manifest["schema"])
    types = {name: column["data_type"]["base"]["type"] for name, column in schema_by_name(manifest).items()}
    assert types == {
        "Name": "STRING",
        "id": "STRING",
        "type": "STRING",
        "created": "INTEGER",
        "forgotten": "BOOLEAN",
        "metrics_sent": "INTEGER",
        "name_2": "STRING",
        "ratio": "FLOAT",
    }
    # The header the manifest promises is really in the file.
    with open(result.path, encoding="utf-8") as f:
        assert f.readline().rstrip("\n").split(",") == result.names


def test_incremental_manifest_flags_primary_key_columns(component):
    result = write_table(component)
    write_manifest(component, SPEC, result, incremental=True)
    manifest = read_manifest(component)
    assert manifest["incremental"] is True
    assert manifest["has_header"] is True
    schema = schema_by_name(manifest)
    assert [name for name, column in schema.items() if column.get("primary_key")] == ["id", "type"]
    assert schema["created"]["data_type"] == {"base": {"type": "INTEGER"}}
    assert schema["forgotten"]["data_type"] == {"base": {"type": "BOOLEAN"}}


def test_primary_key_uses_storage_names(component):
    spec = TableSpec(name="activities", primary_key=("_id",), seed_columns=("_id",))
    with TableWriter(component.tables_out_path, spec) as writer:
        writer.write({"_id": "1", "data": "{}"})
    write_manifest(component, spec, writer.close(), incremental=True)
    with open(f"{component.tables_out_path}/activities.csv.manifest") as f:
        manifest = json.load(f)
    assert [(c["name"], c.get("primary_key", False)) for c in manifest["schema"]] == [("id", True), ("data", False)]


def test_no_description_means_no_table_metadata_description(component):
    spec = TableSpec(name="plain")
    with TableWriter(component.tables_out_path, spec) as writer:
        writer.write({"a": "1"})
    write_manifest(component, spec, writer.close(), incremental=False)
    with open(f"{component.tables_out_path}/plain.csv.manifest") as f:
        manifest = json.load(f)
    assert "KBC.description" not in manifest.get("table_metadata", {})
    assert manifest["has_header"] is True


def test_table_without_columns_gets_no_manifest(component):
    spec = TableSpec(name="nothing")
    with TableWriter(component.tables_out_path, spec) as writer:
        pass
    assert write_manifest(component, spec, writer.close(), incremental=True) is None
    assert os.listdir(component.tables_out_path) == []


def test_a_snapshot_under_the_incremental_load_type_is_a_full_load_that_keeps_its_primary_key(component):
    spec = TableSpec(name="segments", primary_key=("id",), seed_columns=("id", "name"))
    assert spec.kind == SNAPSHOT
    with TableWriter(component.tables_out_path, spec) as writer:
        writer.write({"id": "1", "name": "a"})
    write_manifest(component, spec, writer.close(), incremental=True)
    with open(f"{component.tables_out_path}/segments.csv.manifest") as f:
        manifest = json.load(f)
    assert manifest["incremental"] is False
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == ["id"]


@pytest.mark.parametrize(("kind", "incremental", "stored", "expected"), [
    (SNAPSHOT, False, None, LoadPlan(False, ())),
    (SNAPSHOT, True, None, LoadPlan(False, ("id",))),
    (SNAPSHOT, True, ["id"], LoadPlan(False, ("id",))),
    (SNAPSHOT, True, ["old"], LoadPlan(False, ("id",), key_change=True)),
    (EVENTS, False, None, LoadPlan(False, ())),
    (EVENTS, False, ["old"], LoadPlan(False, ())),
    (EVENTS, True, None, LoadPlan(True, ("id",))),
    (EVENTS, True, ["id"], LoadPlan(True, ("id",))),
    (EVENTS, True, ["deduplicate_id"], LoadPlan(False, ("id",), key_change=True)),
    (EVENTS, True, [], LoadPlan(False, ("id",), key_change=True)),  # the last run was a full load: no key
])
def test_load_plan(kind, incremental, stored, expected):
    spec = TableSpec(name="t", primary_key=("id",), kind=kind)
    assert load_plan(spec, incremental=incremental, stored_key=stored) == expected


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        TableSpec(name="t", kind="append")


def test_renamed_columns_keep_their_customerio_name_in_the_description(component):
    spec = TableSpec(name="customers", primary_key=("cio_id",), seed_columns=("cio_id",))
    with TableWriter(component.tables_out_path, spec) as writer:
        writer.write({"cio_id": "c1", "名前": "Eva", "First Name": "Eva", "first_name": "E", "plan": "pro"})
    write_manifest(component, spec, writer.close(), incremental=True)
    with open(f"{component.tables_out_path}/customers.csv.manifest") as f:
        schema = {column["name"]: column for column in json.load(f)["schema"]}
    assert schema["MingQian"]["description"] == "Customer.io field '名前'."
    assert schema["First_Name"]["description"] == "Customer.io field 'First Name'."
    assert schema["first_name_2"]["description"] == "Customer.io field 'first_name'."
    assert "description" not in schema["plan"] or not schema["plan"]["description"]
    assert schema["cio_id"]["primary_key"] is True and schema["cio_id"]["nullable"] is False
    assert schema["plan"]["nullable"] is True
