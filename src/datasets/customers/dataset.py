"""Customers in search mode, and the dataset that runs search or export mode (see the package docstring)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from budget import Estimate, disagrees
from concurrency import BoundedExecutor, ReadAhead
from customerio import response_part
from customerio.errors import InvalidResponseError
from output import to_json
from output.manifest import Changes

from ..base import Dataset, RunContext, Tables
from ..keyset import KeySet
from ..state import DatasetState
from . import changes, export
from .export import ExportNotReady
from .layout import (
    ATTRIBUTES_PATH,
    ATTRIBUTES_SPEC,
    EVERYONE,
    FIXED_NAMES,
    IDENTIFIER_ATTRIBUTES,
    SEARCH_PATH,
    Output,
    RowSink,
    cell,
    customers_spec,
)
from .settings import AttributesLayout, CustomersMode, CustomersSettings

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------------ the dataset


@dataclass
class CustomersState(DatasetState):
    # Continue since last run: {"mark": run clock, "full_read_at": last full read, "shape": settings} (changes.py)
    changes: dict[str, Any] | None = None
    # Export mode, a run stopped by its budget: {"id", "started", "request"}, the export the next run waits for
    export: dict[str, Any] | None = None


class Customers(Dataset):
    key = "customers"
    settings = CustomersSettings
    access = "access to People"

    SEARCH_LIMIT = 1000  # people per search page (the API maximum)
    BATCH_SIZE = 100  # people per attributes request (the API maximum)
    SEARCH_AHEAD = 3  # search pages read ahead of the attribute batches: enough to keep them busy, memory flat

    def run(self, ctx: RunContext, state: dict) -> dict:
        settings: CustomersSettings = self.config.customers
        long_layout = settings.attributes_layout == AttributesLayout.LONG
        saved = CustomersState.from_json(state)
        tables = Tables(ctx, saved)
        export = settings.mode == CustomersMode.EXPORT
        if export and not settings.attributes:
            log.info("customers: no attributes are configured, and an export contains only the attributes it "
                     "asks for by name, so customers.csv gets the identifier columns only. List attribute names in "
                     "'attributes' to export them.")
        spec = customers_spec(settings.attributes_layout, settings.attributes)
        specs = (spec, ATTRIBUTES_SPEC) if long_layout else (spec,)
        previous = saved.changes
        changed = self._changed_since(ctx, settings, previous, specs)
        self._changes_only = changed is not None
        # With changes only, every changed person's rows are deleted from Storage first (delete_where on cio_id),
        # then the rows read are loaded: a changed person is replaced, a gone one removed (see changes.py).
        deletes = Changes("cio_id", tuple(changed)) if changed is not None else None
        self._pending_export = saved.export
        try:
            with tables.open(spec, deletes) as customers_writer:
                if long_layout:
                    with tables.open(ATTRIBUTES_SPEC, deletes) as attributes_writer:
                        self._extract(ctx, settings, Output(customers_writer, attributes_writer, settings.attributes),
                                      changed)
                else:
                    self._extract(ctx, settings, Output(customers_writer, None, settings.attributes), changed)
        except ExportNotReady as pending:  # no table is written; the state stays the last run's, plus the export
            ctx.budget.leave(f"customers (export {pending.export_id} still being prepared by Customer.io: the next "
                             "run waits for it)")
            return tables.new_state(CustomersState(changes=previous, export=pending.saved))
        self._explain_renamed(ctx, settings, saved.columns.get("customers") or ())
        marks = None
        if self._continues(ctx, settings, quiet=True):
            full_read_at = ctx.now if changed is None else previous["full_read_at"]
            marks = {"mark": ctx.now, "full_read_at": full_read_at, "shape": changes.shape_of(settings)}
        return tables.new_state(CustomersState(changes=marks))

    def estimate(self, ctx: RunContext, state: dict) -> Estimate | None:
        """Search mode: one search page per 1,000 people and one attributes request per 100 (the workspace's people;
        with a filter an upper bound, which never refuses). Not estimated: an export (its cost is Customer.io's
        preparation time) and a run that may read only the people who changed (the activity log says how many)."""
        settings: CustomersSettings = self.config.customers
        if settings.mode == CustomersMode.EXPORT:
            return None
        if self._continues(ctx, settings, quiet=True):
            previous = CustomersState.from_json(state).changes
            spec = customers_spec(settings.attributes_layout, settings.attributes)
            specs = (spec, ATTRIBUTES_SPEC) if settings.attributes_layout == AttributesLayout.LONG else (spec,)
            if changes.full_read_reason(settings, previous, now=ctx.now, table_keys=ctx.table_keys,
                                        keys={s.name: list(s.primary_key) for s in specs}) is None:
                return None
        counts = ctx.workspace_counts()
        if counts is None:
            return None
        people = counts.people
        requests = -(-people // self.SEARCH_LIMIT) + -(-people // self.BATCH_SIZE)
        return Estimate("customers", requests, counts.basis("people"), certain=not settings.filters,
                        advice="read customers by export (customers mode export), narrow the customers filter")

    def waits(self) -> bool:
        return self.config.customers.mode == CustomersMode.EXPORT

    def check_completeness(self, ctx: RunContext) -> None:
        """An unfiltered read of everyone should hold the workspace's people (GET /v1/workspaces, cached up to 2
        hours)."""
        result = ctx.table_results.get("customers")
        if self.config.customers.filters or getattr(self, "_changes_only", True) or result is None:
            return
        counts = ctx.workspace_counts()
        if counts is None:
            return
        if all(disagrees(result.rows, people) for people in counts.people_each):
            people = min(counts.people_each, key=lambda p: abs(p - result.rows))
            log.warning("customers: the table has %s people, Customer.io counts %s in the workspace (GET "
                        "/v1/workspaces; its count may be up to two hours old): check the table before relying "
                        "on it, and run again if people were added or deleted in large numbers.",
                        f"{result.rows:,}", f"{people:,}")

    @staticmethod
    def _continues(ctx: RunContext, settings: CustomersSettings, quiet: bool = False) -> bool:
        """Whether 'Continue since last run' applies to this configuration (said once, when it does not)."""
        if not settings.incremental_output:
            return False
        if settings.mode == CustomersMode.EXPORT:
            if not quiet:
                log.info("customers: 'Continue since last run' works in search mode; export mode reads everyone on "
                         "every run.")
            return False
        if not ctx.incremental_load:
            if not quiet:
                log.warning("customers: 'Continue since last run' needs the load type Incremental update (a Full "
                            "load replaces the table on every run), so every run reads everyone.")
            return False
        return True

    def _changed_since(self, ctx: RunContext, settings: CustomersSettings, previous: dict | None,
                       specs: tuple) -> list[str] | None:
        """The cio_ids of the people who changed since the last run, or None: this run reads everyone."""
        if not self._continues(ctx, settings):
            return None
        reason = changes.full_read_reason(settings, previous, now=ctx.now, table_keys=ctx.table_keys,
                                          keys={s.name: list(s.primary_key) for s in specs})
        if reason is None:
            changed, count = changes.changed_people(ctx.client, previous["mark"] - changes.OVERLAP_SECONDS,
                                                    ctx.max_workers)
            if len(changed) <= changes.MAX_CHANGED:
                log.info("customers: %s profile activities since the last run name %s people; reading only them.",
                         f"{count:,}", f"{len(changed):,}")
                return changed
            reason = f"more than {changes.MAX_CHANGED:,} people changed since the last run"
        log.info("customers: reading everyone, as %s.", reason)
        return None

    def _extract(self, ctx: RunContext, settings: CustomersSettings, output: Output,
                 changed: list[str] | None = None) -> None:
        if changed is not None:
            self._read_changed(ctx, settings, changed, output)
        elif settings.mode == CustomersMode.EXPORT:
            export.run_export(ctx, settings, output, everyone=EVERYONE, pending=self._pending_export)
        else:
            self._search(ctx, settings.filter or EVERYONE, output)

    @staticmethod
    def _explain_renamed(ctx: RunContext, settings: CustomersSettings, known=()) -> None:
        """Once, in the run that first writes the column (``known``: the columns state remembers)."""
        known = set(known)
        result = ctx.table_results.get("customers")
        if result is None or settings.attributes_layout != AttributesLayout.WIDE:
            return
        for key, name in zip(result.columns, result.names, strict=True):
            # key[:-1] is the attribute's name (attribute_key adds one "_"); identifier attributes are not written in
            # the wide layout, so their keys (cio_id_, id_, email_) can only be empty columns kept from state.
            if key in known:
                continue
            if key not in FIXED_NAMES and key.rstrip("_") in FIXED_NAMES and key[:-1] not in IDENTIFIER_ATTRIBUTES:
                fixed = key.rstrip("_")
                log.info("customers: the attribute '%s' is named like the column '%s': the column keeps '%s', the "
                         "attribute is written as '%s'.", key[:-1], fixed, fixed, name)

    # -------------------------------------------------------------------------------------------------- search

    def _search(self, ctx: RunContext, filter_: dict, output: Output) -> None:
        progress = ctx.progress("customers", unit="people")
        missing = _Counter()
        limit = ctx.in_flight
        repeats = _Counter()
        pages = ReadAhead(self._search_pages(ctx, filter_, repeats), self.SEARCH_AHEAD, name="customers-search")
        try:
            with BoundedExecutor(ctx.max_workers, limit=limit, name="customers") as pool:
                for page_index, people in enumerate(pages):
                    for batch_index, start in enumerate(range(0, len(people), self.BATCH_SIZE)):
                        batch = people[start:start + self.BATCH_SIZE]
                        pool.submit(self._hydrate, ctx, output.sink((page_index, batch_index)), batch, missing,
                                    progress.add)
        except BaseException:
            pages.stop()  # not close(): the search thread may be inside a request, and the failure should not wait
            raise
        log.debug("customers: %s people read.", f"{progress.count:,}")  # the table's line is the total
        if missing.value:
            log.warning("customers: %s people matched the search but Customer.io returned no attributes for them, "
                        "even when asked again (probably deleted during the run); they are left out, as a row without "
                        "attributes would blank what Storage holds for them.", f"{missing.value:,}")
        if repeats.value:
            log.info("customers: %s people were listed again on a later search page (people changed during the run); "
                     "each is written once.", f"{repeats.value:,}")

    def _search_pages(self, ctx: RunContext, filter_: dict, repeats: _Counter) -> Iterator[list[tuple[str, str, str]]]:
        """The people of each search page, each cio_id once: a person may be listed on two pages when people
        change during a long run, and must still be one row (seen cio_ids are kept as 8-byte hashes)."""
        seen = KeySet()
        for page in ctx.client.paginate("POST", SEARCH_PATH, params={"limit": self.SEARCH_LIMIT},
                                        json_body={"filter": filter_}):
            if page.get("identifiers") is None and page.get("ids"):
                raise InvalidResponseError(
                    f"Customer.io answered POST {SEARCH_PATH} with 'ids' but without 'identifiers', so people "
                    "cannot be read by cio_id; try again later and contact Customer.io support if it persists.",
                    path=SEARCH_PATH)
            identifiers = response_part(page, "identifiers", f"POST {SEARCH_PATH}")
            people = []
            for item in identifiers:
                if not isinstance(item, dict):
                    continue
                cio_id = cell(item.get("cio_id"))
                if cio_id and not seen.add(cio_id):
                    repeats.add(1)
                    continue
                people.append((cio_id, cell(item.get("id")), cell(item.get("email"))))
            yield people

    # ----------------------------------------------------------------------------------------- changes only

    def _read_changed(self, ctx: RunContext, settings: CustomersSettings, cio_ids: list[str], output: Output) -> None:
        """Rows of the changed people who exist and match the filter; the others only leave Storage."""
        wanted = sorted(changes.matching(ctx.client, settings.filter, cio_ids)) if settings.filter else cio_ids
        progress = ctx.progress("customers", unit="people")
        gone = _Counter()
        with BoundedExecutor(ctx.max_workers, limit=ctx.in_flight, name="customers") as pool:
            for index, start in enumerate(range(0, len(wanted), self.BATCH_SIZE)):
                pool.submit(self._hydrate_changed, ctx, output.sink((index,)), wanted[start:start + self.BATCH_SIZE],
                            gone, progress.add)
        left = len(cio_ids) - len(wanted) + gone.value
        if left:
            log.info("customers: %s of them are deleted, merged into another person or outside the filter; their "
                     "rows leave the table.", f"{left:,}")

    def _hydrate_changed(self, ctx: RunContext, sink: RowSink, ids: list[str], gone: _Counter,
                         report: Callable[[int], None]) -> None:
        found = self._read_attributes(ctx, ids) if ids else {}
        if len(found) < len(ids):  # asked once more: a person missing here is removed from Storage
            found.update(self._read_attributes(ctx, [cio_id for cio_id in ids if cio_id not in found]))
        for cio_id in ids:
            customer = found.get(cio_id)
            if customer is None:
                gone.add(1)
                continue
            identifiers = customer.get("identifiers")
            if isinstance(identifiers, dict):
                person_id, email = cell(identifiers.get("id")), cell(identifiers.get("email"))
            else:
                attributes = customer.get("attributes") if isinstance(customer.get("attributes"), dict) else {}
                person_id, email = cell(customer.get("id")), cell(attributes.get("email"))
            devices = customer.get("devices")
            sink.write(cio_id, person_id, email, cell(customer.get("unsubscribed")),
                       "" if devices is None else to_json(devices), customer.get("attributes"))
        sink.close()
        report(len(ids))

    def _hydrate(self, ctx: RunContext, sink: RowSink, people: list[tuple[str, str, str]], missing: _Counter,
                 report: Callable[[int], None]) -> None:
        ids = [cio_id for cio_id, _, _ in people if cio_id]
        found = self._read_attributes(ctx, ids) if ids else {}
        if len(found) < len(ids):  # asked once more: an answer may lack a person for a moment
            again = [cio_id for cio_id in ids if cio_id not in found]
            found.update(self._read_attributes(ctx, again))
        lost = 0
        for cio_id, person_id, email in people:
            customer = found.get(cio_id) if cio_id else None
            if customer is None:
                lost += 1  # no row: a row without attributes would blank what Storage holds for the person
                continue
            devices = customer.get("devices")
            sink.write(cio_id, person_id, email, cell(customer.get("unsubscribed")),
                       "" if devices is None else to_json(devices), customer.get("attributes"))
        sink.close()
        if lost:
            missing.add(lost)
        report(len(people))

    @staticmethod
    def _read_attributes(ctx: RunContext, ids: list[str]) -> dict[str, dict]:
        """cio_id -> customer object; items may come wrapped in {"customer": ...} or not (both are seen).

        The ids are the plain cio_ids from the search (`id_type=cio_id`), as the other connectors send them to the
        real API; the `cio_` prefix is only needed where a cio_id stands in a path. Unknown ids are omitted from the
        answer, and its order is not the request's, so items are matched by their cio_id, and only by it: an item
        whose cio_id was not asked for is left out, never paired with an id by its position (that would give one
        person another's attributes, devices and subscription flag).
        """
        response = ctx.client.request_json("POST", ATTRIBUTES_PATH, params={"id_type": "cio_id"},
                                           json_body={"ids": ids})
        items = response_part(response, "customers", f"POST {ATTRIBUTES_PATH}")
        found: dict[str, dict] = {}
        unmatched = 0
        wanted = set(ids)
        for item in items:
            if not isinstance(item, dict):
                continue
            customer = item["customer"] if isinstance(item.get("customer"), dict) else item
            cio_id = _cio_id_of(customer)
            if cio_id in wanted:
                found[cio_id] = customer
            else:
                unmatched += 1
        if unmatched:
            log.debug("POST %s answered %d people whose cio_id was not asked for; they are left out.", ATTRIBUTES_PATH,
                      unmatched)
        return found


def _cio_id_of(customer: dict) -> str:
    """The person's cio_id in an attributes answer (identifiers, top level or attributes; a `cio_` prefix dropped)."""
    value: Any = None
    identifiers = customer.get("identifiers")
    if isinstance(identifiers, dict) and identifiers.get("cio_id") not in (None, ""):
        value = identifiers["cio_id"]
    elif customer.get("cio_id") not in (None, ""):
        value = customer["cio_id"]
    else:
        attributes = customer.get("attributes")
        if isinstance(attributes, dict) and attributes.get("cio_id") not in (None, ""):
            value = attributes["cio_id"]
    text = cell(value)
    return text.removeprefix("cio_")


class _Counter:
    """A count the attribute batches add to from the pool's threads (a lock, not a concurrency shape)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n

