"""Benchmark: the real component against the local Customer.io sandbox (`make bench`, `python bench/run.py`).

For every dataset and two scales it
- starts the sandbox as a separate process (`python -m sandbox --scenario bench`, 100 ms +/- 50 ms latency per
  request, 10 requests/s per key), so the component's memory and CPU are measured alone;
- runs `python src/component.py` as a process on a fresh data folder with a one-dataset configuration;
- samples the component's RSS (with any children) every 50 ms, and reads its CPU time and peak RSS from
  `wait4` when it exits;
- counts requests and 429s from the sandbox's request log and records from the output CSV (csv module: values
  may hold newlines);
- prints the table, and writes docs/benchmark.md and docs/benchmark.png.

Each row also has the time from process start to the sandbox's first App API request, and the sandbox's own CPU
is printed with it (it shares the cores, and at segment membership's rates it is what bounds the row).

`--processing` measures our own processing alone (no HTTP): generated message pages through the messages chain
writer (parse, flatten, write on one core), and the sandbox's membership page bodies through the segment
membership dataset's own run. `--pacing` compares flat pacers (exactly 10/s; 9.5/s, the previous limiter) with
our limiter against the sandbox (`--margins 5,20` tries other margins). `--daily` counts the requests of a
continued daily run ("continue since last run", one day of new data). A full run does all of them.

`--targets` runs issue 19's throughput rows against their targets: 300,000 deliveries over 150 days with and
without `date_from`, and 50,000 activities in 4 types (`--repeat N`: the median of N runs each).

`--installments` backfills messages far larger than one run's time budget (`max_run_minutes`), run after run with
the state of the last: how many runs, and the longest against its budget.

`--catalogue` times every declared dataset of a large workspace (500 campaigns x 5 actions, 2,000 newsletters x 2
contents, 50 broadcasts, 50 transactional messages) against the bound of 10 requests/s.

Usage: python bench/run.py [--quick] [--datasets messages,customers,activities,segment_membership]
                           [--processing] [--pacing [--margins MS,...]] [--daily] [--catalogue] [--installments]
                           [--whole [--debug-mode]] [--targets [--repeat N]] [--no-write]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import psutil

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from output import table_name  # src/ is on the path only from here

API_KEY = "sandbox-key"
LATENCY_MS = 100
JITTER_MS = 50
RATE_LIMIT = 10
SAMPLE_SECONDS = 0.05

# Activities: the bench scenario spreads them over 40 days and the API returns the last 30 (about 3/4), minus
# deleted people's (about 4%, not asked for). The sandbox is sized so that about the requested number is returned.
ACTIVITY_TYPES = ["event", "attribute_change", "sent_email", "delivered_email", "opened_email", "clicked_email",
                  "page", "screen", "_o:1:create"]
ACTIVITY_OVERSIZE = 40 / 30 / 0.96

# The most any client can fetch at 10 requests/s with full pages (records per second).
BOUNDS = {
    "messages": 10 * 1000,
    "activities": 10 * 100,
    "customers": 10 * 1000 / 11,  # one search page of 1000 + 10 attribute requests of 100
    "segment_membership": None,  # limited by CPU, not the API: target 150,000 rows/s
}
MEMBERSHIP_TARGET = 150_000

FULL_SCALES = {
    "messages": (300_000, 1_000_000),
    "customers": (10_000, 100_000),
    "activities": (10_000, 100_000),
    "segment_membership": (300_000, 1_000_000),
}
# The shape of the data at a scale, where it is not the bench scenario's (issue 13's rows): 300,000 messages over
# 150 days (a first run without date_from walks back to 2012 all the same), 300,000 members in 4 segments of a
# workspace of 200,000 people.
SHAPES = {
    ("messages", 300_000): {"message_days": 150},
    ("segment_membership", 300_000): {"segments": 4, "people": 200_000},
}
QUICK_SCALES = {
    "messages": (5_000, 20_000),
    "customers": (1_000, 3_000),
    "activities": (1_000, 3_000),
    "segment_membership": (10_000, 50_000),
}
TABLES = {  # dataset -> output tables that hold its records
    "messages": ["messages"],
    "customers": ["customers"],
    "activities": [table_name(f"activity_{t}") for t in ACTIVITY_TYPES],  # as the component names them
    "segment_membership": ["segment_membership"],
}


# --------------------------------------------------------------------------------------------------- the sandbox


class Sandbox:
    """`python -m sandbox` in its own process; stopped with SIGTERM."""

    def __init__(self, **flags: object) -> None:
        args = [sys.executable, "-m", "sandbox", "--scenario", "bench", "--port", "0",
                "--latency-ms", str(LATENCY_MS), "--jitter-ms", str(JITTER_MS), "--rate-limit", str(RATE_LIMIT)]
        for name, value in flags.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("sandbox listening on "):
            self.process.kill()
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.url = line.removeprefix("sandbox listening on ")

    def admin(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def requests(self) -> list[dict]:
        return [entry for entry in self.admin("/_sandbox/requests") if entry["path"].startswith("/v1")]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -------------------------------------------------------------------------------------------- one component run


@dataclass
class Result:
    dataset: str
    scale: int
    records: int = 0
    seconds: float = 0.0
    requests: int = 0
    rate_limited: int = 0
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    first_request_seconds: float = 0.0  # from process start to the sandbox's first App API request
    sandbox_cpu_seconds: float = 0.0  # the sandbox's own CPU during the run (it shares the cores)
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def share(self) -> float | None:
        """Throughput as a share of the bound (membership: of the 150,000 rows/s target)."""
        bound = BOUNDS[self.dataset] or MEMBERSHIP_TARGET
        return self.rate / bound

    @property
    def request_rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def sandbox_flags(dataset: str, scale: int) -> dict:
    return {**_sandbox_size(dataset, scale), **SHAPES.get((dataset, scale), {})}


def _sandbox_size(dataset: str, scale: int) -> dict:
    if dataset == "messages":
        return {"messages": scale}
    if dataset == "customers":
        return {"people": scale}
    if dataset == "activities":
        return {"activities": math.ceil(scale * ACTIVITY_OVERSIZE)}
    if dataset == "segment_membership":
        # About 83,000 members per segment (12 segments at 1M; SHAPES sets 4 segments at 300,000): full
        # 30,000-row pages either way, so the two scales compare memory for a similar shape of data.
        return {"membership": scale, "segments": max(3, scale // 83_000)}
    raise ValueError(dataset)


def component_config(dataset: str) -> dict:
    parameters: dict = {"#api_secret": API_KEY, "api_region": "us", "incremental_output": 1}
    if dataset == "messages":
        parameters["messages"] = {"types": []}
    elif dataset == "customers":
        parameters["customers"] = {"filters": "", "attributes": "", "mode": "search", "attributes_layout": "wide"}
    elif dataset == "activities":
        parameters["activities"] = {"types": ACTIVITY_TYPES, "mode": "PARSED_DATA"}
    elif dataset == "segment_membership":
        parameters["segment_membership"] = {"segment_ids": []}
    return {"parameters": parameters, "action": "run"}


def count_records(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open(encoding="utf-8", newline="") as fh:
        return max(0, sum(1 for _ in csv.reader(fh)) - 1)


def run_component(sandbox: Sandbox, dataset: str, scale: int, workdir: Path, *, config: dict | None = None,
                  state: dict | None = None) -> Result:
    data = workdir / f"{dataset}-{scale}"
    shutil.rmtree(data, ignore_errors=True)
    (data / "in").mkdir(parents=True)
    (data / "out" / "tables").mkdir(parents=True)
    (data / "config.json").write_text(json.dumps(config or component_config(dataset)))
    (data / "in" / "state.json").write_text(json.dumps(state or {}))
    env = {**os.environ, "KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": sandbox.url, "PYTHONUNBUFFERED": "1"}
    sandbox.admin("/_sandbox/requests/reset", "POST")
    log_path = data / "component.log"
    result = Result(dataset, scale)
    sandbox_cpu = sandbox.cpu_seconds()
    with log_path.open("w") as log:
        started_at = time.time()  # the sandbox logs arrivals on the wall clock
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, str(ROOT / "src" / "component.py")], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        watched = psutil.Process(process.pid)
        peak = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            try:
                rss = watched.memory_info().rss
                for child in watched.children(recursive=True):
                    try:
                        rss += child.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(SAMPLE_SECONDS)
        result.seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    result.exit_code = process.returncode
    result.cpu_seconds = usage.ru_utime + usage.ru_stime
    result.peak_rss_mb = max(peak, usage.ru_maxrss * 1024) / 2**20  # ru_maxrss: KiB on Linux
    result.sandbox_cpu_seconds = sandbox.cpu_seconds() - sandbox_cpu
    entries = sandbox.requests()
    result.first_request_seconds = min((entry["t"] for entry in entries), default=started_at) - started_at
    result.requests = len(entries)
    result.rate_limited = sum(1 for entry in entries if entry["status"] == 429)
    result.records = sum(count_records(data / "out" / "tables" / f"{table}.csv") for table in TABLES.get(dataset, ()))
    if result.exit_code:
        result.notes.append(f"exit code {result.exit_code}, see {log_path}")
        print(log_path.read_text()[-3000:], file=sys.stderr)
    else:
        shutil.rmtree(data / "out" / "tables", ignore_errors=True)
    return result


def run_datasets(datasets: list[str], scales: dict, workdir: Path) -> list[Result]:
    results = []
    for dataset in datasets:
        for scale in scales[dataset]:
            with Sandbox(**sandbox_flags(dataset, scale)) as sandbox:
                print(f"{dataset} at {scale:,} ...", flush=True)
                result = run_component(sandbox, dataset, scale, workdir)
            results.append(result)
            print("  " + row_text(result), flush=True)
    return results


# ------------------------------------------------------------------------------------------------- daily runs


DAILY = ("messages", "activities", "customers")  # the datasets with "continue since last run"


def run_daily(datasets: list[str], scales: dict, workdir: Path) -> list[dict]:
    """The requests a scheduled "continue since last run" makes for one day of new data, at the larger scale.

    The state says the last run saw everything up to a day before the sandbox's clock (messages re-read their
    30-day metrics lookback on top). Returns one row per dataset: requests, 429s, records, seconds.
    """
    rows = []
    for dataset in (d for d in datasets if d in DAILY):
        scale = scales[dataset][-1]
        with Sandbox(**sandbox_flags(dataset, scale)) as sandbox:
            mark = int(time.time()) - 86_400  # the sandbox's clock starts at its start

            config = component_config(dataset)
            section = config["parameters"][dataset]
            section["incremental_output"] = True
            if dataset == "customers":
                # The last full read a day ago; the people the day's profile activities name are read again (the
                # bench scenario's attribute changes name random people, a few hundred a day at 100,000 people).
                from datasets.customers.changes import shape_of
                from datasets.customers.settings import CustomersSettings

                shape = shape_of(CustomersSettings(**section))
                state = {dataset: {"changes": {"mark": mark, "full_read_at": mark, "shape": shape}},
                         "table_keys": {"customers": ["cio_id"]}}
            else:
                types = section.get("types") or ["*"]
                state = {dataset: {"marks": dict.fromkeys(types, mark), "last_run": mark}}
            result = run_component(sandbox, dataset, scale, workdir, config=config, state=state)
        what = {"messages": "one day, plus the 30-day metrics lookback",
                "customers": f"one day of changes (a full read: about {scale // 1000 + scale // 100:,} requests)"}
        rows.append({"dataset": dataset, "scale": scale, "requests": result.requests, "429s": result.rate_limited,
                     "records": result.records, "seconds": result.seconds, "what": what.get(dataset, "one day")})
        print(f"daily run, {dataset} at {scale:,}: {result.requests} requests, {result.records:,} records, "
              f"{result.seconds:.1f} s", flush=True)
    return rows


# ------------------------------------------------------------------------------------------------ installments


def run_installments(workdir: Path, quick: bool = False) -> dict:
    """A messages backfill far larger than one run's budget (max_run_minutes), run after run with the state of the
    last: how many runs it takes, and the longest run against its budget (src/budget.py)."""
    scale, minutes = (20_000, 0.05) if quick else (300_000, 0.25)
    config = component_config("messages")
    config["parameters"]["max_run_minutes"] = minutes
    config["parameters"]["messages"].update({"incremental_output": True, "metrics_lookback_days": 0})
    runs: list[Result] = []
    state: dict = {}
    with Sandbox(**sandbox_flags("messages", scale)) as sandbox:
        while len(runs) < 40:
            result = run_component(sandbox, "messages", scale, workdir, config=config, state=state)
            runs.append(result)
            path = workdir / f"messages-{scale}" / "out" / "state.json"
            state = json.loads(path.read_text()) if path.exists() else state
            if result.exit_code or not state.get("messages", {}).get("backfill"):
                break
    figures = {"scale": scale, "budget_seconds": minutes * 60, "runs": len(runs),
               "longest_seconds": max(r.seconds for r in runs), "seconds": sum(r.seconds for r in runs),
               "requests": sum(r.requests for r in runs), "rows_loaded": sum(r.records for r in runs),
               "exit_codes": sorted({r.exit_code for r in runs})}
    print(f"installments: {scale:,} messages with a budget of {figures['budget_seconds']:.0f} s: {len(runs)} runs, "
          f"the longest {figures['longest_seconds']:.1f} s (process start to exit), {figures['seconds']:.0f} s and "
          f"{figures['requests']:,} requests in all, {figures['rows_loaded']:,} rows loaded (a window stopped "
          f"half-way is read again), exit codes {figures['exit_codes']}", flush=True)
    return figures


# ------------------------------------------------------------------------------------------------ the targets


# Issue 19's throughput rows, each with its target share of the bound: 300,000 deliveries over 150 days with and
# without date_from (the walk back to 2012 costs about 30 empty windows), 50,000 activities in 4 types.
TARGET_ROWS = (
    ("messages with date_from", "messages", 300_000, {"message_days": 150}, {"date_from": "150 days ago"}, 0.95),
    ("messages without date_from", "messages", 300_000, {"message_days": 150}, {}, 0.87),
    ("activities in 4 types", "activities", 50_000, {}, {"types": ACTIVITY_TYPES[:4]}, 0.95),
)


def run_targets(workdir: Path, repeat: int = 1) -> list[dict]:
    """Issue 19's rows against their targets (the whole run is `--whole`); with ``repeat``, the median run."""
    rows = []
    for label, dataset, scale, shape, section, target in TARGET_ROWS:
        config = component_config(dataset)
        config["parameters"][dataset].update(section)
        results = []
        for _ in range(repeat):
            with Sandbox(**{**_sandbox_size(dataset, scale), **shape}) as sandbox:
                results.append(run_component(sandbox, dataset, scale, workdir, config=config))
        results.sort(key=lambda r: r.share)
        result = results[len(results) // 2]
        rows.append({"label": label, "dataset": dataset, "scale": scale, "target": target, "share": result.share,
                     "shares": [r.share for r in results], "records": result.records, "seconds": result.seconds,
                     "requests": result.requests, "rate_limited": result.rate_limited,
                     "first_request_seconds": result.first_request_seconds, "peak_rss_mb": result.peak_rss_mb,
                     "exit_code": max(r.exit_code for r in results)})
        print(f"{label} ({scale:,}): {result.records:,} records in {result.seconds:.1f} s, {result.share:.1%} of the "
              f"bound (target {target:.0%}; runs {', '.join(f'{r.share:.1%}' for r in results)}), "
              f"{result.requests} requests, {result.rate_limited} 429s, first request {result.first_request_seconds:.2f} s, "
              f"peak RSS {result.peak_rss_mb:.0f} MB", flush=True)
    return rows


# ------------------------------------------------------------------------------------------------- whole run


WHOLE_RUN_EXPORT_SECONDS = 40.0
# The scales of the messages (with date_from) and activities rows, beside everything else: about 1,000 requests.
WHOLE_RUN_SIZES = {"people": 5_000, "messages": 300_000, "message_days": 150, "activities": 50_000,
                   "membership": 50_000, "segments": 4, "export_delay": WHOLE_RUN_EXPORT_SECONDS}
WHOLE_RUN_QUICK_SIZES = {**WHOLE_RUN_SIZES, "messages": 30_000, "activities": 5_000, "membership": 10_000,
                         "export_delay": WHOLE_RUN_EXPORT_SECONDS / 4}


def whole_run_config() -> dict:
    """Every dataset on; customers by export (its wait is what the other datasets overlap)."""
    from datasets import REGISTRY  # src/ is on the path (above)

    parameters: dict = {**component_config("messages")["parameters"], **{key: True for key in REGISTRY.flags()}}
    parameters.update({"messages": {"types": [], "date_from": "150 days ago"},
                       "activities": {"types": ACTIVITY_TYPES[:4], "mode": "PARSED_DATA"},
                       "customers": {"mode": "export", "attributes": "email"},
                       "segment_membership": {"segment_ids": []}, "metrics": {}})
    return {"parameters": parameters, "action": "run"}


def run_whole(workdir: Path, quick: bool = False, debug: bool = False) -> dict:
    """Every dataset in one run, side by side under the one limiter (src/datasets/runner.py), against the floor
    max(requests / 10, the export's wait). ``debug``: Keboola's debug mode (KBC_COMPONENT_RUN_MODE=debug): peak RSS
    and the size of the recording it leaves in out/files."""
    sizes = WHOLE_RUN_QUICK_SIZES if quick else WHOLE_RUN_SIZES
    config = whole_run_config()
    previous = os.environ.get("KBC_COMPONENT_RUN_MODE")
    if debug:
        os.environ["KBC_COMPONENT_RUN_MODE"] = "debug"
    try:
        with Sandbox(**sizes) as sandbox:
            result = run_component(sandbox, "whole", 0, workdir, config=config)
    finally:
        if previous is None:
            os.environ.pop("KBC_COMPONENT_RUN_MODE", None)
        else:
            os.environ["KBC_COMPONENT_RUN_MODE"] = previous
    files = workdir / "whole-0" / "out" / "files"
    recording = sum(path.stat().st_size for path in files.rglob("*") if path.is_file()) if files.exists() else 0
    floor = max(result.requests / RATE_LIMIT, sizes["export_delay"])
    figures = {"debug": debug, "sizes": sizes, "seconds": result.seconds, "requests": result.requests,
               "floor_seconds": floor, "share": floor / result.seconds if result.seconds else 0.0,
               "rate_limited": result.rate_limited, "peak_rss_mb": result.peak_rss_mb,
               "first_request_seconds": result.first_request_seconds, "recording_bytes": recording,
               "exit_code": result.exit_code}
    print(f"whole run{' (debug mode)' if debug else ''}: {result.requests:,} requests in {result.seconds:.1f} s, "
          f"floor {floor:.1f} s (max(requests / 10, {sizes['export_delay']:.0f} s export)): "
          f"{figures['share']:.0%}; {result.rate_limited} 429s; peak RSS {result.peak_rss_mb:.0f} MB"
          + (f"; recording {recording / 2**20:.1f} MB" if debug else "") + f"; exit {result.exit_code}", flush=True)
    return figures


# ------------------------------------------------------------------------------------------- processing alone


def run_processing(pages: int = 100, repeats: int = 5) -> dict:
    """Messages pages (JSON bytes from the sandbox's generator) through the messages chain writer, on one thread.

    The pass is repeated and the median reported (with the range): on shared cores one pass can be a third slower
    than the next for reasons outside the process.
    """
    from datasets.messages import SPEC, write_pages
    from output import TableWriter
    from progress import Progress
    from sandbox.settings import SandboxSettings
    from sandbox.util import dumps
    from sandbox.workspace import Workspace

    workspace = Workspace(SandboxSettings.for_scenario("bench", messages=pages * 1000))
    top = workspace.messages.total - 1
    bodies = [dumps({"messages": [workspace.message(top - p * 1000 - k) for k in range(1000)],
                     "next": "x" if p + 1 < pages else ""}) for p in range(pages)]

    def one_pass() -> tuple[int, float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            cpu, wall = time.process_time(), time.perf_counter()
            writer = TableWriter(Path(tmp) / "tables", SPEC)
            parsed = (json.loads(body).get("messages") or [] for body in bodies)  # as the client parses a body
            rows, *_ = write_pages(writer, (0, 0), parsed, Progress("messages", interval=1e9))
            result = writer.close()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert rows == result.rows == pages * 1000, (rows, result.rows)
        return rows, cpu, wall

    passes = sorted((one_pass() for _ in range(max(1, repeats))), key=lambda figures: figures[1])
    rows, cpu, wall = passes[len(passes) // 2]
    return {"messages": rows, "cpu_seconds": cpu, "wall_seconds": wall, "rate": rows / cpu,
            "slowest": rows / passes[-1][1], "fastest": rows / passes[0][1], "passes": len(passes),
            "json_bytes": sum(map(len, bodies))}


# ------------------------------------------------------------------------------------------------------ metrics


def run_metrics_scenario(workdir: Path, scenario: str = "catalogue") -> list[dict]:
    """Issue 12: the metrics dataset on the sandbox's `catalogue` workspace (500 campaigns with 5 actions each,
    2,000 newsletters with 2 contents, 50 broadcasts, 50 transactional messages; 100 ms +/- 50 ms latency,
    10 requests/s), a first run (a year of days for campaigns, the 45-day maximum elsewhere) and a continued
    run right after it (7-day lookback). `scenario="test"` gives the same runs on the 7-campaign workspace: the
    peak memory to compare with (flat in the number of entities). Requests are counted in the sandbox's log; the
    share is requests/s against the bound of 10/s. Writes docs/benchmark_metrics.md."""
    args = [sys.executable, "-m", "sandbox", "--scenario", scenario, "--port", "0", "--rate-limit", str(RATE_LIMIT)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    if not line.startswith("sandbox listening on "):
        process.kill()
        raise RuntimeError(f"the sandbox did not start: {line!r}")
    url = line.removeprefix("sandbox listening on ")

    def admin(path: str, method: str = "GET") -> object:
        request = urllib.request.Request(url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    section = {"incremental_output": True, "date_from": "365 days ago", "resolution": "days", "lookback_days": 7}
    figures, state = [], {}
    try:
        for label in ("first run", "continued run"):
            data = workdir / f"metrics-{scenario}-{label.replace(' ', '-')}"
            shutil.rmtree(data, ignore_errors=True)
            (data / "in").mkdir(parents=True)
            (data / "out" / "tables").mkdir(parents=True)
            (data / "config.json").write_text(json.dumps({"parameters": {
                "#api_secret": API_KEY, "incremental_output": 1, "metrics": section}, "action": "run"}))
            (data / "in" / "state.json").write_text(json.dumps(state))
            admin("/_sandbox/requests/reset", "POST")
            env = {**os.environ, "KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": url, "PYTHONUNBUFFERED": "1"}
            started = time.perf_counter()
            with (data / "component.log").open("w") as log:
                child = subprocess.Popen([sys.executable, str(ROOT / "src" / "component.py")], cwd=ROOT, env=env,
                                         stdout=log, stderr=subprocess.STDOUT)
                watched, peak = psutil.Process(child.pid), 0
                while True:
                    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                    if pid:
                        break
                    try:
                        peak = max(peak, watched.memory_info().rss)
                    except psutil.Error:
                        pass
                    time.sleep(SAMPLE_SECONDS)
            seconds = time.perf_counter() - started
            code = os.waitstatus_to_exitcode(status)
            if code:
                print((data / "component.log").read_text()[-3000:], file=sys.stderr)
                raise RuntimeError(f"metrics {label} exited with {code}")
            entries = [e for e in admin("/_sandbox/requests") if e["path"].startswith("/v1")]
            rows = sum(count_records(path) for path in (data / "out" / "tables").glob("*.csv"))
            state = json.loads((data / "out" / "state.json").read_text())
            figure = {"scenario": scenario, "run": label, "seconds": round(seconds, 1), "requests": len(entries),
                      "rate_limited": sum(1 for e in entries if e["status"] == 429),
                      "requests_per_second": round(len(entries) / seconds, 2),
                      "share_of_bound": round(len(entries) / seconds / RATE_LIMIT, 3), "rows": rows,
                      "peak_rss_mb": round(max(peak, usage.ru_maxrss * 1024) / 2**20, 1),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1)}
            figures.append(figure)
            print("  metrics " + json.dumps(figure), flush=True)
            shutil.rmtree(data / "out" / "tables", ignore_errors=True)
    finally:
        process.terminate()
        process.wait(10)
    return figures


def write_metrics_markdown(figures: list[dict]) -> Path:
    lines = ["# Benchmark: metrics (issue 12)", "",
             (f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `python bench/run.py --metrics` on "
             f"{platform.machine()} with {os.cpu_count()} cores. Sandbox `catalogue` scenario: 500 campaigns x 5 "
             "actions, 2,000 newsletters x 2 contents, 50 broadcasts, 50 transactional messages, 100 ms +/- 50 ms "
             "latency, 10 requests/s per key. `test` = the 7-campaign workspace (memory baseline)."), "",
             "| workspace | run | seconds | requests | 429s | requests/s | share of 10/s | rows | peak RSS MB | CPU s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in figures:
        lines.append(f"| {f['scenario']} | {f['run']} | {f['seconds']} | {f['requests']:,} | {f['rate_limited']} | "
                     f"{f['requests_per_second']} | {f['share_of_bound']:.0%} | {f['rows']:,} | {f['peak_rss_mb']} | "
                     f"{f['cpu_seconds']} |")
    path = DOCS / "benchmark_metrics.md"
    DOCS.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def run_membership_processing(rows: int = 300_000, segments: int = 4, people: int | None = None,
                              repeats: int = 3) -> dict:
    """Segment membership without HTTP: the sandbox's page bodies, as bytes, through the dataset's own run
    (Interleaved chains, one consumer parsing and writing), so the figure is the component's alone."""
    from configuration import load_configuration
    from customerio import DeferredPage
    from datasets.base import RunContext
    from datasets.segment_membership import SegmentMembership
    from sandbox.settings import SandboxSettings
    from sandbox.util import dumps
    from sandbox.workspace import Workspace

    workspace = Workspace(SandboxSettings.for_scenario("bench", membership=rows, segments=segments, people=people))
    limit = SegmentMembership.PAGE_LIMIT
    bodies: dict[int, list[bytes]] = {}
    for segment in workspace.segments():
        members = [workspace.identity(j) for j in workspace.segment_member_indices(segment["id"])]
        chunks = [members[i:i + limit] for i in range(0, len(members), limit)] or [[]]
        bodies[segment["id"]] = [dumps({"identifiers": [{"id": p, "email": e, "cio_id": c} for c, p, e in chunk],
                                        "ids": [p or "" for _, p, _ in chunk],
                                        "next": "more" if n + 1 < len(chunks) else "", "segment_id": segment["id"]})
                                 for n, chunk in enumerate(chunks)]

    class PageClient:
        def request_json(self, method: str, path: str, **_: object) -> dict:
            return {"segments": [{"id": sid} for sid in bodies]}

        def paginate(self, method: str, path: str, **_: object):
            for body in bodies[int(path.split("/")[3])]:
                yield DeferredPage(body, "GET", dict)

    def one_pass() -> tuple[int, float, float]:
        from keboola.component import CommonInterface

        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "out" / "tables").mkdir(parents=True)
            (Path(tmp) / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
            component = CommonInterface(data_folder_path=tmp)
            ctx = RunContext(client=PageClient(), component=component, tables_dir=Path(tmp) / "out" / "tables",
                             incremental_load=True, now=workspace.anchor)
            config = load_configuration({"#api_secret": "k", "segment_membership": {"segment_ids": []}})
            logging.getLogger().setLevel(logging.WARNING)  # the dataset's own log lines
            cpu, wall = time.process_time(), time.perf_counter()
            SegmentMembership(config).run(ctx, {})
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            written = ctx.table_results["segment_membership"].rows
        return written, cpu, wall

    passes = sorted((one_pass() for _ in range(max(1, repeats))), key=lambda figures: figures[2])
    written, cpu, wall = passes[len(passes) // 2]
    return {"rows": written, "segments": len(bodies), "cpu_seconds": cpu, "wall_seconds": wall,
            "rate": written / wall, "passes": len(passes)}


# ------------------------------------------------------------------------------------------------------ pacing


def run_membership_processing_rows(quick: bool) -> list[dict]:
    figures = []
    for scale in FULL_SCALES["segment_membership"]:
        flags = sandbox_flags("segment_membership", scale)
        member = run_membership_processing(scale // (10 if quick else 1), flags["segments"], flags.get("people"))
        print(f"processing: segment membership {member['rate']:,.0f} rows/s ({member['rows']:,} rows in "
              f"{member['segments']} segments, {member['wall_seconds']:.2f} s, {member['cpu_seconds']:.2f} CPU s; "
              "no HTTP)", flush=True)
        figures.append(member)
    return figures


class FlatPacer:
    """Even pacing at a flat rate, by planned slots (the previous limiter's design): the comparison for --pacing."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def pacers(margins: tuple[float, ...] = ()) -> list[tuple[str, object]]:
    from customerio import RateLimiter

    ours = [(f"ours, send times + {1000 * m:g} ms", RateLimiter(10.0, margin=m)) for m in margins]
    return [("flat 10/s", FlatPacer(10.0)), ("flat 9.5/s (the previous limiter)", FlatPacer(9.5)),
            ("ours (default margin)", RateLimiter(10.0)), *ours]


def run_pacing(requests_per_client: int = 200, threads: int = 8, margins: tuple[float, ...] = ()) -> dict:
    """Share of 429s and requests/s for flat pacers and our limiter against the sandbox, 8 threads each."""
    import requests as http

    figures = {}
    for label, limiter in pacers(margins):
        with Sandbox() as sandbox:
            session = http.Session()
            adapter = http.adapters.HTTPAdapter(pool_maxsize=threads)
            session.mount("http://", adapter)
            remaining = [requests_per_client]
            lock = threading.Lock()

            def worker(limiter=limiter, remaining: list = remaining, lock: threading.Lock = lock,
                       session: http.Session = session, url: str = sandbox.url) -> None:
                while True:
                    with lock:
                        if remaining[0] <= 0:
                            return
                        remaining[0] -= 1
                    limiter.acquire()
                    session.get(url + "/v1/segments", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)

            started = time.perf_counter()
            pool = [threading.Thread(target=worker) for _ in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            seconds = time.perf_counter() - started
            entries = sandbox.requests()
            session.close()
        limited = sum(1 for entry in entries if entry["status"] == 429)
        figures[label] = {"requests": len(entries), "rate_limited": limited, "share": limited / len(entries),
                          "rate": len(entries) / seconds}
        print(f"pacing, {label}: {len(entries)} requests at {len(entries) / seconds:.2f}/s, {limited} answered 429 "
              f"({100 * limited / len(entries):.1f}%)", flush=True)
    return figures


# ----------------------------------------------------------------------------------------------------- catalogue

CATALOGUE_SIZES = {"campaigns": 500, "actions_per_campaign": 5, "newsletters": 2000, "contents_per_newsletter": 2,
                   "broadcasts": 50, "transactional": 50}
CATALOGUE_QUICK_SIZES = {"campaigns": 50, "actions_per_campaign": 5, "newsletters": 200, "contents_per_newsletter": 2,
                         "broadcasts": 10, "transactional": 10}


def run_catalogue(quick: bool = False) -> dict:
    """The whole catalogue (every declared dataset) of a large workspace, against the bound of 10 requests/s."""
    from datasets import REGISTRY

    sizes = CATALOGUE_QUICK_SIZES if quick else CATALOGUE_SIZES
    with tempfile.TemporaryDirectory(prefix="cio-bench-catalogue-") as tmp, \
            Sandbox(scenario="catalogue", **sizes) as sandbox:
        data = Path(tmp)
        (data / "in").mkdir()
        (data / "out" / "tables").mkdir(parents=True)
        parameters = {"#api_secret": API_KEY, "incremental_output": 1, **dict.fromkeys(REGISTRY.flags(), True)}
        (data / "config.json").write_text(json.dumps({"parameters": parameters, "action": "run"}))
        (data / "in" / "state.json").write_text("{}")
        env = {**os.environ, "KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": sandbox.url, "PYTHONUNBUFFERED": "1"}
        sandbox.admin("/_sandbox/requests/reset", "POST")
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, str(ROOT / "src" / "component.py")], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        errors = process.stderr.read()
        entries = sandbox.requests()
        rows = sum(count_records(path) for path in (data / "out" / "tables").glob("*.csv"))
    code = os.waitstatus_to_exitcode(status)
    figures = {"sizes": sizes, "seconds": seconds, "requests": len(entries), "rows": rows,
               "rate": len(entries) / seconds, "bound_seconds": len(entries) / RATE_LIMIT,
               "rate_limited": sum(1 for entry in entries if entry["status"] == 429),
               "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_seconds": usage.ru_utime + usage.ru_stime, "exit": code}
    print(f"catalogue ({', '.join(f'{k} {v:,}' for k, v in sizes.items())}): {rows:,} rows, {len(entries):,} requests "
          f"in {seconds:.1f} s = {figures['rate']:.2f} requests/s ({100 * figures['rate'] / RATE_LIMIT:.0f}% of the "
          f"10/s bound, which needs {figures['bound_seconds']:.0f} s), {figures['rate_limited']} answered 429, peak "
          f"RSS {figures['peak_rss_mb']:.0f} MB, {figures['cpu_seconds']:.1f} CPU s, exit {code}", flush=True)
    if code:
        print(errors[-3000:], file=sys.stderr)
    return figures


# ------------------------------------------------------------------------------------------------------ output


HEADER = ("dataset", "scale", "records", "seconds", "records/s", "share of bound", "requests", "requests/s", "429s",
          "peak RSS MB", "CPU s", "first request s")


def row_cells(r: Result) -> list[str]:
    share = f"{100 * r.share:.0f}%" if BOUNDS[r.dataset] else f"{100 * r.share:.0f}% of {MEMBERSHIP_TARGET // 1000}k/s"
    return [r.dataset, f"{r.scale:,}", f"{r.records:,}", f"{r.seconds:.1f}", f"{r.rate:,.0f}", share,
            f"{r.requests:,}", f"{r.request_rate:.2f}", f"{r.rate_limited}", f"{r.peak_rss_mb:.0f}",
            f"{r.cpu_seconds:.1f}", f"{r.first_request_seconds:.2f}"]


def row_text(r: Result) -> str:
    return "  ".join(f"{h}={c}" for h, c in zip(HEADER, row_cells(r), strict=True)) + (
        f"  sandbox CPU s={r.sandbox_cpu_seconds:.1f}") + (f"  ({'; '.join(r.notes)})" if r.notes else "")


def print_table(results: list[Result]) -> None:
    rows = [list(HEADER), *(row_cells(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"arch": platform.machine(), "cores": os.cpu_count(), "cpu": model or platform.processor() or "unknown",
            "memory_gb": psutil.virtual_memory().total / 2**30, "python": platform.python_version(),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def write_markdown(results: list[Result], processing: dict | None, pacing: dict | None, quick: bool,
                   daily: list[dict] | None = None) -> Path:
    m = machine()
    lines = ["# Benchmark", "",
             (f"Generated by `python bench/run.py{' --quick' if quick else ''}` on {m['date']}: {m['arch']}, "
             f"{m['cores']} cores ({m['cpu']}), {m['memory_gb']:.0f} GB, Python {m['python']}. The sandbox "
             f"(`python -m sandbox --scenario bench`, {LATENCY_MS} ms ± {JITTER_MS} ms latency per request, "
             f"{RATE_LIMIT} requests/s) runs in its own process on the same cores; each row is one run of "
             "`src/component.py` as a process, from start to exit."), ""]
    if results:
        lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row_cells(r)) + " |" for r in results]
        lines += ["",
                  ("- Bound: the most any client can fetch at 10 requests/s with full pages: messages 10,000/s "
                  "(1,000 per request), activities 1,000/s (100 per request), customers about 909/s (a search page of "
                  "1,000 plus 10 attribute requests of 100). Segment membership is limited by CPU, not the API: its "
                  "share is of the 150,000 rows/s target."),
                  ("- The bench scenario keeps Customer.io's empty-page-with-`next` quirk on every 50th page of a "
                  "messages, activities or membership chain (the test scenario uses every 7th/5th/3rd page to "
                  "exercise it); such pages and the last, partial page of each chain or window cost requests "
                  "without records, and so does each 6-month window of a first messages run back to 2012 (about 30). "
                  "`requests/s` shows how close the component keeps to its own pacing of about 9.8/s (the recorded "
                  "send times plus a 20 ms margin, widened after a 429)."),
                  ("- Memory: peak RSS is bounded by what is in flight, not by the data: at most 8 message windows "
                  "of 1,000, 3 search pages and 16 attribute batches, or one parsed membership page of 30,000 rows "
                  "(about 13 MB) with at most 4 more waiting as bytes (about 3 MB each: 4 segments at once, each "
                  "fetching its next page once its last one is parsed). The component pins glibc's mmap threshold (src/memory.py) so that freed "
                  "page buffers go back to the system instead of piling up in the heap."),
                  "- Activities: all 9 types selected (one chain each). Records are rows of the output CSV files.",
                  ""]
    if daily:
        lines += [("A continued daily run (\"continue since last run\", one day of new data since the last run), at the "
                  "larger scale:"), "", "| dataset | scale | reads | requests | 429s | records | seconds |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {d['dataset']} | {d['scale']:,} | {d['what']} | {d['requests']} | {d['429s']} | "
                  f"{d['records']:,} | {d['seconds']:.1f} |" for d in daily]
        lines += [""]
    if processing:
        lines += [(f"Processing alone (parse, flatten, write; no HTTP; one core): **{processing['rate']:,.0f} "
                  f"messages/s** (the median of {processing['passes']} passes, {processing['slowest']:,.0f} to "
                  f"{processing['fastest']:,.0f}; {processing['messages']:,} messages, "
                  f"{processing['cpu_seconds']:.2f} CPU s, {processing['json_bytes'] / processing['messages']:.0f} "
                  "bytes of JSON each; "
                  "`python bench/run.py --processing`)."), ""]
        for member in processing.get("membership", []):
            lines += [(f"Segment membership alone (the sandbox's page bodies through the dataset's run, no HTTP): "
                       f"**{member['rate']:,.0f} rows/s** ({member['rows']:,} rows in {member['segments']} segments, "
                       f"{member['wall_seconds']:.2f} s, {member['cpu_seconds']:.2f} CPU s)."), ""]
    if pacing:
        lines += [("Pacing against the sandbox (8 threads, GET /v1/segments, no retries; `python bench/run.py "
                  "--pacing`):"), ""]
        lines += [f"- {label}: {f['requests']} requests at {f['rate']:.2f}/s, {f['rate_limited']} answered 429 "
                  f"({100 * f['share']:.1f}%)" for label, f in pacing.items()]
        lines += [""]
    if results:
        lines += ["![throughput and memory](benchmark.png)", ""]
    lines += [*runs_section(), ""]
    path = DOCS / "benchmark.md"
    path.write_text("\n".join(lines))
    return path


# ----------------------------------------------------------------------------- whole run and installments in docs


RUNS_JSON = DOCS / "benchmark_runs.json"  # the last --whole and --installments figures (a full bench keeps them)
RUNS_BEGIN, RUNS_END = "<!-- runs -->", "<!-- /runs -->"


def save_runs(**figures: dict) -> None:
    saved = json.loads(RUNS_JSON.read_text()) if RUNS_JSON.exists() else {}
    date = machine()["date"]
    saved.update({key: [{**row, "date": date} for row in value] if isinstance(value, list) else {**value, "date": date}
                  for key, value in figures.items()})
    RUNS_JSON.write_text(json.dumps(saved, indent=1) + "\n")
    path = DOCS / "benchmark.md"
    text = path.read_text() if path.exists() else "# Benchmark\n"
    section = "\n".join(runs_section())
    if RUNS_BEGIN in text:
        text = text[:text.index(RUNS_BEGIN)] + section + text[text.index(RUNS_END) + len(RUNS_END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    redraw_chart()
    print(f"wrote {path}, {RUNS_JSON} and the chart")


def runs_section() -> list[str]:
    saved = json.loads(RUNS_JSON.read_text()) if RUNS_JSON.exists() else {}
    if not saved:
        return []
    lines = [RUNS_BEGIN, "## Issue 19's targets, a whole run, debug mode and installments", ""]
    for key, label in (("whole", "Whole run"), ("whole_debug", "Whole run in debug mode")):
        f = saved.get(key)
        if not f:
            continue
        sizes = f["sizes"]
        lines += [(f"- **{label}** (`python bench/run.py --whole{' --debug-mode' if key == 'whole_debug' else ''}`, "
                   f"{f['date']}): every dataset on, customers by export with a {sizes['export_delay']:.0f} s export "
                   f"({sizes['people']:,} people), {sizes['messages']:,} messages over {sizes['message_days']} days "
                   f"(date_from), {sizes['activities']:,} activities, {sizes['membership']:,} memberships and the "
                   f"bench catalogue: {f['requests']:,} requests in {f['seconds']:.1f} s, "
                   f"**{f['share']:.0%} of the floor** max(requests / 10, the export's wait) = "
                   f"{f['floor_seconds']:.1f} s; {f['rate_limited']} 429s; peak RSS {f['peak_rss_mb']:.0f} MB"
                   + (f"; the recording in out/files {f['recording_bytes'] / 2**20:.1f} MB" if key == "whole_debug"
                      else "") + ".")]
    rows = saved.get("targets")
    if rows:
        date = rows[0].get("date", "")
        lines.append(f"- **Issue 19's throughput rows** (`python bench/run.py --targets --repeat 3`, {date}; the "
                     "median run of each, every run's share in brackets):")
        for r in rows:
            runs = ", ".join(f"{share:.1%}" for share in r["shares"])
            lines.append(f"  - {r['label']} ({r['scale']:,} in the sandbox): {r['records']:,} records in "
                         f"{r['seconds']:.1f} s, **{r['share']:.1%} of the bound** (target {r['target']:.0%}; {runs}), "
                         f"{r['requests']} requests, {r['rate_limited']} 429s, peak RSS {r['peak_rss_mb']:.0f} MB.")
    f = saved.get("installments")
    if f:
        lines += [(f"- **Installments** (`python bench/run.py --installments`, {f['date']}): a messages backfill of "
                   f"{f['scale']:,} deliveries with a budget of {f['budget_seconds']:.0f} s: {f['runs']} runs, the "
                   f"longest {f['longest_seconds']:.1f} s (process start to exit), {f['seconds']:.0f} s and "
                   f"{f['requests']:,} requests in all, {f['rows_loaded']:,} rows loaded (a window stopped half-way "
                   f"is read again), exit codes {f['exit_codes']}.")]
    return [*lines, "", RUNS_END]


def write_chart(results: list[Result]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r.dataset for r in results))
    fig, (left, right, issue19) = plt.subplots(1, 3, figsize=(18, 4.5))
    width = 0.38
    for position, label in enumerate(("smaller scale", "larger scale")):
        shares = []
        for dataset in datasets:
            runs = sorted((r for r in results if r.dataset == dataset), key=lambda r: r.scale)
            shares.append(100 * runs[position].share if position < len(runs) else 0)
        bars = left.bar([i + (position - 0.5) * width for i in range(len(datasets))], shares, width, label=label)
        left.bar_label(bars, fmt="%.0f%%", fontsize=8)
    left.axhline(90, color="grey", linestyle="--", linewidth=1)
    left.set_xticks(range(len(datasets)), [d.replace("segment_membership", "membership*") for d in datasets])
    left.set_ylabel("throughput, % of the bound")
    left.set_title("Throughput (end to end) as a share of the bound")
    left.legend(loc="lower right", fontsize=8)
    left.set_ylim(0, max(120, 10 + 100 * max(r.share for r in results)))
    left.text(0.01, 0.97, "* membership: % of 150,000 rows/s; dashed: 90%", transform=left.transAxes, fontsize=7,
              va="top")
    for dataset in datasets:
        runs = sorted((r for r in results if r.dataset == dataset), key=lambda r: r.scale)
        right.plot([r.scale for r in runs], [r.peak_rss_mb for r in runs], marker="o", label=dataset)
    right.axhline(150, color="grey", linestyle="--", linewidth=1)
    right.set_xscale("log")
    right.set_ylim(0, max(170, 1.1 * max(r.peak_rss_mb for r in results)))
    right.set_xlabel("records (log scale)")
    right.set_ylabel("peak RSS, MB")
    right.set_title("Peak memory against scale (limit 150 MB dashed)")
    right.legend(fontsize=8)
    _runs_panel(issue19)
    fig.tight_layout()
    path = DOCS / "benchmark.png"
    fig.savefig(path, dpi=110)
    return path


def _runs_panel(axes) -> None:
    """Issue 19's figures: each target row and the whole run against its target, installments and debug mode."""
    saved = json.loads(RUNS_JSON.read_text()) if RUNS_JSON.exists() else {}
    bars = [(row["label"].replace("messages ", "messages\n").replace("activities ", "activities\n"), row["share"],
             row["target"]) for row in saved.get("targets", [])]
    for key, label in (("whole", "whole run\n(of its floor)"), ("whole_debug", "whole run,\ndebug mode")):
        if key in saved:
            bars.append((label, saved[key]["share"], 0.95 if key == "whole" else None))
    if not bars:
        axes.set_axis_off()
        return
    drawn = axes.bar(range(len(bars)), [100 * share for _, share, _ in bars], color="tab:green")
    axes.bar_label(drawn, fmt="%.1f%%", fontsize=8)
    for index, (_, _, target) in enumerate(bars):
        if target:
            axes.plot([index - 0.4, index + 0.4], [100 * target] * 2, color="black", linewidth=1.5)
    axes.set_xticks(range(len(bars)), [label for label, _, _ in bars], fontsize=7)
    axes.set_ylim(0, 110)
    axes.set_ylabel("% of the bound (whole run: of its floor)")
    axes.set_title("Issue 19: targets (black lines), whole run")
    notes = []
    if "installments" in saved:
        f = saved["installments"]
        notes.append(f"installments: {f['scale']:,} messages, {f['runs']} runs of a {f['budget_seconds']:.0f} s budget, "
                     f"the longest {f['longest_seconds']:.1f} s")
    if "whole_debug" in saved:
        f = saved["whole_debug"]
        notes.append(f"debug mode: peak RSS {f['peak_rss_mb']:.0f} MB, recording {f['recording_bytes'] / 2**20:.1f} MB")
    axes.text(0.01, 0.99, "\n".join(notes), transform=axes.transAxes, fontsize=7, va="top")


def redraw_chart() -> None:
    """The chart again from the saved rows (after a run that saves only the issue 19 figures)."""
    saved = DOCS / "benchmark.json"
    if saved.exists():
        try:
            write_chart([Result(**row) for row in json.loads(saved.read_text())])
        except ImportError:  # matplotlib comes with requirements-bench.txt only
            pass


# --------------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small scales: a smoke check in about a minute")
    parser.add_argument("--datasets", default=",".join(FULL_SCALES),
                        help="comma-separated: messages,customers,activities,segment_membership")
    parser.add_argument("--processing", action="store_true", help="only measure our own processing (no HTTP)")
    parser.add_argument("--pacing", action="store_true", help="only compare 10/s against our limiter's pacing")
    parser.add_argument("--daily", action="store_true", help="only count the requests of a continued daily run")
    parser.add_argument("--margins", default="", help="with --pacing: also try these margins, in ms (e.g. 2,10)")
    parser.add_argument("--catalogue", action="store_true", help="only time the whole catalogue of a large workspace")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmark.md and .png")
    parser.add_argument("--metrics", action="store_true", help="only the metrics scenario (issue 12)")
    parser.add_argument("--installments", action="store_true",
                        help="only a messages backfill larger than one run's time budget, run after run")
    parser.add_argument("--whole", action="store_true",
                        help="only the whole run: every dataset on, customers by export with a 40 s export")
    parser.add_argument("--debug-mode", action="store_true", help="with --whole: also a run in Keboola's debug mode")
    parser.add_argument("--targets", action="store_true",
                        help="only issue 19's throughput rows (messages with and without date_from, activities)")
    parser.add_argument("--repeat", type=int, default=1, help="with --targets: runs per row (the median is kept)")
    args = parser.parse_args(argv)
    if args.whole:
        with tempfile.TemporaryDirectory(prefix="cio-bench-") as tmp:
            figures = [run_whole(Path(tmp), args.quick)]
            if args.debug_mode:
                figures.append(run_whole(Path(tmp), args.quick, debug=True))
        if not args.quick and not args.no_write and not any(f["exit_code"] for f in figures):
            save_runs(**{("whole_debug" if f["debug"] else "whole"): f for f in figures})
        return 1 if any(f["exit_code"] for f in figures) else 0
    if args.targets:
        with tempfile.TemporaryDirectory(prefix="cio-bench-") as tmp:
            rows = run_targets(Path(tmp), args.repeat)
        if not args.no_write and not any(r["exit_code"] for r in rows):
            save_runs(targets=rows)
        return 1 if any(r["exit_code"] for r in rows) else 0
    if args.installments:
        with tempfile.TemporaryDirectory(prefix="cio-bench-") as tmp:
            figures = run_installments(Path(tmp), args.quick)
        if not args.quick and not args.no_write and not any(figures["exit_codes"]):
            save_runs(installments=figures)
        return 1 if any(figures["exit_codes"]) else 0
    if args.metrics:
        with tempfile.TemporaryDirectory(prefix="cio-bench-metrics-") as tmp:
            figures = [*run_metrics_scenario(Path(tmp), "test"), *run_metrics_scenario(Path(tmp))]
        if not args.no_write:
            print(f"wrote {write_metrics_markdown(figures)}")
        return 0
    scales = QUICK_SCALES if args.quick else FULL_SCALES
    if args.catalogue:
        return run_catalogue(args.quick)["exit"]
    if args.daily:
        workdir = Path(tempfile.mkdtemp(prefix="cio-bench-"))
        run_daily([d.strip() for d in args.datasets.split(",")], scales, workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    if args.processing or args.pacing:
        if args.processing:
            figures = run_processing(10 if args.quick else 100)
            print(f"processing: {figures['rate']:,.0f} messages/s on one core, median of {figures['passes']} passes "
                  f"({figures['slowest']:,.0f} to {figures['fastest']:,.0f}; {figures['messages']:,} messages, "
                  f"{figures['cpu_seconds']:.2f} CPU s)")
            run_membership_processing_rows(args.quick)
        if args.pacing:
            margins = tuple(float(m) / 1000 for m in args.margins.split(",") if m.strip()) if args.margins else ()
            run_pacing(60 if args.quick else 200, margins=margins)
        return 0
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = set(datasets) - set(FULL_SCALES)
    if unknown:
        parser.error(f"unknown datasets: {', '.join(sorted(unknown))}")
    workdir = Path(tempfile.mkdtemp(prefix="cio-bench-"))
    try:
        results = run_datasets(datasets, scales, workdir)
        daily = run_daily(datasets, scales, workdir)
        processing = run_processing(10 if args.quick else 100)
        print(f"processing: {processing['rate']:,.0f} messages/s on one core (median of {processing['passes']}, "
              f"{processing['slowest']:,.0f} to {processing['fastest']:,.0f})")
        processing["membership"] = run_membership_processing_rows(args.quick)
        pacing = run_pacing(60 if args.quick else 200)
    finally:
        failed = [r for r in locals().get("results", []) if r.exit_code]
        if not failed:
            shutil.rmtree(workdir, ignore_errors=True)
    saved = DOCS / "benchmark.json"
    if set(datasets) != set(FULL_SCALES) and saved.exists() and not args.quick:
        # A partial run replaces only its datasets' rows of the last full run.
        kept = [Result(**{k: v for k, v in row.items()}) for row in json.loads(saved.read_text())
                if row["dataset"] not in datasets]
        results = sorted(kept + results, key=lambda r: (list(FULL_SCALES).index(r.dataset), r.scale))
    print()
    print_table(results)
    if not args.no_write:
        DOCS.mkdir(exist_ok=True)
        if not args.quick:
            saved.write_text(json.dumps([r.__dict__ for r in results], indent=1) + "\n")
        print(f"wrote {write_markdown(results, processing, pacing, args.quick, daily)} and {write_chart(results)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
