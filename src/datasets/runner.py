"""The enabled datasets of a run, side by side under the one shared rate limiter.

One after another, the run idled while Customer.io prepared a customers export and in each dataset's tail (its last
chain waiting on latency alone); side by side, other datasets' requests fill those gaps. The output does not change:
each dataset writes its own tables (chains keyed for the deterministic merge) and returns its own state, merged per
dataset key as before.

The time budget stays sound although the rate is shared: the component refuses at the start when the snapshots
together cannot fit (``together``), each snapshot with a certain estimate reserves its time at the budget's end
(``Budget.reserve``) until it is done, so the event datasets stop starting work early enough for the snapshots to
finish (a snapshot started is never abandoned), and the snapshots start first (longest estimate first).

A failure in one dataset cancels the limiter: the others stop at their next request, and the first failure is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from budget import RATE, Budget, Estimate, describe_duration, describe_minutes
from customerio import Cancelled

from .base import Dataset, RunContext, run_dataset

log = logging.getLogger(__name__)

# Datasets run at once: each has ctx.max_workers request threads and ctx.in_flight tasks holding a page, so this
# bounds the run's threads (4 x 8) and memory; four keep 10 requests/s busy through any one dataset's waits.
DATASETS_AT_ONCE = 4


def certain_snapshot(estimate: Estimate | None) -> bool:
    """A snapshot with a certain estimate: refused when it cannot fit, alone or with the others."""
    return estimate is not None and estimate.snapshot and estimate.certain


def together(estimates: Mapping[str, Estimate]) -> float:
    """Seconds the reserving snapshots need side by side: their requests share the one rate, their waits overlap."""
    chosen = [estimate for estimate in estimates.values() if certain_snapshot(estimate)]
    if not chosen:
        return 0.0
    return max(max(e.seconds for e in chosen), sum(e.requests for e in chosen) / RATE)


def refusal_together(estimates: Mapping[str, Estimate], budget: Budget) -> str:
    """The sentence when the snapshots fit the budget one by one but not side by side."""
    names = [key for key, estimate in estimates.items() if certain_snapshot(estimate)]
    return (f"{', '.join(names[:-1])} and {names[-1]} cannot all finish inside this run's time budget: they share "
            f"the API's 10 requests/s and together need about {describe_duration(together(estimates))}, but "
            f"max_run_minutes leaves {describe_minutes(budget.seconds)}: read some of them in another configuration, "
            "narrow them, or raise max_run_minutes together with the component's process_timeout.")


def run_datasets(ctx: RunContext, datasets: Mapping[str, Dataset], estimates: Mapping[str, Estimate],
                 state: Mapping[str, object]) -> dict[str, dict]:
    """Run every dataset; returns the new state of each one that ran (a dataset not started keeps its old one)."""
    budget = ctx.budget
    # A dataset that waits on Customer.io (an export) first, then the longest estimate first (the snapshots'
    # reserves hold from now on), the rest in registry order.
    order = sorted(datasets, key=lambda key: (not datasets[key].waits(),
                                              -estimates[key].seconds if key in estimates else 0.0))
    for key in order:  # not an upper bound (a filter): as it is never refused, it could hold the events off for good
        if certain_snapshot(estimates.get(key)):
            budget.reserve(key, estimates[key].seconds)

    def run_one(key: str) -> dict | None:
        dataset, estimate = datasets[key], estimates.get(key)
        try:
            if (not budget.fits(estimate.seconds, key)) if certain_snapshot(estimate) else budget.expired(key):
                budget.leave(f"{key} (not started)")  # its state stays as the last run left it
                return None
            log.info("Extracting %s.", key)
            previous = state.get(key)
            new_state = run_dataset(dataset, ctx, previous if isinstance(previous, dict) else {})
            dataset.check_completeness(ctx)
            return new_state
        finally:
            budget.release(key)

    results: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(DATASETS_AT_ONCE, len(order))),
                            thread_name_prefix="dataset") as pool:
        futures = {pool.submit(run_one, key): key for key in order}
        pending = set(futures)
        failure: BaseException | None = None
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.cancelled():
                    continue
                exc = future.exception()
                if exc is None:
                    if future.result() is not None:
                        results[futures[future]] = future.result()
                elif failure is None and not isinstance(exc, Cancelled):
                    failure = exc
                    ctx.client.rate_limiter.cancel()  # the others stop at their next request
                    for other in pending:
                        other.cancel()
    if failure is not None:
        raise failure
    return {key: results[key] for key in datasets if key in results}  # registry order: the same state file
