"""Every dataset under the faults of a bad day: the output must be the clean run's, byte for byte.

One sandbox serves the whole module (same anchor, same data). A clean run of a configuration with every dataset is
the baseline; each recoverable fault then runs the same configuration and must produce exactly the same files
(tables and manifests) and the same state. Faults that cannot be recovered must end the run with exit code 1, one
clear sentence naming the endpoint, and no out/state.json (so the next run fetches the same data again).

Timing knobs (environment only): CUSTOMERIO_READ_TIMEOUT makes "slower than the read timeout" cheap to provoke, and
CUSTOMERIO_MAX_RETRY_SECONDS ends the unrecoverable cases after a few seconds instead of ten minutes.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import SECRET, RunResult, assert_secret_absent, make_data_dir, run_component

READ_TIMEOUT = 0.5  # seconds; the `slow` fault sleeps longer than this (a spurious timeout only costs a retry)
SLOW_SECONDS = 0.8
ENV = {"CUSTOMERIO_READ_TIMEOUT": str(READ_TIMEOUT)}
SHORT_BUDGET = {**ENV, "CUSTOMERIO_MAX_RETRY_SECONDS": "2"}

# An absolute start date, so that the clean and the faulted runs ask for the same deliveries (a few windows).
DATE_FROM = (datetime.now(UTC).date() - timedelta(days=4)).isoformat()

EVERY_DATASET = {
    "#api_secret": SECRET,
    "incremental_output": 1,
    "campaigns": True,
    "segments": True,
    "segment_membership": {"segment_ids": [12, 3]},  # two segments: every first request to a path costs a wait
    "customers": {"mode": "search", "attributes": ""},
    "messages": {"types": ["email"], "date_from": DATE_FROM, "incremental_output": True, "metrics_lookback_days": 0},
    "activities": {"types": ["event"], "mode": "PARSED_DATA", "incremental_output": True},
}
EXPORT = {"#api_secret": SECRET, "incremental_output": 1,
          "customers": {"mode": "export", "attributes": "plan,email,First Name"}}


@pytest.fixture(scope="module")
def server():
    # activity_days=29: every activity stays inside the API's 30-day retention while the module runs, so none can
    # drop out between the clean run and a faulted one.
    settings = SandboxSettings(scenario="test", activity_days=29, export_delay=0.3)
    with SandboxServer(settings) as srv:
        yield srv


def run(server, base: Path, parameters: dict, *, faults: dict | None = None, state: dict | None = None,
        env: dict | None = None) -> tuple[RunResult, list[dict]]:
    """Run the component with `faults` active; return the result and this run's part of the request log."""
    first = len(server.request_log)
    server.set_faults(faults or {})
    try:
        result = run_component(make_data_dir(base, parameters, state=state), server.url, extra_env=env or ENV,
                               timeout=240)
    finally:
        server.set_faults({})
    log = list(server.request_log)[first:]
    assert_secret_absent(SECRET, result)
    return result, log


def snapshot(result: RunResult) -> dict[str, bytes]:
    """Every file the run wrote under out/ (state.json without the run's own clock)."""
    files = {}
    for path in sorted((result.data_dir / "out").rglob("*")):
        if path.is_file():
            files[str(path.relative_to(result.data_dir / "out"))] = path.read_bytes()
    if "state.json" in files:
        state = json.loads(files["state.json"])
        state.get("activities", {}).pop("last_run", None)  # the run's clock
        files["state.json"] = json.dumps(state, sort_keys=True).encode()
    return files


def assert_same_output(clean: RunResult, faulted: RunResult) -> None:
    before, after = snapshot(clean), snapshot(faulted)
    assert sorted(after) == sorted(before), "a different set of files"
    different = [name for name in before if before[name] != after[name]]
    assert not different, f"files differ from the clean run: {different}"


def assert_failed_cleanly(result: RunResult, *needles: str) -> str:
    assert result.code == 1, f"exit {result.code}:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
    assert not (result.data_dir / "out" / "state.json").exists(), "a failed run wrote state"
    message = result.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in message, message
    return message


def rows(result: RunResult, table: str) -> list[dict]:
    with (result.tables / f"{table}.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def clean(server, tmp_path_factory):
    """The clean run of every dataset; checked against the sandbox's ground truth once."""
    result, _ = run(server, tmp_path_factory.mktemp("clean"), EVERY_DATASET)
    assert result.code == 0, result.stderr
    ws = server.workspace
    lower = int(datetime.fromisoformat(DATE_FROM).replace(tzinfo=UTC).timestamp())
    expected_messages = [m["id"] for m in ws.iter_messages("email") if m["created"] >= lower]
    assert [row["id"] for row in rows(result, "messages")] == expected_messages
    activity_ids = [row["id"] for path in sorted(result.tables.glob("activity_*.csv")) for row in rows(result, path.stem)]
    assert len(activity_ids) == len(set(activity_ids))
    assert set(activity_ids) == {a["id"] for a in ws.iter_activities() if a["type"] == "event"}
    assert [row["cio_id"] for row in rows(result, "customers")] == [p["identifiers"]["cio_id"] for p in
                                                                     ws.iter_people()]
    membership = [(row["segment_id"], row["cio_id"]) for row in rows(result, "segment_membership")]
    assert membership == [(str(s), c) for s in (12, 3) for c in ws.segment_member_ids(s)]
    assert [row["id"] for row in rows(result, "campaigns")] == [str(c["id"]) for c in ws.campaigns()]
    return result


@pytest.fixture(scope="module")
def clean_export(server, tmp_path_factory):
    result, _ = run(server, tmp_path_factory.mktemp("clean_export"), EXPORT)
    assert result.code == 0, result.stderr
    assert [row["cio_id"] for row in rows(result, "customers")] == [p["identifiers"]["cio_id"] for p in
                                                                     server.workspace.iter_people()]
    return result


# ------------------------------------------------------------------------------------------ recoverable faults

# first_per_path: the first request to every endpoint meets the fault, so every dataset is hit whatever the draws.
RECOVERABLE = {
    "429_bursts_with_retry_after": {"burst_429": {"every": 15, "length": 2, "retry_after": True},
                                    "first_per_path": True},
    "429_bursts_without_retry_after": {"burst_429": {"every": 15, "length": 2, "retry_after": False},
                                       "first_per_path": True},
    "429_for_seconds_on_end": {"long_429_seconds": 4},
    "20_percent_500_502_503": {"error_rate": 0.2, "error_statuses": [500, 502, 503], "first_per_path": True},
    "connections_dropped_mid_response": {"drop_rate": 0.2, "first_per_path": True},
    "slower_than_the_read_timeout": {"slow_rate": 0.05, "slow_seconds": SLOW_SECONDS, "first_per_path": True},
    "200_with_json_cut_off": {"truncated_json_rate": 0.2, "first_per_path": True},
    "200_that_is_not_json": {"non_json_rate": 0.2, "first_per_path": True},
    "empty_first_page_with_next": {"empty_first_page": True},
}
DATASET_ENDPOINTS = {
    "campaigns": ("/v1/campaigns",), "segments": ("/v1/segments",), "customers": ("/v1/customers",),
    "customer attributes": ("/v1/customers/attributes",), "segment_membership": ("/v1/segments/", "/membership"),
    "messages": ("/v1/messages",), "activities": ("/v1/activities",),
    # the plan and the completeness check (src/budget.py): Customer.io's own counts
    "workspace counts": ("/v1/workspaces",), "segment counts": ("/v1/segments/", "/customer_count"),
}


def endpoint_of(path: str) -> str:
    for name, (start, *end) in DATASET_ENDPOINTS.items():
        if path == start or (end and path.startswith(start) and path.endswith(end[0])):
            return name
    return path


@pytest.mark.parametrize("fault", list(RECOVERABLE))
def test_every_dataset_survives_the_fault_with_the_clean_output(fault, server, clean, tmp_path):
    result, log = run(server, tmp_path, EVERY_DATASET, faults=RECOVERABLE[fault])
    assert result.code == 0, result.stderr[-3000:]
    if fault == "empty_first_page_with_next":
        # every chain (each messages window, each activity type, each segment, the search) began with an empty page
        chains = [e for e in log if endpoint_of(e["path"]) in ("messages", "activities", "segment_membership",
                                                                "customers") and "start" not in e["query"]]
        # (a date_from range within one 6-month window is one messages chain unless its first page is full)
        assert {endpoint_of(e["path"]) for e in chains} == {"messages", "activities", "segment_membership", "customers"}
        assert len(chains) >= 5
    elif fault == "429_for_seconds_on_end":
        assert sum(1 for e in log if e["status"] == 429) >= 3, "the long 429 was not retried"
    else:
        hit = {endpoint_of(e["path"]) for e in log if e.get("fault")}
        assert hit == set(DATASET_ENDPOINTS), f"endpoints the fault never hit: {set(DATASET_ENDPOINTS) - hit}"
    assert_same_output(clean, result)


EXPORT_RECOVERABLE = {
    "download_url_expired": {"expired_download_urls": 1},
    "download_cut_off_half_way": {"download_cut_rate": 0.5, "first_per_path": True},
    "bad_day_on_the_export_flow": {"error_rate": 0.2, "drop_rate": 0.1, "truncated_json_rate": 0.1,
                                   "non_json_rate": 0.1, "burst_429": {"every": 5, "length": 1}, "first_per_path": True},
}


@pytest.mark.parametrize("fault", list(EXPORT_RECOVERABLE))
def test_export_flow_survives_the_fault_with_the_clean_output(fault, server, clean_export, tmp_path):
    result, log = run(server, tmp_path, EXPORT, faults=EXPORT_RECOVERABLE[fault])
    assert result.code == 0, result.stderr[-3000:]
    downloads = [e for e in log if e["path"].startswith("/_download/")]
    if fault == "download_url_expired":
        assert [e["status"] for e in downloads] == [403, 200]
    elif fault == "download_cut_off_half_way":
        assert any(e.get("fault") == "download_cut" for e in downloads), "no download was cut"
    else:
        assert any(e.get("fault") for e in log)
    assert_same_output(clean_export, result)


# ---------------------------------------------------------------------------------------- unrecoverable faults


@pytest.mark.parametrize(("faults", "endpoint", "what"), [
    ({"truncated_json_rate": 1.0, "paths": ["/v1/activities"]}, "GET /v1/activities", "broken response"),
    ({"non_json_rate": 1.0, "paths": ["/v1/customers"]}, "POST /v1/customers", "broken response"),
    ({"error_rate": 1.0, "paths": ["/v1/segments"]}, "GET /v1/segments", "unavailable"),
    ({"drop_rate": 1.0, "paths": ["/v1/messages"]}, "GET /v1/messages", "broken response"),
    ({"slow_rate": 1.0, "slow_seconds": SLOW_SECONDS, "paths": ["/v1/campaigns"]}, "GET /v1/campaigns", "timed out"),
    ({"long_429_seconds": 60, "paths": ["/v1/campaigns"]}, "GET /v1/campaigns", "rate limited"),
], ids=["cut_json", "not_json", "5xx", "dropped", "timeouts", "429_beyond_the_budget"])
def test_a_fault_that_outlasts_the_retries_ends_with_a_sentence_and_no_state(faults, endpoint, what, server, clean,
                                                                              tmp_path):
    result, log = run(server, tmp_path, EVERY_DATASET, faults=faults, state=clean.state, env=SHORT_BUDGET)
    assert_failed_cleanly(result, endpoint, what)
    assert len(log) < 200, "the run kept retrying"


@pytest.mark.parametrize(("section", "endpoint"), [
    ({"messages": {"types": ["email"], "date_from": DATE_FROM}}, "GET /v1/messages"),
    ({"activities": {"types": ["event"]}}, "GET /v1/activities"),
    ({"customers": {"mode": "search"}}, "POST /v1/customers"),
    ({"segment_membership": {"segment_ids": [3]}}, "GET /v1/segments/3/membership"),
], ids=["messages", "activities", "customers", "segment_membership"])
def test_a_repeated_cursor_stops_with_an_error_instead_of_looping(section, endpoint, server, clean, tmp_path):
    parameters = {"#api_secret": SECRET, "incremental_output": 1, **section}
    # empty_first_page gives every chain a second page, the page whose `next` then repeats its own cursor
    result, log = run(server, tmp_path, parameters, faults={"repeat_cursor": True, "empty_first_page": True},
                      state=clean.state)
    assert_failed_cleanly(result, endpoint, "already used")
    path = endpoint.split(" ")[1]
    assert sum(1 for e in log if e["path"] == path) <= 20, "the chain was read again and again"


def test_a_failed_export_ends_with_a_sentence_and_no_state(server, clean_export, tmp_path):
    result, log = run(server, tmp_path, EXPORT, faults={"export_failed": True}, state=clean_export.state)
    assert_failed_cleanly(result, "export", "failed")
    assert not any(e["path"].startswith("/_download/") for e in log)


@pytest.mark.parametrize(("faults", "what"), [
    ({"expired_download_urls": 100}, "the link had expired each time"),
    ({"download_cut_rate": 1.0}, "the download failed each time"),
], ids=["every_url_expired", "every_download_cut"])
def test_an_export_that_cannot_be_downloaded_ends_with_a_sentence_and_no_state(faults, what, server, clean_export,
                                                                               tmp_path):
    result, log = run(server, tmp_path, EXPORT, faults=faults, state=clean_export.state,
                      env={**ENV, "CUSTOMERIO_MAX_RETRY_SECONDS": "0.5"})
    message = assert_failed_cleanly(result, "could not be downloaded")
    assert what in message
    assert 1 < len([e for e in log if e["path"].endswith("/download")]) <= 5, "fresh URLs were not fetched"
