"""Progress lines for long datasets: every ~30 s, records so far, rate, and how far along when known."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("progress")


class Progress:
    def __init__(self, label: str, *, unit: str = "records", total: int | None = None, interval: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.label = label
        self.unit = unit
        self.total = total
        self.count = 0
        self.steps_done = 0
        self.steps_total: int | None = None
        self._interval = interval
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
        """Units of known-size work (time windows, segments): 'windows 3 of 12'."""
        with self._lock:
            self.steps_done += done
            if total is not None:
                self.steps_total = total

    def _line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        line = f"{self.label}: {self.count:,} {self.unit} so far ({self.count / elapsed:,.0f}/s)"
        if self.total:
            line += f", {min(100.0, 100.0 * self.count / self.total):.0f}% of {self.total:,}"
        elif self.steps_total:
            line += f", {self.steps_done} of {self.steps_total} done"
        return line + "."
