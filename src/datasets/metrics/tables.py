"""The metrics tables: one row per entity (and language or link) and bucket, one INTEGER column per series.

Every table's primary key ends in (resolution, period_start): a table may hold several resolutions side by side,
and a bucket read again (the running one, or one inside the lookback) replaces its earlier row.
Series the API sends that are not listed here become columns too (INTEGER, named as sent).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from output import EVENTS, TableSpec

# The 26 series every message metrics endpoint answers (App API reference, the metrics endpoints: https://docs.customer.io/api/app/).
SERIES = ("attempted", "bounced", "clicked", "converted", "created", "deferred", "delivered", "drafted", "failed",
          "human_clicked", "human_opened", "link_untracked", "machine_clicked", "open_untracked", "opened",
          "prefetch_opened", "replied", "sent", "spammed", "suppressed", "topic_unsubscribed",
          "tracking_consent_denied", "tracking_consent_granted", "undeliverable", "unsubscribed", "untracked")
LINK_SERIES = ("clicked", "human_clicked", "machine_clicked")
JOURNEY_SERIES = ("started", "activated", "never_activated", "exited_early", "messaged", "finished", "converted")
TEXT_COLUMNS = frozenset({"language", "resolution", "href"})


class _IntegerUnlessText(Mapping):
    """Column types: every column is INTEGER (ids, period_start, any series, known or not) but the text ones."""

    def __init__(self, columns: tuple[str, ...]):
        self._columns = columns

    def __getitem__(self, key: str) -> str:
        return "STRING" if key in TEXT_COLUMNS else "INTEGER"

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


@dataclass(frozen=True)
class MetricsTable:
    spec: TableSpec
    keys: tuple[str, ...]  # the key columns, in primary-key order (href follows them in link tables)
    series: tuple[str, ...]


def _table(name: str, keys: tuple[str, ...], series: tuple[str, ...], what: str, extra: tuple[str, ...] = ()) -> MetricsTable:
    columns = (*keys, *extra, *series)
    spec = TableSpec(name=name, primary_key=keys, seed_columns=columns, column_types=_IntegerUnlessText(columns),
                     description=f"Customer.io {what}: one row per bucket; period_start is the bucket start "
                                 "(unix seconds, UTC); one column per series.",
                     kind=EVENTS)  # a time series: buckets accumulate and are upserted (see dataset.py)
    return MetricsTable(spec, keys, series)


_PERIOD = ("resolution", "period_start")
CAMPAIGN = _table("campaign_metrics", ("campaign_id", *_PERIOD), SERIES, "campaign metrics")
CAMPAIGN_ACTION = _table("campaign_action_metrics", ("campaign_id", "action_id", "language", *_PERIOD), SERIES,
                         "campaign action metrics (language '' = the default variant)")
NEWSLETTER = _table("newsletter_metrics", ("newsletter_id", *_PERIOD), SERIES, "newsletter metrics")
NEWSLETTER_CONTENT = _table("newsletter_content_metrics", ("newsletter_id", "content_id", *_PERIOD), SERIES,
                            "newsletter content (variant) metrics")
BROADCAST = _table("broadcast_metrics", ("broadcast_id", *_PERIOD), SERIES, "broadcast metrics")
BROADCAST_ACTION = _table("broadcast_action_metrics", ("broadcast_id", "action_id", "language", *_PERIOD), SERIES,
                          "broadcast action metrics (language '' = the default variant)")
TRANSACTIONAL = _table("transactional_metrics", ("transactional_message_id", *_PERIOD), SERIES,
                       "transactional message metrics")
CAMPAIGN_LINK = _table("campaign_link_metrics", ("campaign_id", "link_id", *_PERIOD), LINK_SERIES,
                       "campaign link metrics", extra=("href",))
NEWSLETTER_LINK = _table("newsletter_link_metrics", ("newsletter_id", "link_id", *_PERIOD), LINK_SERIES,
                         "newsletter link metrics", extra=("href",))
BROADCAST_LINK = _table("broadcast_link_metrics", ("broadcast_id", "link_id", *_PERIOD), LINK_SERIES,
                        "broadcast link metrics", extra=("href",))
TRANSACTIONAL_LINK = _table("transactional_link_metrics", ("transactional_message_id", "link_id", *_PERIOD),
                            LINK_SERIES, "transactional message link metrics", extra=("href",))
CAMPAIGN_JOURNEY = _table("campaign_journey_metrics", ("campaign_id", *_PERIOD), JOURNEY_SERIES,
                          "campaign journey metrics")


def series_rows(keys: Mapping[str, str], resolution: str, period_starts: list[int],
                series: Mapping[str, list]) -> Iterator[dict[str, str]]:
    """One row per bucket: the key cells, then one cell per series (known series first, in table order, then
    unknown ones by name). A series shorter than the others leaves its later cells empty."""
    names = sorted(series)
    for index, start in enumerate(period_starts):
        row = {**keys, "resolution": resolution, "period_start": str(start)}
        for name in names:
            if name in row:
                continue  # a series named like a key column cannot replace the key
            values = series[name]
            row[name] = _cell(values[index]) if index < len(values) else ""
        yield row


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
