"""The Storage model itself (tests/storage_model.py): full and incremental loads, delete_where, refusals."""

from __future__ import annotations

import json

import pytest

from tests.storage_model import LoadRefused, Storage


def manifest(columns, key=(), incremental=False, **extra):
    return {"incremental": incremental, "has_header": True,
            "schema": [{"name": c, "primary_key": c in key} for c in columns], **extra}


def test_full_load_replaces_rows_and_key_and_keeps_columns():
    storage = Storage()
    storage.create("t", ["id", "old"], [{"id": "1", "old": "x"}], primary_key=["old"])
    table = storage.load_table("t", ["id", "old", "new"], [["2", "", "n"]], manifest(["id", "old", "new"], ["id"]))
    assert table.primary_key == ("id",)
    assert table.rows == [{"id": "2", "old": "", "new": "n"}]


@pytest.mark.parametrize("incremental", [False, True])
def test_a_csv_without_an_existing_column_is_refused(incremental):
    storage = Storage()
    storage.create("t", ["id", "gone"], [{"id": "1"}], primary_key=["id"])
    with pytest.raises(LoadRefused, match="Some columns are missing"):
        storage.load_table("t", ["id"], [["1"]], manifest(["id"], ["id"], incremental))
    assert storage.rows("t") == [{"id": "1", "gone": ""}]


def test_incremental_upserts_by_key_after_delete_where():
    storage = Storage()
    storage.create("m", ["segment_id", "cio_id", "v"], [
        {"segment_id": "1", "cio_id": "a", "v": "old"}, {"segment_id": "1", "cio_id": "b", "v": "old"},
        {"segment_id": "2", "cio_id": "a", "v": "old"}], primary_key=["segment_id", "cio_id"])
    header = ["segment_id", "cio_id", "v"]
    storage.load_table("m", header, [["1", "a", "new"]],
                       manifest(header, ["segment_id", "cio_id"], True, delete_where_column="segment_id",
                                delete_where_values=["1"]))
    assert storage.rows("m") == [{"segment_id": "2", "cio_id": "a", "v": "old"},
                                 {"segment_id": "1", "cio_id": "a", "v": "new"}]
    storage.load_table("m", header, [["3", "c", "x"]],
                       manifest(header, (), True, delete_where_column="segment_id", delete_where_values=["3"],
                                delete_where_operator="ne"))
    assert storage.rows("m") == [{"segment_id": "3", "cio_id": "c", "v": "x"}]


def test_incremental_without_a_key_appends_and_another_key_is_refused():
    storage = Storage()
    storage.load_table("e", ["id"], [["1"]], manifest(["id"]))
    storage.load_table("e", ["id"], [["1"]], manifest(["id"], (), True))
    assert storage["e"].values("id") == ["1", "1"]
    with pytest.raises(LoadRefused, match="primary key"):
        storage.load_table("e", ["id"], [["2"]], manifest(["id"], ["id"], True))


def test_duplicate_keys_of_one_load_are_counted():
    storage = Storage()
    table = storage.load_table("c", ["id", "v"], [["1", "a"], ["1", "b"]], manifest(["id", "v"], ["id"]))
    assert table.duplicates == 1 and table.rows == [{"id": "1", "v": "b"}]


def test_load_reads_a_run_and_is_all_or_nothing(tmp_path):
    (tmp_path / "a.csv").write_text("id\n1\n")
    (tmp_path / "a.csv.manifest").write_text(json.dumps(manifest(["id"], ["id"])))
    (tmp_path / "b.csv").write_text("id\n1\n")
    (tmp_path / "b.csv.manifest").write_text(json.dumps({"incremental": True, "primary_key": ["id"]}))
    storage = Storage()
    storage.create("b", ["id", "x"], primary_key=["id"])
    with pytest.raises(LoadRefused):
        storage.load(tmp_path)
    assert "a" not in storage
    (tmp_path / "b.csv").write_text("id,x\n1,2\n")
    assert storage.load(tmp_path) == ["a", "b"]
    assert storage.rows("b") == [{"id": "1", "x": "2"}]
