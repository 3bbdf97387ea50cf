"""Messages (deliveries with their metrics): GET /v1/messages -> messages.csv, primary key id.

How the history is walked
- The API answers at most 6 months per request (start_ts/end_ts, both inclusive). We read windows of
  WINDOW_SECONDS (180 days: 6 months by any reckoning), newest first, one cursor chain per window and message type,
  several chains at once under the shared rate limiter: one chain alone would wait a round trip per page and could
  not reach the rate limit.
- Without a start date the first backfill walks back to HISTORY_FLOOR (2012-01-01: Customer.io workspaces exist
  since then): about 30 windows, one request each where nothing was sent, so nothing is lost however long a
  workspace paused sending. `date_from` bounds the backfill instead.
- A window whose first page is full and says there is more may split what remains of it: the first page shows how
  densely its time is filled, and the rest of the window (up to the oldest second on that page, whose deliveries
  are all read again there) is cut into several shorter windows, each a chain of its own. So a backfill that finds
  its history in one or two windows still keeps several chains in flight, and few windows end in a partial page.
  Splitting abandons the rest of the first chain, which is right only if the chain serves newest first. Nobody has
  observed the order (the two live deliveries of estuary/connectors source-customer-io/bruno/Messages/page walk.yml
  share one second; the spec has no sort parameter), so a window splits only when its pages prove it: the first
  page sorted newest first and the next page entirely at or below the first page's oldest second. Otherwise the
  chain is followed to its end: every delivery once, whatever the order.
- Tokens are positions (`djIwOjE=` is `v20:1`, estuary/connectors source-customer-io/bruno/Messages/page walk
  continued.yml): when deliveries change between pages a delivery can come twice, and an out-of-range token
  silently restarts at page 1. Each chain writes a delivery once (a KeySet of the ids it wrote).
- `metrics` holds, beside the named metrics, one `link:<n>` and one `human_link:<n>` key per tracked link clicked
  (unix seconds; estuary/connectors source-customer-io/bruno/Messages/bare.yml). A column per link would grow the
  table past Storage's column limit, so they go to the long table message_link_clicks, never to messages.
- `get_tracked_responses=true` is sent on every request (free, changes nothing else: estuary/connectors
  source-customer-io/bruno/Messages/tracked responses.yml); in-app survey answers land in `tracked_responses` as
  JSON text.
- `drafts=true` returns drafts only, disjoint from the sent deliveries (estuary/connectors
  source-customer-io/bruno/Messages/drafts partition.yml): with `messages.drafts` they are read in full on every run
  into message_drafts (a snapshot: a draft that is sent leaves it).
- "Continue since last run" keeps the newest `created` seen per type in state; the next run reads from that mark
  minus `metrics_lookback_days`, so opens and clicks recorded after the last run refresh the rows.

Installments (incremental load type only; see src/budget.py): when the run's time budget is spent, windows not yet
started are not started and windows being read stop after their current page. What was read is loaded (upserted by
id); state `backfill` records, per type, the spans not read to their end (`spans`: [from, to, window seconds]) and
the top the run covered (`newest`); the next run reads the new deliveries, then those spans. A window counts as
read only when read to its end (the order of a window's pages is not known, so a part of it proves nothing), and a
window stopped half-way comes back in windows half as long, so even a budget shorter than one window moves the
backfill forward. A run stopped (or killed) at any moment skips nothing: a delivery read twice is one row in
Storage. Drafts (a snapshot) are never stopped.

Output is deterministic: rows go to one chain per (type, window, sub-window), merged newest first; how a window
splits depends only on the data of its first page, never on timing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from budget import Estimate
from concurrency import KeyedTasks
from customerio import ChainPriority, chain_priority
from customerio.types import MESSAGE_TYPES, RETIRED_MESSAGE_TYPES
from output import EVENTS, SNAPSHOT, TableSpec, TableWriter, flatten

from .base import Dataset, RunContext, Tables
from .keyset import KeySet, process_hash
from .marks import Marks
from .settings import Settings, checked_date_from, parse_date_from, string_list
from .state import DatasetState

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

_COLUMNS = ("id", "deduplicate_id", "created", "type", "campaign_id", "newsletter_id", "broadcast_id",
            "action_id", "parent_action_id", "content_id", "transactional_message_id", "customer_id",
            "customer_identifiers_id", "customer_identifiers_email", "customer_identifiers_cio_id",
            "recipient", "subject", "failure_message", "forgotten", "trigger_event_id", "msg_template_id",
            *(f"metrics_{metric}" for metric in METRICS))
_TYPES = {
    "created": "INTEGER", "campaign_id": "INTEGER", "newsletter_id": "INTEGER", "broadcast_id": "INTEGER",
    "action_id": "INTEGER", "parent_action_id": "INTEGER", "content_id": "INTEGER",
    "transactional_message_id": "INTEGER", "msg_template_id": "INTEGER", "forgotten": "BOOLEAN",
    **{f"metrics_{metric}": "INTEGER" for metric in METRICS},
}
# Live, human_opened/human_clicked/prefetch_opened are unix seconds like the other metrics, not counts as the spec
# says (estuary/connectors source-customer-io/bruno/Messages/bare.yml).
_TIMES = frozenset(f"metrics_{metric}" for metric in METRICS)  # the manifest describes each as unix seconds
_DESCRIPTION = ("metrics_* are unix seconds of each event (human_* and prefetch_* too); tracked_responses is the "
                "in-app survey answers as JSON; clicks per link are in message_link_clicks.")

SPEC = TableSpec(
    name="messages",
    primary_key=("id",),
    seed_columns=_COLUMNS,
    column_types=_TYPES,
    description=f"Customer.io deliveries. {_DESCRIPTION}",
    kind=EVENTS,
    json_fields=frozenset({"tracked_responses"}),
    time_columns=_TIMES,
)

# Drafts are read in full on every run: a draft that is sent leaves the drafts list, so the table is a snapshot.
DRAFTS_SPEC = dataclasses.replace(
    SPEC, name="message_drafts", kind=SNAPSHOT,
    description=f"Customer.io draft deliveries (drafts=true), read in full on every run. {_DESCRIPTION}")

LINKS_SPEC = TableSpec(
    name="message_link_clicks",
    primary_key=("message_id", "link_id"),
    seed_columns=("message_id", "link_id", "clicked", "human_clicked"),
    column_types={"link_id": "INTEGER", "clicked": "INTEGER", "human_clicked": "INTEGER"},
    description="Clicks per tracked link of each delivery (metrics link:<n> and human_link:<n>): unix seconds of "
                "the click and of the click counted as human.",
    kind=EVENTS,
    time_columns=frozenset({"clicked", "human_clicked"}),
)
_LINK_KEY = re.compile(r"(human_)?link:(.+)")
_NAMED_METRICS = frozenset(METRICS)
DRAFTS_PASS = 1_000  # chain keys of the drafts passes start here (apart from the types' passes in the link table)


@dataclass(frozen=True)
class Window:
    key: tuple  # the chain key: (pass index, window index, then one index per split), newest first
    message_type: str | None  # None: every type in one pass
    start: int
    end: int  # inclusive
    split: bool = True  # may cut what remains after its first page into several windows
    drafts: bool = False  # drafts=true: drafts only (to message_drafts)


class MessagesSettings(Settings):
    types: list[str] = Field(default_factory=list)
    # Types asked for that Customer.io no longer has (urban_airship). When they are all that was asked for, the
    # messages dataset is skipped with a warning: an empty `types` means "every type", and a user who asked for one
    # type must never get all of them.
    retired_types: list[str] = Field(default_factory=list)
    incremental_output: bool = False  # "Continue since last run"
    date_from: str = ""
    metrics_lookback_days: int = Field(default=30, ge=0, le=3650)
    drafts: bool = False  # also read drafts (drafts=true) into message_drafts

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


@dataclass
class MessagesState(DatasetState):
    marks: dict[str, int] | None = None  # per type (or ALL_TYPES): the newest `created` read
    backfill: dict[str, dict] | None = None  # per type: {"spans": [[from, to, window]], "newest": t} left


class Messages(Dataset):
    key = "messages"
    settings = MessagesSettings
    title = "deliveries (messages)"
    access = "access to Messages (deliveries)"
    full_load_replaces = "the Storage table with only the newest deliveries"

    def run(self, ctx: RunContext, state: dict) -> dict:
        settings: MessagesSettings = self.config.messages
        saved = MessagesState.from_json(state)
        marks = Marks(saved.marks, enabled=settings.incremental_output, now=ctx.now)
        passes = [(i, t) for i, t in enumerate(settings.types)] or [(0, None)]
        tables = Tables(ctx, saved)
        progress = ctx.progress("messages", steps="windows")
        first_backfill: dict[int, int] = {}  # pass index -> lower bound, for passes read without a mark
        backfill = (saved.backfill if ctx.incremental_load else None) or {}
        with tables.open(SPEC) as table, tables.open(LINKS_SPEC) as links, self._drafts_table(tables) as drafts:
            walk = _Walk(ctx, {False: table, True: drafts}, links, progress, stoppable=ctx.incremental_load)
            for type_index, message_type in passes:
                mark_key = message_type or ALL_TYPES
                spans, newest = _pending(backfill.get(mark_key))
                mark = marks.get(mark_key) or newest
                lower = self._lower_bound(settings, mark, ctx.now)
                if lower is None:
                    log.info("messages%s: no start date; reading the whole history back to 2012-01-01.",
                             f" ({message_type})" if message_type else "")
                    lower = HISTORY_FLOOR
                if not mark:  # a date_from years back is where an unknown history limit would show
                    first_backfill[type_index] = lower
                walk.add(windows_of(type_index, message_type, _ranges(lower, ctx.now, spans)))
                if drafts is not None:
                    since = self._lower_bound(settings, None, ctx.now) or HISTORY_FLOOR
                    walk.add(windows(DRAFTS_PASS + type_index, message_type, ctx.now, since, drafts=True))
            read = walk.run()
            new_backfill: dict[str, dict] = {}
            for type_index, message_type in passes:
                mark_key = message_type or ALL_TYPES
                count, max_created, min_created = read.get(type_index, (0, 0, 0))
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
                if type_index in first_backfill and not left:
                    _log_history(message_type, count, min_created, first_backfill[type_index])
        return tables.new_state(MessagesState(marks=marks.state() if marks.enabled else None,
                                              backfill=new_backfill or None))

    def estimate(self, ctx: RunContext, state: dict) -> Estimate | None:
        """One request per window, and with every type and a range of more than a month, at least one per 1,000
        deliveries the workspace sent in its current billing period (GET /v1/workspaces: a lower bound). Under Full
        load the table cannot be split across runs, so a run that cannot fit is refused at the start."""
        settings: MessagesSettings = self.config.messages
        saved = MessagesState.from_json(state)
        marks = Marks(saved.marks, enabled=settings.incremental_output, now=ctx.now)
        backfill = (saved.backfill if ctx.incremental_load else None) or {}
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

    def _drafts_table(self, tables: Tables):
        return tables.open(DRAFTS_SPEC) if self.config.messages.drafts else contextlib.nullcontext()

    @staticmethod
    def _lower_bound(settings: MessagesSettings, mark: int | None, now: int) -> int | None:
        if mark:
            return max(0, mark - settings.metrics_lookback_days * DAY)
        if settings.date_from:
            return parse_date_from(settings.date_from, datetime.fromtimestamp(now, UTC))
        return None


def _log_history(message_type: str | None, count: int, oldest: int, lower: int) -> None:
    """How far back a first backfill found deliveries: whether Customer.io serves deliveries older than six months
    at all is not documented (the docs only limit one request to six months), so the log says what was found."""
    label = f" ({message_type})" if message_type else ""
    if not count:
        since = datetime.fromtimestamp(lower, UTC).strftime("%Y-%m-%d")
        log.info("messages%s: the backfill found no deliveries back to %s.", label, since)
        return
    day = datetime.fromtimestamp(oldest, UTC).strftime("%Y-%m-%d")
    log.info("messages%s: the backfill found deliveries back to %s (the oldest Customer.io served).", label, day)


def windows(type_index: int, message_type: str | None, now: int, lower: int, size: int = WINDOW_SECONDS, *,
            drafts: bool = False) -> list[Window]:
    """[lower, now] in windows of at most ``size`` seconds (WINDOW_SECONDS, the API's maximum), newest first."""
    found: list[Window] = []
    end = now
    while end >= lower:
        start = max(lower, end - size + 1)
        found.append(Window((type_index, len(found)), message_type, start, end, drafts=drafts))
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
    splits into. ``run()`` returns {pass index: (deliveries, newest created, oldest created)}."""

    def __init__(self, ctx: RunContext, tables: dict[bool, TableWriter | None], links: TableWriter,
                 progress, stoppable: bool = False) -> None:
        self._ctx = ctx
        self._tables = tables  # by Window.drafts
        self._links = links
        self._progress = progress
        self._stoppable = stoppable  # the budget may stop it (installments: incremental load type only)
        self._left: list[tuple[int, int, int, int]] = []  # (pass index, start, end, window seconds) not read
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

    def run(self) -> dict[int, tuple[int, int, int]]:
        totals: dict[int, tuple[int, int, int]] = {}
        for key, (rows, max_created, min_created) in self._tasks.run().items():
            count, newest, oldest = totals.get(key[0], (0, 0, 0))
            totals[key[0]] = (count + rows, max(newest, max_created),
                              min(oldest, min_created) if oldest and min_created else oldest or min_created)
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

    def _read(self, window: Window) -> tuple[int, int, int]:
        with chain_priority() as chain:  # its pages tell the rate limiter how much is left
            return self._read_window(window, chain)

    def _read_window(self, window: Window, chain: ChainPriority) -> tuple[int, int, int]:
        stoppable = self._stoppable and not window.drafts  # drafts are a snapshot: read whole
        if stoppable and self._ctx.budget.expired():
            self._leave(window, started=False)
            self._progress.step()
            return 0, 0, 0
        params: dict = {"limit": PAGE_SIZE, "start_ts": window.start, "end_ts": window.end,
                        "get_tracked_responses": "true"}
        if window.message_type:
            params["type"] = window.message_type
        if window.drafts:
            params["drafts"] = "true"
        table = self._tables[window.drafts]
        source = self._ctx.client.paginate("GET", "/v1/messages", params=params)
        pages = _Until(source, self._ctx.budget, stoppable)
        try:
            first, messages = _next_page(pages)
            if messages:
                chain.walked(1, window.end, _created(messages[-1]), window.start)
            if first is not None and first.get("next") and window.split and _newest_first(messages):
                parts = split(window, messages, self._ctx.max_workers)
                if parts:
                    # The split abandons the rest of this chain: only when the next page goes on below the first.
                    cut = parts[0].end  # deliveries created at this second are read again by the newest part
                    second, following = _next_page(pages)
                    if pages.cut:  # stopped before the order was proved: the whole window is left for the next run
                        written = write_pages(table, window.key, [messages], self._progress, self._links)
                        self._leave(window, started=True)
                        self._progress.step()
                        return written
                    if second is None or _continues_below(following, cut):
                        kept = [m for m in messages if (created := _created(m)) is None or created > cut]
                        written = write_pages(table, window.key, [kept], self._progress, self._links)
                        self.add(parts)
                        self._progress.step()
                        return written
                    log.debug("messages: window %s is not served newest first; following its chain.", window.key)
                    messages = [*messages, *following]
            pages_read = _chain([messages], _messages(pages, chain, window))
            written = write_pages(table, window.key, pages_read, self._progress, self._links)
            if pages.cut:
                self._leave(window, started=True)
        finally:
            source.close()
        self._progress.step()
        return written


def _next_page(pages: Iterator[dict]) -> tuple[dict | None, list]:
    """The next page that has deliveries or ends the chain (an empty page that has `next` is skipped)."""
    page = next(pages, None)
    messages = (page.get("messages") or []) if page is not None else []
    while page is not None and not messages and page.get("next"):
        page = next(pages, None)
        messages = (page.get("messages") or []) if page is not None else []
    return page, messages


def _newest_first(messages: list) -> bool:
    times = [_created(m) for m in messages]
    return None not in times and all(newer >= older for newer, older in itertools.pairwise(times))


def _continues_below(messages: list, cut: int) -> bool:
    """The page after the first, sorted newest first and entirely at or below the first page's oldest second."""
    return _newest_first(messages) and all(created <= cut for created in map(_created, messages))


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


def write_pages(table: TableWriter, key: tuple, pages: Iterable[list], progress,
                links: TableWriter | None = None) -> tuple[int, int, int]:
    """Write the deliveries of ``pages`` (lists of deliveries) to the chain ``key + (0,)`` of ``table`` and their
    clicks per link to the same chain of ``links``; (rows, newest created, oldest created).

    Each delivery once per chain: tokens are positions, so a delivery can come twice in one chain (data that changed
    between pages, or a token out of range that restarts at page 1 and lands on the last page). Once per chain is
    once per file: chains never share a delivery (their windows are disjoint in `created`, which never changes, and
    passes in type), and a set per chain keeps the file the same whatever the chains' timing."""
    chain = link_chain = None
    seen = KeySet()
    rows, max_created, min_created = 0, 0, 0
    for messages in pages:
        # The page's ids hashed and looked up in one call (the set lives only as long as the chain).
        fresh = iter(seen.add_hashes([process_hash(str(mid)) for message in messages
                                      if (mid := message.get("id")) is not None]))
        for message in messages:
            mid = message.get("id")
            if mid is not None and not next(fresh):
                continue
            if chain is None:
                chain = table.chain((*key, 0))
            metrics = message.get("metrics")
            # Most deliveries clicked no link: named metrics only (one set test in C) need no scan for link keys.
            clicks = None if type(metrics) is dict and metrics.keys() <= _NAMED_METRICS else _link_clicks(message)
            if clicks:
                message = {**message, "metrics": {k: v for k, v in message["metrics"].items()
                                                  if not (isinstance(k, str) and _LINK_KEY.fullmatch(k))}}
                if links is not None:
                    if link_chain is None:
                        link_chain = links.chain((*key, 0))
                    for link_id, (clicked, human) in clicks.items():
                        link_chain.write(flatten({"message_id": mid, "link_id": link_id, "clicked": clicked,
                                                  "human_clicked": human}))
            chain.write(flatten(message, json_fields=table.spec.json_fields))
            rows += 1
            created = message.get("created")
            if type(created) is int:  # _created inlined (parsed JSON: an int is exactly int)
                max_created = max(max_created, created)
                if not min_created or created < min_created:
                    min_created = created
        progress.add(len(messages))
    for open_chain in (chain, link_chain):
        if open_chain is not None:
            open_chain.close()
    return rows, max_created, min_created


def _link_clicks(message: dict) -> dict[str, tuple]:
    """{link id: (clicked, human_clicked)} from the metrics' link:<n> and human_link:<n> keys, by link id order."""
    metrics = message.get("metrics")
    if not isinstance(metrics, dict):
        return {}
    clicks: dict[str, list] = {}
    for name, value in metrics.items():
        match = _LINK_KEY.fullmatch(name) if isinstance(name, str) and "link:" in name else None  # cheap test first
        if match:
            clicks.setdefault(match.group(2), [None, None])[1 if match.group(1) else 0] = value
    return {link: tuple(values) for link, values in sorted(clicks.items(), key=lambda item: _link_order(item[0]))}


def _link_order(link_id: str) -> tuple:
    return (0, int(link_id), "") if link_id.isdigit() else (1, 0, link_id)


def _messages(pages: Iterator[dict], chain: ChainPriority, window: Window) -> Iterator[list]:
    """The deliveries of each page after the first; ``chain`` learns from each how much of ``window`` is left."""
    for read, page in enumerate(pages, start=2):
        messages = page.get("messages") or []
        if messages:
            chain.walked(read, window.end, _created(messages[-1]), window.start)  # newest first: the last is oldest
        yield messages


def _chain(*parts: Iterable[list]) -> Iterator[list]:
    for part in parts:
        yield from part


def _created(message: object) -> int | None:
    created = message.get("created") if isinstance(message, dict) else None
    return created if isinstance(created, int) and not isinstance(created, bool) else None
