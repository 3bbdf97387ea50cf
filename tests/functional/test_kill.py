"""Killed mid-run (SIGKILL), then run again with the state the platform keeps: the last successful run's.

For every dataset: a successful run, new data in the sandbox, a run killed in the middle of the dataset (the sandbox
answers slowly, and the test waits until the request log shows the dataset under way), then a run with the first
run's state. The killed run must leave no out/state.json, and the first run's rows together with the last run's
rows must be exactly what the sandbox holds: nothing lost, nothing twice in one table.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import COMPONENT, ROOT, SECRET, RunResult, assert_secret_absent, make_data_dir, run_component

DATE_FROM = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
SLOW_MS = 250  # sandbox latency while the doomed run is under way


@pytest.fixture(scope="module")
def server():
    # activity_days=29: no activity leaves the 30-day retention while the module runs
    with SandboxServer(SandboxSettings(scenario="test", activity_days=29)) as srv:
        yield srv


def params(**sections) -> dict:
    return {"#api_secret": SECRET, "incremental_output": 1, **sections}


def run(server, base: Path, parameters: dict, state: dict | None = None) -> RunResult:
    result = run_component(make_data_dir(base, parameters, state=state), server.url)
    assert result.code == 0, result.stderr[-3000:]
    assert_secret_absent(SECRET, result)
    return result


def run_and_kill(server, base: Path, parameters: dict, state: dict | None,
                 under_way: Callable[[list[dict]], bool]) -> Path:
    """Start the component, SIGKILL it once `under_way(its requests so far)` holds; return its data folder."""
    data = make_data_dir(base, parameters, state=state)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBC_")}
    env.update({"KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": server.url, "PYTHONUNBUFFERED": "1"})
    first = len(server.request_log)
    server.settings.latency_ms = SLOW_MS
    try:
        with (data / "stdout.txt").open("w") as out, (data / "stderr.txt").open("w") as err:
            proc = subprocess.Popen([sys.executable, str(COMPONENT)], cwd=ROOT, env=env, stdout=out, stderr=err)
            try:
                deadline = time.monotonic() + 60
                while not under_way(list(server.request_log)[first:]):
                    assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before it could be killed"
                    assert time.monotonic() < deadline, "the run never got under way"
                    time.sleep(0.02)
                proc.send_signal(signal.SIGKILL)
            finally:
                if proc.poll() is None and proc.returncode is None:
                    proc.kill()
                proc.wait(timeout=30)
    finally:
        server.settings.latency_ms = 0
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed, it ended with {proc.returncode}"
    assert not (data / "out" / "state.json").exists(), "the killed run wrote state"
    return data


def count(path: str, suffix: str = "") -> Callable[[list[dict]], int]:
    return lambda log: sum(1 for e in log if e["path"].startswith(path) and e["path"].endswith(suffix))


def column(result: RunResult, table: str, name: str) -> list[str]:
    with (result.tables / f"{table}.csv").open(newline="", encoding="utf-8") as fh:
        return [row[name] for row in csv.DictReader(fh)]


def activity_ids(result: RunResult) -> list[str]:
    return [i for path in sorted(result.tables.glob("activity_*.csv")) for i in column(result, path.stem, "id")]


def test_messages_killed_mid_run(server, tmp_path):
    # killed while its first request is answered (slowly): the continuation is one 180-day window now
    config = params(messages={"types": ["email"], "date_from": DATE_FROM, "incremental_output": True,
                              "metrics_lookback_days": 8})
    first = run(server, tmp_path / "first", config)
    server.append("messages", 300)
    run_and_kill(server, tmp_path / "killed", config, first.state, lambda log: count("/v1/messages")(log) >= 1)
    last = run(server, tmp_path / "last", config, state=first.state)

    lower = int(datetime.fromisoformat(DATE_FROM).replace(tzinfo=UTC).timestamp())
    truth = {m["id"] for m in server.workspace.iter_messages("email") if m["created"] >= lower}
    before, after = column(first, "messages", "id"), column(last, "messages", "id")
    assert len(before) == len(set(before)) and len(after) == len(set(after))
    assert set(before) | set(after) == truth
    assert set(after) - set(before), "the appended deliveries were not read"
    assert last.state["messages"]["marks"]["email"] > first.state["messages"]["marks"]["email"]


def test_activities_killed_mid_run(server, tmp_path):
    config = params(activities={"types": [], "mode": "PARSED_DATA", "incremental_output": True})
    first = run(server, tmp_path / "first", config)
    server.append("activities", 300)
    run_and_kill(server, tmp_path / "killed", config, first.state, lambda log: count("/v1/activities")(log) >= 2)
    last = run(server, tmp_path / "last", config, state=first.state)

    truth = {a["id"] for a in server.workspace.iter_activities()}
    before, after = activity_ids(first), activity_ids(last)
    assert len(before) == len(set(before)) and len(after) == len(set(after))
    assert set(before) | set(after) == truth
    assert len(set(after) - set(before)) >= 250, "the appended activities were not read"  # some are by deleted people


def test_customers_killed_mid_run(server, tmp_path):
    config = params(customers={"mode": "search", "attributes": "plan,email"})
    first = run(server, tmp_path / "first", config)
    run_and_kill(server, tmp_path / "killed", config, first.state,
                 lambda log: count("/v1/customers/attributes")(log) >= 2)
    last = run(server, tmp_path / "last", config, state=first.state)

    truth = [p["identifiers"]["cio_id"] for p in server.workspace.iter_people()]
    assert column(last, "customers", "cio_id") == truth
    assert (last.tables / "customers.csv").read_bytes() == (first.tables / "customers.csv").read_bytes()


def test_segment_membership_killed_mid_run(server, tmp_path):
    config = params(segment_membership={"segment_ids": []})
    first = run(server, tmp_path / "first", config)
    run_and_kill(server, tmp_path / "killed", config, first.state,
                 lambda log: count("/v1/segments/", "/membership")(log) >= 2)
    last = run(server, tmp_path / "last", config, state=first.state)

    ws = server.workspace
    truth = [(str(s), c) for s in sorted(x["id"] for x in ws.segments()) for c in ws.segment_member_ids(s)]
    rows = list(zip(column(last, "segment_membership", "segment_id"), column(last, "segment_membership", "cio_id"),
                    strict=True))
    assert rows == truth


def test_campaigns_and_segments_killed_before_completion_write_no_state(server, tmp_path):
    config = params(campaigns=True, segments=True)
    first = run(server, tmp_path / "first", config)
    run_and_kill(server, tmp_path / "killed", config, first.state, lambda log: count("/v1/campaigns")(log) >= 1)
    last = run(server, tmp_path / "last", config, state=first.state)
    for table in ("campaigns", "segments"):
        assert (last.tables / f"{table}.csv").read_bytes() == (first.tables / f"{table}.csv").read_bytes()
    assert column(last, "campaigns", "id") == [str(c["id"]) for c in server.workspace.campaigns()]
