"""The run's time budget (`max_run_minutes`), the up-front plan, and what is left for the next run.

Keboola kills a job with SIGKILL at the component's `process_timeout` (1 hour by default): a killed job loads
nothing and saves no state. So a run stops starting new work when its budget is spent, finishes what it has, writes
complete tables and the state, and exits 0 with one line saying what is left (``Budget.left_for_next_run``).

One ``Budget`` per run, on ``RunContext.budget``; every dataset asks it (``expired()``, ``seconds_left()``) instead
of keeping its own clock. ``Estimate`` is a dataset's up-front cost from Customer.io's own counts (GET
/v1/workspaces: people and objects, "cached ... may be up to two hours old"; a segment's customer_count): it gives
the plan line, and a snapshot (a table that cannot be split across runs) that cannot finish inside the budget is
refused at the start with one sentence.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_RUN_MINUTES = 50.0  # the default process_timeout is 1 hour: room for Storage's load after the run
RATE = 10.0  # requests per second: the App API's limit, and the client's shared limiter
# Customer.io's counts are cached up to two hours (GET /v1/workspaces; see the API reference): a count and the rows
# read may differ by what changed since, so the completeness check allows this share (and at least a few rows).
COUNT_TOLERANCE = 0.02
COUNT_TOLERANCE_ROWS = 10


class Budget:
    """The run's deadline: ``seconds`` from creation (``math.inf``: no budget)."""

    def __init__(self, seconds: float = math.inf, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self._started = clock()
        self._left: list[str] = []
        self._lock = threading.Lock()
        self._reserved: dict[str, float] = {}

    @classmethod
    def of_minutes(cls, minutes: float | None, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(math.inf if minutes is None else minutes * 60.0, clock)

    def elapsed(self) -> float:
        return self._clock() - self._started

    def seconds_left(self) -> float:
        return self.seconds - self.elapsed()

    def reserve(self, key: str, seconds: float) -> None:
        """Hold ``seconds`` of the budget's end for a snapshot that runs (or will run) side by side with the rest:
        the datasets share the one 10 requests/s, so the others stop starting work that much earlier and the
        snapshot, once started never abandoned, still finishes inside the budget. ``release`` when it is done."""
        with self._lock:
            self._reserved[key] = seconds

    def release(self, key: str) -> None:
        with self._lock:
            self._reserved.pop(key, None)

    def _reserved_except(self, key: str | None) -> float:
        with self._lock:
            return sum(seconds for owner, seconds in self._reserved.items() if owner != key)

    def expired(self, key: str | None = None) -> bool:
        """True once the budget, less what running snapshots (other than ``key``) hold, is spent: start no new work
        (what is in flight finishes or is abandoned)."""
        return self.seconds_left() - self._reserved_except(key) <= 0

    def fits(self, seconds: float, key: str | None = None) -> bool:
        """Would work of ``seconds`` finish inside what is left (less what other snapshots than ``key`` hold)?"""
        return seconds <= self.seconds_left() - self._reserved_except(key)

    def leave(self, what: str) -> None:
        """Record work left for the next run ("messages: email back to 2019-03-01"); thread-safe."""
        with self._lock:
            self._left.append(what)

    @property
    def left(self) -> list[str]:
        with self._lock:
            return list(self._left)

    def left_for_next_run(self) -> str | None:
        """The one line the run ends with when work is left, or None."""
        left = self.left
        if not left:
            return None
        return (f"The time budget of {_minutes(self.seconds)} (max_run_minutes) was reached; left for the next run: "
                f"{'; '.join(left)}.")


@dataclass(frozen=True)
class Estimate:
    """A dataset's up-front cost: requests at the rate limit, plus time no request is sent (an export's wait)."""

    dataset: str
    requests: int
    basis: str  # what the figure comes from: "25,666 people (GET /v1/workspaces)"
    snapshot: bool = True  # a table that cannot be split across runs
    wait_seconds: float = 0.0
    advice: str = ""  # what to do when it does not fit: "read customers by export (mode export), ..."
    certain: bool = True  # False: an upper bound (a filter, segments no larger than the workspace): never refused
    at_least: bool = False  # a lower bound (what a workspace sent this billing period): refused when even it is late
    floor_seconds: float = 0.0  # when something other than the rate limit bounds it (parsing 100,000 rows/s)

    @property
    def seconds(self) -> float:
        return max(self.requests / RATE, self.floor_seconds) + self.wait_seconds

    def plan_line(self) -> str:
        kind = "one snapshot" if self.snapshot else "in installments"
        about = "at least" if self.at_least else "about" if self.certain else "at most"
        return (f"Plan: {self.dataset}: {about} {self.requests:,} requests, {_duration(self.seconds)} ({self.basis}; "
                f"{kind}).")

    def refusal(self, budget: Budget) -> str:
        """The sentence of a snapshot that cannot finish inside the budget."""
        about = "at least" if self.at_least else "about"
        return (f"{self.dataset} cannot finish inside this run's time budget: it needs {about} "
                f"{_duration(self.seconds)} ({self.basis}) and a table loaded whole cannot be split across runs, "
                f"but max_run_minutes leaves {_minutes(budget.seconds)}: {self.advice or 'narrow it'}, or raise "
                "max_run_minutes together with the component's process_timeout.")


def disagrees(rows: int, count: int) -> bool:
    """Do ``rows`` read and Customer.io's ``count`` differ by more than its two-hour-old cache explains?"""
    return abs(rows - count) > max(COUNT_TOLERANCE_ROWS, COUNT_TOLERANCE * count)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, math.ceil(seconds))} s"
    if seconds < 5400:
        return f"{math.ceil(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:g} min" if minutes >= 1 else f"{seconds:.3g} s"


@dataclass(frozen=True)
class WorkspaceCounts:
    """People and objects from GET /v1/workspaces. The key is scoped to one workspace, but the answer lists every
    workspace of the account and does not say which is the key's: with several, ``people`` is the smallest (a
    lower bound, so a refusal is never wrong) and ``exact`` is False."""

    people: int
    objects: int
    exact: bool
    people_each: tuple[int, ...] = ()
    messages_sent: int = 0  # in the current billing period (a month at most): a lower bound of recent deliveries

    def basis(self, what: str) -> str:
        value = getattr(self, what)
        return f"{'' if self.exact else 'at least '}{value:,} {what} (GET /v1/workspaces)"


def workspace_counts(client) -> WorkspaceCounts | None:
    """The counts, or None when Customer.io does not give them (no access, no workspace, an odd answer)."""
    from customerio.errors import CustomerIoError  # the client's errors; budget.py holds no client otherwise

    try:
        answer = client.request_json("GET", "/v1/workspaces")
    except CustomerIoError:
        return None
    workspaces = [w for w in (answer.get("workspaces") or []) if isinstance(w, dict)] if isinstance(answer, dict) \
        else []
    people = [w.get("people") for w in workspaces]
    objects = [w.get("objects") for w in workspaces]
    sent = [w.get("messages_sent") for w in workspaces]
    if not people or not all(_count(v) for v in people + objects):
        return None
    return WorkspaceCounts(people=min(people), objects=min(objects), exact=len(workspaces) == 1,
                           people_each=tuple(people),
                           messages_sent=min(v if _count(v) else 0 for v in sent))


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


describe_duration = _duration  # for the sentences other modules build (datasets.runner)
describe_minutes = _minutes
