"""Messages: the window walk (6-month windows back to 2012, splitting full windows), concurrency under a bound,
and output bytes that do not depend on completion order.

A fake client serves deliveries (one every 12 hours, newest first, a few per page) for any start_ts/end_ts window,
sleeps a random time per page and records how many windows are being read at once.
"""

from __future__ import annotations

import itertools
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
from datasets import messages as messages_module
from datasets.messages import HISTORY_FLOOR, WINDOW_SECONDS, Messages, windows
from tests.unit.test_messages_live_shapes import NOW as SHARED_NOW
from tests.unit.test_messages_live_shapes import run as run_messages

NOW = SHARED_NOW  # run_messages runs at this clock
SPACING = 12 * 3600
HISTORY_DAYS = 100


class FakeMessagesApi:
    def __init__(self, *, seed: int, delay: float = 0.004, page_size: int = 7, history_days: int = HISTORY_DAYS,
                 data_delay: float = 0.0, paused: tuple[int, int] | None = None):
        self.random = random.Random(seed)
        self.delay = delay
        self.data_delay = data_delay  # extra seconds per page that holds deliveries
        self.page_size = page_size
        self.oldest = NOW - history_days * 86_400
        # (from, to) in days ago: no delivery in between, as in a workspace that paused sending
        self.paused = (NOW - paused[1] * 86_400, NOW - paused[0] * 86_400) if paused else None
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
            times = [t for t in range(newest, max(start_ts, self.oldest) - 1, -SPACING) if t >= start_ts
                     and not (self.paused and self.paused[0] <= t <= self.paused[1])]
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
    tables, _ = run_messages(tmp_path, api, messages, workers=workers)
    return (tables / "messages.csv").read_bytes()


@pytest.fixture(autouse=True)
def _no_keboola_env(monkeypatch):
    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def small_pages(monkeypatch):
    """The fake's pages hold 7 deliveries: let the dataset judge fullness by that, and split into short chains."""
    monkeypatch.setattr(messages_module, "PAGE_SIZE", 7)
    monkeypatch.setattr(messages_module, "PAGES_PER_CHAIN", 3)


def test_windows_are_the_api_maximum_back_to_the_floor():
    found = windows(0, None, NOW, HISTORY_FLOOR)
    assert found[0].end == NOW and found[-1].start == HISTORY_FLOOR
    assert all(w.end - w.start + 1 <= WINDOW_SECONDS for w in found)
    assert all(newer.start == older.end + 1 for newer, older in itertools.pairwise(found))
    assert 25 <= len(found) <= 32  # about 30 requests for a whole empty past


def test_without_date_from_a_pause_of_over_a_year_loses_nothing(tmp_path):
    # Deliveries in the last 100 days and between 500 and 600 days ago, none in the 400 days between: the older
    # walk stopped after 12 empty 30-day windows and lost everything before the pause.
    api = FakeMessagesApi(seed=1, delay=0, history_days=600, paused=(100, 500))
    body = run(tmp_path, api, 4, {})
    created = [int(line.split(",")[2]) for line in body.decode().splitlines()[1:]]
    expected = [t for t in range(NOW, NOW - 600 * 86_400 - 1, -SPACING)
                if not NOW - 500 * 86_400 <= t <= NOW - 100 * 86_400]
    assert created == expected
    assert min(start for start, _ in api.windows) == HISTORY_FLOOR  # walked to the floor, no heuristic
    assert len(api.windows) == len(windows(0, None, NOW, HISTORY_FLOOR))  # one request per empty window


@pytest.mark.parametrize("workers", [1, 3, 5])
def test_never_more_windows_in_flight_than_workers(tmp_path, workers, small_pages):
    api = FakeMessagesApi(seed=workers)
    run(tmp_path, api, workers, {"date_from": "200 days ago"})
    assert api.max_active <= workers
    if workers > 1:
        assert len(api.windows) > 2  # the full window was cut into chains (one worker does not split)
        assert api.max_active > 1  # the windows really are read concurrently


def test_a_full_window_splits_into_chains_and_every_delivery_comes_once(tmp_path, small_pages):
    api = FakeMessagesApi(seed=2, delay=0)
    body = run(tmp_path, api, 4, {"date_from": "120 days ago"})
    created = [int(line.split(",")[2]) for line in body.decode().splitlines()[1:]]
    assert created == list(range(NOW, NOW - HISTORY_DAYS * 86_400 - 1, -SPACING))
    assert len(api.windows) == 1 + 4  # the 120-day window, then its rest in 4 chains (no further split)
    first, *parts = api.windows
    assert first[1] == NOW and first[1] - first[0] > 119 * 86_400
    assert parts[0][1] < NOW and parts[-1][0] == first[0]


@pytest.mark.parametrize("messages", [{"date_from": "200 days ago"}, {}], ids=["bounded", "walk"])
def test_output_bytes_do_not_depend_on_completion_order(tmp_path, messages, small_pages):
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
