"""Bucket maths of the metrics dataset: Eastern calendar buckets across daylight-saving changes, step maxima,
the answer's time strings."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datasets.metrics import periods

EASTERN = ZoneInfo("America/New_York")
HOUR, DAY = 3600, 86400


def eastern(*args: int) -> int:
    return int(datetime(*args, tzinfo=EASTERN).timestamp())


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(("now", "short_or_long_day", "length"), [
    (eastern(2026, 3, 20, 9, 30), eastern(2026, 3, 8), 23 * HOUR),  # spring forward
    (eastern(2026, 11, 10, 23, 59), eastern(2026, 11, 1), 25 * HOUR),  # fall back
])
def test_days_across_a_daylight_saving_change(now, short_or_long_day, length):
    starts = periods.v1_starts(now, "days", 45)
    assert len(set(starts)) == 45
    assert starts[-1] == periods.bucket_start(now, "days")  # the last bucket is the running one
    assert all(datetime.fromtimestamp(s, EASTERN).time().isoformat() == "00:00:00" for s in starts)
    gaps = {a: b - a for a, b in itertools.pairwise(starts)}
    assert gaps[short_or_long_day] == length
    assert sorted(set(gaps.values())) == sorted({DAY, length})


def test_hours_are_absolute_hours_through_the_repeated_hour():
    now = eastern(2026, 11, 1, 3, 20)  # 01:00-02:00 happened twice this night
    starts = periods.v1_starts(now, "hours", 24)
    assert [b - a for a, b in itertools.pairwise(starts)] == [HOUR] * 23
    assert starts[-1] == utc(2026, 11, 1, 8)  # 03:00 EST
    assert all(s % HOUR == 0 for s in starts)


def test_weeks_start_on_sunday_and_months_on_the_first():
    now = eastern(2026, 3, 11, 15)  # a Wednesday
    weeks = periods.v1_starts(now, "weeks", 12)
    assert all(datetime.fromtimestamp(s, EASTERN).weekday() == 6 for s in weeks)  # Sunday
    assert weeks[-1] == eastern(2026, 3, 8)
    months = periods.v1_starts(now, "months", 121)
    assert months[0] == eastern(2016, 3, 1) and months[-1] == eastern(2026, 3, 1)
    assert all(datetime.fromtimestamp(s, EASTERN).day == 1 for s in months)


def test_steps_reach_back_to_the_earliest_bucket_within_the_maxima():
    now = eastern(2026, 3, 11, 15)
    assert periods.v1_steps(None, now, "days") == 45
    assert periods.v1_steps(eastern(2026, 3, 4, 23), now, "days") == 8  # 4th .. 11th
    assert periods.v1_steps(now - 60, now, "days") == 2  # fewer than 2 steps do not exist
    assert periods.v1_steps(eastern(2020, 1, 1), now, "months") == 75
    assert periods.v1_steps(eastern(2010, 1, 1), now, "months") == 121
    assert periods.v1_steps(eastern(2026, 1, 15), now, "weeks") == 9
    assert periods.v1_steps(now - 5 * HOUR - 1, now, "hours") == 7


@given(st.integers(min_value=utc(2000, 1, 1), max_value=utc(2040, 1, 1)),
       st.sampled_from(periods.RESOLUTIONS), st.sampled_from(["America/New_York", "UTC"]))
def test_a_bucket_holds_its_instant_and_steps_back_and_forth(ts, resolution, zone_name):
    zone = ZoneInfo(zone_name)
    start = periods.bucket_start(ts, resolution, zone)
    following = periods.shift(start, resolution, 1, zone)
    assert start <= ts < following
    assert periods.bucket_start(start, resolution, zone) == start
    assert periods.shift(following, resolution, -1, zone) == start
    assert periods.buckets_spanned(start, following, resolution, zone) == 2


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-01-01 00:00:00 +0000 UTC", utc(2025, 1, 1)),
    ("2025-03-09 00:00:00 -0500 EST", utc(2025, 3, 9, 5)),
    ("2025-01-01T00:00:00Z", utc(2025, 1, 1)),
    ("2025-01-01T00:00:00+01:00", utc(2024, 12, 31, 23)),
    (1735689600, utc(2025, 1, 1)),
    ("1735689600", utc(2025, 1, 1)),
])
def test_answer_times(text, expected):
    assert periods.parse_api_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "", None, "2025-13-01 00:00:00 +0000 UTC"])
def test_unreadable_answer_times(text):
    with pytest.raises(ValueError):
        periods.parse_api_time(text)


def test_ten_years_before():
    assert periods.ten_years_before(utc(2026, 3, 10, 12)) == utc(2016, 3, 10, 12)
    assert periods.ten_years_before(utc(2028, 2, 29)) == utc(2018, 2, 28)
