"""Large workspaces in installments: a time budget of seconds (max_run_minutes accepts fractions) against a sandbox
whose messages take several budgets to read. Run after run, each carrying the state of the last successful one:
every run ends inside its budget with exit 0 and one line saying what is left, every run's tables are loaded into
the Storage model, and once the backfill is done Storage holds exactly the sandbox's deliveries, each once. Runs
killed with SIGKILL at random moments in between change nothing of that. Also: the plan line, the up-front refusal
of a snapshot that cannot fit, and the completeness warning.
"""

from __future__ import annotations

import csv
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from keboola.component import CommonInterface

from budget import Budget
from configuration import load_configuration
from customerio import CustomerIoClient, RateLimiter
from datasets import RunContext
from datasets.messages import HISTORY_FLOOR
from datasets.messages import windows as messages_windows
from datasets.metrics import Metrics
from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import COMPONENT, ROOT, SECRET, assert_secret_absent, make_data_dir, run_component
from tests.storage_model import Storage

BUDGET_MINUTES = 0.03  # 1.8 s
# A run may overrun its budget by the pages in flight when it ends and by writing the tables; the process also
# starts Python and reads the configuration before the budget starts.
GRACE_SECONDS = 4.0
MAX_RUNS = 25


@pytest.fixture(scope="module")
def server():
    # 30,000 deliveries over 14 months, at most 10 requests/s, 1,000 per page: about 8 s of requests with the walk
    # back to 2012, several budgets of 1.8 s.
    with SandboxServer(SandboxSettings(scenario="test", messages=30_000, latency_ms=20)) as srv:
        yield srv


def params(**overrides) -> dict:
    return {"#api_secret": SECRET, "incremental_output": 1, "max_run_minutes": BUDGET_MINUTES,
            "messages": {"incremental_output": True, "metrics_lookback_days": 0}, **overrides}


def backfill_left(state: dict) -> bool:
    return bool((state.get("messages") or {}).get("backfill"))


def assert_messages_equal_sandbox(storage: Storage, server) -> None:
    table = storage["messages"]
    assert table.duplicates == 0
    ids = table.values("id")
    assert len(ids) == len(set(ids))
    assert set(ids) == {m["id"] for m in server.workspace.iter_messages()}


def test_a_backfill_larger_than_the_budget_completes_over_runs(server, tmp_path):
    storage, state, runs = Storage(), {}, 0
    while True:
        runs += 1
        assert runs <= MAX_RUNS, "the backfill never finished"
        started = time.monotonic()
        result = run_component(make_data_dir(tmp_path / f"run{runs}", params(), state=state), server.url)
        elapsed = time.monotonic() - started
        assert result.code == 0, result.stderr[-3000:]
        assert_secret_absent(SECRET, result)
        assert elapsed < BUDGET_MINUTES * 60 + GRACE_SECONDS, f"run {runs} took {elapsed:.1f} s"
        storage.load(result.tables)
        state = result.state
        log = result.stdout + result.stderr
        if not backfill_left(state):
            assert "left for the next run" not in log
            break
        assert log.count("left for the next run") == 1, log[-2000:]
        assert "messages: " in log.split("left for the next run", 1)[1]
    assert runs >= 3, f"the workspace fitted {runs} run(s): not larger than the budget"
    assert_messages_equal_sandbox(storage, server)


def test_a_snapshot_runs_beside_an_installment_and_finishes_while_the_backfill_yields(server, tmp_path):
    # Side by side (datasets.runner): customers, a snapshot with an estimate, holds its time at the budget's end and
    # is loaded whole; the messages backfill stops early enough and leaves the rest (a dataset whose turn comes
    # after the budget is spent is not started: tests/unit/test_runner.py).
    state = {"customers": {"columns": {"customers": ["cio_id", "id", "email"]}}}
    result = run_component(make_data_dir(tmp_path, params(campaigns=True, customers={"mode": "search"}), state=state),
                           server.url)
    assert result.code == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    left = [line for line in log.splitlines() if "left for the next run" in line]
    assert len(left) == 1 and "messages: " in left[0] and "customers" not in left[0], left
    assert "Plan: customers:" in log
    for table in ("campaigns", "messages", "customers"):
        assert (result.tables / f"{table}.csv").exists(), table
    with (result.tables / "customers.csv").open(encoding="utf-8", newline="") as f:
        assert sum(1 for _ in csv.reader(f)) - 1 == sum(1 for _ in server.workspace.iter_people())
    assert result.state["customers"] != state["customers"]
    assert result.state["messages"]["backfill"]


def test_runs_killed_at_random_moments_still_end_equal(server, tmp_path):
    chance = random.Random(19)
    storage, state = Storage(), {}
    for attempt in range(MAX_RUNS * 2):
        data = make_data_dir(tmp_path / f"run{attempt}", params(), state=state)
        if attempt % 2 == 0:  # every other run is killed at a random moment of its budget
            env = {k: v for k, v in os.environ.items() if not k.startswith("KBC_")}
            env.update({"KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": server.url})
            proc = subprocess.Popen([sys.executable, str(COMPONENT)], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(chance.uniform(0.2, 2.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            if proc.returncode == -signal.SIGKILL:  # killed: nothing loaded, the state stays the last run's
                assert not (data / "out" / "state.json").exists()
                continue
            assert proc.returncode == 0  # it finished before the signal: as a normal run
            result_tables, new_state = data / "out" / "tables", _state(data)
        else:
            result = run_component(data, server.url)
            assert result.code == 0, result.stderr[-3000:]
            result_tables, new_state = result.tables, result.state
        storage.load(result_tables)
        state = new_state
        if not backfill_left(state):
            break
    else:
        pytest.fail("the backfill never finished")
    assert_messages_equal_sandbox(storage, server)


def _state(data) -> dict:
    import json

    path = data / "out" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_activities_continue_from_the_saved_cursor_over_runs(tmp_path):
    # 2,500 activities in 29 days (all inside the 30-day retention), 100 per page: about 25 pages, 2.5 s at the rate
    # limit, against budgets of 0.6 s.
    settings = SandboxSettings(scenario="test", activities=2500, activity_days=29, latency_ms=20)
    with SandboxServer(settings) as server:
        config = params(messages=None, max_run_minutes=0.01,
                        activities={"mode": "SINGLE_TABLE", "incremental_output": True, "delete": True})
        storage, state, runs = Storage(), {}, 0
        while True:
            runs += 1
            assert runs <= MAX_RUNS, "the backfill never finished"
            if runs == 3:
                server.append("activities", 50)  # new activities arrive between runs: read first, then the rest
                time.sleep(1.5)  # appended records may lie up to a second ahead of the sandbox clock
            result = run_component(make_data_dir(tmp_path / f"run{runs}", config, state=state), server.url)
            assert result.code == 0, result.stderr[-3000:]
            storage.load(result.tables)
            state = result.state
            if not state["activities"].get("resume"):
                break
            assert "activities: all types from a saved cursor" in result.stdout + result.stderr
        assert runs >= 3, f"the activities fitted {runs} run(s): not larger than the budget"
        table = storage["activities_all"]
        assert table.duplicates == 0
        assert set(table.values("id")) == {a["id"] for a in server.workspace.iter_activities(deleted=True)}


def _metrics_run(server, base, section: dict, state: dict, budget: Budget) -> tuple[dict, Path]:
    """One in-process run of the metrics dataset with ``budget`` (see tests/functional/test_metrics.py)."""
    base.mkdir(parents=True)
    make_data_dir(base, {})
    config = load_configuration({"#api_secret": SECRET, "incremental_output": 1, "metrics": section})
    component = CommonInterface(data_folder_path=str(base))
    with CustomerIoClient(SECRET, server.url, rate_limiter=RateLimiter(1000.0)) as client:
        ctx = RunContext(client=client, component=component, tables_dir=Path(component.tables_out_path),
                         incremental_load=True, now=server.workspace.now(), max_workers=2, budget=budget)
        new_state = Metrics(config, clock=server.workspace.now).run(ctx, state)
    return new_state, Path(component.tables_out_path)


def test_metrics_first_reads_continue_entity_by_entity_over_runs(tmp_path, monkeypatch):
    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)
    section = {"incremental_output": True, "lookback_days": 3, "date_from": "20 days ago",
               "entities": ["campaigns", "newsletters", "broadcasts", "transactional_messages"]}
    anchor = int(time.time()) // 3600 * 3600 - 3600 + 300  # five minutes past an hour: the counts hold still
    with SandboxServer(SandboxSettings(rate_limit=0, anchor=anchor, campaigns=12, newsletters=8)) as server:
        whole = Storage()
        whole.load(_metrics_run(server, tmp_path / "whole", section, {}, Budget())[1])
        storage, state = Storage(), {}
        for run in range(1, MAX_RUNS):
            # The budget is spent after 10 requests of this run (a clock that counts requests): the listings and
            # a few entities. It never fits every entity, so the runs take turns over them.
            first = len(server.request_log)
            budget = Budget(1.0, clock=lambda first=first: (len(server.request_log) - first) / 10)
            state, tables = _metrics_run(server, tmp_path / f"run{run}", section, state, budget)
            storage.load(tables)
            count = sum(map(len, state["left"].values()))
            assert budget.left_for_next_run().endswith(f"metrics: {count:,} entit{'y' if count == 1 else 'ies'} not "
                                                       "read.")
            if not any(since is None for entries in state["left"].values() for _eid, since in entries):
                break  # every entity has had its first read
        else:
            pytest.fail("the first reads never finished")
        assert run >= 3, "the budget did not split the first reads"
        # A run with time for everything: continued reads only (the recent buckets), yet Storage then holds
        # everything a single unlimited run holds: no first read was lost.
        state, tables = _metrics_run(server, tmp_path / "last", section, state, Budget())
        assert "left" not in state
        storage.load(tables)
    assert set(storage.tables) == set(whole.tables)
    for name, table in whole.tables.items():
        assert storage[name].duplicates == 0
        assert storage[name].keyed() == table.keyed(), name


def test_a_saved_activities_cursor_customerio_refuses_is_read_again_from_the_newest(people_server, tmp_path):
    now = people_server.workspace.now()
    state = {"activities": {"marks": {"*": now - 3600}, "last_run": now - 3600,
                            "resume": {"*": [{"start": "no-longer-valid", "floor": None}]}}}
    config = params(messages=None, max_run_minutes=5, activities={"mode": "SINGLE_TABLE", "incremental_output": True})
    result = run_component(make_data_dir(tmp_path, config, state=state), people_server.url)
    assert result.code == 0, result.stderr[-3000:]
    assert ("activities: Customer.io no longer accepts the cursor saved by the last run; every type is read again "
            "from the newest activity.") in result.stdout + result.stderr
    ids = [row["id"] for row in result.csv("activities_all")]
    assert len(ids) == len(set(ids))
    assert set(ids) == {a["id"] for a in people_server.workspace.iter_activities()}
    assert "resume" not in result.state["activities"]


# --- the plan, the up-front sentence, the completeness check -----------------------------------------------------
@pytest.fixture()
def people_server():
    with SandboxServer(SandboxSettings(scenario="test", people=1200)) as srv:
        srv.workspace.entities.workspaces[1:] = []  # one workspace: its counts are this workspace's
        yield srv


def test_the_plan_names_each_dataset_with_requests_and_duration(people_server, tmp_path):
    result = run_component(make_data_dir(tmp_path, params(messages=None, customers={"mode": "search"},
                                                          segment_membership={})), people_server.url)
    assert result.code == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    # 1,200 people: 2 search pages + 12 attribute batches
    assert "Plan: customers: about 14 requests, 2 s (1,200 people (GET /v1/workspaces); one snapshot)." in log
    assert "Plan: segment_membership: at most 5 requests" in log
    assert "Customer.io counts" not in log  # complete: no warning


def test_a_snapshot_that_cannot_fit_is_refused_at_the_start(people_server, tmp_path):
    before = len(people_server.request_log)
    result = run_component(make_data_dir(tmp_path, params(messages=None, customers={"mode": "search"},
                                                          max_run_minutes=0.01)), people_server.url)
    assert result.code == 1
    assert (
        "customers cannot finish inside this run's time budget: it needs about 2 s (1,200 people (GET "
        "/v1/workspaces)) and a table loaded whole cannot be split across runs, but max_run_minutes leaves 0.6 s: "
        "read customers by export (customers mode export), narrow the customers filter, or raise max_run_minutes "
        "together with the component's process_timeout.") in result.stdout + result.stderr, result.stderr[-2000:]
    paths = [entry["path"] for entry in list(people_server.request_log)[before:]]
    assert paths == ["/v1/workspaces"], "the run spent requests before refusing"
    assert not (tmp_path / "out" / "state.json").exists()


def test_a_table_that_disagrees_with_customerios_count_is_named_with_both_numbers(people_server, tmp_path):
    people_server.workspace.entities.workspaces[0]["people"] = 1500  # as if 300 people were deleted after counting
    try:
        result = run_component(make_data_dir(tmp_path, params(messages=None, customers={"mode": "search"})),
                               people_server.url)
    finally:
        people_server.workspace.entities.workspaces[0]["people"] = 1200
    assert result.code == 0, result.stderr[-3000:]
    assert ("customers: the table has 1,200 people, Customer.io counts 1,500 in the workspace"
            in result.stdout + result.stderr)


def test_under_full_load_an_events_table_that_cannot_fit_is_refused_at_the_start(people_server, tmp_path):
    # The sandbox's workspace sent 100,202 messages this billing period: at least 101 pages, plus one request per
    # 180-day window back to 2012 (about 30): 13-14 s.
    windows = len(messages_windows(0, None, int(time.time()), HISTORY_FLOOR))
    full = params(incremental_output=0, max_run_minutes=0.1, messages={})
    result = run_component(make_data_dir(tmp_path / "full", full), people_server.url)
    assert result.code == 1
    seconds = math.ceil((windows + 101) / 10)
    assert (f"messages cannot finish inside this run's time budget: it needs at least {seconds} s ({windows} windows, "
            "100,202 deliveries this billing period (GET /v1/workspaces)) and a table loaded whole cannot be split "
            "across runs, but max_run_minutes leaves 6 s: choose Incremental update, so that the backfill continues "
            "over runs, or a later messages date_from, or raise max_run_minutes together with the component's "
            "process_timeout.") in result.stdout + result.stderr, result.stderr[-2000:]
    # Under Incremental update the same history is read in installments: planned, not refused.
    incremental = {**full, "incremental_output": 1}
    result = run_component(make_data_dir(tmp_path / "incremental", incremental), people_server.url)
    assert result.code == 0, result.stderr[-2000:]
    assert (f"Plan: messages: at least {windows + 101} requests, {seconds} s ({windows} windows, 100,202 deliveries "
            "this billing period (GET /v1/workspaces); in installments).") in result.stdout + result.stderr


def test_objects_that_cannot_fit_are_refused_at_the_start_from_the_workspaces_count(tmp_path):
    # 2 types of 3,000 objects: one attributes request per object (GET /v1/workspaces counts them), 10 minutes.
    with SandboxServer(SandboxSettings(scenario="test", people=100, object_types=2, objects_per_type=3000)) as server:
        server.workspace.entities.workspaces[1:] = []
        result = run_component(make_data_dir(tmp_path, params(messages=None, objects=True, max_run_minutes=5)),
                               server.url)
        assert result.code == 1
        assert ("objects cannot finish inside this run's time budget: it needs about 11 min (6,000 objects (GET "
                "/v1/workspaces)) and a table loaded whole cannot be split across runs, but max_run_minutes leaves 5 "
                "min: switch objects off here and read them in a configuration of their own, or raise "
                "max_run_minutes together with the component's process_timeout.") in result.stdout + result.stderr, \
            result.stderr[-2000:]
        assert [entry["path"] for entry in server.request_log] == ["/v1/workspaces"]
        # People related to each object: pages of 100, at least one per object.
        result = run_component(make_data_dir(tmp_path / "relationships",
                                             params(messages=None, object_relationships=True, max_run_minutes=5)),
                               server.url)
        assert result.code == 1
        log = result.stdout + result.stderr
        assert ("Plan: object_relationships: at least 6,061 requests, 11 min (6,000 objects (GET /v1/workspaces); "
                "one snapshot).") in log, log[-2000:]
        assert "object_relationships cannot finish inside this run's time budget: it needs at least 11 min" in log
