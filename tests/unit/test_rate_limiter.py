"""RateLimiter: the sliding window counted from real send times, spacing, priority, pause, thread safety. Fake
clock: no real waiting."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customerio import Cancelled, ChainPriority, RateLimiter, chain_priority
from sandbox import RateLimiter as ServerWindow  # the sandbox's sliding-window limiter (what the server counts)

MARGIN = RateLimiter().margin  # the default: a few milliseconds
SPAN = 1.0 + MARGIN  # what 11 consecutive requests span at least
SPACING = 0.05  # the closest two consecutive requests come (half of 1 / rate; a fifth in a crowd)


class FakeClock:
    """A clock that moves only when sleep() is called (advance=True) or by hand; ``late`` oversleeps each sleep."""

    def __init__(self, now: float = 100.0, advance: bool = True, late=lambda: 0.0) -> None:
        self.now = now
        self.advance = advance
        self.late = late
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.advance:
            self.now += seconds + self.late()


def sends(limiter: RateLimiter, count: int) -> list[float]:
    return [limiter.acquire() for _ in range(count)]


def test_long_run_rate_is_within_the_margin_of_ten_per_second():
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    times = sends(limiter, 501)
    rate = 500 / (times[-1] - times[0])
    assert rate == pytest.approx(10 / SPAN, rel=2e-2)  # 9.95/s: a flat 9.5/s would give away 5%
    assert limiter.effective_rate == pytest.approx(10 / SPAN)
    assert limiter.acquisitions == 501


def test_eleven_consecutive_sends_span_more_than_a_second_plus_the_margin():
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    times = sends(limiter, 200)
    assert min(times[i + 10] - times[i] for i in range(len(times) - 10)) >= SPAN - 1e-9


def test_a_quiet_second_leaves_slots_the_next_requests_use_spaced_not_all_at_once():
    # The server counts a sliding second: the first ten may go at once, the eleventh a second after the first.
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    times = sends(limiter, 21)
    assert times[0] == 100.0  # the first request goes at once
    assert [b - a for a, b in itertools.pairwise(times[:10])] == pytest.approx([SPACING] * 9)
    assert times[10] == pytest.approx(times[0] + SPAN)
    assert times[20] == pytest.approx(times[10] + SPAN)


def test_a_crowd_of_waiting_callers_is_let_through_closer_together():
    # Many requests ready (a window just split into chains): free slots are caught up with at 20 ms, not 50 ms.
    from customerio.rate_limiter import CROWD

    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    first = limiter.acquire()
    limiter._waiting.extend((0.0, n) for n in range(CROWD))  # callers waiting in line (a heap of equal ranks)
    assert limiter._allowed() == pytest.approx(first + 0.02)
    limiter._waiting.clear()
    assert limiter._allowed() == pytest.approx(first + SPACING)


def test_idle_time_is_not_banked_beyond_one_window():
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    sends(limiter, 3)
    fake.now += 10.0
    idle_until = fake.now
    resumed = sends(limiter, 25)
    assert resumed[0] == idle_until  # at once after a pause in the work
    assert [b - a for a, b in itertools.pairwise(resumed[:10])] == pytest.approx([SPACING] * 9)
    assert min(resumed[i + 10] - resumed[i] for i in range(len(resumed) - 10)) >= SPAN - 1e-9


def test_a_request_that_leaves_late_moves_its_place_in_the_window():
    # The window counts from when a request really left (leaving()), not from when it was allowed to go.
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    first = limiter.acquire()
    fake.now += 0.03  # the thread ran 30 ms late before writing it
    limiter.leaving(first)
    fake.now += 0.001  # a quick write: it left when it started
    limiter.left(first)
    times = [first, *sends(limiter, 10)]
    assert times[10] == pytest.approx(first + 0.03 + SPAN)
    limiter.leaving(12345.0)  # an unknown ticket (long gone from the window) changes nothing
    assert limiter.acquire() == pytest.approx(max(times[1] + SPAN, times[10] + SPACING))


def test_a_write_that_took_long_counts_from_its_end():
    # The thread may have been held before the bytes went (a throttled process): the end is the safe time.
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    first = limiter.acquire()
    limiter.leaving(first)
    fake.now += 0.025
    limiter.left(first)
    times = [first, *sends(limiter, 10)]
    assert times[10] == pytest.approx(first + 0.025 + SPAN)


def test_a_late_wake_up_is_recorded_late_and_the_window_counts_from_it():
    lateness = iter([0.0] * 20 + [0.03] + [0.0] * 200)  # one wake-up 30 ms late
    fake = FakeClock(late=lambda: next(lateness))
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    times = sends(limiter, 120)
    assert min(times[i + 10] - times[i] for i in range(len(times) - 10)) >= SPAN - 1e-9
    late = next(i for i in range(11, len(times)) if times[i] - times[i - 10] > SPAN + 0.02)
    assert times[late + 10] - times[late] == pytest.approx(SPAN)  # ten places later it counts from the real time
    assert 100 / (times[-1] - times[-101]) > 0.99 * 10 / SPAN  # 30 ms lost once, not on every later request


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), delay=st.floats(0.0, MARGIN * 0.99))
def test_the_server_never_answers_429_when_requests_reach_it_within_the_margin(seed, delay):
    # Wake-ups are late by up to 20 ms and each request reaches the server up to `delay` (< margin) after it was
    # recorded here: the server's own sliding window (the sandbox's) admits every request.
    draw = random.Random(seed)
    fake = FakeClock(late=lambda: draw.random() * 0.02)
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    server = ServerWindow(10)
    for sent in sends(limiter, 150):
        assert server.allow("key", now=sent + draw.random() * delay)


def test_exactly_ten_per_second_without_margin_meets_the_server_on_the_edge():
    # Why the margin exists: without it, a request that reaches the server a moment early is refused.
    fake = FakeClock()
    limiter = RateLimiter(margin=0.0, clock=fake.clock, sleep=fake.sleep)
    times = sends(limiter, 11)
    server = ServerWindow(10)
    assert all(server.allow("key", now=t + 0.002) for t in times[:10])
    assert not server.allow("key", now=times[10] + 0.0)


def test_a_free_slot_goes_to_the_longest_chain_waiting():
    # Two chains wait for the same slot: the one with more requests left gets it, though it came second.
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    sends(limiter, 10)  # the window is full: the next slot is almost a second away
    gate, lock, sleeping, order = threading.Event(), threading.Lock(), [], []

    def gated_sleep(seconds: float) -> None:
        with lock:
            target = fake.now + seconds
            sleeping.append(seconds)
        gate.wait(5)
        with lock:
            fake.now = max(fake.now, target)

    limiter._sleep = gated_sleep

    def chain(name: str, left: float) -> None:
        with chain_priority() as priority:
            priority.left = left
            order.append((name, limiter.acquire()))

    short = threading.Thread(target=chain, args=("short", 3.0))
    short.start()
    while not sleeping:  # the short chain is first in line and sleeps until the slot
        time.sleep(0.001)
    long = threading.Thread(target=chain, args=("long", 40.0))
    long.start()
    while len(sleeping) < 2:  # the long chain came, is now first in line and sleeps until the same slot
        time.sleep(0.001)
    gate.set()
    short.join(5)
    long.join(5)
    assert [name for name, _ in order] == ["long", "short"]
    assert order[1][1] - order[0][1] >= SPACING - 1e-9


def test_chain_priority_walked_estimates_what_is_left_from_how_far_pages_reached():
    chain = ChainPriority()
    chain.walked(pages=4, top=1_000, reached=800, bottom=0)  # 4 pages covered 200 s: 800 s left, about 16 pages
    assert chain.left == pytest.approx(16)
    chain.walked(pages=5, top=1_000, reached=None, bottom=0)  # a page without times changes nothing
    assert chain.left == pytest.approx(16)
    chain.walked(pages=20, top=1_000, reached=-5, bottom=0)  # past the bottom: nothing left
    assert chain.left == 0


def test_cancel_wakes_callers_waiting_in_line():
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    sends(limiter, 10)
    first_sleeps = threading.Event()
    outcomes: list[str] = []

    def sleep(seconds: float) -> None:  # the first in line sleeps until the run is cancelled
        first_sleeps.set()
        while not limiter._cancelled:
            time.sleep(0.001)

    limiter._sleep = sleep

    def caller() -> None:
        try:
            limiter.acquire()
            outcomes.append("sent")
        except Cancelled:
            outcomes.append("cancelled")

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for thread in threads:
        thread.start()
    first_sleeps.wait(5)
    limiter.cancel()
    for thread in threads:
        thread.join(5)
    assert outcomes == ["cancelled"] * 3


def test_pause_holds_every_later_request():
    fake = FakeClock(advance=False)
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    assert limiter.acquire() == pytest.approx(100.0)
    limiter.pause(2.0)
    assert limiter.acquire() == pytest.approx(102.0)
    assert fake.sleeps[-1] == pytest.approx(2.0)


def test_each_429_widens_the_margin_up_to_a_cap_and_calm_narrows_it_again():
    from customerio.rate_limiter import MAX_MARGIN, RELAX_AFTER, RELAX_STEP, WIDEN_STEP

    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    limiter.pause(1.0)
    assert limiter.margin == pytest.approx(MARGIN + WIDEN_STEP)
    for _ in range(10):
        limiter.pause(1.0)
    assert limiter.margin == pytest.approx(MAX_MARGIN)
    times = sends(limiter, 12)
    assert times[11] - times[1] >= 1.0 + MAX_MARGIN - 1e-9  # the wider margin is what the window check uses
    sends(limiter, RELAX_AFTER * 3)
    assert limiter.margin == pytest.approx(MAX_MARGIN - 3 * RELAX_STEP)
    sends(limiter, RELAX_AFTER * 100)
    assert limiter.margin == pytest.approx(MARGIN)  # never below the configured one


def test_pause_never_moves_the_limit_earlier():
    fake = FakeClock(advance=False)
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    limiter.pause(5.0)
    limiter.pause(1.0)
    limiter.pause(0)
    limiter.pause(-5)
    assert limiter.acquire() == pytest.approx(105.0)


def test_a_pause_while_a_request_sleeps_makes_it_wait_again():
    fake = FakeClock()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    first_sleep = True

    def sleep(seconds: float) -> None:
        nonlocal first_sleep
        if first_sleep:  # another thread's 429 arrives while this one sleeps
            first_sleep = False
            limiter.pause(3.0)
        fake.sleep(seconds)

    limiter._sleep = sleep
    assert limiter.acquire() == pytest.approx(103.0)


def test_threads_take_turns_and_the_window_holds_for_all_of_them():
    fake = FakeClock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            fake.sleep(seconds)

    limiter = RateLimiter(clock=fake.clock, sleep=sleep)
    threads_count, per_thread = 8, 25
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
        thread.join(10)
    times = sorted(t for result in results for t in result)
    assert len(times) == threads_count * per_thread == limiter.acquisitions
    assert min(times[i + 10] - times[i] for i in range(len(times) - 10)) >= SPAN - 1e-9
    assert min(b - a for a, b in itertools.pairwise(times)) >= SPACING - 1e-9


def test_a_constant_clock_and_a_sleep_that_does_nothing_do_not_hang():
    limiter = RateLimiter(rate_per_second=1000.0, clock=lambda: 0.0, sleep=lambda seconds: None)
    assert len(sends(limiter, 2500)) == 2500


@pytest.mark.parametrize("kwargs", [{"rate_per_second": 0}, {"rate_per_second": -1}, {"margin": 1.0},
                                    {"margin": -0.1}])
def test_rejects_impossible_settings(kwargs):
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(min_value=0.5, max_value=100), margin=st.floats(min_value=0, max_value=0.5),
       gaps=st.lists(st.floats(min_value=0, max_value=3), min_size=1, max_size=60))
def test_sends_never_come_sooner_than_the_window_allows(rate, margin, gaps):
    fake = FakeClock()
    limiter = RateLimiter(rate_per_second=rate, margin=margin, clock=fake.clock, sleep=fake.sleep)
    per_window = max(1, int(rate))
    times = []
    for gap in gaps:
        fake.now += gap
        before = fake.now
        times.append(limiter.acquire())
        assert times[-1] >= before
    for i in range(len(times) - per_window):
        assert times[i + per_window] - times[i] >= per_window / rate + margin - 1e-9
    assert all(b - a >= limiter.spacing - 1e-9 for a, b in itertools.pairwise(times))
