"""Customers in export mode against an in-memory fake of the App API: polling, failures, expired and broken
downloads, file normalisation."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
from pathlib import Path

import pytest
from keboola.component import CommonInterface

from budget import Budget
from customerio import RateLimiter
from customerio.errors import ExpiredDownloadError, ServerError
from datasets.customers import EVERYONE, Customers, ExportFailedError, normalise_export
from datasets.customers import export as export_module
from tests.unit.customers.fakes import PEOPLE, FakeApi, config, context, read, run

# ------------------------------------------------------------------------------------------------- export mode


def export_csv(rows: list[dict], header: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture()
def fake_time(monkeypatch):
    fake = FakeClock()
    original = export_module.run_export

    def patched(*args, **kwargs):
        return original(*args, **{**kwargs, "sleep": fake.sleep, "clock": fake.clock})

    monkeypatch.setattr(export_module, "run_export", patched)
    return fake


EXPORT_ROWS = [
    {"cio_id": "c1", "id": "1", "email": "a@example.com", "plan": "pro", "city": ""},
    {"cio_id": "c2", "id": "", "email": "b@example.com", "plan": "", "city": "Brno"},
    {"cio_id": "c3", "id": "3", "email": "", "plan": "free", "city": "Praha"},
]


def test_export_end_to_end_normalises_into_the_search_layout(component, fake_time):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "pending", "failed": False, "total": 0}] * 5 + [
        {"id": 77, "status": "done", "failed": False, "total": 3}]
    api.export_file = export_csv(EXPORT_ROWS, ["cio_id", "id", "email", "plan", "city"])
    run(api, component, mode="export", attributes="plan,city,email")
    header, rows = read(component, "customers")
    # the attribute `email` is asked for, but in the wide layout it would only repeat the identifier column
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices", "plan", "city"]
    assert [row["cio_id"] for row in rows] == ["c1", "c2", "c3"]
    assert rows[1] == {"cio_id": "c2", "id": "", "email": "b@example.com", "unsubscribed": "", "devices": "",
                       "plan": "", "city": "Brno"}
    create = api.calls_to("/v1/exports/customers")[0]
    assert create[3] == {"filters": EVERYONE, "attributes": ["plan", "city", "email"]}
    # the wait grows from 2 s by half each time (capped at 30 s)
    assert fake_time.sleeps == [2.0, 3.0, 4.5, 6.75, 10.125, 15.1875]


def test_export_is_checked_every_second_while_the_rate_is_idle_and_less_often_while_it_is_busy(component, fake_time):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "pending", "failed": False, "total": 0}] * 4 + [
        {"id": 77, "status": "done", "failed": False, "total": 3}]
    api.export_file = export_csv(EXPORT_ROWS, ["cio_id", "id", "email"])
    api.rate_limiter = RateLimiter(10.0, clock=lambda: fake_time.now)
    run(api, component, mode="export")
    assert fake_time.sleeps == [2.0, 1.0, 1.0, 1.0, 1.0]  # nothing else sends: a check costs no other dataset anything
    fake_time.sleeps.clear()
    for _ in range(10):  # the other datasets use the whole rate
        api.rate_limiter._sent.append([fake_time.now + 1e6] * 2)  # [ticket, when it left]
    api.export_statuses = [{"id": 77, "status": "pending", "failed": False, "total": 0}] * 4 + [
        {"id": 77, "status": "done", "failed": False, "total": 3}]
    run(api, component, mode="export")
    assert fake_time.sleeps == [2.0, 3.0, 4.5, 6.75, 10.125]


def test_export_poll_interval_is_capped_at_30_seconds_and_the_deadline_is_configurable(component, fake_time):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "pending", "failed": False, "total": 0}]
    with pytest.raises(ExportFailedError) as info:
        run(api, component, mode="export", export_timeout_minutes=5)
    assert "did not finish within 5 minutes" in str(info.value) and "export_timeout_minutes" in str(info.value)
    assert max(fake_time.sleeps) == 30.0
    assert 270 <= fake_time.now <= 300
    assert not (Path(component.tables_out_path) / "customers.csv").exists()


def test_export_long_poll_well_beyond_the_older_40_seconds(component, fake_time):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "pending", "failed": False, "total": 0}] * 130 + [
        {"id": 77, "status": "done", "failed": False, "total": 3}]
    api.export_file = export_csv(EXPORT_ROWS, ["cio_id", "id", "email"])
    run(api, component, mode="export")
    assert fake_time.now > 3600
    assert len(read(component, "customers")[1]) == 3


def test_export_failed_is_a_readable_error(component, fake_time):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "pending", "failed": False},
                           {"id": 77, "status": "failed", "failed": True}]
    with pytest.raises(ExportFailedError) as info:
        run(api, component, mode="export")
    assert "export 77 failed" in str(info.value)


def test_export_expired_url_and_cut_off_download_get_a_fresh_url(component, fake_time, caplog):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "done", "failed": False, "total": 3}]
    api.export_file = export_csv(EXPORT_ROWS, ["cio_id", "id", "email", "plan"])
    api.download_failures = [ExpiredDownloadError("expired"), ServerError("cut off")]
    with caplog.at_level(logging.INFO):
        run(api, component, mode="export", attributes="plan")
    assert api.urls_issued == 3 and len(set(api.downloads)) == 3
    _, rows = read(component, "customers")
    assert [row["plan"] for row in rows] == ["pro", "", "free"]  # the whole file, not the half-written one
    assert "expired; fetching a new one" in caplog.text


def test_export_download_gives_up_after_a_few_fresh_urls(component, fake_time):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "done", "failed": False, "total": 3}]
    api.download_failures = [ExpiredDownloadError("expired")] * 10
    with pytest.raises(ExportFailedError) as info:
        run(api, component, mode="export")
    assert "could not be downloaded" in str(info.value)


def test_export_without_attributes_gives_identifier_columns_and_says_so(component, fake_time, caplog):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "done", "failed": False, "total": 3}]
    api.export_file = export_csv(EXPORT_ROWS, ["cio_id", "id", "email"])
    with caplog.at_level(logging.INFO):
        run(api, component, mode="export")
    header, rows = read(component, "customers")
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices"]
    assert len(rows) == 3
    assert "identifier columns only" in caplog.text
    assert api.calls_to("/v1/exports/customers")[0][3]["attributes"] == []


def test_export_and_search_give_the_same_table(tmp_path, fake_time):
    """The same people through both modes: same header, same identifier and attribute values."""
    people = PEOPLE[:40]
    comps = {}
    for mode in ("search", "export"):
        data = tmp_path / mode
        (data / "out" / "tables").mkdir(parents=True)
        (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
        comps[mode] = CommonInterface(data_folder_path=str(data))
    api = FakeApi(people)
    api.export_statuses = [{"id": 77, "status": "done", "failed": False, "total": 40}]
    rows = [{"cio_id": p["cio_id"], "id": p["id"] or "", "email": p["email"] or "",
             "plan": p["attributes"]["plan"], "city": p["attributes"].get("city", "")} for p in people]
    api.export_file = gzip.compress(b"\xef\xbb\xbf" + export_csv(rows, ["email", "cio_id", "plan", "id", "city"]))
    run(api, comps["search"], attributes="plan,city")
    run(api, comps["export"], attributes="plan,city", mode="export")
    search_header, search_rows = read(comps["search"], "customers")
    export_header, export_rows = read(comps["export"], "customers")
    assert search_header == export_header
    keep = ["cio_id", "id", "email", "plan", "city"]
    assert [{k: r[k] for k in keep} for r in search_rows] == [{k: r[k] for k in keep} for r in export_rows]


def test_normalise_export_reads_columns_by_name_and_skips_rows_without_cio_id(caplog):
    data = ("\ufeffEmail,CIO_ID,customer_id,unsubscribed,Plan,extra\n"
            "a@x,c1,1,true,pro,zzz\n"
            ",,2,false,free,zzz\n"
            "b@x,c3,,0,\"multi\nline\",zzz\n").encode()
    seen = []
    with caplog.at_level(logging.INFO):
        count = normalise_export(io.BytesIO(data), ["plan", "missing"], lambda *args: seen.append(args))
    assert count == 2
    assert seen == [("c1", "1", "a@x", "true", "", {"plan": "pro"}),
                    ("c3", "", "b@x", "false", "", {"plan": "multi\nline"})]
    assert "1 rows without a cio_id" in caplog.text
    assert "extra" in caplog.text and "missing" in caplog.text


def test_normalise_export_empty_file():
    assert normalise_export(io.BytesIO(b""), ["plan"], lambda *args: None) == 0


def test_normalise_export_an_attribute_named_like_an_identifier_reads_its_own_column():
    data = b"cio_id,id,email,plan,email\nc1,1,ident@x,pro,attr@x\n"
    seen = []
    normalise_export(io.BytesIO(data), ["plan", "email"], lambda *args: seen.append(args))
    assert seen == [("c1", "1", "ident@x", "", "", {"plan": "pro", "email": "attr@x"})]
    seen.clear()
    normalise_export(io.BytesIO(b"cio_id,id,email\nc1,1,ident@x\n"), ["email"], lambda *args: seen.append(args))
    assert seen == [("c1", "1", "ident@x", "", "", {"email": "ident@x"})]


def test_export_in_the_long_layout(component, fake_time):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "done", "failed": False, "total": 3}]
    api.export_file = export_csv(EXPORT_ROWS, ["cio_id", "id", "email", "plan", "city"])
    state = run(api, component, mode="export", attributes="plan,city", attributes_layout="long")
    header, rows = read(component, "customers")
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices"] and len(rows) == 3
    _, attrs = read(component, "customer_attributes")
    assert [(r["cio_id"], r["name"], r["value"]) for r in attrs] == [
        ("c1", "plan", "pro"), ("c2", "city", "Brno"), ("c3", "plan", "free"), ("c3", "city", "Praha")]
    assert set(state["columns"]) == {"customers", "customer_attributes"}


# The file as the sandbox writes an export asked for `plan,email,unsubscribed`: the identifiers, then the attributes in
# request order, so the attribute `email` is a second `email` column (here with a value unlike the identifier's).
IDENTIFIER_NAMED_EXPORT = (b"cio_id,id,email,plan,email,unsubscribed\n"
                           b"c1,1,ident1@x,pro,attr1@x,1\n"
                           b"c2,,ident2@x,,,0\n")


def test_export_wide_does_not_repeat_identifier_attributes_but_keeps_unsubscribed(component, fake_time, caplog):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "done", "failed": False, "total": 2}]
    api.export_file = IDENTIFIER_NAMED_EXPORT
    with caplog.at_level(logging.INFO):
        state = run(api, component, mode="export", attributes="plan,email,unsubscribed")
    # the attributes are asked for as configured, whatever the layout
    assert api.calls_to("/v1/exports/customers")[0][3]["attributes"] == ["plan", "email", "unsubscribed"]
    header, rows = read(component, "customers")
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices", "plan", "unsubscribed_2"]
    assert rows == [
        {"cio_id": "c1", "id": "1", "email": "ident1@x", "unsubscribed": "true", "devices": "", "plan": "pro",
         "unsubscribed_2": "1"},
        {"cio_id": "c2", "id": "", "email": "ident2@x", "unsubscribed": "false", "devices": "", "plan": "",
         "unsubscribed_2": "0"}]
    assert state["columns"]["customers"] == ["cio_id", "id", "email", "unsubscribed", "devices", "plan",
                                             "unsubscribed_"]
    assert "customers: the attribute 'unsubscribed' is named like the column 'unsubscribed'" in caplog.text
    assert "customers: the attribute 'email'" not in caplog.text
    assert "not configured attributes" not in caplog.text  # the second email column was read, not left over


def test_export_long_keeps_identifier_attributes_exactly(component, fake_time):
    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "done", "failed": False, "total": 2}]
    api.export_file = IDENTIFIER_NAMED_EXPORT
    run(api, component, mode="export", attributes="plan,email,unsubscribed", attributes_layout="long")
    header, rows = read(component, "customers")
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices"]
    assert [(r["cio_id"], r["email"], r["unsubscribed"]) for r in rows] == [("c1", "ident1@x", "true"),
                                                                            ("c2", "ident2@x", "false")]
    _, attrs = read(component, "customer_attributes")
    assert [(r["cio_id"], r["name"], r["value"]) for r in attrs] == [
        ("c1", "plan", "pro"), ("c1", "email", "attr1@x"), ("c1", "unsubscribed", "1"), ("c2", "unsubscribed", "0")]


def test_an_export_not_ready_when_the_budget_is_spent_is_left_and_the_next_run_waits_for_the_same_one(component,
                                                                                                      fake_time):

    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "pending", "failed": False, "total": 0}]
    ctx = context(api, component)
    ctx.budget = Budget(300.0, clock=fake_time.clock)  # Customer.io prepares it for longer than the whole budget
    state = Customers(config(mode="export", attributes="plan")).run(ctx, {"columns": {"customers": ["cio_id"]}})
    assert fake_time.now <= 300  # no poll past the budget: the run loads the other tables and saves its state
    assert ctx.budget.left == ["customers (export 77 still being prepared by Customer.io: the next run waits for it)"]
    assert not (Path(component.tables_out_path) / "customers.csv").exists()
    assert state["columns"] == {"customers": ["cio_id"]}  # as the last run left them
    assert state["export"]["id"] == 77

    api.export_statuses = [{"id": 77, "status": "done", "failed": False, "total": 3}]
    api.export_file = export_csv(EXPORT_ROWS, ["cio_id", "id", "email", "plan"])
    ctx = context(api, component)
    ctx.budget = Budget(300.0, clock=fake_time.clock)
    state = Customers(config(mode="export", attributes="plan")).run(ctx, state)
    assert len(api.calls_to("/v1/exports/customers")) == 1  # no second export: the first one is downloaded
    assert [row["cio_id"] for row in read(component, "customers")[1]] == ["c1", "c2", "c3"]
    assert "export" not in state and not ctx.budget.left


def test_an_export_left_by_an_earlier_run_past_its_deadline_is_replaced_by_a_new_one(component, fake_time, caplog):

    api = FakeApi([])
    api.export_statuses = [{"id": 77, "status": "pending", "failed": False, "total": 0}] * 2 + [
        {"id": 77, "status": "done", "failed": False, "total": 3}]
    api.export_file = export_csv(EXPORT_ROWS, ["cio_id", "id", "email"])
    ctx = context(api, component)
    pending = {"id": 77, "started": ctx.now - 121 * 60, "request": _request_of(EVERYONE, [])}

    with caplog.at_level(logging.WARNING):
        state = Customers(config(mode="export")).run(ctx, {"export": pending})
    assert "did not finish within 120 minutes (export_timeout_minutes); starting a new one" in caplog.text
    assert len(api.calls_to("/v1/exports/customers")) == 1  # a new export, not a failed run on every later run
    assert len(read(component, "customers")[1]) == 3 and "export" not in state


def _request_of(filters: dict, attributes: list) -> str:
    return hashlib.sha256(json.dumps({"filters": filters, "attributes": attributes}, sort_keys=True).encode()
                          ).hexdigest()[:16]
