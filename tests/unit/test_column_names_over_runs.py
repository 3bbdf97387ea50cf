"""Storage column names stay what they were when a table was first written, whatever the naming rule became: a
customers table written before transliteration (straße -> stra_e) is loaded by today's runs, into the Storage model."""

from __future__ import annotations

from pathlib import Path

from datasets import RunContext
from datasets.base import Tables
from datasets.state import DatasetState
from output import TableSpec
from tests.storage_model import Storage

SPEC = TableSpec(name="customers", primary_key=("cio_id",), seed_columns=("cio_id",))
ROW = {"cio_id": "c1", "straße": "Hauptstraße 1", "город": "Praha", "名前": "Jan", "🎂 birthday": "1990-01-01"}
EARLIER = ["cio_id", "stra_e", "column", "column_2", "birthday"]  # the names of the versions before transliteration


def run(component, state: dict, column_names: dict, row: dict) -> dict:
    ctx = RunContext(client=None, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=0, column_names=column_names)
    tables = Tables(ctx, DatasetState.from_json(state))
    with tables.open(SPEC) as table:
        table.write(row)
    return {"columns": tables.columns}


def test_a_table_written_before_transliteration_keeps_its_column_names_run_after_run(component):
    storage = Storage()
    storage.create("customers", EARLIER, [{"cio_id": "c0", "stra_e": "x"}], primary_key=["cio_id"])
    # The state of the earlier version: the source keys, no names.
    state = {"columns": {"customers": list(ROW)}}
    column_names: dict = {}
    state = run(component, state, column_names, ROW)
    storage.load(component.tables_out_path)  # refused today: strasse, gorod, MingQian, birthday_birthday
    assert storage["customers"].columns == EARLIER
    assert storage["customers"].keyed()[("c1",)]["stra_e"] == "Hauptstraße 1"
    # The next run, from the state this one wrote: the same names, and a new column named by today's rule.
    state = run(component, state, column_names, {**ROW, "cio_id": "c2", "улица": "Národní"})
    storage.load(component.tables_out_path)
    assert storage["customers"].columns == [*EARLIER, "ulitsa"]
    assert column_names["customers"]["straße"] == "stra_e" and column_names["customers"]["улица"] == "ulitsa"


def test_a_new_table_gets_todays_names_and_keeps_them(component):
    column_names: dict = {}
    state = run(component, {}, column_names, ROW)
    storage = Storage()
    storage.load(component.tables_out_path)
    today = ["cio_id", "strasse", "gorod", "MingQian", "birthday_birthday"]
    assert storage["customers"].columns == today
    run(component, state, column_names, ROW)
    storage.load(component.tables_out_path)
    assert storage["customers"].columns == today
