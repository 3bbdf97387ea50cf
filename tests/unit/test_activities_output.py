"""Activities through the output layer with a scripted client: untyped activities, keys that meet, null objects."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from configuration import load_configuration
from datasets import RunContext
from datasets.activities import Activities


class ScriptedClient:
    """One page of activities for every chain (the type filter is applied as the API would)."""

    def __init__(self, activities: list[dict]) -> None:
        self.activities = activities

    def paginate(self, method, path, *, params=None, **kwargs):
        wanted = (params or {}).get("type")
        yield {"activities": [a for a in self.activities if wanted is None or a.get("type") == wanted], "next": ""}


def run(component, activities, **settings) -> dict:
    config = load_configuration({"#api_secret": "k", "activities": settings})
    ctx = RunContext(client=ScriptedClient(activities), component=component,
                     tables_dir=Path(component.tables_out_path), incremental_load=True, now=1_700_000_000)
    return Activities(config).run(ctx, {})


def read(component, name: str) -> list[dict]:
    with open(Path(component.tables_out_path) / f"{name}.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_an_activity_without_a_type_goes_to_activity_untyped_not_activity_none(component):
    run(component, [{"id": "a1", "timestamp": 1, "data": {}}, {"id": "a2", "type": None, "timestamp": 2},
                    {"id": "a3", "type": "page", "timestamp": 3, "url": "https://x"}])
    tables = sorted(p.name for p in Path(component.tables_out_path).glob("*.csv"))
    assert tables == ["activity_page.csv", "activity_untyped.csv"]
    assert [row["id"] for row in read(component, "activity_untyped")] == ["a1", "a2"]
    assert read(component, "activity_page")[0]["url"] == "https://x"


def test_flat_and_nested_keys_that_meet_are_two_columns_and_a_clash(component, caplog):
    run(component, [{"id": "a1", "type": "event", "timestamp": 1, "customer_identifiers": None,
                     "data": {"product": {"id": 7}, "product_id": 5}}], types=["event"])
    row = read(component, "activity_event")[0]
    assert row["data_product_id"] == "7" and row["data_product_id_2"] == "5"
    assert "customer_identifiers" not in row  # a null object makes no column of its own
    assert "Columns 'data.product.id' and 'data_product_id' of table activity_event clash in Storage" in caplog.text
    with open(Path(component.tables_out_path) / "activity_event.csv.manifest") as fh:
        schema = {column["name"]: column for column in json.load(fh)["schema"]}
    assert schema["data_product_id"]["description"] == "Customer.io field 'data.product.id'."
    assert schema["id"]["nullable"] is False
