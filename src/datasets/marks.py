"""Incremental marks of the event datasets (messages, activities): per chain, the newest time seen, kept in state.

A mark is capped at the run's clock. Activity timestamps (events, pages, screens) come from the sender's device: one
event dated a day ahead would otherwise become the mark, and every later run would skip every new activity until
real time passed it. A mark saved in the future by an earlier version is capped when read, too.
"""

from __future__ import annotations

import threading


class Marks:
    """The marks of one dataset: read from its state, advanced by its chains (thread-safe), saved in its new state.

    ``enabled`` is the dataset's "Continue since last run": without it no mark is read (every run reads the whole
    history) and none is saved.
    """

    def __init__(self, saved: dict | None, *, enabled: bool, now: int):
        """``saved``: the marks part of the dataset's state (None: none saved)."""
        self.enabled = enabled
        self.now = now
        saved = saved if enabled else None
        self._saved: dict[str, int] = {
            str(key): min(value, now) for key, value in (saved.items() if isinstance(saved, dict) else ())
            if isinstance(value, int) and not isinstance(value, bool) and value > 0
        }
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()  # chains see their marks from their own threads

    def get(self, key: str) -> int | None:
        """The mark of chain ``key`` from the last run (never after the run's clock), or None."""
        return self._saved.get(key)

    def floor(self, key: str, overlap_seconds: int) -> int | None:
        """Where this run's reading of chain ``key`` may stop: the mark minus the overlap, or None (read all)."""
        mark = self.get(key)
        return None if mark is None else max(0, mark - overlap_seconds)

    def see(self, key: str, newest: int) -> None:
        """Chain ``key`` saw a record of time ``newest`` (the mark moves to it, but never past the run's clock)."""
        if not isinstance(newest, int) or isinstance(newest, bool) or newest <= 0:
            return
        capped = min(newest, self.now)
        with self._lock:
            if capped > self._seen.get(key, 0):
                self._seen[key] = capped

    def state(self) -> dict[str, int]:
        """The marks to save: every saved mark, advanced where a chain saw something newer."""
        merged = dict(self._saved)
        for key, value in self._seen.items():
            merged[key] = max(value, merged.get(key, 0))
        return merged
