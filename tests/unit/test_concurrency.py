"""The concurrency toolkit: bounded submission, read-ahead, interleaved chains and keyed tasks."""

from __future__ import annotations

import random
import threading
import time

import pytest

from concurrency import BoundedExecutor, Interleaved, KeyedTasks, ReadAhead


class Boom(Exception):
    pass


# ------------------------------------------------------------------------------------------------ BoundedExecutor


def test_bounded_executor_never_holds_more_than_the_limit():
    lock = threading.Lock()
    running, most = [0], [0]

    def task(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.002)
        with lock:
            running[0] -= 1
        return n

    with BoundedExecutor(4, limit=3) as pool:
        futures = [pool.submit(task, n) for n in range(30)]
        assert len(pool._pending) <= 3
    assert [f.result() for f in futures] == list(range(30))
    assert most[0] <= 3


def test_bounded_executor_raises_the_first_failure_and_cancels_the_rest():
    started = []

    def task(n: int) -> None:
        started.append(n)
        if n == 2:
            raise Boom
        time.sleep(0.01)

    with pytest.raises(Boom), BoundedExecutor(1, limit=2) as pool:
        for n in range(50):
            pool.submit(task, n)
    assert len(started) < 50


# ------------------------------------------------------------------------------------------------------ ReadAhead


def test_read_ahead_runs_ahead_by_at_most_ahead_items():
    produced = []

    def source():
        for n in range(10):
            produced.append(n)
            yield n

    ahead = ReadAhead(source(), 2)
    time.sleep(0.05)
    assert len(produced) <= 3  # two in the queue, one waiting to be put
    assert list(ahead) == list(range(10))
    ahead.close()


def test_read_ahead_raises_the_producer_failure_in_the_consumer():
    def source():
        yield 1
        raise Boom

    with ReadAhead(source(), 1) as ahead:
        assert next(ahead) == 1
        with pytest.raises(Boom):
            next(ahead)


def test_read_ahead_close_stops_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            yield from range(1000)
        finally:
            closed.set()

    ahead = ReadAhead(source(), 1)
    assert next(ahead) == 0
    ahead.stop()  # does not wait
    assert closed.wait(2)
    ahead.close()


# ---------------------------------------------------------------------------------------------------- Interleaved


def chain(key: int, count: int, seed: int, log: list | None = None):
    draw = random.Random(seed)
    for n in range(count):
        time.sleep(draw.random() * 0.003)
        if log is not None:
            log.append((key, n))
        yield (key, n)


def test_interleaved_yields_every_item_once_in_chain_order():
    chains = [(k, chain(k, 5 + k, seed=k)) for k in range(6)]
    seen: dict[int, list] = {}
    with Interleaved(chains, active=3) as items:
        for key, (k, n) in items:
            assert key == k
            seen.setdefault(key, []).append(n)
    assert seen == {k: list(range(5 + k)) for k in range(6)}


def test_interleaved_bounds_active_chains_and_items_ahead():
    lock = threading.Lock()
    active, most_active = set(), [0]
    fetched = {}

    def tracked(key: int):
        with lock:
            active.add(key)
            most_active[0] = max(most_active[0], len(active))
        try:
            for n in range(4):
                with lock:
                    fetched[key] = n
                yield n
                time.sleep(0.001)
        finally:
            with lock:
                active.discard(key)

    consumed = {}
    with Interleaved([(k, tracked(k)) for k in range(8)], active=3, ahead=1) as items:
        for key, n in items:
            consumed[key] = n
            with lock:
                # ahead=1: a chain never fetches its next item before the consumer is done with this one
                assert fetched[key] == n
            time.sleep(0.002)
    assert most_active[0] <= 3
    assert consumed == dict.fromkeys(range(8), 3)


def test_interleaved_release_lets_the_chain_go_on_before_the_next_item_is_asked_for():
    went_on = threading.Event()

    def source():
        yield 1
        went_on.set()
        yield 2

    with Interleaved([("a", source())], active=1) as items:
        for _, n in items:
            if n == 1:
                items.release()
                assert went_on.wait(2)


def test_interleaved_failure_stops_the_other_chains():
    stopped = threading.Event()

    def endless():
        try:
            while True:
                time.sleep(0.001)
                yield 0
        finally:
            stopped.set()

    def failing():
        yield 1
        raise Boom

    with pytest.raises(Boom), Interleaved([("endless", endless()), ("failing", failing())], active=2) as items:
        for _ in items:
            pass
    assert stopped.wait(2)


def test_interleaved_without_chains_yields_nothing():
    with Interleaved([], active=4) as items:
        assert list(items) == []


# ----------------------------------------------------------------------------------------------------- KeyedTasks


def test_keyed_tasks_run_lowest_key_first_and_tasks_may_add_tasks():
    order = []
    tasks: KeyedTasks = KeyedTasks(1)

    def work(key: tuple) -> str:
        order.append(key)
        if key == (0,):
            tasks.add((0, 2), work, (0, 2))
            tasks.add((0, 1), work, (0, 1))
        return "-".join(map(str, key))

    for key in [(2,), (0,), (1,)]:
        tasks.add(key, work, key)
    results = tasks.run()
    assert order == [(0,), (0, 1), (0, 2), (1,), (2,)]
    assert list(results) == [(0,), (0, 1), (0, 2), (1,), (2,)]
    assert results[(0, 2)] == "0-2"


def test_keyed_tasks_never_run_more_than_workers_at_once_and_results_do_not_depend_on_timing():
    lock = threading.Lock()
    running, most = [0], [0]
    draw = random.Random(3)

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            pause = draw.random() * 0.003
        time.sleep(pause)
        with lock:
            running[0] -= 1
        return n * n

    tasks: KeyedTasks = KeyedTasks(3)
    for n in range(40):
        tasks.add((n,), work, n)
    assert tasks.run() == {(n,): n * n for n in range(40)}
    assert most[0] <= 3


def test_keyed_tasks_raise_the_first_failure_and_drop_what_has_not_started():
    started = []

    def work(n: int) -> None:
        started.append(n)
        if n == 1:
            raise Boom

    tasks: KeyedTasks = KeyedTasks(1)
    for n in range(20):
        tasks.add((n,), work, n)
    with pytest.raises(Boom):
        tasks.run()
    assert started == [0, 1]


def test_keyed_tasks_refuse_a_key_twice():
    tasks: KeyedTasks = KeyedTasks(1)
    tasks.add((1,), print)
    with pytest.raises(ValueError):
        tasks.add((1,), print)
