"""Fault injection: deterministic decisions keyed by (seed, request number)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

RATE_KEYS = ("error_rate", "drop_rate", "slow_rate", "truncated_json_rate", "non_json_rate", "download_cut_rate")
KNOWN_KEYS = frozenset(
    RATE_KEYS
    + (
        "error_statuses",
        "slow_seconds",
        "burst_429",
        "long_429_seconds",
        "repeat_cursor",
        "empty_first_page",
        "export_failed",
        "expired_download_urls",
        "first_per_path",
        "paths",
    )
)


@dataclass
class Decision:
    """What to do to one request. Several can be set (slow + drop); 429s and errors short-circuit the handler."""

    too_many: bool = False
    retry_after: bool = True
    error_status: int | None = None
    error_html: bool = False
    slow_seconds: float = 0.0
    drop: bool = False
    truncate: bool = False
    non_json: bool = False
    download_cut: bool = False

    @property
    def name(self) -> str | None:
        for attr, label in (
            ("too_many", "429"),
            ("error_status", "error"),
            ("drop", "drop"),
            ("truncate", "truncated_json"),
            ("non_json", "non_json"),
            ("download_cut", "download_cut"),
        ):
            if getattr(self, attr):
                return label
        return "slow" if self.slow_seconds else None


def validate(spec: dict | None) -> dict:
    """Check a fault specification; raise ValueError on anything unknown or malformed."""
    spec = dict(spec or {})
    unknown = set(spec) - KNOWN_KEYS
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
    for key in RATE_KEYS:
        if key in spec:
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{key} must be a number between 0 and 1")
    statuses = spec.get("error_statuses", [500, 502, 503])
    if (
        not isinstance(statuses, list)
        or not statuses
        or not all(isinstance(s, int) and 400 <= s < 600 for s in statuses)
    ):
        raise ValueError("error_statuses must be a non-empty list of HTTP error codes")
    spec["error_statuses"] = statuses
    expired = spec.get("expired_download_urls")
    if expired is not None and (isinstance(expired, bool) or not isinstance(expired, int) or expired < 0):
        raise ValueError("expired_download_urls must be a non-negative integer")
    for key in ("slow_seconds", "long_429_seconds"):
        if key in spec and (isinstance(spec[key], bool) or not isinstance(spec[key], int | float) or spec[key] < 0):
            raise ValueError(f"{key} must be a non-negative number")
    burst = spec.get("burst_429")
    if burst is not None:
        if not isinstance(burst, dict) or set(burst) - {"every", "length", "retry_after"}:
            raise ValueError("burst_429 must be {'every': N, 'length': M, 'retry_after': bool}")
        every, length = burst.get("every"), burst.get("length", 1)
        if not isinstance(every, int) or every < 1 or not isinstance(length, int) or not 0 <= length <= every:
            raise ValueError("burst_429 needs integer every >= 1 and 0 <= length <= every")
    paths = spec.get("paths")
    if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
        raise ValueError("paths must be a list of path prefixes")
    for key in ("repeat_cursor", "empty_first_page", "export_failed", "first_per_path"):
        if key in spec and not isinstance(spec[key], bool):
            raise ValueError(f"{key} must be true or false")
    return spec


class Faults:
    def __init__(self, seed: int, spec: dict | None = None):
        self._seed = seed
        self._lock = threading.Lock()
        self.set(spec)

    def set(self, spec: dict | None) -> dict:
        checked = validate(spec)
        with self._lock:
            self.spec = checked
            self.set_at = time.monotonic()
            self._burst_counter = 0
            self._expired_urls = 0
            self._seen_paths: set[str] = set()
            self.repeated_chains: set[int] = set()
        return checked

    def applies(self, path: str) -> bool:
        paths = self.spec.get("paths")
        return not paths or any(path.startswith(p) for p in paths)

    def flag(self, name: str, path: str) -> bool:
        return bool(self.spec.get(name)) and self.applies(path)

    def claim_repeat(self, chain: int) -> bool:
        """True once per chain id: this page's `next` should repeat the cursor just used."""
        with self._lock:
            if chain in self.repeated_chains:
                return False
            self.repeated_chains.add(chain)
            return True

    def claim_expired_url(self, path: str) -> bool:
        """True for the first `expired_download_urls` download URLs handed out since set(): serve them expired."""
        if not self.applies(path):
            return False
        with self._lock:
            if self._expired_urls >= self.spec.get("expired_download_urls", 0):
                return False
            self._expired_urls += 1
            return True

    def decide(self, n: int, path: str, download: bool = False) -> Decision:
        spec = self.spec
        decision = Decision()
        if not spec or not self.applies(path):
            return decision
        rng = random.Random(self._seed * 1_000_003 + n)
        draws = [rng.random() for _ in range(9)]
        first = False
        if spec.get("first_per_path"):
            with self._lock:
                first = path not in self._seen_paths
                self._seen_paths.add(path)
        if first:
            draws = [0.0] * len(draws)  # every fault with a rate above 0 fires
        if not download:
            long_429 = spec.get("long_429_seconds", 0)
            if long_429 and time.monotonic() - self.set_at < long_429:
                decision.too_many = True
                return decision
            burst = spec.get("burst_429")
            if burst:
                with self._lock:
                    k = self._burst_counter
                    self._burst_counter += 1
                if first or k % burst["every"] >= burst["every"] - burst.get("length", 1):
                    decision.too_many = True
                    decision.retry_after = bool(burst.get("retry_after", True))
                    return decision
        if draws[0] < spec.get("error_rate", 0):
            statuses = spec["error_statuses"]
            decision.error_status = statuses[int(draws[1] * len(statuses)) % len(statuses)]
            decision.error_html = draws[2] < 0.5
            return decision
        if draws[3] < spec.get("slow_rate", 0):
            decision.slow_seconds = float(spec.get("slow_seconds", 5))
        if draws[4] < spec.get("drop_rate", 0):
            decision.drop = True
        elif download:
            if draws[7] < spec.get("download_cut_rate", 0):
                decision.download_cut = True
        elif draws[5] < spec.get("truncated_json_rate", 0):
            decision.truncate = True
        elif draws[6] < spec.get("non_json_rate", 0):
            decision.non_json = True
        return decision
