"""Customers and segment membership against the sandbox: the real component runs as a process and its CSV output
is compared with the sandbox's ground truth (server.workspace)."""

from __future__ import annotations

import itertools
import json

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import SECRET, assert_secret_absent, make_data_dir, run_component

FIXED = ["cio_id", "id", "email", "unsubscribed", "devices"]
# Customer.io keeps the identifiers as attributes too; the wide layout does not repeat them.
IDENTIFIERS = ("cio_id", "id", "email")


@pytest.fixture(scope="module")
def big():
    """2,500 people: three search pages and 25 attribute batches, so the pipeline really runs concurrently."""
    with SandboxServer(SandboxSettings(scenario="test", people=2500, membership=5000)) as srv:
        yield srv


@pytest.fixture()
def server():
    with SandboxServer(SandboxSettings(scenario="test")) as srv:
        yield srv


def params(**sections) -> dict:
    return {"#api_secret": SECRET, "incremental_output": 1, **sections}


def run(server, tmp_path, name: str, **sections):
    result = run_component(make_data_dir(tmp_path / name, params(**sections)), server.url)
    assert_secret_absent(SECRET, result)
    return result


def truth_people(server) -> list[dict]:
    return list(server.workspace.iter_people())


def identifiers(person: dict) -> dict:
    ident = person["identifiers"]
    return {"cio_id": ident["cio_id"], "id": ident["id"] or "", "email": ident["email"] or ""}


def attribute_of(source_key: str) -> str:
    """Inverse of datasets.customers.attribute_key for the wide layout's source keys."""
    if source_key.rstrip("_") in FIXED and source_key not in FIXED:
        return source_key[:-1]
    return source_key


def wide_attributes(result) -> list[dict]:
    """Per row, {attribute name: value} for the non-empty attribute cells, via the source keys kept in state."""
    keys = result.state["customers"]["columns"]["customers"]
    with (result.tables / "customers.csv").open(newline="", encoding="utf-8") as fh:
        import csv

        reader = csv.reader(fh)
        header = next(reader)
        assert len(header) == len(keys)
        rows = []
        for row in reader:
            rows.append({attribute_of(key): value for key, value in zip(keys, row, strict=True)
                         if key not in FIXED and value != ""})
    return rows


# -------------------------------------------------------------------------------------------------- search mode


def test_search_everyone_exactly_once_and_wide_and_long_agree(big, tmp_path):
    wide = run(big, tmp_path, "wide", customers={"mode": "search"})
    assert wide.code == 0, wide.stderr
    long = run(big, tmp_path, "long", customers={"mode": "search", "attributes_layout": "long"})
    assert long.code == 0, long.stderr

    people = truth_people(big)
    rows = wide.csv("customers")
    # everyone the filter (none: everyone) matches, exactly once, in search order - the email-only people too
    assert [row["cio_id"] for row in rows] == [p["identifiers"]["cio_id"] for p in people]
    assert [{k: row[k] for k in ("cio_id", "id", "email")} for row in rows] == [identifiers(p) for p in people]
    without_id = [row for row in rows if row["id"] == ""]
    assert len(without_id) == sum(1 for p in people if p["id"] is None) > 50
    assert all(row["email"] for row in without_id)
    assert [row["unsubscribed"] for row in rows] == ["true" if p["unsubscribed"] else "false" for p in people]
    assert [json.loads(row["devices"]) for row in rows] == [p["devices"] for p in people]
    # attributes read by cio_id, 100 at a time, never by id
    calls = [e for e in big.request_log if e["path"] == "/v1/customers/attributes"]
    assert {c["query"]["id_type"] for c in calls} == {"cio_id"}
    assert all(c["status"] == 200 for c in calls)
    # every attribute as a column, except the identifier attributes, which only repeat the identifier columns
    header = list(rows[0])
    assert header[:5] == FIXED and {"plan", "mesto", "First_Name", "first_name_2", "Name", "name_2"} <= set(header)
    assert not {"cio_id_2", "id_2", "email_2"} & set(header)
    assert all(p["attributes"]["cio_id"] == p["identifiers"]["cio_id"] for p in people)
    assert sum(1 for p in people if "email" in p["attributes"]) > 1000
    output = wide.stderr + wide.stdout
    assert "Columns 'First Name' and 'first_name' of table customers clash" in output
    assert "'email_'" not in output and "Customer attribute 'email'" not in output
    assert wide_attributes(wide) == [{k: v for k, v in p["attributes"].items() if v != "" and k not in IDENTIFIERS}
                                     for p in people]

    # long: a narrow customers table, and one row per person and attribute with the exact Customer.io names
    assert long.csv("customers") == [{k: row[k] for k in FIXED} for row in rows]
    expected = [(p["identifiers"]["cio_id"], name, value) for p in people for name, value in
                sorted(p["attributes"].items())]
    assert [(r["cio_id"], r["name"], r["value"]) for r in long.csv("customer_attributes")] == expected
    assert {"město", "First Name", "first_name", "名前", *IDENTIFIERS} <= {r["name"] for r in
                                                                        long.csv("customer_attributes")}
    assert set(long.state["customers"]["columns"]) == {"customers", "customer_attributes"}


def test_search_with_a_filter_configured_attributes_and_unwrapped_answers(server, tmp_path):
    server.settings.unwrapped_attributes = True  # the answer shape Airbyte saw live; the sandbox default is wrapped
    flt = {"or": [{"segment": {"id": 7}}, {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}]}
    result = run(server, tmp_path, "filter", customers={"filters": json.dumps(flt), "attributes": "plan, email, vip"})
    assert result.code == 0, result.stderr
    matched = [p for p in truth_people(server) if server.workspace.match_filter(flt, p)]
    assert 0 < len(matched) < len(truth_people(server))
    rows = result.csv("customers")
    # the configured attribute `email` only repeats the identifier column: no column of its own
    assert list(rows[0]) == [*FIXED, "plan", "vip"]
    assert [{k: row[k] for k in ("cio_id", "id", "email")} for row in rows] == [identifiers(p) for p in matched]
    assert [row["email"] for row in rows] == [p["attributes"].get("email", "") for p in matched]
    assert [(row["plan"], row["vip"]) for row in rows] == [
        (p["attributes"].get("plan", ""), p["attributes"]["vip"]) for p in matched]
    search = [e for e in server.request_log if e["path"] == "/v1/customers"]
    assert search and all(e["query"]["limit"] == "1000" for e in search)


def test_an_invalid_filter_fails_before_any_request(server, tmp_path):
    bad = '{"attribute":{"field":"unsubscribed","operator":"eq","value":"true"}}}'
    result = run(server, tmp_path, "bad", customers={"filters": bad})
    assert result.code == 1
    assert "extra closing brace" in result.stderr and "Traceback" not in result.stderr
    assert not [e for e in server.request_log if e["path"].startswith("/v1/customers")]


# -------------------------------------------------------------------------------------------------- export mode


def _first_download_url_expired(server):
    """Serve the first download URL already expired (the sandbox's S3-like 403 'Request has expired')."""
    for index, (method, pattern, handler) in enumerate(server.api.routes):
        if handler.__name__ == "export_download":
            counter = itertools.count()

            def patched(req, raw, _handler=handler, _counter=counter):
                if next(_counter) == 0:
                    ttl = server.settings.download_url_ttl
                    server.settings.download_url_ttl = -60
                    try:
                        return _handler(req, raw)
                    finally:
                        server.settings.download_url_ttl = ttl
                return _handler(req, raw)

            server.api.routes[index] = (method, pattern, patched)
            return
    raise AssertionError("export_download route not found")


def _second_download_cut_off(server, monkeypatch):
    """Cut the body of the second download request half way (chunked body without its end)."""
    original = server.faults.decide
    counter = itertools.count()

    def decide(n, path, download=False):
        decision = original(n, path, download)
        if download and next(counter) == 1:
            decision.download_cut = True
        return decision

    monkeypatch.setattr(server.faults, "decide", decide)


def test_export_slow_job_expired_url_and_cut_download_end_in_the_search_layout(tmp_path, monkeypatch):
    with SandboxServer(SandboxSettings(scenario="test", export_delay=4.5)) as server:
        _first_download_url_expired(server)
        _second_download_cut_off(server, monkeypatch)
        result = run(server, tmp_path, "export",
                     customers={"mode": "export", "attributes": "plan,email,First Name,missing"})
        assert result.code == 0, result.stderr
        log = server.request_log
    people = truth_people(server)
    rows = result.csv("customers")
    # the attribute `email` is exported but not repeated in the wide layout
    assert list(rows[0]) == [*FIXED, "plan", "First_Name", "missing"]
    assert [{k: row[k] for k in ("cio_id", "id", "email")} for row in rows] == [identifiers(p) for p in people]
    assert [(r["plan"], r["First_Name"], r["missing"]) for r in rows] == [
        (p["attributes"].get("plan", ""), p["attributes"].get("First Name", ""), "") for p in people]
    polls = [e for e in log if e["path"].startswith("/v1/exports/") and not e["path"].endswith("/download")]
    assert len(polls) >= 2, "the slow export was polled until done"
    downloads = [e for e in log if e["path"].startswith("/_download/")]
    assert downloads[0]["status"] == 403, "the first URL was expired"
    assert downloads[1].get("fault") == "download_cut", "the second download was cut off half way"
    assert len([e for e in log if e["path"].endswith("/download")]) >= 2, "a fresh URL was fetched"
    assert downloads[-1]["status"] == 200 and "fault" not in downloads[-1]
    assert "expired; fetching a new one" in result.stdout + result.stderr
    create = next(e for e in log if e["path"] == "/v1/exports/customers")
    assert create["method"] == "POST"


def test_export_without_attributes_writes_identifier_columns_and_says_so(server, tmp_path):
    server.settings.export_delay = 0.0
    result = run(server, tmp_path, "ids", customers={"mode": "export"})
    assert result.code == 0, result.stderr
    rows = result.csv("customers")
    assert list(rows[0]) == FIXED
    assert [{k: row[k] for k in ("cio_id", "id", "email")} for row in rows] == [
        identifiers(p) for p in truth_people(server)]
    assert "identifier columns only" in result.stdout + result.stderr


def test_a_failed_export_is_one_readable_sentence(tmp_path):
    with SandboxServer(SandboxSettings(scenario="test", faults={"export_failed": True})) as server:
        result = run(server, tmp_path, "failed", customers={"mode": "export", "attributes": "plan"})
    assert result.code == 1
    assert "customers export" in result.stderr and "failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (result.tables / "customers.csv").exists()


# ------------------------------------------------------------------------------------------- segment membership


def membership_truth(server, segment_ids) -> list[dict]:
    ws = server.workspace
    rows = []
    for sid in segment_ids:
        for j in ws.segment_member_indices(sid):
            cio, pid, email = ws.identity(j)
            rows.append({"segment_id": str(sid), "cio_id": cio, "id": pid or "", "email": email or ""})
    return rows


def test_membership_for_chosen_segments_in_order_and_a_missing_one_skipped(big, tmp_path):
    result = run(big, tmp_path, "chosen", segment_membership={"segment_ids": [12, 3, 999]})
    assert result.code == 0, result.stderr
    assert result.csv("segment_membership") == membership_truth(big, [12, 3])
    assert "segment 999 was not found (404)" in result.stdout + result.stderr
    calls = [e for e in big.request_log if e["path"].endswith("/membership")]
    assert calls and all(e["query"]["limit"] == "30000" for e in calls)
    manifest = json.loads((result.tables / "segment_membership.csv.manifest").read_text())
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == ["segment_id", "cio_id"]


def test_membership_for_all_segments_skips_one_deleted_after_listing(server, tmp_path, monkeypatch):
    ws = server.workspace
    listed = [s["id"] for s in ws.segments()]
    original = ws.segment
    # Segment 12 is still listed but answers 404 when it is read: deleted between listing and reading.
    monkeypatch.setattr(ws, "segment", lambda sid: None if sid == 12 else original(sid))
    result = run(server, tmp_path, "all", segment_membership={"segment_ids": []})
    assert result.code == 0, result.stderr
    expected_ids = sorted(sid for sid in listed if sid != 12)
    assert result.csv("segment_membership") == membership_truth(server, expected_ids)
    assert "segment 12 was not found (404)" in result.stdout + result.stderr
    assert result.state["segment_membership"] == {"columns": {"segment_membership": ["segment_id", "cio_id", "id",
                                                                                      "email"]}}
