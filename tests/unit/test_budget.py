"""The time budget, the estimates and the messages installments, without a server: a clock the test moves."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from keboola.component import CommonInterface

from budget import Budget, Estimate, WorkspaceCounts, disagrees, workspace_counts
from configuration import load_configuration
from customerio.errors import PermissionDeniedError
from datasets import RunContext
from datasets.messages import HISTORY_FLOOR, WINDOW_SECONDS, Messages, _ranges, windows_of
from progress import Progress
from tests.unit.test_messages_windows import NOW, FakeMessagesApi


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_expires_after_its_minutes_and_says_what_is_left():
    clock = Clock()
    budget = Budget.of_minutes(0.5, clock)
    assert not budget.expired() and budget.seconds_left() == 30
    assert budget.fits(30) and not budget.fits(31)
    clock.now += 29.9
    assert not budget.expired()
    clock.now += 0.1
    assert budget.expired()
    assert budget.left_for_next_run() is None
    budget.leave("messages: 2 time spans")
    budget.leave("customers (not started)")
    assert budget.left_for_next_run() == ("The time budget of 30 s (max_run_minutes) was reached; left for the next "
                                          "run: messages: 2 time spans; customers (not started).")


def test_no_budget_never_expires():
    assert not Budget().expired() and Budget().seconds == math.inf


def test_an_estimate_is_bound_by_the_rate_limit_or_its_floor():
    estimate = Estimate("customers", 1200, "10,000 people (GET /v1/workspaces)")
    assert estimate.seconds == 120
    assert estimate.plan_line() == ("Plan: customers: about 1,200 requests, 2 min (10,000 people (GET "
                                    "/v1/workspaces); one snapshot).")
    assert Estimate("segment_membership", 4, "x", floor_seconds=9.0, certain=False).seconds == 9.0
    assert Estimate("m", 10, "x", snapshot=False, at_least=True).plan_line().startswith("Plan: m: at least 10 ")


def test_the_completeness_tolerance_allows_a_two_hour_old_count():
    assert not disagrees(1000, 1010)  # within 2% (or 10 rows)
    assert not disagrees(3, 12)
    assert disagrees(1000, 1100)
    assert disagrees(100_000, 97_000)


class _Client:
    def __init__(self, answer=None, error=None):
        self.answer, self.error = answer, error

    def request_json(self, method, path, **_kwargs):
        if self.error:
            raise self.error
        return self.answer


def test_workspace_counts_with_one_workspace_are_exact_and_with_several_a_lower_bound():
    one = workspace_counts(_Client({"workspaces": [{"id": 1, "people": 50, "objects": 2, "messages_sent": 9}]}))
    assert one == WorkspaceCounts(people=50, objects=2, exact=True, people_each=(50,), messages_sent=9)
    assert one.basis("people") == "50 people (GET /v1/workspaces)"
    two = workspace_counts(_Client({"workspaces": [{"people": 50, "objects": 2}, {"people": 7, "objects": 0}]}))
    assert (two.people, two.exact, two.people_each) == (7, False, (50, 7))
    assert two.basis("people") == "at least 7 people (GET /v1/workspaces)"
    assert workspace_counts(_Client(error=PermissionDeniedError("no access"))) is None
    assert workspace_counts(_Client({"workspaces": [{"people": "many", "objects": 1}]})) is None


def test_progress_lines_say_the_time_left():
    clock = Clock()
    budget = Budget(600, clock)
    progress = Progress("messages", interval=0, clock=clock, budget=budget)
    clock.now += 120
    assert progress._line(clock.now).endswith("; 8 min of the time budget left.")


# --- messages in installments ---------------------------------------------------------------------------------
def test_a_backfill_left_below_the_new_range_is_read_after_it_in_its_own_window_length():
    lower = NOW - 10 * 86_400
    old, mid, new = ((HISTORY_FLOOR, NOW - 200 * 86_400, 3600), (NOW - 100 * 86_400, NOW - 90 * 86_400, 86_400),
                     (lower - 86_400, lower + 5, 600))
    ranges = _ranges(lower, NOW, [old, new, mid])
    # Spans newest first, after the new range; the part at or above `lower` is read with the new deliveries.
    assert ranges == [(lower, NOW, WINDOW_SECONDS), (lower - 86_400, lower - 1, 600), mid, old]
    found = windows_of(0, None, [ranges[0], ranges[2]])
    assert [w.key for w in found] == [(0, i) for i in range(len(found))]
    assert len(found) == 1 + 11  # the new range in one window, the 10-day span in 1-day windows (ends inclusive)
    assert found[0].start == lower and found[-1].start == NOW - 100 * 86_400


def _context(tmp_path: Path, api, budget: Budget) -> RunContext:
    (tmp_path / "out" / "tables").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
    return RunContext(client=api, component=CommonInterface(data_folder_path=str(tmp_path)),
                      tables_dir=tmp_path / "out" / "tables", incremental_load=True, now=NOW, max_workers=4,
                      budget=budget)


def _ids(tmp_path: Path) -> list[str]:
    path = tmp_path / "out" / "tables" / "messages.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [row["id"] for row in csv.DictReader(fh)]


def test_a_stopped_walk_saves_what_is_left_and_the_next_runs_read_exactly_that(tmp_path):
    config = load_configuration({"#api_secret": "k", "messages": {"incremental_output": True,
                                                                  "metrics_lookback_days": 0}})
    api = FakeMessagesApi(seed=3, delay=0.0, history_days=100)
    everything = {api.message(NOW - n * 12 * 3600)["id"] for n in range(201)}  # one every 12 h, both ends
    seen: set[str] = set()
    state: dict = {}
    for run in range(100):
        clock = Clock()
        budget = Budget(1.0, clock)
        pages = {"n": 0}
        paginate = api.paginate

        def counting(*args, _paginate=paginate, _budget_clock=clock, pages=pages, **kwargs):
            for page in _paginate(*args, **kwargs):
                pages["n"] += 1
                if pages["n"] >= 8:
                    _budget_clock.now += 10  # the budget is spent after eight pages of this run
                yield page

        api.paginate = counting
        folder = tmp_path / f"run{run}"
        state = Messages(config).run(_context(folder, api, budget), state)
        api.paginate = paginate
        seen |= set(_ids(folder))
        if not state.get("backfill"):
            break
        assert budget.left_for_next_run() and "messages: " in budget.left_for_next_run()
        for span in state["backfill"]["*"]["spans"]:
            assert span[0] <= span[1] and 1 <= span[2] <= WINDOW_SECONDS
    else:
        raise AssertionError("the backfill never finished")
    assert run >= 2, "the budget did not stop the first run"
    assert seen == everything
