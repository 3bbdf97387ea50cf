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

Installments (incremental load type only; see src/budget.py): when the run's time budget is spent, windows not yet
started are not started and windows being read stop after their current page. What was read is loaded (upserted by
id); state `backfill` records, per type, the spans not read to their end (`spans`: [from, to, window seconds]) and
the top the run covered (`newest`); the next run reads the new deliveries, then those spans. A window counts as
read only when read to its end (the order of a window's pages is not known, so a part of it proves nothing), and a
window stopped half-way comes back in windows half as long, so even a budget shorter than one window moves the
backfill forward. A run stopped (or killed) at any moment skips nothing: a delivery read twice is one row in
Storage.

Output is deterministic: rows go to one chain per (type, window, sub-window), merged newest first; how a window
splits depends only on the data of its first page, never on timing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from budget import Estimate
from concurrency import KeyedTasks
from configuration import MessagesSettings, parse_date_from
from output import EVENTS, TableSpec, TableWriter, flatten

from .base import Dataset, RunContext, Tables
from .marks import Marks

log = logging.getLogger(__name__)

DAY = 86_400
WINDOW_SECONDS = 180 * DAY  # the API answers at most 6 months per request
HISTORY_FLOOR = int(datetime(2012, 1, 1, tzinfo=UTC).timestamp())  # no Customer.io workspace is older
PAGE_SIZE = 1000
BILLING_PERIOD = 31 * DAY  # GET /v1/workspaces counts messages_sent in the current billing period (a month)
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


class Messages(Dataset):
    key = "messages"

    def run(self, ctx: RunContext, state: dict) -> dict:
        settings: MessagesSettings = self.config.messages
        if settings.incremental_output and not ctx.incremental_load:
            log.warning("messages: 'Continue since last run' with Full load replaces the Storage table with only "
                        "the newest deliveries on every run; choose Incremental update to accumulate them.")
        marks = Marks(state, enabled=settings.incremental_output, now=ctx.now)
        passes = [(i, t) for i, t in enumerate(settings.types)] or [(0, None)]
        tables = Tables(ctx, state)
        progress = ctx.progress("messages", steps="windows")
        backfill = state.get("backfill") if ctx.incremental_load else None
        backfill = backfill if isinstance(backfill, dict) else {}
        with tables.open(SPEC) as table:
            walk = _Walk(ctx, table, progress, stoppable=ctx.incremental_load)
            for type_index, message_type in passes:
                mark_key = message_type or ALL_TYPES
                spans, newest = _pending(backfill.get(mark_key))
                lower = self._lower_bound(settings, marks.get(mark_key) or newest, ctx.now)
                if lower is None:
                    log.info("messages%s: no start date; reading the whole history back to 2012-01-01.",
                             f" ({message_type})" if message_type else "")
                    lower = HISTORY_FLOOR
                walk.add(windows_of(type_index, message_type, _ranges(lower, ctx.now, spans)))
            read = walk.run()
            new_backfill: dict[str, dict] = {}
            for type_index, message_type in passes:
                mark_key = message_type or ALL_TYPES
                count, max_created = read.get(type_index, (0, 0))
                marks.see(mark_key, max_created)
                left = walk.left(type_index)
                if left:
                    new_backfill[mark_key] = {"spans": [list(span) for span in left], "newest": ctx.now}
                    ctx.budget.leave(f"messages{f' ({message_type})' if message_type else ''}: "
                                     f"{len(left)} time span{'s' if len(left) > 1 else ''} between "
                                     f"{_day(min(s[0] for s in left))} and {_day(max(s[1] for s in left))}")
                # Per type only: with one pass the table's own line is the total (each total once).
                log.log(logging.INFO if len(passes) > 1 else logging.DEBUG, "messages%s: %s deliveries.",
                        f" ({message_type})" if message_type else "", f"{count:,}")
        new_state: dict = {"columns": tables.columns}
        if marks.enabled:
            new_state["marks"] = marks.state()
        if new_backfill:
            new_state["backfill"] = new_backfill
        return new_state

    def estimate(self, ctx: RunContext, state: dict) -> Estimate | None:
        """One request per window, and with every type and a range of more than a month, at least one per 1,000
        deliveries the workspace sent in its current billing period (GET /v1/workspaces: a lower bound). Under Full
        load the table cannot be split across runs, so a run that cannot fit is refused at the start."""
        settings: MessagesSettings = self.config.messages
        marks = Marks(state, enabled=settings.incremental_output, now=ctx.now)
        backfill = state.get("backfill") if ctx.incremental_load and isinstance(state.get("backfill"), dict) else {}
        requests, sent, basis = 0, 0, []
        for message_type in settings.types or [None]:
            mark_key = message_type or ALL_TYPES
            spans, newest = _pending(backfill.get(mark_key))
            lower = self._lower_bound(settings, marks.get(mark_key) or newest, ctx.now) or HISTORY_FLOOR
            requests += sum(len(windows(0, None, upper, low, size)) for low, upper, size in _ranges(lower, ctx.now,
                                                                                                    spans))
            if message_type is None and not spans and ctx.now - lower > BILLING_PERIOD:
                counts = ctx.workspace_counts()
                sent = counts.messages_sent if counts else 0
        basis.append(f"{requests:,} windows")
        if sent:
            requests += -(-sent // PAGE_SIZE)
            basis.append(f"{sent:,} deliveries this billing period (GET /v1/workspaces)")
        return Estimate("messages", requests, ", ".join(basis), snapshot=not ctx.incremental_load, at_least=True,
                        advice="choose Incremental update, so that the backfill continues over runs, or a later "
                               "messages date_from")

    @staticmethod
    def _lower_bound(settings: MessagesSettings, mark: int | None, now: int) -> int | None:
        if mark:
            return max(0, mark - settings.metrics_lookback_days * DAY)
        if settings.date_from:
            return parse_date_from(settings.date_from, datetime.fromtimestamp(now, UTC))
        return None


def windows(type_index: int, message_type: str | None, now: int, lower: int,
            size: int = WINDOW_SECONDS) -> list[Window]:
    """[lower, now] in windows of at most ``size`` seconds (WINDOW_SECONDS, the API's maximum), newest first."""
    found: list[Window] = []
    end = now
    while end >= lower:
        start = max(lower, end - size + 1)
        found.append(Window((type_index, len(found)), message_type, start, end))
        end = start - 1
    return found


def windows_of(type_index: int, message_type: str | None, ranges: list[tuple[int, int, int]]) -> list[Window]:
    """The windows of several ranges ((lower, upper, window seconds), newest first), keyed in one sequence."""
    found: list[Window] = []
    for lower, upper, size in ranges:
        for window in windows(type_index, message_type, upper, lower, size):
            found.append(Window((type_index, len(found)), message_type, window.start, window.end))
    return found


# --- installments: what a run stopped by its budget leaves for the next (src/budget.py) ---------------------------
def _pending(value: object) -> tuple[list[tuple[int, int, int]], int | None]:
    """The saved backfill of one type: its spans (from, to, window seconds) and the top the run covered."""
    if not isinstance(value, dict):
        return [], None
    spans = []
    for span in value.get("spans") or []:
        if (isinstance(span, list) and len(span) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                for v in span) and span[0] <= span[1]):
            spans.append((span[0], span[1], max(1, min(span[2], WINDOW_SECONDS))))
    newest = value.get("newest")
    return spans, newest if isinstance(newest, int) and not isinstance(newest, bool) and spans else None


def _ranges(lower: int, now: int, spans: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """What this run reads, newest first: [lower, now], then what earlier runs left below it."""
    ranges = [(lower, now, WINDOW_SECONDS)]
    for start, end, size in sorted(spans, key=lambda span: span[1], reverse=True):
        end = min(end, lower - 1)  # the part at or above `lower` is read with the new deliveries
        if start <= end:
            ranges.append((start, end, size))
    return ranges


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


class _Until:
    """Pages until the budget is spent (then ``cut``): a window stopped here is not counted as read."""

    def __init__(self, pages: Iterator[dict], budget, enabled: bool) -> None:
        self._pages = pages
        self._budget = budget
        self._enabled = enabled
        self.cut = False

    def __iter__(self) -> _Until:
        return self

    def __next__(self) -> dict:
        if self._enabled and self._budget.expired():
            self.cut = True
            raise StopIteration
        return next(self._pages)


class _Walk:
    """Reads windows as keyed tasks (lowest key first) on the run's workers; a window may add the windows it
    splits into. ``run()`` returns {type index: (deliveries, newest created)}."""

    def __init__(self, ctx: RunContext, table: TableWriter, progress, stoppable: bool = False) -> None:
        self._ctx = ctx
        self._table = table
        self._progress = progress
        self._stoppable = stoppable  # the budget may stop it (installments: incremental load type only)
        self._left: list[tuple[int, int, int, int]] = []  # (type index, start, end, window seconds) not read
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

    def left(self, type_index: int) -> list[tuple[int, int, int]]:
        """The spans of ``type_index`` not read to their end, newest first, with the window length to read them in."""
        with self._lock:
            return sorted(((start, end, size) for index, start, end, size in self._left if index == type_index),
                          key=lambda span: span[1], reverse=True)

    def _leave(self, window: Window, started: bool) -> None:
        length = window.end - window.start + 1
        # A window stopped half-way is read again in halves: the next run's budget then fits one of them.
        with self._lock:
            self._left.append((window.key[0], window.start, window.end, max(1, length // 2) if started else length))

    def _read(self, window: Window) -> tuple[int, int]:
        if self._stoppable and self._ctx.budget.expired():
            self._leave(window, started=False)
            self._progress.step()
            return 0, 0
        params: dict = {"limit": PAGE_SIZE, "start_ts": window.start, "end_ts": window.end}
        if window.message_type:
            params["type"] = window.message_type
        source = self._ctx.client.paginate("GET", "/v1/messages", params=params)
        pages = _Until(source, self._ctx.budget, self._stoppable)
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
            if pages.cut:
                self._leave(window, started=True)
        finally:
            source.close()
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
