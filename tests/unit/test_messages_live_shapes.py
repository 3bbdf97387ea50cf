"""Messages against bodies in the shapes the live API answers (estuary/connectors source-customer-io/bruno/Messages/):
an order nobody has observed, positional tokens that restart out of range, link:<n> metrics keys, human_* as unix
seconds, tracked_responses only when asked, drafts only with drafts=true.

A fake client serves a list of deliveries for any start_ts/end_ts window in a chosen order, pages of PAGE fixed
size (the dataset's PAGE_SIZE is patched to it), each `next` the offset of the following page.
"""

from __future__ import annotations

import csv
import json
import logging
import random
from pathlib import Path

import pytest
from keboola.component import CommonInterface

from configuration import load_configuration
from datasets import RunContext
from datasets import messages as messages_module
from datasets.messages import Messages

NOW = 1_750_000_000
PAGE = 10


def delivery(n: int, created: int, **extra) -> dict:
    return {"id": f"d{n:05d}", "created": created, "type": "email", "metrics": {"sent": created + 1}, **extra}


class FakeApi:
    def __init__(self, deliveries: list[dict], *, order: str = "newest", drafts: list[dict] | None = None,
                 restart_once: bool = False):
        self.deliveries = deliveries
        self.drafts = drafts or []
        self.order = order
        self.restart_once = restart_once  # the first token of a chain is taken as out of range: page 1 again
        self.calls: list[dict] = []

    def _ordered(self, items: list[dict]) -> list[dict]:
        if self.order == "newest":
            return sorted(items, key=lambda m: (-m["created"], m["id"]))
        if self.order == "oldest":
            return sorted(items, key=lambda m: (m["created"], m["id"]))
        return sorted(items, key=lambda m: random.Random(m["id"]).random())  # unrelated to time

    def paginate(self, method, path, *, params=None, json_body=None):
        assert (method, path) == ("GET", "/v1/messages")
        self.calls.append(dict(params))
        source = self.drafts if params.get("drafts") == "true" else self.deliveries
        items = self._ordered([m for m in source if params["start_ts"] <= m["created"] <= params["end_ts"]])
        if params.get("get_tracked_responses") != "true":
            items = [{k: v for k, v in m.items() if k != "tracked_responses"} for m in items]
        offset, restarted = 0, not self.restart_once
        while True:
            page = items[offset:offset + PAGE]
            following = offset + PAGE if offset + PAGE < len(items) else None
            yield {"messages": page, "next": f"v20:{following}" if following is not None else ""}
            if following is None:
                return
            offset = following
            if not restarted and offset + PAGE >= len(items):
                # live: an out-of-range token silently restarts at page 1 (the set shrank between the pages)
                restarted, offset = True, 0
                items = items[PAGE:]


def run(tmp_path: Path, api: FakeApi, messages: dict, *, workers: int = 4, state: dict | None = None):
    data = tmp_path / f"data-{len(list(tmp_path.iterdir()))}"
    (data / "out" / "tables").mkdir(parents=True)
    (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
    component = CommonInterface(data_folder_path=str(data))
    config = load_configuration({"#api_secret": "k", "messages": messages})
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=NOW, max_workers=workers)
    new_state = Messages(config).run(ctx, state or {})
    return Path(component.tables_out_path), new_state


def manifest(tables: Path, name: str) -> dict:
    return json.loads((tables / f"{name}.csv.manifest").read_text())


def primary_key(tables: Path, name: str) -> list[str]:
    return [column["name"] for column in manifest(tables, name)["schema"] if column.get("primary_key")]


def rows(tables: Path, name: str) -> list[dict]:
    with (tables / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch):
    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(messages_module, "PAGE_SIZE", PAGE)
    monkeypatch.setattr(messages_module, "PAGES_PER_CHAIN", 2)


def two_busy_days() -> list[dict]:
    """500 deliveries in the last two days, in a window that reaches 180 days back (the issue's case, smaller)."""
    return [delivery(n, NOW - 60 - n * 345) for n in range(500)]


@pytest.mark.parametrize("order", ["newest", "oldest", "unrelated"])
def test_every_delivery_once_whatever_the_order(tmp_path, order):
    deliveries = two_busy_days()
    api = FakeApi(deliveries, order=order)
    tables, _ = run(tmp_path, api, {"date_from": "170 days ago"})
    got = [row["id"] for row in rows(tables, "messages")]
    assert sorted(got) == sorted(m["id"] for m in deliveries)  # split at page 1 lost all but 10 before
    if order == "newest":
        assert len({(c["start_ts"], c["end_ts"]) for c in api.calls}) > 1, "a proven order still splits"
    else:
        assert len(api.calls) == 1, "an unproven order is followed to the end of its chain"


def test_a_restart_on_the_last_page_writes_each_delivery_once(tmp_path):
    deliveries = [delivery(n, NOW - 100 - n) for n in range(25)]
    api = FakeApi(deliveries, restart_once=True)
    tables, _ = run(tmp_path, api, {"date_from": "10 days ago"}, workers=1)
    got = [row["id"] for row in rows(tables, "messages")]
    assert len(got) == len(set(got)), "a delivery twice in one file"
    assert set(got) == {m["id"] for m in deliveries}


def test_a_chain_writes_each_delivery_once_across_and_within_pages(tmp_path):
    from datasets.messages import LINKS_SPEC, SPEC, write_pages
    from output import TableWriter
    from progress import Progress

    a = delivery(1, NOW - 10)
    a["metrics"]["link:3"] = NOW - 5  # its click is written once too
    b, c, d = (delivery(n, NOW - 10 - n) for n in (2, 3, 4))
    no_id = {"created": NOW - 20, "type": "email"}  # no id: nothing to know it by, so each is written
    pages = [[a, b, a], [c, no_id, no_id], [dict(b), d], [dict(a), {**d, "id": 7}, {**d, "id": "7"}]]
    table, links = TableWriter(tmp_path / "tables", SPEC), TableWriter(tmp_path / "tables", LINKS_SPEC)
    written, _, _ = write_pages(table, (0, 0), pages, Progress("messages", interval=1e9), links)
    table.close()
    links.close()
    assert written == 7
    assert [row["id"] for row in rows(tmp_path / "tables", "messages")] == ["d00001", "d00002", "d00003", "", "",
                                                                            "d00004", "7"]
    assert [(row["message_id"], row["link_id"]) for row in rows(tmp_path / "tables", "message_link_clicks")] == [
        ("d00001", "3")]


def test_link_keys_go_to_a_long_table_never_a_column_per_link(tmp_path):
    deliveries = [delivery(n, NOW - 100 - n) for n in range(30)]
    for n, message in enumerate(deliveries):  # 300 distinct links over 30 deliveries
        for link in range(10 * n, 10 * n + 10):
            message["metrics"][f"link:{link}"] = NOW
            if link % 2:
                message["metrics"][f"human_link:{link}"] = NOW + 1
    tables, state = run(tmp_path, FakeApi(deliveries), {"date_from": "10 days ago"})
    header = list(rows(tables, "messages")[0])
    assert not [column for column in header if "link" in column]
    assert not [column for column in state["columns"]["messages"] if "link" in column]
    clicks = rows(tables, "message_link_clicks")
    assert len(clicks) == 300
    assert clicks[0] == {"message_id": "d00000", "link_id": "0", "clicked": str(NOW), "human_clicked": ""}
    assert clicks[1] == {"message_id": "d00000", "link_id": "1", "clicked": str(NOW), "human_clicked": str(NOW + 1)}
    assert primary_key(tables, "message_link_clicks") == ["message_id", "link_id"]
    assert manifest(tables, "message_link_clicks")["incremental"] is True  # events: upserted like messages


def test_human_metrics_are_timestamps_and_tracked_responses_are_kept(tmp_path):
    answers = {"how-satisfied": {"id": 4, "ts": NOW - 30}}
    deliveries = [delivery(0, NOW - 100, tracked_responses=answers,
                           metrics={"opened": NOW - 50, "human_opened": NOW - 50, "prefetch_opened": NOW - 60})]
    api = FakeApi(deliveries)
    tables, _ = run(tmp_path, api, {"date_from": "10 days ago"})
    assert {c["get_tracked_responses"] for c in api.calls} == {"true"}
    row = rows(tables, "messages")[0]
    assert json.loads(row["tracked_responses"]) == answers
    assert row["metrics_human_opened"] == str(NOW - 50)
    description = manifest(tables, "messages")["table_metadata"]["KBC.description"]
    assert "human_* and prefetch_* too" in description and "counts" not in description
    types = {c["name"]: c["data_type"]["base"]["type"] for c in manifest(tables, "messages")["schema"]}
    assert types["metrics_human_opened"] == types["metrics_prefetch_opened"] == "INTEGER"


def test_drafts_only_when_asked_into_their_own_table(tmp_path):
    sent = [delivery(n, NOW - 100 - n) for n in range(5)]
    drafts = [delivery(100 + n, NOW - 200 - n, metrics={"drafted": NOW - 200 - n}) for n in range(3)]
    api = FakeApi(sent, drafts=drafts)
    tables, _ = run(tmp_path, api, {"date_from": "10 days ago"})
    assert not (tables / "message_drafts.csv").exists()
    assert all("drafts" not in c for c in api.calls)
    api = FakeApi(sent, drafts=drafts)
    tables, _ = run(tmp_path, api, {"date_from": "10 days ago", "drafts": True})
    assert {row["id"] for row in rows(tables, "messages")} == {m["id"] for m in sent}
    assert {row["id"] for row in rows(tables, "message_drafts")} == {m["id"] for m in drafts}
    assert primary_key(tables, "message_drafts") == ["id"]


def test_a_first_backfill_logs_how_far_back_deliveries_were_found(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="datasets.messages")
    deliveries = [delivery(0, NOW - 400 * 86_400), delivery(1, NOW - 100)]
    run(tmp_path, FakeApi(deliveries), {})
    assert "the backfill found deliveries back to 2024-05-11" in caplog.text


def test_a_first_backfill_bounded_by_date_from_logs_it_too_and_a_continued_run_does_not(tmp_path, caplog):
    # Whether deliveries older than six months are served is unknown: a date_from years back is where it shows.
    caplog.set_level(logging.INFO, logger="datasets.messages")
    _, state = run(tmp_path, FakeApi([delivery(1, NOW - 100)]), {"date_from": "2020-01-01", "incremental_output": True})
    assert "the backfill found deliveries back to 2025-06-15" in caplog.text
    caplog.clear()
    run(tmp_path, FakeApi([]), {"date_from": "2020-01-01"})
    assert "the backfill found no deliveries back to 2020-01-01" in caplog.text
    caplog.clear()
    run(tmp_path, FakeApi([delivery(1, NOW - 100)]), {"date_from": "2020-01-01", "incremental_output": True},
        state=state)
    assert "the backfill found" not in caplog.text


def test_per_link_columns_an_earlier_version_wrote_stay_empty(tmp_path):
    # Storage cannot drop a column through a load: state keeps them in the header, and they are never filled again.
    old_columns = ["id", "created", "metrics_link:2", "metrics_human_link:2"]
    message = delivery(0, NOW - 100)
    message["metrics"].update({"link:2": NOW, "human_link:2": NOW, "link:3": NOW})
    tables, state = run(tmp_path, FakeApi([message]), {"date_from": "10 days ago"},
                        state={"columns": {"messages": old_columns}})
    row = rows(tables, "messages")[0]
    assert row["metrics_link_2"] == row["metrics_human_link_2"] == ""
    assert not [column for column in row if column.endswith("link_3")]
    assert state["columns"]["messages"][:4] == old_columns
    assert [(r["link_id"], r["human_clicked"]) for r in rows(tables, "message_link_clicks")] == [("2", str(NOW)),
                                                                                                ("3", "")]


@pytest.mark.parametrize("spec", [messages_module.SPEC, messages_module.DRAFTS_SPEC, messages_module.LINKS_SPEC],
                         ids=lambda spec: spec.name)
def test_every_metric_column_is_described_as_unix_seconds(spec):
    # Issue 20: unix seconds (UTC) on every time column, in the manifest a Storage load reads.
    from output.manifest import TIME_DESCRIPTION, column_description

    times = [key for key in spec.seed_columns
             if key.startswith("metrics_") or key in ("created", "clicked", "human_clicked")]
    assert times
    assert {key: column_description(spec, key, key) for key in times} == {
        key: f"{TIME_DESCRIPTION}." for key in times}
