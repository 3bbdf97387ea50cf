"""The customers dataset against an in-memory fake of the App API: search + attributes, layouts, column clashes,
export mode (polling, failures, expired and broken downloads, file normalisation)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import random
import threading
import time
from pathlib import Path

import pytest
from keboola.component import CommonInterface

from configuration import load_configuration
from customerio.errors import BadRequestError, ExpiredDownloadError, ServerError
from datasets import REGISTRY, RunContext
from datasets import customers_export as export_module
from datasets.customers import EVERYONE, Customers, attribute_key
from datasets.customers_export import ExportFailedError, normalise_export

# --------------------------------------------------------------------------------------------------- the fake API


def person(n: int, *, with_id: bool = True, with_email: bool = True, **attributes) -> dict:
    cio_id = f"c{n:06d}"
    attrs = {"cio_id": cio_id, "plan": ["free", "pro"][n % 2], **attributes}
    if with_id:
        attrs["id"] = str(n)
    if with_email:
        attrs["email"] = f"p{n}@example.com"
    if n % 3 == 0:
        attrs["city"] = "Praha"
    return {
        "cio_id": cio_id,
        "id": str(n) if with_id else None,
        "email": f"p{n}@example.com" if with_email else None,
        "attributes": attrs,
        "devices": [{"id": f"d{n}", "platform": "ios", "last_used": 1700000000 + n}] if n % 4 == 0 else [],
        "unsubscribed": n % 5 == 0,
    }


class FakeApi:
    """Just enough of the App API for the customers and segment_membership datasets. Thread-safe."""

    def __init__(self, people: list[dict], *, wrapped: bool = True, delay: float = 0.0, seed: int = 0):
        self.people = people
        self.wrapped = wrapped
        self.delay = delay
        self.random = random.Random(seed)
        self.calls: list[tuple[str, str, dict | None, object]] = []
        self.lock = threading.Lock()
        self.vanished: set[str] = set()  # cio_ids the attributes endpoint no longer knows
        self.fail_attributes: Exception | None = None
        self.matches = lambda p: True
        # export behaviour
        self.export_statuses: list[dict] = []
        self.export_file: bytes = b""
        self.download_failures: list[Exception] = []
        self.urls_issued = 0
        self.downloads: list[str] = []

    def _record(self, method, path, params, body):
        with self.lock:
            self.calls.append((method, path, dict(params or {}), body))
            jitter = self.random.random() * self.delay
        if jitter:
            time.sleep(jitter)

    def calls_to(self, path):
        return [call for call in self.calls if call[1] == path]

    # -- client interface --

    def request_json(self, method, path, *, params=None, json_body=None):
        self._record(method, path, params, json_body)
        if (method, path) == ("POST", "/v1/customers/attributes"):
            assert params == {"id_type": "cio_id"}
            ids = json_body["ids"]
            assert 1 <= len(ids) <= 100
            if self.fail_attributes:
                raise self.fail_attributes
            by_cio = {p["cio_id"]: p for p in self.people}
            items = []
            for cio_id in ids:
                if cio_id in self.vanished or cio_id not in by_cio:
                    continue
                p = by_cio[cio_id]
                item = {"id": p["id"], "attributes": p["attributes"], "devices": p["devices"],
                        "identifiers": {"cio_id": p["cio_id"], "id": p["id"], "email": p["email"]},
                        "timestamps": {}, "unsubscribed": p["unsubscribed"]}
                items.append({"customer": item} if self.wrapped else item)
            self.random.shuffle(items)  # the order of the answer must not matter
            return {"customers": items}
        if (method, path) == ("POST", "/v1/exports/customers"):
            return {"export": {"id": 77, "status": "pending", "failed": False, "total": 0}}
        if (method, path) == ("GET", "/v1/exports/77"):
            return {"export": self.export_statuses.pop(0) if len(self.export_statuses) > 1 else self.export_statuses[0]}
        if (method, path) == ("GET", "/v1/exports/77/download"):
            self.urls_issued += 1
            return {"url": f"https://files.example/export-77?sig={self.urls_issued}"}
        raise AssertionError(f"unexpected request {method} {path}")

    def paginate(self, method, path, *, params=None, json_body=None):
        assert (method, path) == ("POST", "/v1/customers")
        limit = params["limit"]
        matched = [p for p in self.people if self.matches(p)]
        start = 0
        while True:
            self._record(method, path, {**params, "start": start}, json_body)
            chunk = matched[start:start + limit]
            start += limit
            more = start < len(matched)
            yield {"identifiers": [{"cio_id": p["cio_id"], "id": p["id"], "email": p["email"]} for p in chunk],
                   "ids": [p["id"] or "" for p in chunk], "next": str(start) if more else ""}
            if not more:
                return

    def download(self, url, fileobj):
        self.downloads.append(url)
        fileobj.seek(0)
        fileobj.truncate()
        if self.download_failures:
            fileobj.write(self.export_file[: len(self.export_file) // 2])  # a half-written file before failing
            raise self.download_failures.pop(0)
        fileobj.write(self.export_file)
        return len(self.export_file)


# ------------------------------------------------------------------------------------------------------- helpers


@pytest.fixture()
def component(tmp_path, monkeypatch):
    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    (data / "out" / "tables").mkdir(parents=True)
    (data / "in").mkdir(parents=True)
    (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
    return CommonInterface(data_folder_path=str(data))


def context(api, component, workers: int = 4) -> RunContext:
    return RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                      incremental_load=True, now=1_700_000_000, max_workers=workers)


def config(**customers):
    return load_configuration({"#api_secret": "k", "customers": {"mode": "search", **customers}})


def run(api, component, state=None, workers=4, **customers) -> dict:
    return Customers(config(**customers)).run(context(api, component, workers), state or {})


def read(component, name) -> tuple[list[str], list[dict]]:
    with open(Path(component.tables_out_path) / f"{name}.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def manifest(component, name) -> dict:
    return json.loads((Path(component.tables_out_path) / f"{name}.csv.manifest").read_text())


PEOPLE = [person(n, with_id=n % 7 != 3, with_email=n % 11 != 5) for n in range(1, 351)]


# ------------------------------------------------------------------------------------------------- search mode


def test_registered_after_segments():
    keys = list(REGISTRY)
    assert keys.index("customers") > keys.index("segments")
    assert keys.index("segment_membership") > keys.index("segments")


def test_everyone_filter_is_cio_id_exists_and_is_valid():
    assert EVERYONE == {"attribute": {"field": "cio_id", "operator": "exists"}}
    from customerio.filters import validate_filter

    validate_filter(EVERYONE)


def test_search_writes_everyone_exactly_once_in_search_order_including_people_without_id(component, monkeypatch):
    monkeypatch.setattr(Customers, "SEARCH_LIMIT", 40)  # 9 search pages, several attribute batches per page
    monkeypatch.setattr(Customers, "BATCH_SIZE", 15)
    api = FakeApi(PEOPLE, delay=0.002)
    state = run(api, component)
    header, rows = read(component, "customers")
    assert [row["cio_id"] for row in rows] == [p["cio_id"] for p in PEOPLE]
    no_id = [row for row in rows if row["id"] == ""]
    assert len(no_id) == sum(1 for p in PEOPLE if p["id"] is None) > 0
    assert all(row["email"] for row in no_id if int(row["cio_id"][1:]) % 11 != 5)
    assert header[:5] == ["cio_id", "id", "email", "unsubscribed", "devices"]
    # The search sends the "everyone" filter and limit; attributes are read by cio_id, never by id.
    search = api.calls_to("/v1/customers")
    assert all(call[3] == {"filter": EVERYONE} and call[2]["limit"] == 40 for call in search)
    asked = [cio for call in api.calls_to("/v1/customers/attributes") for cio in call[3]["ids"]]
    assert sorted(asked) == sorted(p["cio_id"] for p in PEOPLE)
    # state keeps the source keys; the attributes cio_id, id and email only repeat the identifiers: not written
    assert state == {"columns": {"customers": ["cio_id", "id", "email", "unsubscribed", "devices", "city", "plan"]}}


def test_search_uses_the_api_maximum_page_sizes(component):
    api = FakeApi(PEOPLE[:5])
    run(api, component)
    assert api.calls_to("/v1/customers")[0][2]["limit"] == 1000
    assert Customers.BATCH_SIZE == 100


def test_row_values_fixed_columns_and_manifest(component):
    api = FakeApi(PEOPLE[:20])
    run(api, component)
    header, rows = read(component, "customers")
    by_cio = {row["cio_id"]: row for row in rows}
    p4 = by_cio["c000004"]
    assert p4["devices"] == '[{"id":"d4","platform":"ios","last_used":1700000004}]'
    assert by_cio["c000005"]["unsubscribed"] == "true" and by_cio["c000001"]["unsubscribed"] == "false"
    assert by_cio["c000001"]["devices"] == "[]"
    assert by_cio["c000003"]["city"] == "Praha" and by_cio["c000001"]["city"] == ""
    assert by_cio["c000002"]["plan"] == "free" and by_cio["c000003"]["plan"] == "pro"
    schema = {column["name"]: column for column in manifest(component, "customers")["schema"]}
    assert schema["unsubscribed"]["data_type"]["base"]["type"] == "BOOLEAN"
    assert schema["cio_id"]["primary_key"] is True
    # every attribute, sorted by name, after the fixed columns; the identifier attributes are not repeated
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices", "city", "plan"]


def test_wrapped_and_unwrapped_attribute_answers_give_the_same_file(tmp_path, monkeypatch):
    outputs = []
    for wrapped in (True, False):
        for name in ("KBC_STACKID",):
            monkeypatch.delenv(name, raising=False)
        data = tmp_path / f"w{wrapped}"
        (data / "out" / "tables").mkdir(parents=True)
        (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
        comp = CommonInterface(data_folder_path=str(data))
        run(FakeApi(PEOPLE[:120], wrapped=wrapped), comp)
        outputs.append((data / "out" / "tables" / "customers.csv").read_bytes())
    assert outputs[0] == outputs[1]


def test_output_is_byte_identical_whatever_the_thread_timing(tmp_path, monkeypatch):
    monkeypatch.setattr(Customers, "SEARCH_LIMIT", 50)
    outputs = []
    for seed, workers in ((1, 8), (2, 3), (3, 1)):
        data = tmp_path / f"s{seed}"
        (data / "out" / "tables").mkdir(parents=True)
        (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
        comp = CommonInterface(data_folder_path=str(data))
        run(FakeApi(PEOPLE, delay=0.003, seed=seed), comp, workers=workers)
        outputs.append((data / "out" / "tables" / "customers.csv").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_configured_attributes_only_in_configured_order(component):
    api = FakeApi(PEOPLE[:30])
    run(api, component, attributes="plan, city, missing_one")
    header, rows = read(component, "customers")
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices", "plan", "city", "missing_one"]
    assert all(row["missing_one"] == "" for row in rows)


def new_component(path: Path) -> CommonInterface:
    (path / "out" / "tables").mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
    return CommonInterface(data_folder_path=str(path))


def identifier_named_people() -> list[dict]:
    people = [person(1, unsubscribed="yes", devices="attr-devices")]
    people[0]["attributes"]["email"] = "attribute-email@example.com"
    people[0]["attributes"]["id"] = "attribute-id"
    return people


@pytest.mark.parametrize("attributes", ["", "email, plan, id, unsubscribed, cio_id, devices"])
def test_identifier_attributes_are_not_repeated_but_unsubscribed_and_devices_keep_their_columns(
        component, caplog, attributes):
    """Every attribute (empty list) or the same names configured: cio_id, id and email are not written again."""
    api = FakeApi(identifier_named_people())
    with caplog.at_level(logging.INFO):
        state = run(api, component, attributes=attributes)
    header, rows = read(component, "customers")
    row = rows[0]
    # the identifiers keep the plain names and the identifier values, never the attribute's value
    assert row["email"] == "p1@example.com" and row["id"] == "1" and row["cio_id"] == "c000001"
    # the attributes named like the flag and the devices keep their own columns with the clash suffix
    assert row["unsubscribed"] == "false" and row["unsubscribed_2"] == "yes"
    assert row["devices"] == "[]" and row["devices_2"] == "attr-devices"
    assert row["plan"] == "pro"
    if attributes:  # configured order
        assert header == ["cio_id", "id", "email", "unsubscribed", "devices", "plan", "unsubscribed_2", "devices_2"]
    else:  # sorted by source key
        assert header == ["cio_id", "id", "email", "unsubscribed", "devices", "devices_2", "plan", "unsubscribed_2"]
    assert "attribute-email@example.com" not in row.values() and "attribute-id" not in row.values()
    assert not {"cio_id_", "id_", "email_"} & set(state["columns"]["customers"])
    assert "customers: the attribute 'unsubscribed' is named like the column 'unsubscribed'" in caplog.text
    assert "'unsubscribed_2'" in caplog.text and "'devices_2'" in caplog.text
    assert "customers: the attribute 'email'" not in caplog.text and "customers: the attribute 'id'" not in caplog.text
    assert "customers: the attribute 'cio_id'" not in caplog.text


@pytest.mark.parametrize("attributes", ["", "email, plan, id, unsubscribed, cio_id, devices"])
def test_the_long_layout_keeps_the_identifier_attributes_exactly(component, attributes):
    run(FakeApi(identifier_named_people()), component, attributes=attributes, attributes_layout="long")
    header, rows = read(component, "customers")
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices"]
    assert rows == [{"cio_id": "c000001", "id": "1", "email": "p1@example.com", "unsubscribed": "false",
                     "devices": "[]"}]
    _, attrs = read(component, "customer_attributes")
    got = [(r["cio_id"], r["name"], r["value"]) for r in attrs]
    expected = {"cio_id": "c000001", "devices": "attr-devices", "email": "attribute-email@example.com",
                "id": "attribute-id", "plan": "pro", "unsubscribed": "yes"}
    names = [name.strip() for name in attributes.split(",")] if attributes else sorted(expected)
    assert got == [("c000001", name, expected[name]) for name in names]


def test_identifier_columns_kept_from_state_stay_empty_and_are_not_explained(component, caplog):
    """A state from before the rule may list the keys of the identifier attributes: kept, but nothing is written."""
    known = ["cio_id", "id", "email", "unsubscribed", "devices", "cio_id_", "email_", "id_", "plan"]
    with caplog.at_level(logging.INFO):
        state = run(FakeApi(identifier_named_people()), component, state={"columns": {"customers": known}})
    header, rows = read(component, "customers")
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices", "cio_id_2", "email_2", "id_2", "plan",
                      "devices_2", "unsubscribed_2"]
    assert (rows[0]["cio_id_2"], rows[0]["email_2"], rows[0]["id_2"]) == ("", "", "")
    assert rows[0]["email"] == "p1@example.com" and rows[0]["unsubscribed_2"] == "yes"
    assert state["columns"]["customers"][:len(known)] == known
    assert "customers: the attribute 'email'" not in caplog.text
    assert "customers: the attribute 'unsubscribed' is named like the column 'unsubscribed'" in caplog.text


def test_other_clashes_follow_the_output_layer_rule(component):
    """`Email` and `email_` clash with `email` too: every one keeps its own column, deterministically named."""
    people = [person(1)]
    people[0]["attributes"].update({"Email": "capital", "email_": "underscore", "first name": "a", "first_name": "b"})
    run(FakeApi(people), component)
    header, rows = read(component, "customers")
    row = rows[0]
    assert header == ["cio_id", "id", "email", "unsubscribed", "devices", "Email_2", "email_3", "first_name",
                      "first_name_2", "plan"]
    assert (row["email"], row["Email_2"], row["email_3"]) == ("p1@example.com", "capital", "underscore")
    assert (row["first_name"], row["first_name_2"]) == ("a", "b")


def test_attribute_key_is_injective_and_never_a_fixed_name():
    names = ["email", "email_", "email__", "id", "cio_id", "plan", "_email", "Email", "devices", "unsubscribed"]
    keys = [attribute_key(name) for name in names]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & {"cio_id", "id", "email", "unsubscribed", "devices"}
    assert attribute_key("plan") == "plan" and attribute_key("Email") == "Email"


def test_long_layout_agrees_with_wide(tmp_path, monkeypatch):
    monkeypatch.setattr(Customers, "SEARCH_LIMIT", 60)
    comps = {}
    for layout in ("wide", "long"):
        data = tmp_path / layout
        (data / "out" / "tables").mkdir(parents=True)
        (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
        comps[layout] = CommonInterface(data_folder_path=str(data))
        state = run(FakeApi(PEOPLE), comps[layout], attributes_layout=layout)
    assert set(state["columns"]) == {"customers", "customer_attributes"}
    wide_header, wide = read(comps["wide"], "customers")
    narrow_header, narrow = read(comps["long"], "customers")
    attr_header, long_rows = read(comps["long"], "customer_attributes")
    assert narrow_header == ["cio_id", "id", "email", "unsubscribed", "devices"]
    assert attr_header == ["cio_id", "name", "value"]
    assert [{k: row[k] for k in narrow_header} for row in wide] == narrow
    assert wide_header == ["cio_id", "id", "email", "unsubscribed", "devices", "city", "plan"]
    # every non-empty wide attribute cell is one long row with the exact attribute name; the other long rows are the
    # identifier attributes, which the wide layout does not repeat: there they are the identifier columns
    from_wide = {(row["cio_id"], col, row[col]) for row in wide for col in ("city", "plan") if row[col]}
    from_identifiers = {(row["cio_id"], col, row[col]) for row in wide for col in ("cio_id", "id", "email")
                        if row[col]}
    from_long = {(row["cio_id"], row["name"], row["value"]) for row in long_rows}
    assert from_wide | from_identifiers == from_long and not from_wide & from_identifiers
    assert len(long_rows) == len(from_long)
    assert {name for _, name, _ in from_long} == {"cio_id", "id", "email", "city", "plan"}
    schema = manifest(comps["long"], "customer_attributes")
    assert [c["name"] for c in schema["schema"] if c.get("primary_key")] == ["cio_id", "name"]


def test_long_layout_with_configured_attributes_writes_only_those(component):
    api = FakeApi(PEOPLE[:12])
    run(api, component, attributes="city,email", attributes_layout="long")
    _, rows = read(component, "customer_attributes")
    assert {row["name"] for row in rows} == {"city", "email"}
    assert sum(1 for row in rows if row["name"] == "city") == 4  # n = 3, 6, 9, 12


def test_people_missing_from_the_attributes_answer_keep_their_identifiers(component, caplog):
    api = FakeApi(PEOPLE[:10])
    api.vanished = {"c000004"}
    with caplog.at_level(logging.WARNING):
        run(api, component)
    _, rows = read(component, "customers")
    assert [row["cio_id"] for row in rows] == [p["cio_id"] for p in PEOPLE[:10]]
    gone = next(row for row in rows if row["cio_id"] == "c000004")
    assert gone["id"] == "4" and gone["plan"] == "" and gone["unsubscribed"] == ""
    assert "1 people matched the search but Customer.io returned no attributes" in caplog.text


def test_a_user_filter_is_sent_as_is(component):
    api = FakeApi(PEOPLE[:30])
    api.matches = lambda p: p["attributes"]["plan"] == "pro"
    flt = '{"and":[{"segment":{"id":3}},{"attribute":{"field":"plan","operator":"eq","value":"pro"}}]}'
    run(api, component, filters=flt)
    assert api.calls_to("/v1/customers")[0][3] == {"filter": json.loads(flt)}
    _, rows = read(component, "customers")
    assert {row["plan"] for row in rows} == {"pro"} and len(rows) == 15


def test_a_failing_attribute_request_fails_the_run_and_writes_no_table(component, monkeypatch):
    monkeypatch.setattr(Customers, "SEARCH_LIMIT", 20)
    api = FakeApi(PEOPLE)
    api.fail_attributes = BadRequestError("Customer.io refused POST /v1/customers/attributes (400).")
    with pytest.raises(BadRequestError):
        run(api, component)
    assert not (Path(component.tables_out_path) / "customers.csv").exists()
    assert not list(Path(component.tables_out_path).parent.glob(".spool-*"))


def test_nobody_matches_gives_a_header_only_table(component):
    api = FakeApi([])
    state = run(api, component)
    header, rows = read(component, "customers")
    assert rows == [] and header == ["cio_id", "id", "email", "unsubscribed", "devices"]
    assert not api.calls_to("/v1/customers/attributes")
    assert state["columns"]["customers"] == header  # no attributes seen: source keys are the names


def test_columns_from_state_are_kept(component):
    api = FakeApi(PEOPLE[:3])
    run(api, component, state={"columns": {"customers": ["cio_id", "id", "email", "old_attribute"]}})
    header, _ = read(component, "customers")
    assert header[:4] == ["cio_id", "id", "email", "old_attribute"]


def test_memory_stays_bounded_in_flight(component, monkeypatch):
    """At most 2 * max_workers attribute batches are in flight at any moment."""
    monkeypatch.setattr(Customers, "SEARCH_LIMIT", 100)
    monkeypatch.setattr(Customers, "BATCH_SIZE", 10)
    api = FakeApi(PEOPLE, delay=0.002)
    active = {"now": 0, "max": 0}
    original = Customers._read_attributes

    def counting(ctx, ids):
        with api.lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        try:
            return original(ctx, ids)
        finally:
            with api.lock:
                active["now"] -= 1

    monkeypatch.setattr(Customers, "_read_attributes", staticmethod(counting))
    run(api, component, workers=3)
    assert 1 < active["max"] <= 3


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


def test_attribute_items_are_matched_by_cio_id_even_with_a_cio_prefix(component):
    api = FakeApi(PEOPLE[:5])
    original = api.request_json

    def prefixed(method, path, *, params=None, json_body=None):
        answer = original(method, path, params=params, json_body=json_body)
        for item in answer.get("customers", []):
            item["customer"]["identifiers"]["cio_id"] = "cio_" + item["customer"]["identifiers"]["cio_id"]
        return answer

    api.request_json = prefixed
    run(api, component)
    _, rows = read(component, "customers")
    assert [row["plan"] for row in rows] == [p["attributes"]["plan"] for p in PEOPLE[:5]]
