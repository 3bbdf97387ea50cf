"""What every dataset shares: the run context, the table session that remembers columns, the base class."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from budget import Budget, Estimate, WorkspaceCounts, workspace_counts
from customerio import CustomerIoClient
from customerio.errors import PermissionDeniedError
from output import EVENTS, TableSpec, TableWriter, load_plan, write_manifest
from output.manifest import Changes, LoadPlan
from output.naming import earlier_column_names, renamed_columns
from progress import Progress

from .settings import Settings
from .state import DatasetState

log = logging.getLogger(__name__)

RENAMES_SHOWN = 10  # renamed columns named in the log line; the manifest describes all of them


class ManifestWriter(Protocol):
    """The part of keboola.component a dataset uses: manifests (through output.write_manifest), nothing else. The
    manifest is written by output.manifest itself, in the format the library would choose (legacy or not)."""

    is_legacy_queue: bool

    def create_out_table_definition(self, name: str, **kwargs: Any) -> Any: ...

    def _expects_legacy_manifest(self) -> bool: ...


@dataclass
class RunContext:
    client: CustomerIoClient
    component: ManifestWriter  # what writes the manifests (the component: keboola.component.CommonInterface)
    tables_dir: Path
    incremental_load: bool  # the load type of every table (manifest incremental flag + primary key)
    now: int  # the run's clock, unix seconds; one value for the whole run
    max_workers: int = 8  # request threads (the component sets it once for the run)
    progress_interval: float = 30.0
    table_results: dict[str, Any] = field(default_factory=dict)
    # The primary key of each Storage table as the last successful runs left it (state "table_keys"; a table not in
    # it: unknown). Tables.open updates it for every table it writes; the component saves it with the state.
    table_keys: dict[str, list[str]] = field(default_factory=dict)
    # The renamed columns of each Storage table, {table: {source key: Storage name}} (state "column_names"): a column
    # keeps the name it was first written with. Tables.open reads and updates it; the component saves it.
    column_names: dict[str, dict[str, str]] = field(default_factory=dict)
    # The listings read in this run (declared.listing): declaration key -> (fields kept, records); each parent is
    # listed once and shared.
    listings: dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def in_flight(self) -> int:
        """Tasks submitted at most at once: twice the workers keeps every worker busy while the next one is
        submitted, and bounds what the tasks in flight hold in memory."""
        return 2 * max(1, self.max_workers)
    # The run's time budget (max_run_minutes): datasets ask it before starting work; see src/budget.py.
    budget: Budget = field(default_factory=Budget)
    _counts: list = field(default_factory=list, repr=False)  # [WorkspaceCounts | None] once asked
    _counts_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Datasets run side by side (datasets.runner): the shared dicts above are changed under this lock, and a parent
    # being listed is in listings_under_way (its Event set when done), so two datasets asking at once list it once.
    shared_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    listings_under_way: dict[object, threading.Event] = field(default_factory=dict, repr=False)

    def progress(self, label: str, **kwargs: Any) -> Progress:
        return Progress(label, interval=self.progress_interval, budget=self.budget, **kwargs)

    def workspace_counts(self) -> WorkspaceCounts | None:
        """GET /v1/workspaces, asked once per run (for the plan and the completeness checks)."""
        with self._counts_lock:
            if not self._counts:
                self._counts.append(workspace_counts(self.client))
            return self._counts[0]


class Tables:
    """Opens a dataset's tables, seeds them with the columns state remembers, and records the final columns.

    A table's header never loses a column between runs: the known columns come back from state (Storage refuses a
    load whose CSV lacks a column the table has). On close it writes the manifest: the load (full or incremental)
    and primary key follow from the load type and ``spec.kind`` (``output.load_plan``), and the key the Storage
    table gets is recorded in ``ctx.table_keys``.
    """

    def __init__(self, ctx: RunContext, saved: DatasetState):
        self._ctx = ctx
        self.columns: dict[str, list[str]] = dict(saved.columns)

    def new_state(self, state: DatasetState) -> dict:
        """The dataset's new state as saved (the JSON every earlier version saved): ``state``'s own parts, with every
        table's final columns."""
        state.columns = self.columns
        return state.to_json()

    @contextmanager
    def open(self, spec: TableSpec, changes: Changes | None = None) -> Iterator[TableWriter]:
        """``changes``: the file holds only changed rows (an incremental load with delete_where, see Changes); the
        caller makes sure Storage already holds the table under ``spec.primary_key`` (``ctx.table_keys``)."""
        known = self.columns.get(spec.name, ())
        with self._ctx.shared_lock:
            known_names = self._kept_names(spec, known)
        writer = TableWriter(self._ctx.tables_dir, spec, known_columns=known, known_names=known_names)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        result = writer.close()
        report_renames(spec.name, result, known)
        if result.columns:
            with self._ctx.shared_lock:
                stored_key = self._ctx.table_keys.get(spec.name)
            if changes is not None:
                plan = LoadPlan(incremental=True, primary_key=tuple(spec.primary_key), changes=changes)
            else:
                plan = load_plan(spec, incremental=self._ctx.incremental_load, stored_key=stored_key)
            if plan.key_change:
                old_key = ", ".join(stored_key or ()) or "none"
                if spec.kind == EVENTS:
                    log.warning("Table %s: the Storage table's primary key is %s, this version's is %s; Storage "
                                "changes a key only through a full load, so this run loads the table in full.",
                                spec.name, old_key, ", ".join(plan.primary_key))
                else:
                    log.info("Table %s: the primary key changes from %s to %s (this table is always loaded in full).",
                             spec.name, old_key, ", ".join(plan.primary_key))
            write_manifest(self._ctx.component, spec, result, incremental=self._ctx.incremental_load, plan=plan)
            self.columns[spec.name] = list(result.columns)
            with self._ctx.shared_lock:
                self._ctx.table_keys[spec.name] = list(plan.primary_key)
                self._ctx.column_names[spec.name] = renamed_columns(result.columns, result.names)
        with self._ctx.shared_lock:
            self._ctx.table_results[spec.name] = result
        log.info("Table %s: %s row%s.", spec.name, f"{result.rows:,}", "" if result.rows == 1 else "s")


    def _kept_names(self, spec: TableSpec, known: Any) -> dict[str, str]:
        """The Storage names of the known columns: as state recorded them, or, for a table written before names were
        recorded, as the naming rule of then gave them (before transliteration: ``straße`` -> ``stra_e``)."""
        recorded = self._ctx.column_names
        if not known:
            return {}
        if spec.name in recorded:
            renamed = recorded[spec.name]
            return {key: renamed.get(key, key) for key in known}
        return dict(zip(known, earlier_column_names(list(known)), strict=True))


def report_renames(table: str, result: Any, known: Any) -> None:
    """Log each renamed column once: in the run that first writes it (later runs know it from state)."""
    known = set(known)
    clashes = [clash for clash in result.clashes if clash.source not in known]
    for clash in clashes:
        log.warning("%s", clash.message(table))
    clashed = {clash.source for clash in clashes}
    renamed = [(key, name) for key, name in renamed_columns(result.columns, result.names).items()
               if key not in known and key not in clashed]
    if renamed:
        shown = ", ".join(f"'{key}' as {name}" for key, name in renamed[:RENAMES_SHOWN])
        more = f" and {len(renamed) - RENAMES_SHOWN} more" if len(renamed) > RENAMES_SHOWN else ""
        log.info("Table %s: %d new column%s renamed for Storage (%s%s); the original names are in the column "
                 "descriptions.", table, len(renamed), "" if len(renamed) == 1 else "s", shown, more)


class Dataset(ABC):
    key: ClassVar[str]  # configuration key and state key
    settings: ClassVar[type[Settings]]  # the model of its settings section (a dataset with code; not a declaration)
    title: ClassVar[str] = ""  # how a sentence names it ("deliveries (messages)"); default: the key with spaces
    access: ClassVar[str] = "access to this data"  # what to grant the key when Customer.io answers 403
    # What a full load replaces when "Continue since last run" is on ("the Storage table with only the newest
    # deliveries"): the run warns that the table will not accumulate. "" = the dataset keeps its history anyway.
    full_load_replaces: ClassVar[str] = ""
    # The declarations whose run listing it reads (their keys): it runs after those of them enabled in the run.
    lists: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any):
        self.config = config  # configuration.Configuration

    def estimate(self, ctx: RunContext, state: dict) -> Estimate | None:
        """The up-front cost from Customer.io's counts (the plan line; a snapshot that cannot fit is refused), or
        None when there is nothing to estimate it from. ``state`` is the dataset's state from the last run."""
        return None

    def waits(self) -> bool:
        """Does it spend time waiting on Customer.io rather than sending requests (an export being prepared)? Such
        a dataset starts first, so that the others fill its wait (datasets.runner)."""
        return False

    def check_completeness(self, ctx: RunContext) -> None:
        """After a run: warn when what was read disagrees with Customer.io's own count (where it gives one)."""
        return

    @abstractmethod
    def run(self, ctx: RunContext, state: dict) -> dict:
        """Fetch and write this dataset's tables; return its new state (only kept if the whole run succeeds)."""


def run_dataset(dataset: Dataset, ctx: RunContext, state: dict) -> dict:
    """Run one dataset, with the warnings every dataset shares. A 403 anywhere in it (its own endpoint, a parent's, a child's) becomes the one sentence that
    names the dataset and the access to grant: the same policy for every dataset, in this one place."""
    settings = getattr(dataset.config, dataset.key, None)
    if dataset.full_load_replaces and getattr(settings, "incremental_output", False) and not ctx.incremental_load:
        log.warning("%s: 'Continue since last run' with Full load replaces %s on every run; choose Incremental "
                    "update to accumulate them.", dataset.key, dataset.full_load_replaces)
    try:
        return dataset.run(ctx, state)
    except PermissionDeniedError as exc:
        name = dataset.title or dataset.key.replace("_", " ")
        raise PermissionDeniedError(
            f"The App API key may not read {name} ({exc.path} answered 403): give the key {dataset.access} in "
            f"Customer.io (Settings > API Credentials), or switch '{dataset.key}' off.", status=403,
            path=exc.path) from None
