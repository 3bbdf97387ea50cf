"""Progress lines for long datasets: every ~30 s, records so far, rate, and how far along when known.

A line is logged only from ``add()``, and only when ``interval`` seconds have passed since the start or the last
line, so short datasets stay quiet. The text is fixed apart from the figures:

    messages: 1,234,000 records so far (9,120/s), 12 of 17 windows done.
    segment 7 membership: 60,000 rows so far (95,000/s), 40% of 150,000; 31 min of the time budget left.

``total`` (records, e.g. a segment's size or an export's row count) gives a percentage; otherwise ``step()``
counts units of known-size work (time windows, segments), with their total when it is known.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

log = logging.getLogger("progress")


class Progress:
    def __init__(self, label: str, *, unit: str = "records", total: int | None = None, interval: float = 30.0,
                 steps: str = "", clock: Callable[[], float] = time.monotonic, budget=None):
        self.label = label
        self.unit = unit
        self.total = total
        self.count = 0
        self.steps = steps  # what a step is ("windows", "segments"); "" = unnamed
        self.steps_done = 0
        self.steps_total: int | None = None
        self._interval = interval
        self._budget = budget  # budget.Budget: the line ends with the time left of the run's budget
        self._clock = clock
        self._started = clock()
        self._last = self._started
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.count += n
            now = self._clock()
            if now - self._last < self._interval:
                return
            self._last = now
            line = self._line(now)
        log.info(line)

    def step(self, done: int = 1, total: int | None = None) -> None:
        """Units of known-size work (time windows, segments): '3 of 12 windows done'."""
        with self._lock:
            self.steps_done += done
            if total is not None:
                self.steps_total = total

    def _line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        line = f"{self.label}: {self.count:,} {self.unit} so far ({self.count / elapsed:,.0f}/s)"
        steps = f" {self.steps}" if self.steps else ""
        if self.total:
            line += f", {min(100.0, 100.0 * self.count / self.total):.0f}% of {self.total:,}"
        elif self.steps_total:
            line += f", {min(self.steps_done, self.steps_total)} of {self.steps_total}{steps} done"
        elif self.steps_done and self.steps:
            line += f", {self.steps_done}{steps} done"
        if self._budget is not None and math.isfinite(self._budget.seconds):
            line += f"; {max(0, round(self._budget.seconds_left() / 60)):,} min of the time budget left"
        return line + "."
