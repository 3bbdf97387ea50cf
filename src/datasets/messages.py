"""Messages (deliveries with their metrics): GET /v1/messages -> messages.csv, primary key id.

How the history is walked
- The API answers at most 6 months per request (start_ts/end_ts, both inclusive). We read 30-day windows
  (a known range is cut finer, into at least one window per worker), newest first, one cursor chain per window
  and message type, several chains at once under the shared rate limiter: one chain alone would wait a round
  trip per page and could not reach the rate limit.
- Without a start date, the first backfill walks back until it has seen EMPTY_WINDOWS_TO_STOP consecutive
  empty windows (a year without a single delivery, the span of two 6-month API windows) and stops there; it
  never walks empty windows back to 1970. `date_from` bounds the backfill instead.
- "Continue since last run" keeps the newest `created` seen per type in state; the next run reads from that mark
  minus `metrics_lookback_days`, so opens and clicks recorded after the last run refresh the rows.

Output is deterministic: rows go to one chain per (type, window), merged newest window first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime

from configuration import MessagesSettings, parse_date_from
from output import EVENTS, TableSpec, flatten

from .base import Dataset, RunContext, Tables
from .marks import Marks

log = logging.getLogger(__name__)

DAY = 86_400
WINDOW_SECONDS = 30 * DAY
EMPTY_WINDOWS_TO_STOP = 12  # 12 x 30 days: a year with no delivery ends the history walk
PAGE_SIZE = 1000
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
    type_index: int
    message_type: str | None  # None: every type in one pass
    index: int  # 0 = newest
    start: int
    end: int  # inclusive


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
        with tables.open(SPEC) as table, ThreadPoolExecutor(ctx.max_workers, "messages") as pool:
            for type_index, message_type in passes:
                mark_key = message_type or ALL_TYPES
                lower = self._lower_bound(settings, marks.get(mark_key), ctx.now)
                bounded = lower is not None
                if lower is None:
                    log.info("messages%s: no start date; walking back until a year without deliveries.",
                             f" ({message_type})" if message_type else "")
                windows = self._windows(type_index, message_type, ctx.now, lower, ctx.max_workers)
                if bounded:  # a known range: its windows are known, so progress can say "3 of 17 windows done"
                    windows = list(windows)
                    progress.step(0, total=(progress.steps_total or 0) + len(windows))
                    windows = iter(windows)
                count, max_created = self._read_windows(ctx, pool, table, windows, bounded, progress)
                marks.see(mark_key, max_created)
                log.info("messages%s: %s deliveries.", f" ({message_type})" if message_type else "", f"{count:,}")
        new_state: dict = {"columns": tables.columns}
        if marks.enabled:
            new_state["marks"] = marks.state()
        return new_state

    @staticmethod
    def _lower_bound(settings: MessagesSettings, mark: int | None, now: int) -> int | None:
        if mark:
            return max(0, mark - settings.metrics_lookback_days * DAY)
        if settings.date_from:
            return parse_date_from(settings.date_from, datetime.fromtimestamp(now, UTC))
        return None

    @staticmethod
    def _windows(type_index: int, message_type: str | None, now: int, lower: int | None,
                 workers: int) -> Iterator[Window]:
        # A known range is cut into at least `workers` windows (>= 1 day) so that enough chains run at once.
        size = WINDOW_SECONDS if lower is None else max(DAY, min(WINDOW_SECONDS, (now - lower) // workers + 1))
        end, index = now, 0
        while end >= 0 and (lower is None or end >= lower):
            start = end - size + 1
            if lower is not None:
                start = max(start, lower)
            yield Window(type_index, message_type, index, max(start, 0), end)
            end, index = start - 1, index + 1

    def _read_windows(self, ctx: RunContext, pool: ThreadPoolExecutor, table, windows: Iterator[Window],
                      bounded: bool, progress) -> tuple[int, int]:
        """Read windows concurrently, newest first. Unbounded walks stop after EMPTY_WINDOWS_TO_STOP empty
        windows in a row; windows read speculatively beyond that point are dropped so that the output does
        not depend on timing. No further window is started once finished windows already hold such a run (the
        walk ends within it whatever the windows still in flight hold), so the quick empty windows do not keep
        spending requests while the last big windows are read."""
        in_flight: dict[Future, Window] = {}
        done: dict[int, tuple[Window, int, int]] = {}  # window index -> (window, rows, max created)
        next_to_judge, empty_run, stop_at = 0, 0, None
        exhausted = enough = False
        while True:
            while not exhausted and not enough and stop_at is None and len(in_flight) < ctx.max_workers:
                window = next(windows, None)
                if window is None:
                    exhausted = True
                    break
                chain = table.chain((window.type_index, window.index))
                in_flight[pool.submit(self._read_window, ctx, chain, window, progress)] = window
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                window = in_flight.pop(future)
                done[window.index] = (window, *future.result())
                progress.step()
            if not bounded and not enough:
                enough = _has_empty_run(done)
            while next_to_judge in done and stop_at is None:
                empty_run = 0 if done[next_to_judge][1] else empty_run + 1
                if not bounded and empty_run >= EMPTY_WINDOWS_TO_STOP:
                    stop_at = next_to_judge
                next_to_judge += 1
        rows, max_created = 0, 0
        for index, (window, window_rows, window_max) in sorted(done.items()):
            if stop_at is not None and index > stop_at:
                # Read speculatively past the end of the history: drop it so the output does not depend on timing.
                table.discard_chain((window.type_index, window.index))
                continue
            rows += window_rows
            max_created = max(max_created, window_max)
        return rows, max_created

    @staticmethod
    def _read_window(ctx: RunContext, chain, window: Window, progress) -> tuple[int, int]:
        params: dict = {"limit": PAGE_SIZE, "start_ts": window.start, "end_ts": window.end}
        if window.message_type:
            params["type"] = window.message_type
        rows, max_created = 0, 0
        for page in ctx.client.paginate("GET", "/v1/messages", params=params):
            messages = page.get("messages") or []
            for message in messages:
                chain.write(flatten(message))
                created = message.get("created")
                if isinstance(created, int) and created > max_created:
                    max_created = created
            rows += len(messages)
            progress.add(len(messages))
        return rows, max_created


def _has_empty_run(done: dict[int, tuple]) -> bool:
    """Whether the finished windows include EMPTY_WINDOWS_TO_STOP consecutive empty ones."""
    run, previous = 0, -2
    for index in sorted(done):
        if done[index][1]:
            run = 0
        else:
            run = run + 1 if index == previous + 1 else 1
            if run >= EMPTY_WINDOWS_TO_STOP:
                return True
        previous = index
    return False
