"""datasets.runner: datasets side by side under one limiter, the budget's reserves, a failure that stops the rest."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from budget import Budget, Estimate
from customerio import RateLimiter
from customerio.errors import BadRequestError
from datasets import RunContext, runner
from datasets.base import Dataset


class FakeClient:
    def __init__(self) -> None:
        self.rate_limiter = RateLimiter(1000.0)


class Step(Dataset):
    """Runs ``body(ctx)`` and returns its key as state."""

    def __init__(self, key: str, body=lambda ctx: None):
        super().__init__(config=None)
        self.key = key
        self._body = body

    def run(self, ctx: RunContext, state: dict) -> dict:
        self._body(ctx)
        return {"ran": self.key}


def context(budget: Budget | None = None) -> RunContext:
    return RunContext(client=FakeClient(), component=None, tables_dir=Path("."), incremental_load=True, now=0,
                      budget=budget or Budget())


def test_the_states_come_back_in_registry_order_whatever_the_finishing_order():
    release = threading.Event()
    datasets = {"first": Step("first", lambda ctx: release.wait(5)), "second": Step("second", lambda ctx: release.set())}
    assert list(runner.run_datasets(context(), datasets, {}, {})) == ["first", "second"]


def test_a_dataset_whose_turn_comes_after_the_budget_is_spent_is_not_started(monkeypatch):
    monkeypatch.setattr(runner, "DATASETS_AT_ONCE", 1)
    clock = [0.0]
    budget = Budget(10.0, clock=lambda: clock[0])

    def spend(ctx):
        clock[0] = 11.0

    states = runner.run_datasets(context(budget), {"a": Step("a", spend), "b": Step("b")}, {}, {"b": {"old": 1}})
    assert states == {"a": {"ran": "a"}}  # b keeps the state the last run left it (the component's merge)
    assert budget.left == ["b (not started)"]


def test_a_snapshot_holds_its_time_so_the_others_stop_earlier_and_get_it_back_when_it_is_done():
    clock = [0.0]
    budget = Budget(100.0, clock=lambda: clock[0])
    seen = {}
    snapshot_started, snapshot_may_end = threading.Event(), threading.Event()

    def snapshot(ctx):
        snapshot_started.set()
        snapshot_may_end.wait(5)

    def events(ctx):
        snapshot_started.wait(5)
        clock[0] = 50.0  # 50 s left, 60 held by the snapshot: start no new work
        seen["while the snapshot runs"] = ctx.budget.expired()
        snapshot_may_end.set()

    estimates = {"customers": Estimate("customers", requests=600, basis="test")}  # 60 s at 10 requests/s
    datasets = {"messages": Step("messages", events), "customers": Step("customers", snapshot)}
    runner.run_datasets(context(budget), datasets, estimates, {})
    assert seen == {"while the snapshot runs": True}
    assert not budget.expired() and budget.fits(50)


def test_snapshots_that_fit_one_by_one_but_not_together_are_refused_in_one_sentence():
    estimates = {"customers": Estimate("customers", requests=2_000, basis="a"),
                 "segment_membership": Estimate("segment_membership", requests=2_000, basis="b"),
                 "messages": Estimate("messages", requests=9_000, basis="c", snapshot=False)}
    assert runner.together(estimates) == 400.0  # the requests share the rate; messages (installments) hold nothing
    sentence = runner.refusal_together(estimates, Budget(300.0))
    assert sentence.startswith("customers and segment_membership cannot all finish inside this run's time budget")
    assert "7 min" in sentence and "5 min" in sentence and sentence.count(".") == 1
    waits = {"customers": Estimate("customers", requests=10, basis="a", wait_seconds=200.0),
             "segment_membership": Estimate("segment_membership", requests=100, basis="b")}
    assert runner.together(waits) == 201.0  # an export's wait overlaps the other's requests


def test_a_failure_stops_the_other_datasets_at_their_next_request_and_is_raised():
    requests = []

    def busy(ctx):
        while True:  # a long dataset: one request after another
            ctx.client.rate_limiter.acquire()
            requests.append(1)

    def fail(ctx):
        while len(requests) < 5:
            ctx.client.rate_limiter.acquire()
        raise BadRequestError("Customer.io refused the filter (400): fix it.")

    with pytest.raises(BadRequestError, match="refused the filter"):
        runner.run_datasets(context(), {"busy": Step("busy", busy), "fail": Step("fail", fail)}, {}, {})

