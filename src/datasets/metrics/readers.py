"""One request per entity and table: fetch a metrics answer and turn it into rows.

`version=2` (campaigns, campaign actions): `res`, `start`, `end`, `tz=UTC`; the answer's `start` and the series
length give the buckets. Older endpoints (everything else, and every link endpoint): `period` and `steps`; the
buckets end with the one running at the request time, in US Eastern time. The request time is read from the clock
just before and just after the request: when the two fall into different buckets (the request crossed midnight
Eastern, say) nobody can tell which bucket the API counted as current, so the request is sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from zoneinfo import ZoneInfo

from customerio import CustomerIoClient
from customerio.errors import InvalidResponseError

from . import periods
from .tables import series_rows

Row = dict[str, str]
Clock = Callable[[], float]
UTC_ZONE = ZoneInfo("UTC")
_ATTEMPTS_ACROSS_A_BOUNDARY = 3


def v2_rows(client: CustomerIoClient, path: str, keys: Mapping[str, str], resolution: str, start: int, end: int,
            *, variants: bool = False) -> Iterator[Row]:
    """Campaign or campaign action metrics, `version=2`. With `variants`, one row per language variant when the
    answer has `language_variants` (the default variant as language ''), else the action's own series."""
    params = {"version": 2, "res": resolution, "start": start, "end": end, "tz": "UTC"}
    body = client.request_json("GET", path, params=params)
    try:
        first = periods.parse_api_time(body.get("start", start))
    except ValueError:
        raise _invalid(path, "a readable 'start'") from None
    first = periods.bucket_start(first, resolution, UTC_ZONE)
    yield from _metric_rows(body, path, keys, resolution, lambda count: periods.starts(
        first, resolution, count, UTC_ZONE), variants)


def v1_rows(client: CustomerIoClient, path: str, keys: Mapping[str, str], resolution: str, steps: int, clock: Clock,
            *, variants: bool = False) -> Iterator[Row]:
    """Newsletter, content, broadcast, broadcast action or transactional metrics (`period`/`steps`)."""
    body, now = _v1_request(client, path, resolution, steps, clock)
    yield from _metric_rows(body, path, keys, resolution, lambda count: periods.v1_starts(now, resolution, count),
                            variants)


def link_rows(client: CustomerIoClient, path: str, keys: Mapping[str, str], resolution: str, steps: int,
              clock: Clock) -> Iterator[Row]:
    """Link metrics: one row per link (by link id) and bucket, with the link's href."""
    body, now = _v1_request(client, path, resolution, steps, clock)
    links = body.get("links")
    if not isinstance(links, list):
        raise _invalid(path, "a 'links' list")
    entries = []
    for entry in links:
        link = entry.get("link") if isinstance(entry, dict) else None
        series = _series_of(entry.get("metric") if isinstance(entry, dict) else None)
        if not isinstance(link, dict) or series is None or as_id(link.get("id")) is None:
            raise _invalid(path, "a link id and series for every link")
        entries.append((as_id(link["id"]), str(link.get("href") or ""), series))
    for link_id, href, series in sorted(entries, key=lambda e: e[0]):
        starts = periods.v1_starts(now, resolution, _length(series))
        link_keys = {**keys, "link_id": str(link_id), "href": href}
        yield from series_rows(link_keys, resolution, starts, series)


def journey_rows(client: CustomerIoClient, path: str, keys: Mapping[str, str], resolution: str, start: int,
                 end: int) -> Iterator[Row]:
    """Campaign journey metrics: `start`, `end`, `resolution`; buckets from `start` (UTC)."""
    body = client.request_json("GET", path, params={"start": start, "end": end, "resolution": resolution})
    series = body.get("journey_metric")
    if not _is_series(series):
        raise _invalid(path, "a 'journey_metric' object of series")
    first = periods.bucket_start(start, resolution, UTC_ZONE)
    starts = periods.starts(first, resolution, _length(series), UTC_ZONE)
    yield from series_rows(keys, resolution, starts, series)


def _v1_request(client: CustomerIoClient, path: str, resolution: str, steps: int, clock: Clock) -> tuple[dict, int]:
    params = {"period": resolution, "steps": steps}
    for _ in range(_ATTEMPTS_ACROSS_A_BOUNDARY):
        before = int(clock())
        body = client.request_json("GET", path, params=params)
        after = int(clock())
        if periods.bucket_start(before, resolution) == periods.bucket_start(after, resolution):
            return body, after
    return body, after  # three requests in a row across a boundary: only with hour buckets and a very slow API


def _metric_rows(body: dict, path: str, keys: Mapping[str, str], resolution: str,
                 starts_for: Callable[[int], list[int]], variants: bool) -> Iterator[Row]:
    language_variants = body.get("language_variants") if variants else None
    if isinstance(language_variants, dict) and language_variants:
        parsed = []
        for variant in language_variants.values():
            series = _series_of(variant) if isinstance(variant, dict) else None
            if series is None:
                raise _invalid(path, "series for every language variant")
            language = "" if variant.get("default") is True else str(variant.get("language") or "")
            parsed.append((language, series))
        for language, series in sorted(parsed, key=lambda item: item[0]):
            yield from series_rows({**keys, "language": language}, resolution, starts_for(_length(series)), series)
        return
    series = _series_of(body.get("metric"))
    if series is None:
        raise _invalid(path, "'metric' series")
    row_keys = {**keys, "language": ""} if variants else dict(keys)
    yield from series_rows(row_keys, resolution, starts_for(_length(series)), series)


def _series_of(container: object) -> dict | None:
    series = container.get("series") if isinstance(container, dict) else None
    return series if _is_series(series) else None


def _is_series(series: object) -> bool:
    return isinstance(series, dict) and all(isinstance(values, list) for values in series.values())


def _length(series: Mapping[str, list]) -> int:
    return max((len(values) for values in series.values()), default=0)


def as_id(value: object) -> int | None:
    """An entity id as an int (the API sends some ids as strings); None when it is no whole number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _invalid(path: str, what: str) -> InvalidResponseError:
    return InvalidResponseError(f"Customer.io answered GET {path} without {what}; try again later.", path=path)


__all__ = ["as_id", "journey_rows", "link_rows", "v1_rows", "v2_rows"]
