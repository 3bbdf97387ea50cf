"""Messages: concurrent time windows under a bound, and output bytes that do not depend on completion order.

A fake client serves deliveries (one every 12 hours, newest first, a few per page) for any start_ts/end_ts window,
sleeps a random time per page and records how many windows are being read at once.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from pathlib import Path

import pytest
from keboola.component import CommonInterface

from configuration import load_configuration
from datasets import RunContext
from datasets.messages import Messages

NOW = 1_750_000_000
SPACING = 12 * 3600
HISTORY_DAYS = 100


class FakeMessagesApi:
    def __init__(self, *, seed: int, delay: float = 0.004, page_size: int = 7, history_days: int = HISTORY_DAYS,
                 data_delay: float = 0.0):
        self.random = random.Random(seed)
        self.delay = delay
        self.data_delay = data_delay  # extra seconds per page that holds deliveries
        self.page_size = page_size
        self.oldest = NOW - history_days * 86_400
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.windows: list[tuple[int, int]] = []

    def _sleep(self) -> None:
        with self.lock:
            pause = self.random.random() * self.delay
        time.sleep(pause)

    def message(self, created: int) -> dict:
        n = (NOW - created) // SPACING
        record = {"id": f"m{n:05d}", "created": created, "type": "email",
                  "metrics": {"sent": created + 1, **({"opened": created + 60} if n % 3 else {})},
                  "customer_identifiers": {"cio_id": f"c{n}", "email": f"p{n}@example.com"}}
        if n % 5 == 0:
            record["tags"] = ["a", "b"]  # a column only some windows see
        return record

    def paginate(self, method, path, *, params=None, json_body=None):
        assert (method, path) == ("GET", "/v1/messages")
        start_ts, end_ts = params["start_ts"], params["end_ts"]
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.windows.append((start_ts, end_ts))
        try:
            newest = NOW - (NOW - end_ts + SPACING - 1) // SPACING * SPACING  # newest delivery time <= end_ts
            times = [t for t in range(newest, max(start_ts, self.oldest) - 1, -SPACING) if t >= start_ts]
            pages = [times[i:i + self.page_size] for i in range(0, len(times), self.page_size)] or [[]]
            for index, page in enumerate(pages):
                self._sleep()
                if page and self.data_delay:
                    time.sleep(self.data_delay)
                yield {"messages": [self.message(t) for t in page],
                       "next": "more" if index + 1 < len(pages) else ""}
        finally:
            with self.lock:
                self.active -= 1


def run(tmp_path: Path, api: FakeMessagesApi, workers: int, messages: dict) -> bytes:
    data = tmp_path / f"data-{len(list(tmp_path.iterdir()))}"
    (data / "out" / "tables").mkdir(parents=True)
    (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
    component = CommonInterface(data_folder_path=str(data))
    config = load_configuration({"#api_secret": "k", "messages": messages})
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=NOW, max_workers=workers)
    Messages(config).run(ctx, {})
    return (Path(component.tables_out_path) / "messages.csv").read_bytes()


@pytest.fixture(autouse=True)
def _no_keboola_env(monkeypatch):
    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("workers", [1, 3, 5])
def test_never_more_windows_in_flight_than_workers(tmp_path, workers):
    api = FakeMessagesApi(seed=workers)
    run(tmp_path, api, workers, {"date_from": "200 days ago"})
    assert len(api.windows) >= 7  # 200 days in 30-day windows: more windows than workers
    assert api.max_active <= workers
    if workers > 1:
        assert api.max_active > 1  # the windows really are read concurrently


def test_unbounded_walk_is_bounded_too_and_stops_after_a_year_without_deliveries(tmp_path):
    # Pages with deliveries are slow and empty windows answer at once: while the 4 windows of history are still
    # read, the free worker must not walk on through empty windows towards 1970 (one request each).
    api = FakeMessagesApi(seed=1, data_delay=0.01)
    run(tmp_path, api, 4, {})
    assert api.max_active <= 4
    # 4 windows hold the 100 days of history and 12 empty ones end the walk; once 12 empty ones are done no
    # further window starts, so only a few are read beyond (and dropped, see below).
    assert 16 <= len(api.windows) <= 16 + 2 * 4


@pytest.mark.parametrize("messages", [{"date_from": "200 days ago"}, {}], ids=["bounded", "walk"])
def test_output_bytes_do_not_depend_on_completion_order(tmp_path, messages):
    sequential = run(tmp_path, FakeMessagesApi(seed=0, delay=0), 1, messages)
    for seed in (1, 2, 3):
        assert run(tmp_path, FakeMessagesApi(seed=seed), 4, messages) == sequential
    lines = sequential.decode().splitlines()
    assert len(lines) == 1 + HISTORY_DAYS * 2 + 1  # header + one delivery every 12 hours, both ends included
    header = lines[0].split(",")
    created = [int(line.split(",")[header.index("created")]) for line in lines[1:]]
    assert created == sorted(created, reverse=True)  # newest window first, newest first within each


def test_progress_counts_windows_of_a_known_range(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="progress")
    api = FakeMessagesApi(seed=4)
    data = tmp_path / "data"
    (data / "out" / "tables").mkdir(parents=True)
    (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
    component = CommonInterface(data_folder_path=str(data))
    config = load_configuration({"#api_secret": "k", "messages": {"date_from": "200 days ago"}})
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=NOW, max_workers=3, progress_interval=0)
    Messages(config).run(ctx, {})
    lines = [r.getMessage() for r in caplog.records if r.name == "progress"]
    assert lines and all(line.startswith("messages: ") for line in lines)
    assert lines[-1].endswith(f"of {len(api.windows)} windows done.")
