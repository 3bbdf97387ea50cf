"""Bucket maths for the metrics endpoints: where each bucket of a series starts, as unix seconds (UTC).

- `version=2` endpoints (campaigns, campaign actions) answer `start` and one entry per bucket from there, in the
  time zone the request named (`tz`, we send UTC).
- The older `period`/`steps` endpoints answer the last `steps` buckets up to and including the current one, in US
  Eastern time: days start at 00:00 Eastern, weeks on Sunday, months on the 1st. Bucket starts are therefore
  computed from the request time, in the calendar of America/New_York, so a daylight-saving change gives a 23- or
  25-hour day, never a duplicate or missing `period_start`. Hours are absolute hours (Eastern offsets are whole
  hours, so an Eastern hour is a UTC hour).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

RESOLUTIONS = ("hours", "days", "weeks", "months")
EASTERN = ZoneInfo("America/New_York")
HOUR = 3600
# The older endpoints' `steps` maxima; fewer than 2 steps is impossible (1 answers 2 buckets, 0 the maximum).
V1_MAX_STEPS = {"hours": 24, "days": 45, "weeks": 12, "months": 121}
V1_MIN_STEPS = 2
V2_MAX_SPAN_YEARS = 10  # `end` at most 10 years after `start`


def bucket_start(ts: int, resolution: str, zone: ZoneInfo = EASTERN) -> int:
    """The start of the bucket that holds the instant `ts`."""
    local = datetime.fromtimestamp(ts, zone)
    if resolution == "hours":
        return ts - (local.minute * 60 + local.second)
    day = local.date()
    if resolution == "weeks":
        day -= timedelta(days=(day.weekday() + 1) % 7)  # back to Sunday
    elif resolution == "months":
        day = day.replace(day=1)
    elif resolution != "days":
        raise ValueError(f"unknown resolution {resolution!r}")
    return _midnight(day, zone)


def shift(start: int, resolution: str, count: int, zone: ZoneInfo = EASTERN) -> int:
    """The start of the bucket `count` buckets after the bucket starting at `start` (before, when negative)."""
    if resolution == "hours":
        return start + count * HOUR
    day = datetime.fromtimestamp(start, zone).date()
    if resolution == "days":
        day += timedelta(days=count)
    elif resolution == "weeks":
        day += timedelta(days=7 * count)
    elif resolution == "months":
        months = day.year * 12 + day.month - 1 + count
        day = date(months // 12, months % 12 + 1, 1)
    else:
        raise ValueError(f"unknown resolution {resolution!r}")
    return _midnight(day, zone)


def starts(first: int, resolution: str, count: int, zone: ZoneInfo = EASTERN) -> list[int]:
    """`count` consecutive bucket starts from the bucket starting at `first`, oldest first."""
    return [shift(first, resolution, i, zone) for i in range(count)]


def buckets_spanned(earliest: int, now: int, resolution: str, zone: ZoneInfo = EASTERN) -> int:
    """How many buckets run from the one holding `earliest` to the one holding `now`, both included."""
    first, current = bucket_start(earliest, resolution, zone), bucket_start(now, resolution, zone)
    if first >= current:
        return 1
    if resolution == "hours":
        return (current - first) // HOUR + 1
    a, b = datetime.fromtimestamp(first, zone).date(), datetime.fromtimestamp(current, zone).date()
    if resolution == "days":
        return (b - a).days + 1
    if resolution == "weeks":
        return (b - a).days // 7 + 1
    return (b.year * 12 + b.month) - (a.year * 12 + a.month) + 1


def v1_steps(earliest: int | None, now: int, resolution: str) -> int:
    """The `steps` that reach back to the bucket holding `earliest` (None: as far as the endpoint goes)."""
    maximum = V1_MAX_STEPS[resolution]
    if earliest is None:
        return maximum
    return max(V1_MIN_STEPS, min(maximum, buckets_spanned(earliest, now, resolution)))


def v1_starts(now: int, resolution: str, count: int) -> list[int]:
    """Bucket starts of an older-endpoint answer with `count` buckets requested at `now`: oldest first, the last
    one the bucket that holds `now`."""
    current = bucket_start(now, resolution)
    return starts(shift(current, resolution, -(count - 1)), resolution, count)


def ten_years_before(ts: int) -> int:
    moment = datetime.fromtimestamp(ts, UTC)
    try:
        earlier = moment.replace(year=moment.year - V2_MAX_SPAN_YEARS)
    except ValueError:  # 29 February
        earlier = moment.replace(year=moment.year - V2_MAX_SPAN_YEARS, day=28)
    return int(earlier.timestamp())


# "2025-01-01 00:00:00 +0000 UTC" (what the API sends although the spec says ISO 8601), or ISO 8601 itself.
_GO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)? ?([+-]\d{2}:?\d{2}|Z)?(?: [A-Za-z0-9+-]+)?$")


def parse_api_time(value: object) -> int:
    """A `start`/`end` value of a `version=2` answer -> unix seconds. Raises ValueError when it is none of the
    shapes seen (Go time string, ISO 8601, unix seconds)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        match = _GO_TIME.match(text)
        if match:
            day, clock, offset = match.groups()
            offset = "+00:00" if offset in (None, "Z") else offset
            if ":" not in offset:
                offset = f"{offset[:3]}:{offset[3:]}"
            return int(datetime.fromisoformat(f"{day}T{clock}{offset}").timestamp())
    raise ValueError(f"not a time: {value!r}")


def _midnight(day: date, zone: ZoneInfo) -> int:
    # Midnight exists exactly once in America/New_York (the clocks change at 02:00), and always in UTC.
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())
