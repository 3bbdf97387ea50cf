"""One pacing rate limiter shared by every thread that calls the App API.

Customer.io allows 10 requests per second per workspace and counts them in a sliding second, so a client that
sends in bursts, or evenly at exactly 10/s, still draws 429s (network jitter puts 11 requests into some second).
The limiter therefore spaces requests EVENLY at ``rate * (1 - margin)`` (9.5/s by default): 11 consecutive
requests then span 10 intervals = 1.05 s, and no sliding second holds more than 10.

Thread safety: ``acquire()`` reserves the next free slot under a lock (slot = max(now, next_slot);
next_slot = slot + interval) and sleeps outside the lock until that slot, so N threads get N distinct slots
one interval apart. ``pause(seconds)`` pushes the next free slot to at least now + seconds; the client calls it on
a 429 so every thread waits, not only the one that was rate limited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate_per_second: float = 10.0, margin: float = 0.05,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if not rate_per_second > 0:
            raise ValueError("rate_per_second must be positive")
        if not 0 <= margin < 1:
            raise ValueError("margin must be at least 0 and below 1")
        self.rate_per_second = float(rate_per_second)
        self.margin = float(margin)
        self.interval = 1.0 / (self.rate_per_second * (1.0 - self.margin))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")
        self._acquisitions = 0

    @property
    def effective_rate(self) -> float:
        """Requests per second actually allowed (rate minus the margin)."""
        return 1.0 / self.interval

    @property
    def acquisitions(self) -> int:
        """How many times ``acquire()`` has been called (i.e. requests paced) so far."""
        with self._lock:
            return self._acquisitions

    def acquire(self) -> float:
        """Wait for this caller's slot; returns the slot time (on the limiter's clock)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
            self._acquisitions += 1
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return slot

    def pause(self, seconds: float) -> None:
        """Let no request start before now + ``seconds`` (never moves slots earlier)."""
        if seconds <= 0:
            return
        with self._lock:
            self._next_slot = max(self._next_slot, self._clock() + seconds)
