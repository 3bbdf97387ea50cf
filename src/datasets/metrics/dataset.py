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
from configuration import METRICS_ENTITIES, MetricsSettings, parse_date_from
from customerio.errors import NotFoundError

from ..base import Dataset, RunContext, Tables
from . import entities, periods, readers, tables
from .entities import Entity
from .readers import UTC_ZONE

log = logging.getLogger(__name__)

DAY = 86_400
HOURLY_FIRST_READ_DAYS = 31
KINDS = METRICS_ENTITIES
_ENTITY_KIND = {"campaign": "campaigns", "newsletter": "newsletters", "broadcast": "broadcasts",
                "transactional": "transactional_messages"}


class Metrics(Dataset):
    key = "metrics"

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
            pool = stack.enter_context(BoundedExecutor(ctx.max_workers, limit=2 * ctx.max_workers, name="metrics"))
            # What earlier runs left goes first, the longest waiting first (first reads, then the oldest mark): each
            # run then moves forward however little its budget fits, and no entity waits for ever.
            for entity in sorted(plan.entities(ctx.client), key=plan.waiting):
                pool.submit(self._read_entity, ctx, plan, writers, entity, progress)
        for warning in sorted(plan.warnings):
            log.warning("%s", warning)
        new_state = {"columns": table_session.columns, "marks": plan.new_marks(), "never_started": plan.never_started()}
        left = plan.left()
        if left:
            new_state["left"] = left
            count = sum(len(ids) for ids in left.values())
            ctx.budget.leave(f"metrics: {count:,} entit{'y' if count == 1 else 'ies'} not read")
        return new_state

    def _read_entity(self, ctx: RunContext, plan: _Plan, writers: dict, entity: Entity, progress) -> None:
        if self.config.metrics.incremental_output and ctx.budget.expired():
            plan.leave(entity)  # the next run gives it its first read
            progress.step()
            return
        for table, key, rows in plan.jobs(ctx.client, entity):
            try:
                iterator = iter(rows)
                first = next(iterator, None)
            except NotFoundError:
                log.warning("metrics: %s %s was deleted during the run; its %s are skipped.", entity.kind, entity.id,
                            table.spec.name)
                continue
            if first is None:
                continue
            chain = writers[table.spec.name].chain(key)
            chain.write(first)
            count = 1
            for row in iterator:
                chain.write(row)
                count += 1
            chain.close()  # thousands of chains: a closed one keeps no open file or buffer until the merge
            progress.add(count)
        progress.step()


class _Plan:
    """What this run reads: tables, entities, and for each entity and table the request window."""

    def __init__(self, settings: MetricsSettings, state: dict, now: int, clock: Callable[[], float]):
        self.settings = settings
        self.kinds = set(settings.entities or KINDS)
        self.resolution = settings.resolution.value
        self.now = now
        self.clock = clock
        self.lookback = settings.lookback_days * DAY
        self.date_from = (parse_date_from(settings.date_from, datetime.fromtimestamp(now, UTC))
                          if settings.date_from else None)
        self.marks: dict[str, int] = dict(state.get("marks") or {}) if settings.incremental_output else {}
        self._kept_marks: dict[str, int] = dict(state.get("marks") or {})
        previous = state.get("never_started") or {}
        self._was_never_started = {kind: set(previous.get(kind) or ()) for kind in _ENTITY_KIND.values()}
        self._never_started: dict[str, list[int]] = {kind: [] for kind in _ENTITY_KIND.values()}
        # Installments: entities the last run's budget left, with where their read starts (None: a first read).
        left = state.get("left") if settings.incremental_output and isinstance(state.get("left"), dict) else {}
        self._was_left: dict[str, dict[int, int | None]] = {
            kind: {entry[0]: entry[1] for entry in left.get(kind) or () if _left_entry(entry)}
            for kind in _ENTITY_KIND.values()}
        self._left: dict[str, dict[int, int | None]] = {kind: {} for kind in _ENTITY_KIND.values()}
        self._lock = threading.Lock()  # entities are read on the pool's threads: guards the shared sets
        self.warnings: set[str] = set()

    # ------------------------------------------------------------------ tables and entities
    def tables(self) -> list[tables.MetricsTable]:
        chosen = []
        for kind, table in (("campaigns", tables.CAMPAIGN), ("campaign_actions", tables.CAMPAIGN_ACTION),
                            ("newsletters", tables.NEWSLETTER), ("newsletter_contents", tables.NEWSLETTER_CONTENT),
                            ("broadcasts", tables.BROADCAST), ("broadcast_actions", tables.BROADCAST_ACTION),
                            ("transactional_messages", tables.TRANSACTIONAL)):
            if kind in self.kinds:
                chosen.append(table)
        if self.settings.links:
            chosen += [table for kind, table in (
                ("campaigns", tables.CAMPAIGN_LINK), ("newsletters", tables.NEWSLETTER_LINK),
                ("broadcasts", tables.BROADCAST_LINK), ("transactional_messages", tables.TRANSACTIONAL_LINK))
                if kind in self.kinds]
        if self.settings.journey and "campaigns" in self.kinds:
            chosen.append(tables.CAMPAIGN_JOURNEY)
        return chosen

    def entities(self, client) -> Iterator[Entity]:
        listings = []
        if self.kinds & {"campaigns", "campaign_actions"}:
            listings.append(entities.campaigns)
        if self.kinds & {"newsletters", "newsletter_contents"}:
            listings.append(entities.newsletters)
        if self.kinds & {"broadcasts", "broadcast_actions"}:
            listings.append(entities.broadcasts)
        if "transactional_messages" in self.kinds:
            listings.append(entities.transactional)
        for listing in listings:
            for entity in listing(client):
                if entity.started:
                    yield entity
                else:
                    self._never_started[_ENTITY_KIND[entity.kind]].append(entity.id)

    # ------------------------------------------------------------------ jobs of one entity
    def jobs(self, client, entity: Entity) -> Iterator[tuple[tables.MetricsTable, tuple, Iterable[dict]]]:
        """(table, chain key, rows) for every table this entity feeds; rows are fetched when iterated."""
        res, eid = self.resolution, entity.id
        if entity.kind == "campaign":
            keys = {"campaign_id": str(eid)}
            if "campaigns" in self.kinds:
                yield tables.CAMPAIGN, (eid,), self._v2(client, tables.CAMPAIGN, entity,
                                                          f"/v1/campaigns/{eid}/metrics", keys)
                if self.settings.links:
                    yield tables.CAMPAIGN_LINK, (eid,), self._links(client, tables.CAMPAIGN_LINK, entity,
                                                                      f"/v1/campaigns/{eid}/metrics/links", keys)
                if self.settings.journey:
                    start, end = self._v2_window(tables.CAMPAIGN_JOURNEY, entity)
                    yield tables.CAMPAIGN_JOURNEY, (eid,), readers.journey_rows(client, eid, res, start, end)
            if "campaign_actions" in self.kinds:
                for action_id in entities.children(client, entity):
                    yield tables.CAMPAIGN_ACTION, (eid, action_id), self._v2(
                        client, tables.CAMPAIGN_ACTION, entity, f"/v1/campaigns/{eid}/actions/{action_id}/metrics",
                        {**keys, "action_id": str(action_id)}, variants=True)
        elif entity.kind == "newsletter":
            keys = {"newsletter_id": str(eid)}
            if "newsletters" in self.kinds:
                yield tables.NEWSLETTER, (eid,), self._v1(client, tables.NEWSLETTER, entity,
                                                            f"/v1/newsletters/{eid}/metrics", keys)
                if self.settings.links:
                    yield tables.NEWSLETTER_LINK, (eid,), self._links(client, tables.NEWSLETTER_LINK, entity,
                                                                        f"/v1/newsletters/{eid}/metrics/links", keys)
            if "newsletter_contents" in self.kinds:
                for content_id in entities.children(client, entity):
                    yield tables.NEWSLETTER_CONTENT, (eid, content_id), self._v1(
                        client, tables.NEWSLETTER_CONTENT, entity, f"/v1/newsletters/{eid}/contents/{content_id}/metrics",
                        {**keys, "content_id": str(content_id)})
        elif entity.kind == "broadcast":
            keys = {"broadcast_id": str(eid)}
            if "broadcasts" in self.kinds:
                yield tables.BROADCAST, (eid,), self._v1(client, tables.BROADCAST, entity,
                                                           f"/v1/broadcasts/{eid}/metrics", keys)
                if self.settings.links:
                    yield tables.BROADCAST_LINK, (eid,), self._links(client, tables.BROADCAST_LINK, entity,
                                                                       f"/v1/broadcasts/{eid}/metrics/links", keys)
            if "broadcast_actions" in self.kinds:
                for action_id in entities.children(client, entity):
                    yield tables.BROADCAST_ACTION, (eid, action_id), self._v1(
                        client, tables.BROADCAST_ACTION, entity, f"/v1/broadcasts/{eid}/actions/{action_id}/metrics",
                        {**keys, "action_id": str(action_id)}, variants=True)
        else:
            keys = {"transactional_message_id": str(eid)}
            yield tables.TRANSACTIONAL, (eid,), self._v1(client, tables.TRANSACTIONAL, entity,
                                                           f"/v1/transactional/{eid}/metrics", keys)
            if self.settings.links:
                yield tables.TRANSACTIONAL_LINK, (eid,), self._links(client, tables.TRANSACTIONAL_LINK, entity,
                                                                       f"/v1/transactional/{eid}/metrics/links", keys)

    def _v2(self, client, table, entity, path, keys, *, variants=False) -> Iterator[dict]:
        start, end = self._v2_window(table, entity)
        yield from readers.v2_rows(client, path, keys, self.resolution, start, end, variants=variants)

    def _v1(self, client, table, entity, path, keys, *, variants=False) -> Iterator[dict]:
        steps = self._v1_steps(table, entity)
        yield from readers.v1_rows(client, path, keys, self.resolution, steps, self.clock, variants=variants)

    def _links(self, client, table, entity, path, keys) -> Iterator[dict]:
        steps = self._v1_steps(table, entity)
        yield from readers.link_rows(client, path, keys, self.resolution, steps, self.clock)

    # ------------------------------------------------------------------ windows
    def _earliest(self, table: tables.MetricsTable, entity: Entity) -> tuple[int | None, bool]:
        """The earliest instant to read for this entity and table, and whether this is a continued read."""
        mark = self.marks.get(self._mark_key(table))
        was_left = self._was_left[_ENTITY_KIND[entity.kind]]
        if entity.id in was_left:
            mark = was_left[entity.id]  # where the run that left it would have started
        if mark and entity.id not in self._was_never_started[_ENTITY_KIND[entity.kind]]:
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
        was_left = self._was_left[_ENTITY_KIND[entity.kind]]
        if entity.id not in was_left:
            return 2, 0
        since = was_left[entity.id]
        return (0, 0) if since is None else (1, since)

    def leave(self, entity: Entity) -> None:
        """The time budget is spent before ``entity`` was read: the next run reads it first, from where this run
        would have started (the mark of its tables; None: a first read)."""
        kind = _ENTITY_KIND[entity.kind]
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
