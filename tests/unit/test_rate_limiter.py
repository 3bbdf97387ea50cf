"""RateLimiter: even pacing at rate*(1-margin), pause, thread safety. Fake clock and sleep: no real waiting."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customerio import RateLimiter

INTERVAL = 1 / 9.5  # default: 10/s minus 5 %


class FakeClock:
    """A clock that only moves when sleep() is called (advance=True) or by hand."""

    def __init__(self, now: float = 100.0, advance: bool = True) -> None:
        self.now = now
        self.advance = advance
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.advance:
            self.now += seconds


def test_default_rate_is_ten_per_second_minus_five_percent():
    limiter = RateLimiter()
    assert limiter.interval == pytest.approx(INTERVAL)
    assert limiter.effective_rate == pytest.approx(9.5)


def test_slots_are_evenly_spaced_at_9_5_per_second():
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    slots = [limiter.acquire() for _ in range(20)]
    assert slots == pytest.approx([100.0 + k * INTERVAL for k in range(20)])
    # The first request goes at once; each later one waits exactly one interval (no bursts).
    assert fake.sleeps == pytest.approx([INTERVAL] * 19)
    assert fake.now == pytest.approx(slots[-1])
    assert limiter.acquisitions == 20


def test_no_sliding_second_holds_more_than_ten_requests():
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    slots = [limiter.acquire() for _ in range(100)]
    # 11 consecutive requests must span more than one second, with room to spare for network jitter.
    assert min(slots[i + 10] - slots[i] for i in range(90)) > 1.05


def test_without_margin_eleven_requests_span_exactly_one_second():
    # This is why the margin exists: at exactly 10/s the 11th request sits on the edge of the server's window.
    fake = FakeClock()
    limiter = RateLimiter(rate_per_second=10.0, margin=0.0, clock=fake.clock, sleep=fake.sleep)
    slots = [limiter.acquire() for _ in range(11)]
    assert slots[10] - slots[0] == pytest.approx(1.0)


def test_idle_time_does_not_allow_a_burst():
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        limiter.acquire()
    fake.now += 10.0
    idle_until = fake.now
    sleeps_so_far = len(fake.sleeps)
    resumed = limiter.acquire()
    assert resumed == idle_until and len(fake.sleeps) == sleeps_so_far  # went at once
    following = limiter.acquire()
    assert following - resumed == pytest.approx(INTERVAL)  # but the next one waits a full interval


def test_pause_pushes_every_later_slot():
    fake = FakeClock(advance=False)
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    assert limiter.acquire() == pytest.approx(100.0)
    assert limiter.acquire() == pytest.approx(100.0 + INTERVAL)
    limiter.pause(2.0)
    later = [limiter.acquire() for _ in range(3)]
    assert later == pytest.approx([102.0, 102.0 + INTERVAL, 102.0 + 2 * INTERVAL])
    # The callers were told to sleep until those slots.
    assert fake.sleeps[-3:] == pytest.approx([2.0, 2.0 + INTERVAL, 2.0 + 2 * INTERVAL])


def test_pause_never_moves_slots_earlier():
    fake = FakeClock(advance=False)
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    for _ in range(30):
        limiter.acquire()  # backlog up to 100 + 29 intervals
    limiter.pause(1.0)
    limiter.pause(0)
    limiter.pause(-5)
    assert limiter.acquire() == pytest.approx(100.0 + 30 * INTERVAL)


def test_threads_get_distinct_evenly_spaced_slots():
    fake = FakeClock(advance=False)
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    threads_count, per_thread = 16, 25
    barrier = threading.Barrier(threads_count)
    results: list[list[float]] = [[] for _ in range(threads_count)]

    def worker(index: int) -> None:
        barrier.wait()
        for _ in range(per_thread):
            results[index].append(limiter.acquire())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    slots = sorted(slot for result in results for slot in result)
    total = threads_count * per_thread
    assert len(slots) == total
    assert slots == pytest.approx([100.0 + k * INTERVAL for k in range(total)])
    assert limiter.acquisitions == total
    assert len(fake.sleeps) == total - 1  # everyone but the first waited for a slot of its own


def test_sleeping_happens_outside_the_lock():
    entered, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(2.0)  # the first sleeper blocks until released

    limiter = RateLimiter(clock=lambda: 0.0, sleep=sleep)
    limiter.acquire()  # slot 0: no sleep
    first = threading.Thread(target=limiter.acquire)
    first.start()
    try:
        assert entered.wait(1.0)
        second = threading.Thread(target=limiter.acquire)
        second.start()
        second.join(1.0)
        assert not second.is_alive(), "acquire() blocked while another thread was sleeping"
    finally:
        release.set()
        first.join(2.0)
    assert limiter.acquisitions == 3


@pytest.mark.parametrize("kwargs", [{"rate_per_second": 0}, {"rate_per_second": -1}, {"margin": 1.0},
                                    {"margin": -0.1}])
def test_rejects_impossible_settings(kwargs):
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(min_value=0.5, max_value=100), margin=st.floats(min_value=0, max_value=0.5),
       gaps=st.lists(st.floats(min_value=0, max_value=3), min_size=1, max_size=40))
def test_slots_never_closer_than_the_interval(rate, margin, gaps):
    fake = FakeClock()
    limiter = RateLimiter(rate_per_second=rate, margin=margin, clock=fake.clock, sleep=fake.sleep)
    previous = None
    for gap in gaps:
        fake.now += gap
        before = fake.now
        slot = limiter.acquire()
        assert slot >= before
        if previous is not None:
            assert slot - previous >= limiter.interval * (1 - 1e-9)
        previous = slot
