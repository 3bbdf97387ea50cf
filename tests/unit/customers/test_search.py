"""Customers in search mode against an in-memory fake of the App API: search + attributes, layouts, column
clashes, each person once and with their own attributes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from keboola.component import CommonInterface

from customerio.errors import BadRequestError
from datasets import REGISTRY
from datasets.customers import EVERYONE, Customers, attribute_key
from tests.unit.customers.fakes import PEOPLE, FakeApi, manifest, person, read, run

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
    assert "Customer attribute 'unsubscribed' is named like the column 'unsubscribed'" in caplog.text
    assert "'unsubscribed_2'" in caplog.text and "'devices_2'" in caplog.text
    assert "Customer attribute 'email'" not in caplog.text and "Customer attribute 'id'" not in caplog.text
    assert "Customer attribute 'cio_id'" not in caplog.text


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
    assert "Customer attribute 'email'" not in caplog.text
    assert "Customer attribute 'unsubscribed' is named like the column 'unsubscribed'" in caplog.text


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


def test_people_missing_from_the_attributes_answer_are_asked_again_then_left_out(component, caplog):
    # Issue 10, bug 2: a row with empty attributes would blank the person's attributes in Storage.
    api = FakeApi(PEOPLE[:10])
    api.vanished = {"c000004"}
    with caplog.at_level(logging.WARNING):
        run(api, component)
    _, rows = read(component, "customers")
    assert [row["cio_id"] for row in rows] == [p["cio_id"] for p in PEOPLE[:10] if p["cio_id"] != "c000004"]
    asked = [call[3]["ids"] for call in api.calls_to("/v1/customers/attributes")]
    assert asked[-1] == ["c000004"]  # asked once more, alone
    assert "1 people matched the search but Customer.io returned no attributes" in caplog.text


def test_a_person_missing_for_a_moment_gets_their_attributes_on_the_second_ask(component):
    api = FakeApi(PEOPLE[:10])
    original = api.request_json
    first = {"done": False}

    def flaky(method, path, *, params=None, json_body=None):
        answer = original(method, path, params=params, json_body=json_body)
        if path == "/v1/customers/attributes" and not first["done"]:
            first["done"] = True
            answer["customers"] = [item for item in answer["customers"]
                                   if item["customer"]["identifiers"]["cio_id"] != "c000002"]
        return answer

    api.request_json = flaky
    run(api, component)
    _, rows = read(component, "customers")
    assert [row["plan"] for row in rows] == [p["attributes"]["plan"] for p in PEOPLE[:10]]


def test_attributes_are_never_paired_with_people_by_position(component):
    # Issue 10, bug 2: an answer with a cio_id that was not asked for and as many items as ids asked for.
    people = PEOPLE[:3]
    api = FakeApi(people)
    original = api.request_json
    stranger = person(999, plan="stranger")

    def swapped(method, path, *, params=None, json_body=None):
        answer = original(method, path, params=params, json_body=json_body)
        if path == "/v1/customers/attributes" and "c000002" in json_body["ids"]:
            items = [item for item in answer["customers"] if item["customer"]["identifiers"]["cio_id"] != "c000002"]
            items.insert(1, {"customer": {"attributes": stranger["attributes"], "devices": [],
                                          "identifiers": {"cio_id": stranger["cio_id"]}, "unsubscribed": True}})
            answer["customers"] = items
        return answer

    api.request_json = swapped
    run(api, component)
    _, rows = read(component, "customers")
    by_cio = {row["cio_id"]: row for row in rows}
    assert "stranger" not in {row["plan"] for row in rows}
    assert by_cio["c000001"]["plan"] == people[0]["attributes"]["plan"]
    assert by_cio["c000003"]["plan"] == people[2]["attributes"]["plan"]
    assert "c000002" not in by_cio  # its answer never came: left out, not given someone else's attributes


def test_a_person_listed_on_two_search_pages_is_written_once(component, monkeypatch, caplog):
    # Issue 10, bug 3: the population changes during a long run, so a cio_id reappears on a later page.
    monkeypatch.setattr(Customers, "SEARCH_LIMIT", 10)
    api = FakeApi(PEOPLE[:30])

    def overlapping(method, path, *, params=None, json_body=None):
        for start in (0, 9, 18, 27):  # every later page starts with the last person of the page before
            chunk = api.people[start:start + 10]
            api._record(method, path, {**params, "start": start}, json_body)
            yield {"identifiers": [{"cio_id": p["cio_id"], "id": p["id"], "email": p["email"]} for p in chunk],
                   "next": "" if start == 27 else str(start + 10)}

    api.paginate = overlapping
    with caplog.at_level(logging.INFO):
        run(api, component, attributes_layout="long")
    _, rows = read(component, "customers")
    assert [row["cio_id"] for row in rows] == [p["cio_id"] for p in PEOPLE[:30]]
    _, attributes = read(component, "customer_attributes")
    keys = [(row["cio_id"], row["name"]) for row in attributes]
    assert len(keys) == len(set(keys))
    assert "3 people were listed again" in caplog.text


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
