"""One rate limiter shared by every thread that calls the App API, paced by the times requests were really sent.

Customer.io allows 10 requests per second per workspace and counts them in a sliding second ("Your request is over
the 10-per-second limit"). The limiter keeps that window, not a steady beat: a request goes as soon as the last
``rate`` requests span more than ``window + margin`` (5 ms by default), so a second in which fewer were sent (the
start of a run, a chain waiting on its round trip) leaves slots the next requests may use, as the server allows.
Consecutive requests stay ``spacing`` apart (half of ``1 / rate``; a fifth while many callers wait), so a
catch-up is not one burst: over a long run that comes to ``rate / (1 + margin)``, about 9.95/s.

The window is counted from the times requests really left, not from when they were allowed to go: the client
calls ``leaving(ticket)`` just before the request is written to the socket and ``left(ticket)`` once the write
returned (see ``customerio.transport``); until then the time ``acquire()`` returned stands. A thread that gets the
interpreter late (another one parsing a page) therefore moves its request's time with it, and a write that took
long (the process throttled before the bytes went) counts from its end. No sliding second at the server holds
more than ``rate`` requests as long as the server counts each request within ``margin`` of the moment it left.

The margin adapts: a busy server (or network) that counts requests later than that earns a 429 (``pause()``), and
each one widens the margin by ``WIDEN_STEP``, up to ``MAX_MARGIN``; every ``RELAX_AFTER`` requests without a 429
take a millisecond off it again, down to the configured margin. A quiet run keeps its margin; a loaded one settles
where no 429 comes.

Which request goes next: the one of the longest chain left. A cursor chain is sequential (each page names the
next), so when one chain is much longer than the others, the run ends when it does. The thread that reads a chain
says how many requests it has left (an estimate kept up to date inside ``with chain_priority() as chain:``; 0 when
unknown), and a free slot goes to the waiting caller with the highest priority (the earliest among equals). The
long chain then runs at the pace its round trips allow while the shorter ones fill the slots it leaves, instead of
all sharing the slots equally until the long one is left alone at the end, one round trip per request (measured:
activities of 4 types, 128 of 311 requests in one type, went from 94% to 95% of the bound).

Thread safety: the callers wait in line by priority; the first in line sleeps until its time, records it and
wakes the others (a caller of higher priority arriving meanwhile becomes first and takes that slot).
``pause(seconds)`` lets no request start before now + seconds; the client calls it on a
429 so every thread waits, not only the one that was rate limited (a sleeper woken after a pause waits again).
``cancel()`` ends the run's requests: every later ``acquire()`` raises ``Cancelled`` (datasets run side by side stop
at their next request once one of them has failed).
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DEFAULT_MARGIN = 0.005  # seconds; see `bench/run.py --pacing` for the 429 share of other margins
# The closest two requests come, as a share of 1 / rate: 50 ms at 10/s, 20 ms while CROWD callers or more wait.
# Free slots are caught up with quickly only when there are requests to fill them: a few chains that burst their
# requests together then wait together on their round trips, and slots pass unused (measured on 300,000 messages
# with date_from / 50,000 activities in 4 types: 50 ms 95.0% / 95.9% of the bound, 20 ms 95.5% / 94.7%).
SPACING = 0.5
CROWDED_SPACING = 0.2
CROWD = 5
SEND_GAP = 0.002  # seconds: a write that took longer may have waited before its bytes went (see left())
MAX_MARGIN = 0.060  # seconds: the most 429s widen the margin to (a flat 9.5/s is 52 ms per 11 requests)
WIDEN_STEP = 0.015  # seconds added to the margin by each 429 (each costs a paused second: keep them rare)
RELAX_AFTER = 500  # requests without a 429 after which the margin narrows by RELAX_STEP
RELAX_STEP = 0.001


class Cancelled(BaseException):  # not an Exception: no retry or skip handler may swallow it
    """The run was cancelled (another part of it failed): this request is not sent."""


@dataclass
class ChainPriority:
    """How many requests the calling thread's cursor chain has left (an estimate): free slots go to the longest
    chain first. Kept up to date by whoever reads the chain, as its pages show how far it has come; before its
    first page nothing is known, and a chain not yet started goes first (more chains in flight hide round trips)."""

    left: float = math.inf

    def walked(self, pages: int, top: int, reached: int | None, bottom: int) -> None:
        """A newest-first chain has read ``pages`` pages from ``top`` down to ``reached`` and ends at ``bottom``
        (unix seconds): at that density it has about pages * (reached - bottom) / (top - reached) pages left."""
        if reached is not None and pages > 0 and top > reached:
            self.left = pages * max(0, reached - bottom) / (top - reached)


_threads = threading.local()  # .chain: the ChainPriority of the chain this thread reads, if any


@contextmanager
def chain_priority() -> Iterator[ChainPriority]:
    """The requests this thread sends inside go with the priority the caller keeps up to date (``left``)."""
    previous = getattr(_threads, "chain", None)
    _threads.chain = ChainPriority()
    try:
        yield _threads.chain
    finally:
        _threads.chain = previous


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
        self.spacing = SPACING / self.rate_per_second if spacing is None else float(spacing)
        self.crowded_spacing = min(self.spacing, CROWDED_SPACING / self.rate_per_second)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()  # guards the fields below; never held while sleeping
        self._handoff = threading.Condition(self._lock)  # notified whenever a slot is taken
        self._waiting: list[tuple[float, int]] = []  # heap of (-priority, arrival) of the callers waiting
        self._arrivals = itertools.count()
        self._cancelled = False
        # The last _per_window requests as [ticket, when it left] (the time acquire() returned, until the client
        # says when it really went: leaving() and left()).
        self._sent: deque[list[float]] = deque(maxlen=self._per_window)
        self._last = float("-inf")  # when the last request was allowed to go (spacing counts from there)
        self._not_before = float("-inf")
        self._pauses = 0
        self._acquisitions = 0
        self._calm = 0  # requests since the last pause

    @property
    def _span(self) -> float:
        """What _per_window + 1 consecutive requests span at least."""
        return self._per_window / self.rate_per_second + self.margin

    @property
    def effective_rate(self) -> float:
        """Requests per second at most, in the long run (the rate less what the margin costs)."""
        return self._per_window / self._span

    @property
    def acquisitions(self) -> int:
        """How many times ``acquire()`` has returned (i.e. requests paced) so far."""
        with self._lock:
            return self._acquisitions

    def _allowed(self) -> float:
        """The earliest time the next request may go (pause, spacing and window; under _lock)."""
        spacing = self.crowded_spacing if len(self._waiting) >= CROWD else self.spacing
        allowed = max(self._not_before, self._last + spacing)
        if len(self._sent) == self._per_window:
            # min, not the first: a request written late may have left after one acquired later.
            allowed = max(allowed, min(entry[1] for entry in self._sent) + self._span)
        return allowed

    def acquire(self, priority: float | None = None) -> float:
        """Wait until a request may be sent; returns the time recorded for it (the ticket for ``leaving()``).

        ``priority``: how many requests the caller's chain has left (by default its ``chain_priority``, else 0).
        A slot goes to the caller of highest priority waiting when it comes (the earliest among equals): only
        that caller sleeps until then, and one of higher priority arriving meanwhile takes the slot instead."""
        if priority is None:
            chain = getattr(_threads, "chain", None)
            priority = chain.left if chain is not None else 0.0
        me = (-priority, next(self._arrivals))
        with self._lock:
            heapq.heappush(self._waiting, me)
        try:
            while True:
                with self._lock:
                    if self._cancelled:
                        raise Cancelled
                    if self._waiting[0] != me:
                        self._handoff.wait()  # until a slot is taken (or the run is cancelled)
                        continue
                    now = self._clock()
                    allowed = self._allowed()
                    pauses = self._pauses
                    if allowed <= now:
                        return self._take(me, now)
                self._sleep(allowed - now)
                with self._lock:
                    # Still first, and neither a pause nor another slot taken meanwhile (either moves the time
                    # allowed): go, even if a fake clock has not moved.
                    if (not self._cancelled and self._waiting[0] == me and self._pauses == pauses
                            and self._allowed() <= allowed):
                        return self._take(me, max(self._clock(), allowed))
        except BaseException:
            with self._lock:
                if me in self._waiting:
                    self._waiting.remove(me)
                    heapq.heapify(self._waiting)
                    self._handoff.notify_all()
            raise

    def _take(self, me: tuple[float, int], now: float) -> float:
        """Record the slot ``me`` (first in line) takes at ``now`` and wake the others (under _lock)."""
        heapq.heappop(self._waiting)
        self._handoff.notify_all()
        self._sent.append([now, now])
        self._last = now
        self._acquisitions += 1
        self._calm += 1
        if self._calm >= RELAX_AFTER and self.margin > self.base_margin:
            self._calm = 0
            self.margin = max(self.base_margin, self.margin - RELAX_STEP)
        return now

    def leaving(self, ticket: float) -> None:
        """The request ``acquire()`` returned ``ticket`` for is being written now: the window counts it from now."""
        self._move(ticket, lambda recorded, now: max(recorded, now))

    def left(self, ticket: float) -> None:
        """Its write has returned. When that took more than SEND_GAP, the thread may have been held (the process
        throttled, the interpreter busy) before the bytes went, not only after: count it from now, to be safe."""
        self._move(ticket, lambda recorded, now: now if now - recorded > SEND_GAP else recorded)

    def _move(self, ticket: float, moved: Callable[[float, float], float]) -> None:
        with self._lock:
            now = self._clock()
            for entry in reversed(self._sent):  # the newest first: it is nearly always the last
                if entry[0] == ticket:
                    entry[1] = moved(entry[1], now)
                    return

    def spare(self) -> bool:
        """Did the last window hold fewer than half the requests the rate allows (a poll now costs nobody)?"""
        with self._lock:
            since = self._clock() - self.window
            return sum(1 for _ticket, sent in self._sent if sent > since) < self._per_window / 2

    def cancel(self) -> None:
        """Send no more requests: every later (or sleeping) ``acquire()`` raises ``Cancelled``."""
        with self._lock:
            self._cancelled = True
            self._handoff.notify_all()

    def pause(self, seconds: float) -> None:
        """A 429: let no request start before now + ``seconds`` (never earlier), and widen the margin."""
        with self._lock:
            self.margin = min(max(MAX_MARGIN, self.base_margin), self.margin + WIDEN_STEP)
            self._calm = 0
            if seconds > 0:
                self._not_before = max(self._not_before, self._clock() + seconds)
                self._pauses += 1
