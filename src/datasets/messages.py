"""Messages (deliveries with their metrics): GET /v1/messages -> messages.csv, primary key id.

How the history is walked
- The API answers at most 6 months per request (start_ts/end_ts, both inclusive). We read windows of
  WINDOW_SECONDS (180 days: 6 months by any reckoning), newest first, one cursor chain per window and message type,
  several chains at once under the shared rate limiter: one chain alone would wait a round trip per page and could
  not reach the rate limit.
- Without a start date the first backfill walks back to HISTORY_FLOOR (2012-01-01: Customer.io workspaces exist
  since then): about 30 windows, one request each where nothing was sent, so nothing is lost however long a
  workspace paused sending. `date_from` bounds the backfill instead.
- A window whose first page is full and says there is more splits what remains of it: the first page shows how
  densely its time is filled, and the rest of the window (up to the oldest second on that page, whose deliveries
  are all read again there) is cut into several shorter windows, each a chain of its own. So a backfill that finds
  its history in one or two windows still keeps several chains in flight, and few windows end in a partial page.
- "Continue since last run" keeps the newest `created` seen per type in state; the next run reads from that mark
  minus `metrics_lookback_days`, so opens and clicks recorded after the last run refresh the rows.

Output is deterministic: rows go to one chain per (type, window, sub-window), merged newest first; how a window
splits depends only on the data of its first page, never on timing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from concurrency import KeyedTasks
from customerio.types import MESSAGE_TYPES, RETIRED_MESSAGE_TYPES
from output import EVENTS, TableSpec, TableWriter, flatten

from .base import Dataset, RunContext, Tables
from .marks import Marks
from .settings import Settings, checked_date_from, parse_date_from, string_list

log = logging.getLogger(__name__)

DAY = 86_400
WINDOW_SECONDS = 180 * DAY  # the API answers at most 6 months per request
HISTORY_FLOOR = int(datetime(2012, 1, 1, tzinfo=UTC).timestamp())  # no Customer.io workspace is older
PAGE_SIZE = 1000
# A window whose first page says about P more pages follow is cut into min(workers, P // PAGES_PER_CHAIN)
# windows: each costs about half a page at its end, so a chain should be long enough for that to be little (2%).
PAGES_PER_CHAIN = 25
ALL_TYPES = "*"  # state key of the pass over every type

METRICS = ("created", "drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted", "bounced",
           "spammed", "unsubscribed", "dropped", "failed", "undeliverable", "human_opened", "human_clicked",
           "prefetch_opened", "prefetch_clicked")

SPEC = TableSpec(
    name="messages",
    primary_key=("id",),
    seed_columns=("id", "deduplicate_id", "created", "type", "campaign_id", "newsletter_id", "broadcast_id",
                  "action_id", "parent_action_id", "content_id", "transactional_message_id", "customer_id",
                  "customer_identifiers_id", "customer_identifiers_email", "customer_identifiers_cio_id",
                  "recipient", "subject", "failure_message", "forgotten", "trigger_event_id", "msg_template_id",
                  *(f"metrics_{metric}" for metric in METRICS)),
    column_types={
        "created": "INTEGER", "campaign_id": "INTEGER", "newsletter_id": "INTEGER", "broadcast_id": "INTEGER",
        "action_id": "INTEGER", "parent_action_id": "INTEGER", "content_id": "INTEGER",
        "transactional_message_id": "INTEGER", "msg_template_id": "INTEGER", "forgotten": "BOOLEAN",
        **{f"metrics_{metric}": "INTEGER" for metric in METRICS},
    },
    description="Customer.io deliveries. metrics_* are unix seconds of each event (human_*/prefetch_* are counts).",
    kind=EVENTS,
)


@dataclass(frozen=True)
class Window:
    key: tuple  # the chain key: (type index, window index, then one index per split), newest first
    message_type: str | None  # None: every type in one pass
    start: int
    end: int  # inclusive
    split: bool = True  # may cut what remains after its first page into several windows


class MessagesSettings(Settings):
    types: list[str] = Field(default_factory=list)
    # Types asked for that Customer.io no longer has (urban_airship). When they are all that was asked for, the
    # messages dataset is skipped with a warning: an empty `types` means "every type", and a user who asked for one
    # type must never get all of them.
    retired_types: list[str] = Field(default_factory=list)
    incremental_output: bool = False  # "Continue since last run"
    date_from: str = ""
    metrics_lookback_days: int = Field(default=30, ge=0, le=3650)

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        if isinstance(data, dict) and "retired_types" not in data:
            try:
                asked = string_list(data.get("types"))
            except ValueError:
                return data  # the types validator reports it
            retired = [name for name in dict.fromkeys(asked) if name.lower() in RETIRED_MESSAGE_TYPES]
            data = {**data, "retired_types": retired}
        return data

    @field_validator("types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> list[str]:
        types = string_list(value)
        kept = []
        for name in types:
            name = name.lower() if name.lower() in (*MESSAGE_TYPES, *RETIRED_MESSAGE_TYPES) else name
            if name in RETIRED_MESSAGE_TYPES:
                continue
            if name not in MESSAGE_TYPES:
                raise ValueError(f"unknown message type '{name}'; allowed are {', '.join(MESSAGE_TYPES)}")
            if name not in kept:
                kept.append(name)
        return kept

    @property
    def selects_nothing(self) -> bool:
        """Only retired types were asked for: nothing to read (never widened to every type)."""
        return bool(self.retired_types) and not self.types

    def loaded(self, *, alone: bool) -> None:
        if not self.retired_types:
            return
        names = ", ".join(f"'{name}'" for name in self.retired_types)
        if self.selects_nothing and alone:
            raise ValueError(f"Invalid configuration value 'messages.types': {names} no longer exists in Customer.io "
                             "and no other dataset is selected: choose other message types (or none, for every "
                             "type).")
        if self.selects_nothing:
            log.warning("Messages are skipped: the message type %s no longer exists in Customer.io and no other type "
                        "is selected (choose other types, or none for every type).", names)
        else:
            log.warning("Message type %s is ignored: Customer.io no longer has it.", names)

    @field_validator("date_from")
    @classmethod
    def _date_from(cls, value: str) -> str:
        return checked_date_from(value)


class Messages(Dataset):
    key = "messages"
    settings = MessagesSettings
    title = "deliveries (messages)"
    access = "access to Messages (deliveries)"
    full_load_replaces = "the Storage table with only the newest deliveries"

    def run(self, ctx: RunContext, state: dict) -> dict:
        settings: MessagesSettings = self.config.messages
        marks = Marks(state, enabled=settings.incremental_output, now=ctx.now)
        passes = [(i, t) for i, t in enumerate(settings.types)] or [(0, None)]
        tables = Tables(ctx, state)
        progress = ctx.progress("messages", steps="windows")
        with tables.open(SPEC) as table:
            walk = _Walk(ctx, table, progress)
            for type_index, message_type in passes:
                mark_key = message_type or ALL_TYPES
                lower = self._lower_bound(settings, marks.get(mark_key), ctx.now)
                if lower is None:
                    log.info("messages%s: no start date; reading the whole history back to 2012-01-01.",
                             f" ({message_type})" if message_type else "")
                    lower = HISTORY_FLOOR
                walk.add(windows(type_index, message_type, ctx.now, lower))
            read = walk.run()
            for type_index, message_type in passes:
                mark_key = message_type or ALL_TYPES
                count, max_created = read.get(type_index, (0, 0))
                marks.see(mark_key, max_created)
                # Per type only: with one pass the table's own line is the total (each total once).
                log.log(logging.INFO if len(passes) > 1 else logging.DEBUG, "messages%s: %s deliveries.",
                        f" ({message_type})" if message_type else "", f"{count:,}")
        return tables.new_state(marks=marks.state() if marks.enabled else None)

    @staticmethod
    def _lower_bound(settings: MessagesSettings, mark: int | None, now: int) -> int | None:
        if mark:
            return max(0, mark - settings.metrics_lookback_days * DAY)
        if settings.date_from:
            return parse_date_from(settings.date_from, datetime.fromtimestamp(now, UTC))
        return None


def windows(type_index: int, message_type: str | None, now: int, lower: int) -> list[Window]:
    """[lower, now] in windows of at most WINDOW_SECONDS, newest first."""
    found: list[Window] = []
    end = now
    while end >= lower:
        start = max(lower, end - WINDOW_SECONDS + 1)
        found.append(Window((type_index, len(found)), message_type, start, end))
        end = start - 1
    return found


class _Walk:
    """Reads windows as keyed tasks (lowest key first) on the run's workers; a window may add the windows it
    splits into. ``run()`` returns {type index: (deliveries, newest created)}."""

    def __init__(self, ctx: RunContext, table: TableWriter, progress) -> None:
        self._ctx = ctx
        self._table = table
        self._progress = progress
        self._tasks: KeyedTasks = KeyedTasks(ctx.max_workers, name="messages")
        self._windows = 0
        self._lock = threading.Lock()  # windows are added from the tasks' threads: guards the count

    def add(self, found: Iterable[Window]) -> None:
        found = list(found)
        with self._lock:
            self._windows += len(found)
            self._progress.step(0, total=self._windows)  # progress says "3 of 40 windows done"
        for window in found:
            self._tasks.add(window.key, self._read, window)

    def run(self) -> dict[int, tuple[int, int]]:
        totals: dict[int, tuple[int, int]] = {}
        for key, (rows, max_created) in self._tasks.run().items():
            count, newest = totals.get(key[0], (0, 0))
            totals[key[0]] = (count + rows, max(newest, max_created))
        return totals

    def _read(self, window: Window) -> tuple[int, int]:
        params: dict = {"limit": PAGE_SIZE, "start_ts": window.start, "end_ts": window.end}
        if window.message_type:
            params["type"] = window.message_type
        pages = self._ctx.client.paginate("GET", "/v1/messages", params=params)
        try:
            first = next(pages, None)
            messages = (first.get("messages") or []) if first is not None else []
            while first is not None and not messages and first.get("next"):  # an empty page that has `next`
                first = next(pages, None)
                messages = (first.get("messages") or []) if first is not None else []
            if first is not None and first.get("next") and window.split:
                parts = split(window, messages, self._ctx.max_workers)
                if parts:
                    cut = parts[0].end  # deliveries created at this second are read again by the newest part
                    kept = [m for m in messages if (created := _created(m)) is None or created > cut]
                    written = write_pages(self._table, window.key, [kept], self._progress)
                    self.add(parts)
                    self._progress.step()
                    return written
            written = write_pages(self._table, window.key, _chain([messages], _messages(pages)), self._progress)
        finally:
            pages.close()
        self._progress.step()
        return written


def split(window: Window, messages: list, workers: int) -> list[Window]:
    """The windows that read what remains of ``window`` after its first page (``messages``), or [] to go on.

    The first page covers [oldest second on it, window end]; at that density the rest of the window holds about
    ``pages`` more pages, cut into up to ``workers`` windows of equal time, newest first. The oldest second of the
    page is read again by the newest of them (its deliveries may go on past the page). The parts do not split
    again: one cut already gives the chains the rate limit needs.
    """
    times = [created for created in map(_created, messages) if created is not None]
    if not times:
        return []
    oldest, newest = min(times), max(times)
    if oldest == newest or oldest <= window.start:
        return []
    density = len(messages) / (window.end - oldest + 1)
    pages = density * (oldest - window.start) / PAGE_SIZE
    count = min(max(1, workers), int(pages // PAGES_PER_CHAIN), oldest - window.start + 1)
    if count < 2:
        return []
    span = oldest - window.start + 1
    parts: list[Window] = []
    end = oldest
    for index in range(count):
        start = window.start if index == count - 1 else oldest - (span * (index + 1)) // count + 1
        parts.append(Window((*window.key, index + 1), window.message_type, start, end, split=False))
        end = start - 1
    return parts


def write_pages(table: TableWriter, key: tuple, pages: Iterable[list], progress) -> tuple[int, int]:
    """Write the messages of ``pages`` (lists of deliveries) to the chain ``key + (0,)``; (rows, newest created)."""
    chain = None
    rows, max_created = 0, 0
    for messages in pages:
        if messages and chain is None:
            chain = table.chain((*key, 0))
        for message in messages:
            chain.write(flatten(message))
            created = message.get("created")
            if isinstance(created, int) and created > max_created:
                max_created = created
        rows += len(messages)
        progress.add(len(messages))
    if chain is not None:
        chain.close()
    return rows, max_created


def _messages(pages: Iterator[dict]) -> Iterator[list]:
    for page in pages:
        yield page.get("messages") or []


def _chain(*parts: Iterable[list]) -> Iterator[list]:
    for part in parts:
        yield from part


def _created(message: object) -> int | None:
    created = message.get("created") if isinstance(message, dict) else None
    return created if isinstance(created, int) and not isinstance(created, bool) else None
