"""Progress: lines only after the interval, fixed text apart from the figures, percentage or steps when known."""

from __future__ import annotations

import logging

import pytest

from progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def lines(caplog):
    caplog.set_level(logging.INFO, logger="progress")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "progress"]


def test_quiet_before_the_interval_then_one_line_per_interval(lines):
    clock = Clock()
    progress = Progress("messages", interval=30, clock=clock)
    for _ in range(14):
        clock.now += 2
        progress.add(1000)
    assert lines() == []  # 28 s: nothing yet
    clock.now += 2
    progress.add(1000)  # 30 s
    assert lines() == ["messages: 15,000 records so far (500/s)."]
    clock.now += 29
    progress.add(500)
    assert len(lines()) == 1  # the interval counts from the last line, not from the start
    clock.now += 1
    progress.add(500)
    assert lines()[-1] == "messages: 16,000 records so far (267/s)."
    assert progress.count == 16_000


def test_percentage_when_the_total_is_known(lines):
    clock = Clock()
    progress = Progress("segment 7 membership", unit="rows", total=150_000, interval=30, clock=clock)
    clock.now += 40
    progress.add(60_000)
    assert lines() == ["segment 7 membership: 60,000 rows so far (1,500/s), 40% of 150,000."]
    clock.now += 40
    progress.add(100_000)  # more than announced (people joined): never above 100 %
    assert lines()[-1] == "segment 7 membership: 160,000 rows so far (2,000/s), 100% of 150,000."


def test_steps_with_and_without_a_known_total(lines):
    clock = Clock()
    windows = Progress("messages", interval=30, steps="windows", clock=clock)
    windows.step(0, total=17)
    windows.step()
    windows.step(2)
    clock.now += 30
    windows.add(3000)
    assert lines() == ["messages: 3,000 records so far (100/s), 3 of 17 windows done."]

    walk = Progress("messages", interval=30, steps="windows", clock=clock)
    walk.step(4)
    clock.now += 30
    walk.add(30)
    assert lines()[-1] == "messages: 30 records so far (1/s), 4 windows done."


def test_the_text_depends_only_on_the_figures(lines):
    def run() -> list[str]:
        clock = Clock()
        progress = Progress("activities", interval=30, clock=clock)
        for _ in range(4):
            clock.now += 31
            progress.add(100)
        return lines()[-4:]

    first = run()
    assert run() == first
    assert first == [f"activities: {n * 100:,} records so far (3/s)." for n in range(1, 5)]
