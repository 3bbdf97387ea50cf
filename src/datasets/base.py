"""What every dataset shares: the run context, the table session that remembers columns, the base class."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from customerio import CustomerIoClient
from output import TableSpec, TableWriter, write_manifest
from progress import Progress

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    client: CustomerIoClient
    component: Any  # keboola.component.CommonInterface: writes manifests
    tables_dir: Path
    incremental_load: bool  # the load type of every table (manifest incremental flag + primary key)
    now: int  # the run's clock, unix seconds; one value for the whole run
    max_workers: int = 8
    progress_interval: float = 30.0
    table_results: dict[str, Any] = field(default_factory=dict)

    def progress(self, label: str, **kwargs: Any) -> Progress:
        return Progress(label, interval=self.progress_interval, **kwargs)


class Tables:
    """Opens a dataset's tables, seeds them with the columns state remembers, and records the final columns.

    A table's header never loses a column between runs: the known columns come back from state.
    """

    def __init__(self, ctx: RunContext, dataset_state: dict):
        self._ctx = ctx
        self.columns: dict[str, list[str]] = dict(dataset_state.get("columns") or {})

    @contextmanager
    def open(self, spec: TableSpec) -> Iterator[TableWriter]:
        writer = TableWriter(self._ctx.tables_dir, spec, known_columns=self.columns.get(spec.name, ()))
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        result = writer.close()
        for clash in result.clashes:
            log.warning("%s", clash.message(spec.name))
        if result.columns:
            write_manifest(self._ctx.component, spec, result, incremental=self._ctx.incremental_load)
            self.columns[spec.name] = list(result.columns)
        self._ctx.table_results[spec.name] = result
        log.info("Table %s: %s rows.", spec.name, f"{result.rows:,}")


class Dataset(ABC):
    key: ClassVar[str]  # configuration key and state key

    def __init__(self, config: Any):
        self.config = config  # configuration.Configuration

    @abstractmethod
    def run(self, ctx: RunContext, state: dict) -> dict:
        """Fetch and write this dataset's tables; return its new state (only kept if the whole run succeeds)."""
