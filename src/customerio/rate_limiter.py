"""One rate limiter shared by every thread that calls the App API, paced by the times requests were really sent.

Customer.io allows 10 requests per second per workspace and counts them in a sliding second. Requests are planned
evenly at ``rate / (1 + margin)`` (9.8/s with the default 20 ms margin; pacing at a flat 9.5/s would give away 5%
before anything else), and a request never goes before the one ``rate`` places earlier was really sent more than
``window + margin`` ago. The times that check uses are the moments callers really left ``acquire()`` (a thread
that wakes late is recorded late), not the planned ones, so no sliding second holds more than ``rate`` requests as
long as the server sees each request within ``margin`` of the time recorded here. A late wake-up does not shift
the plan: the next requests catch up (at least ``spacing`` apart, half of ``1 / rate`` by default), so a busy
machine costs little of the rate.

The margin adapts: a busy machine (threads that parse pages while another one should be sending, a server that
is slow to read what arrives) delays requests by more than that, so each 429 (``pause()``) widens the margin by
``WIDEN_STEP``, up to ``MAX_MARGIN``, and every ``RELAX_AFTER`` requests without a 429 take a millisecond off
it again, down to the configured margin. A quiet run keeps its margin; a loaded one settles where no 429 comes.

Thread safety: callers take turns (the ``_turn`` lock); the caller whose turn it is sleeps until its time, records
it and hands the turn on. ``pause(seconds)`` lets no request start before now + seconds; the client calls it on a
429 so every thread waits, not only the one that was rate limited (a sleeper woken after a pause waits again).
``cancel()`` ends the run's requests: every later ``acquire()`` raises ``Cancelled`` (datasets run side by side stop
at their next request once one of them has failed).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_MARGIN = 0.020  # seconds; see `bench/run.py --pacing` for the 429 share of other margins
MAX_MARGIN = 0.060  # seconds: the most 429s widen the margin to (a flat 9.5/s is 52 ms per 11 requests)
WIDEN_STEP = 0.015  # seconds added to the margin by each 429 (each costs a paused second: keep them rare)
RELAX_AFTER = 500  # requests without a 429 after which the margin narrows by RELAX_STEP
RELAX_STEP = 0.001


class Cancelled(BaseException):  # not an Exception: no retry or skip handler may swallow it
    """The run was cancelled (another part of it failed): this request is not sent."""


class RateLimiter:
    def __init__(self, rate_per_second: float = 10.0, margin: float = DEFAULT_MARGIN, *, window: float = 1.0,
                 spacing: float | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not rate_per_second > 0:
            raise ValueError("rate_per_second must be positive")
        if not 0 <= margin < window:
            raise ValueError("margin must be at least 0 and shorter than the window")
        self.rate_per_second = float(rate_per_second)
        self.base_margin = float(margin)
        self.margin = self.base_margin  # widened by 429s (pause), narrowed again while none come
        self.window = float(window)
        # How many requests one window may hold (at least one; a rate below 1/s stretches the window instead).
        self._per_window = max(1, int(self.rate_per_second * self.window))
        self.spacing = 0.5 / self.rate_per_second if spacing is None else float(spacing)
        self._clock = clock
        self._sleep = sleep
        self._turn = threading.Lock()  # held by the caller whose request goes next (also while it sleeps)
        self._lock = threading.Lock()  # guards the fields below; never held while sleeping
        self._cancelled = False
        self._sent: deque[float] = deque(maxlen=self._per_window)  # the last send times, as really sent
        self._next_slot = float("-inf")  # the planned time of the next request
        self._not_before = float("-inf")
        self._pauses = 0
        self._acquisitions = 0
        self._calm = 0  # requests since the last pause

    @property
    def _span(self) -> float:
        """What _per_window + 1 consecutive requests span at least."""
        return self._per_window / self.rate_per_second + self.margin

    @property
    def interval(self) -> float:
        """The planned distance between two requests."""
        return self._span / self._per_window

    @property
    def effective_rate(self) -> float:
        """Requests per second at most, in the long run (the rate less what the margin costs)."""
        return 1.0 / self.interval

    @property
    def acquisitions(self) -> int:
        """How many times ``acquire()`` has returned (i.e. requests paced) so far."""
        with self._lock:
            return self._acquisitions

    def _allowed(self, planned: float) -> float:
        """The earliest time a request planned for ``planned`` may go (pause, spacing and window; under _lock)."""
        allowed = max(planned, self._not_before)
        if self._sent:
            allowed = max(allowed, self._sent[-1] + self.spacing)
            if len(self._sent) == self._per_window:
                allowed = max(allowed, self._sent[0] + self._span)
        return allowed

    def acquire(self) -> float:
        """Wait until a request may be sent; returns the send time recorded for it (on the limiter's clock)."""
        with self._turn:
            with self._lock:
                if self._cancelled:
                    raise Cancelled
                planned = max(self._clock(), self._next_slot)
            while True:
                with self._lock:
                    now = self._clock()
                    allowed = self._allowed(planned)
                    pauses = self._pauses
                if allowed <= now:
                    break
                self._sleep(allowed - now)
                with self._lock:
                    if self._cancelled:
                        raise Cancelled
                    if self._pauses == pauses:  # no pause meanwhile: go (a fake clock may not have moved)
                        now = max(self._clock(), allowed)
                        break
            with self._lock:
                self._sent.append(now)
                # The plan goes on from when this request was allowed, not from when it really went: a thread
                # that woke late is caught up with, within the window check above.
                self._next_slot = allowed + self.interval
                self._acquisitions += 1
                self._calm += 1
                if self._calm >= RELAX_AFTER and self.margin > self.base_margin:
                    self._calm = 0
                    self.margin = max(self.base_margin, self.margin - RELAX_STEP)
        return now

    def spare(self) -> bool:
        """Did the last window hold fewer than half the requests the rate allows (a poll now costs nobody)?"""
        with self._lock:
            since = self._clock() - self.window
            return sum(1 for sent in self._sent if sent > since) < self._per_window / 2

    def cancel(self) -> None:
        """Send no more requests: every later (or sleeping) ``acquire()`` raises ``Cancelled``."""
        with self._lock:
            self._cancelled = True

    def pause(self, seconds: float) -> None:
        """A 429: let no request start before now + ``seconds`` (never earlier), and widen the margin."""
        with self._lock:
            self.margin = min(max(MAX_MARGIN, self.base_margin), self.margin + WIDEN_STEP)
            self._calm = 0
            if seconds > 0:
                self._not_before = max(self._not_before, self._clock() + seconds)
                self._pauses += 1
