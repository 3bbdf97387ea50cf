"""Activities: GET /v1/activities (newest first, 100 per page).

- One cursor chain per selected type, read concurrently under the shared rate limiter, or one chain for all
  types when none is selected.
- PARSED_DATA: one table per type, activity_<type> (a valid, distinct table name for every type, `:` included),
  with `data` flattened into data_<key> columns. SINGLE_TABLE: activities_all with `data` as JSON text.
- `delete` asks the API for deleted people's activities too (the older component never sent it).
- "Continue since last run" keeps the newest timestamp per type (capped at the run's clock: device timestamps can
  lie in the future; see marks.py); the next run pages newest first and stops once a page lies entirely before
  that mark minus `overlap_minutes` (default 60). An activity that arrives later than that overlap, dated before
  the mark minus the overlap, is not read. Customer.io keeps about 30 days of activities: a gap longer than that
  is reported, since activities in between may be gone.
- Installments (Incremental update with "Continue since last run"; see src/budget.py): when the run's time budget
  is spent, each chain stops after its current page and state `resume` keeps, per type, Customer.io's cursor of the
  next page and the mark that pass was reading down to; the next run reads the new activities first, then goes on
  from that cursor. There is no time filter to resume by: the cursor is the only way forward, and it counts
  positions, so what happens between the runs decides what it finds (see the README, Large workspaces). A cursor
  Customer.io no longer accepts (400) starts that type again from the newest activity.
"""

from __future__ import annotations

import difflib
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from concurrency import KeyedTasks
from customerio import ChainPriority, chain_priority
from customerio.errors import BadRequestError
from customerio.types import ACTIVITY_TYPES, api_activity_type, is_activity_type
from output import EVENTS, TableSpec, flatten, table_name

from .base import Dataset, RunContext, Tables
from .keyset import KeySet
from .marks import Marks
from .settings import Settings, string_list
from .state import DatasetState

log = logging.getLogger(__name__)

PAGE_SIZE = 100
RETENTION_SECONDS = 30 * 86_400
ALL_TYPES = "*"
_REJECTED = "\0rejected"  # _pass: the saved cursor was refused (400)
UNTYPED = "untyped"  # an activity that arrives without a type goes to activity_untyped (never activity_None)

_BASE_COLUMNS = ("id", "type", "name", "timestamp", "customer_id", "customer_identifiers_id",
                 "customer_identifiers_email", "customer_identifiers_cio_id", "delivery_id", "delivery_type", "url")
_TYPES = {"timestamp": "INTEGER"}

SINGLE_TABLE_SPEC = TableSpec(
    name="activities_all",
    primary_key=("id",),
    seed_columns=(*_BASE_COLUMNS, "data"),
    column_types=_TYPES,
    description="Customer.io activities of every selected type; data is JSON text.",
    kind=EVENTS,
    json_fields=frozenset({"data"}),  # for the manifest's column description (flatten is told so where it runs)
)


def parsed_spec(activity_type: str, name: str) -> TableSpec:
    return TableSpec(name=name, primary_key=("id",), seed_columns=_BASE_COLUMNS, column_types=_TYPES,
                     description=f"Customer.io activities of type {activity_type}; data flattened to data_* columns.",
                     kind=EVENTS)


class ActivityMode(StrEnum):
    PARSED_DATA = "PARSED_DATA"
    SINGLE_TABLE = "SINGLE_TABLE"


class ActivitiesSettings(Settings):
    types: list[str] = Field(default_factory=list)
    mode: ActivityMode = ActivityMode.PARSED_DATA
    # The UI has always saved `delete`; the older code read `deleted` (and so never honoured it). Both work.
    delete: bool = Field(default=False, validation_alias="delete")
    incremental_output: bool = False
    # "Continue since last run" re-reads this much before the last run's mark: activities that reach Customer.io
    # late (devices send their events when back online) are read if they are at most this much older than the mark.
    overlap_minutes: int = Field(default=60, ge=0, le=30 * 24 * 60)

    @model_validator(mode="before")
    @classmethod
    def _deleted_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "delete" not in data and "deleted" in data:
            data = {**data, "delete": data["deleted"]}
        return data

    @field_validator("types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> list[str]:
        types = string_list(value)
        for name in types:
            if not is_activity_type(name):
                close = difflib.get_close_matches(name, ACTIVITY_TYPES, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise ValueError(f"unknown activity type '{name}'; use a type from the list in the configuration "
                                 f"form or an object form such as '_o:1:create'.{hint}")
        # Compared as the type the API is asked for: `secondary:delivered_email` is `delivered_email`, and both would
        # read the same activities twice.
        kept: dict[str, str] = {}
        for name in types:
            first = kept.setdefault(api_activity_type(name), name)
            if first != name:
                log.warning("Activity type '%s' is the same type as '%s'; it is read once, as '%s'.", name, first,
                            first)
        return list(kept.values())


@dataclass
class ActivitiesState(DatasetState):
    marks: dict[str, int] | None = None  # per type (or all types): the newest timestamp read
    last_run: int | None = None  # the run's clock (warns when Customer.io's 30 days passed in between)
    resume: dict[str, list[dict]] | None = None  # per type: Customer.io's cursors a run's budget left


class Activities(Dataset):
    key = "activities"
    settings = ActivitiesSettings
    access = "access to People (activities)"
    full_load_replaces = "the Storage tables with only the newest activities"

    def run(self, ctx: RunContext, state: dict) -> dict:
        settings: ActivitiesSettings = self.config.activities
        incremental = settings.incremental_output
        saved = ActivitiesState.from_json(state)
        marks = Marks(saved.marks, enabled=incremental, now=ctx.now)
        last_run = saved.last_run
        if incremental and last_run and ctx.now - last_run > RETENTION_SECONDS:
            log.warning("activities: the last run was %s days ago; Customer.io keeps about 30 days of activities, "
                        "so activities in between may be gone.", (ctx.now - last_run) // 86_400)
        self._settings = settings
        self._ctx = ctx
        self._tables = Tables(ctx, saved)
        self._table_names: dict[str, str] = {}
        self._progress = ctx.progress("activities")
        self._counts: dict[str, int] = {}
        # Installments only where the next run continues: Incremental update with marks (see the docstring).
        self._stoppable = incremental and ctx.incremental_load
        resumed = (saved.resume if self._stoppable else None) or {}
        self._resume: dict[str, list[dict]] = {
            str(key): [entry for entry in entries if _resume_entry(entry)]
            for key, entries in resumed.items() if isinstance(entries, list)}
        self._left: dict[str, list[dict]] = {}
        with ExitStack() as stack:
            self._stack = stack
            self._open: dict[str, object] = {}
            if settings.mode is ActivityMode.SINGLE_TABLE:
                self._open[ALL_TYPES] = stack.enter_context(self._tables.open(SINGLE_TABLE_SPEC))
            if settings.types:
                if settings.mode is ActivityMode.PARSED_DATA:
                    for activity_type in settings.types:
                        self._writer_for(activity_type)
                chains: KeyedTasks[int, None] = KeyedTasks(ctx.max_workers, name="activities")
                for index, activity_type in enumerate(settings.types):  # keyed by position: the chain's spool key
                    chains.add(index, self._read, index, activity_type, marks)
                chains.run()
            else:
                self._read(0, None, marks)
        if settings.mode is ActivityMode.SINGLE_TABLE and len(self._counts) > 1:
            # Per type, in the configured order (the chains finish in any order); one table's total is logged once.
            log.info("activities: %s.", ", ".join(f"{self._counts.get(t, 0):,} {t}" for t in settings.types))
        resume = {key: self._left[key] for key in sorted(self._left)} if self._left else None
        if resume:
            ctx.budget.leave("activities: " + ", ".join(f"{key if key != ALL_TYPES else 'all types'} from a saved cursor"
                                                        for key in resume))
        return self._tables.new_state(ActivitiesState(marks=marks.state() if incremental else None,
                                                      last_run=ctx.now if incremental else None, resume=resume))

    def _read(self, index: int, activity_type: str | None, marks: Marks) -> None:
        """Read one chain: the newest activities down to the mark, then what an earlier run left (saved cursors);
        the newest timestamp it sees advances its mark."""
        settings, ctx = self._settings, self._ctx
        params: dict = {"limit": PAGE_SIZE, "deleted": "true" if settings.delete else "false"}
        if activity_type:
            params["type"] = api_activity_type(activity_type)
        mark_key = activity_type or ALL_TYPES
        single = settings.mode is ActivityMode.SINGLE_TABLE
        sink = self._open[ALL_TYPES].chain((index,)) if single else None
        passes = [{"start": None, "floor": marks.floor(mark_key, settings.overlap_minutes * 60)},
                  *self._resume.get(mark_key, [])]
        left: list[dict] = []
        newest, count = 0, 0
        # Several passes of one chain may meet (a cursor counts positions, which shift as activities arrive): each
        # activity is written once.
        written = KeySet() if len(passes) > 1 else None
        position = 0
        while position < len(passes):
            read = passes[position]
            if self._stoppable and ctx.budget.expired():
                left.extend(read for read in passes[position:] if read["start"] is not None)
                break
            with chain_priority() as chain:  # its pages tell the rate limiter how much is left
                seen, kept, cursor = self._pass(params, read, activity_type, sink, written, chain)
            newest, count = max(newest, seen), count + kept
            if cursor is _REJECTED:
                # Customer.io no longer takes the saved cursor: read that part again from the newest activity.
                passes.insert(position + 1, {"start": None, "floor": read["floor"]})
            elif cursor is not None:  # stopped by the budget: the next run goes on from here
                left.append({"start": cursor, "floor": read["floor"]})
                left.extend(read for read in passes[position + 1:] if read["start"] is not None)
                break
            position += 1
        if left:
            self._left[mark_key] = left
        marks.see(mark_key, newest)
        self._counts[activity_type or ALL_TYPES] = count

    def _pass(self, params: dict, read: dict, activity_type: str | None, sink, written: KeySet | None,
              chain: ChainPriority) -> tuple[int, int, str | None]:
        """Pages from ``read["start"]`` (None: the newest) down to ``read["floor"]``: (newest timestamp, rows, the
        cursor of the next page when the budget stopped it, else None)."""
        floor = read["floor"]
        single = sink is not None
        newest, count = 0, 0
        if read["start"] is not None:
            params = {**params, "start": read["start"]}  # the client sends it as the first page's cursor
        pages = self._ctx.client.paginate("GET", "/v1/activities", params=params)
        # How much of this type is left, from how far back its pages reach (for the rate limiter's order).
        top, bottom = self._ctx.now, floor if floor is not None else self._ctx.now - RETENTION_SECONDS
        try:
            for read_pages, page in enumerate(pages, start=1):
                activities = page.get("activities") or []
                kept, rows = 0, 0
                for activity in activities:
                    timestamp = activity.get("timestamp")
                    if isinstance(timestamp, int):
                        if floor is not None and timestamp < floor:
                            continue
                        newest = max(newest, timestamp)
                    kept += 1
                    if written is not None and activity.get("id") is not None and not written.add(str(activity["id"])):
                        continue  # written by an earlier pass of this chain
                    rows += 1
                    if single:
                        sink.write(flatten(activity, json_fields=frozenset({"data"})))
                    else:
                        self._writer_for(activity_type or str(activity.get("type") or UNTYPED)).write(
                            flatten(activity))
                count += rows
                self._progress.add(rows)
                if activities:
                    reached = activities[-1].get("timestamp")  # newest first: the last is the oldest
                    chain.walked(read_pages, top, reached if isinstance(reached, int) else None, bottom)
                if floor is not None and activities and kept == 0:
                    break  # the whole page is older than the last run's mark: the rest is known already
                following = page.get("next")
                if following and self._stoppable and self._ctx.budget.expired():
                    return newest, count, str(following)
        except BadRequestError:
            if read["start"] is None:
                raise
            log.warning("activities: Customer.io no longer accepts the cursor saved by the last run; %s is read "
                        "again from the newest activity.", activity_type or "every type")
            return newest, count, _REJECTED
        finally:
            pages.close()
        return newest, count, None

    def _writer_for(self, activity_type: str):
        writer = self._open.get(activity_type)
        if writer is None:
            name = table_name(f"activity_{activity_type}")
            if name in self._table_names.values():  # two distinct types must never share a table
                name = table_name(f"activity_{activity_type}_{len(self._table_names) + 1}")
            self._table_names[activity_type] = name
            writer = self._stack.enter_context(self._tables.open(parsed_spec(activity_type, name)))
            self._open[activity_type] = writer
        return writer


def _resume_entry(entry: object) -> bool:
    """A saved cursor and its floor: {"start": str, "floor": int or None}."""
    return (isinstance(entry, dict) and isinstance(entry.get("start"), str) and bool(entry["start"])
            and (entry.get("floor") is None or (isinstance(entry["floor"], int) and not isinstance(entry["floor"], bool))))
