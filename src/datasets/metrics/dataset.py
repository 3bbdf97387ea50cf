"""The metrics dataset: every selected entity's metrics as time series, kept current by scheduled runs.

How a run decides what to read (per entity and table, one request each):
- First read (no mark for this table and resolution in state, "Continue since last run" off, or an entity that
  had never started at the last run): `version=2` from `date_from` (or, without it, from the entity's creation;
  hourly at most HOURLY_FIRST_READ_DAYS back), limited to the API's 10 years; the older endpoints as far as their
  step maxima reach (no further back than `date_from` or the creation).
- Continue since last run: from the last run's clock minus `lookback_days`, i.e. the buckets whose counts may
  still grow; nothing older is requested again. The bucket running at the last run is always among them.
- Skipped (no request, no rows): a campaign or broadcast in draft that has never started, a newsletter never sent.
  They cannot have metrics. Their ids are kept in state so that, once started, they get a first read. Stopped
  campaigns and long-sent newsletters are NOT skipped: opens and clicks of earlier messages keep arriving and
  count in the bucket they happen in.
- Installments (with "Continue since last run"; see src/budget.py): once the run's time budget is spent, no new
  entity is started (those under way finish: a few requests each). State `left` keeps each one not read with where
  its read should start (null: a first read; else the mark it was to continue from), and the next run reads them
  first, from there; so every run moves forward as long as its budget fits one entity.
Tables are always upserted by primary key (incremental load), whatever the configuration's load type: the older
endpoints no longer serve buckets past their step maxima, so replacing a table would drop history.

Concurrency: one task per parent entity (its requests run one after another), at most 2 x workers tasks in
flight, all under the client's one rate limiter. Rows go straight from each answer to a chain keyed by the
entity's ids, so the files are byte-identical whatever the thread timing and only the tasks in flight hold rows.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime

from concurrency import BoundedExecutor
from customerio.errors import NotFoundError

from ..base import Dataset, RunContext, Tables
from ..settings import parse_date_from
from . import entities, periods, readers, tables
from .entities import Entity
from .jobs import ENTITIES, ID_COLUMN, JOBS, KIND_ENTITIES, Job, Reader
from .readers import UTC_ZONE
from .settings import MetricsSettings

log = logging.getLogger(__name__)

DAY = 86_400
HOURLY_FIRST_READ_DAYS = 31
# How each kind of entity is listed, in the order they are read.
LISTINGS = {"campaign": entities.campaigns, "newsletter": entities.newsletters, "broadcast": entities.broadcasts,
            "transactional": entities.transactional}


class Metrics(Dataset):
    key = "metrics"
    settings = MetricsSettings
    access = "access to Campaigns, Newsletters, Broadcasts and Transactional messages (their metrics)"

    def __init__(self, config, clock: Callable[[], float] = time.time):
        super().__init__(config)
        self._clock = clock  # the request time of the older endpoints; tests pass the sandbox's clock

    def run(self, ctx: RunContext, state: dict) -> dict:
        settings: MetricsSettings = self.config.metrics
        plan = _Plan(settings, state, ctx.now, self._clock)
        # Always upserted by primary key: see the module docstring.
        table_session = Tables(dataclasses.replace(ctx, incremental_load=True), state)
        progress = ctx.progress("metrics", unit="rows", steps="entities")
        with ExitStack() as stack:
            writers = {table.spec.name: stack.enter_context(table_session.open(table.spec))
                       for table in plan.tables()}
            pool = stack.enter_context(BoundedExecutor(ctx.max_workers, limit=ctx.in_flight, name="metrics"))
            # What earlier runs left goes first, the longest waiting first (first reads, then the oldest mark): each
            # run then moves forward however little its budget fits, and no entity waits for ever.
            for entity in sorted(plan.entities(ctx.client), key=plan.waiting):
                pool.submit(self._read_entity, ctx, plan, writers, entity, progress)
        for warning in sorted(plan.warnings):
            log.warning("%s", warning)
        left = plan.left()
        if left:
            count = sum(len(ids) for ids in left.values())
            ctx.budget.leave(f"metrics: {count:,} entit{'y' if count == 1 else 'ies'} not read")
        return table_session.new_state(marks=plan.new_marks(), never_started=plan.never_started(), left=left or None)

    def _read_entity(self, ctx: RunContext, plan: _Plan, writers: dict, entity: Entity, progress) -> None:
        if self.config.metrics.incremental_output and ctx.budget.expired():
            plan.leave(entity)  # the next run reads it first, from where this run would have started
            progress.step()
            return
        # A 404 of the entity or of its children's listing: deleted during the run, skipped with one warning.
        for job in plan.jobs_of(entity.kind):
            try:
                children = plan.children(ctx.client, entity) if job.child else (None,)
                for child in children:
                    key, rows = plan.rows(ctx.client, job, entity, child)
                    iterator = iter(rows)
                    first = next(iterator, None)
                    if first is None:
                        continue
                    chain = writers[job.table.spec.name].chain(key)
                    chain.write(first)
                    count = 1
                    for row in iterator:
                        chain.write(row)
                        count += 1
                    chain.close()  # thousands of chains: a closed one keeps no open file or buffer until the merge
                    progress.add(count)
            except NotFoundError:
                log.warning("metrics: %s %s was deleted during the run; its metrics are skipped.", entity.kind,
                            entity.id)
                break
        progress.step()


class _Plan:
    """What this run reads: tables, entities, and for each entity and table the request window."""

    def __init__(self, settings: MetricsSettings, state: dict, now: int, clock: Callable[[], float]):
        self.settings = settings
        self.kinds = set(settings.entities or ENTITIES)
        self.resolution = settings.resolution.value
        self.now = now
        self.clock = clock
        self.lookback = settings.lookback_days * DAY
        self.date_from = (parse_date_from(settings.date_from, datetime.fromtimestamp(now, UTC))
                          if settings.date_from else None)
        self.marks: dict[str, int] = dict(state.get("marks") or {}) if settings.incremental_output else {}
        self._kept_marks: dict[str, int] = dict(state.get("marks") or {})
        previous = state.get("never_started") or {}
        self._was_never_started = {kind: set(previous.get(kind) or ()) for kind in KIND_ENTITIES.values()}
        self._never_started: dict[str, list[int]] = {kind: [] for kind in KIND_ENTITIES.values()}
        # Installments: entities the last run's budget left, with where their read starts (None: a first read).
        left = state.get("left") if settings.incremental_output and isinstance(state.get("left"), dict) else {}
        self._was_left: dict[str, dict[int, int | None]] = {
            kind: {entry[0]: entry[1] for entry in left.get(kind) or () if _left_entry(entry)}
            for kind in KIND_ENTITIES.values()}
        self._left: dict[str, dict[int, int | None]] = {kind: {} for kind in KIND_ENTITIES.values()}
        self._lock = threading.Lock()  # entities are read on the pool's threads: guards the shared sets
        self.warnings: set[str] = set()

    # ------------------------------------------------------------------ tables, entities and jobs
    def _selected(self, job: Job) -> bool:
        return job.switch in self.kinds and (not job.option or getattr(self.settings, job.option))

    def tables(self) -> list[tables.MetricsTable]:
        return [job.table for job in JOBS if self._selected(job)]

    def jobs_of(self, kind: str) -> list[Job]:
        return [job for job in JOBS if job.kind == kind and self._selected(job)]

    def entities(self, client) -> Iterator[Entity]:
        for kind, listing in LISTINGS.items():
            if not self.jobs_of(kind):
                continue
            for entity in listing(client):
                if entity.started:
                    yield entity
                else:
                    self._never_started[KIND_ENTITIES[entity.kind]].append(entity.id)

    @staticmethod
    def children(client, entity: Entity) -> tuple[int, ...]:
        return entities.children(client, entity)

    def rows(self, client, job: Job, entity: Entity, child: int | None) -> tuple[tuple, Iterable[dict]]:
        """The chain key and the rows (fetched when iterated) of one job for one entity (and child)."""
        keys = {ID_COLUMN[entity.kind]: str(entity.id)}
        key: tuple = (entity.id,)
        if job.child:
            keys[job.child] = str(child)
            key = (entity.id, child)
        path = job.path.format(id=entity.id, child=child)
        table, res = job.table, self.resolution
        if job.reader in (Reader.V2, Reader.JOURNEY):
            start, end = self._v2_window(table, entity)
            if job.reader is Reader.JOURNEY:
                return key, readers.journey_rows(client, path, keys, res, start, end)
            return key, readers.v2_rows(client, path, keys, res, start, end, variants=job.variants)
        steps = self._v1_steps(table, entity)
        if job.reader is Reader.LINKS:
            return key, readers.link_rows(client, path, keys, res, steps, self.clock)
        return key, readers.v1_rows(client, path, keys, res, steps, self.clock, variants=job.variants)

    # ------------------------------------------------------------------ windows
    def _earliest(self, table: tables.MetricsTable, entity: Entity) -> tuple[int | None, bool]:
        """The earliest instant to read for this entity and table, and whether this is a continued read."""
        mark = self.marks.get(self._mark_key(table))
        was_left = self._was_left[KIND_ENTITIES[entity.kind]]
        if entity.id in was_left:
            mark = was_left[entity.id]  # where the run that left it would have started
        if mark and entity.id not in self._was_never_started[KIND_ENTITIES[entity.kind]]:
            return max(0, mark - self.lookback), True
        bounds = [b for b in (self.date_from, entity.born) if b is not None]
        return (max(bounds) if bounds else None), False

    def _v2_window(self, table: tables.MetricsTable, entity: Entity) -> tuple[int, int]:
        now = int(self.clock())
        earliest, continued = self._earliest(table, entity)
        floor = periods.ten_years_before(now)
        if earliest is None or earliest < floor:
            earliest = floor
        if not continued and self.date_from is None and self.resolution == "hours":
            earliest = max(earliest, now - HOURLY_FIRST_READ_DAYS * DAY)
        return periods.bucket_start(min(earliest, now), self.resolution, UTC_ZONE), now

    def _v1_steps(self, table: tables.MetricsTable, entity: Entity) -> int:
        now = int(self.clock())
        earliest, continued = self._earliest(table, entity)
        if continued and periods.buckets_spanned(earliest, now, self.resolution) > periods.V1_MAX_STEPS[self.resolution]:
            with self._lock:
                self.warnings.add(
                    f"{table.spec.name}: the lookback since the last run reaches further back than the older "
                    f"metrics endpoints serve ({periods.V1_MAX_STEPS[self.resolution]} {self.resolution}); "
                    "earlier buckets keep their last values.")
        return periods.v1_steps(min(earliest, now) if earliest is not None else None, now, self.resolution)

    # ------------------------------------------------------------------ state
    def _mark_key(self, table: tables.MetricsTable) -> str:
        return f"{table.spec.name}:{self.resolution}"

    def new_marks(self) -> dict[str, int]:
        """Every table read in this run is complete up to the run's clock, whatever the setting."""
        return {**self._kept_marks, **{self._mark_key(table): self.now for table in self.tables()}}

    def never_started(self) -> dict[str, list[int]]:
        return {kind: sorted(ids) for kind, ids in self._never_started.items() if ids}

    def waiting(self, entity: Entity) -> tuple[int, int]:
        """The order of reading: entities left by the last run first (a first read before a continued one, the
        oldest mark first), then the others."""
        was_left = self._was_left[KIND_ENTITIES[entity.kind]]
        if entity.id not in was_left:
            return 2, 0
        since = was_left[entity.id]
        return (0, 0) if since is None else (1, since)

    def leave(self, entity: Entity) -> None:
        """The time budget is spent before ``entity`` was read: the next run reads it first, from where this run
        would have started (the mark of its tables; None: a first read)."""
        kind = KIND_ENTITIES[entity.kind]
        if entity.id in self._was_left[kind]:
            since = self._was_left[kind][entity.id]
        elif entity.id in self._was_never_started[kind]:
            since = None
        else:
            marks = [self.marks.get(self._mark_key(table)) for table in self.tables()]
            since = min(marks) if marks and all(marks) else None
        with self._lock:
            self._left[kind][entity.id] = since

    def left(self) -> dict[str, list[list]]:
        """The entities this run left: [[id, where its read starts or None], ...] per kind."""
        with self._lock:
            return {kind: [[eid, since] for eid, since in sorted(ids.items())] for kind, ids in self._left.items()
                    if ids}



def _left_entry(entry: object) -> bool:
    return (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)
            and (entry[1] is None or (isinstance(entry[1], int) and not isinstance(entry[1], bool))))
