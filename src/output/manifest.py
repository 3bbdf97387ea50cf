"""Table manifests through keboola.component: typed schema, load (full or incremental), primary key, header.

What a run does to a Storage table (``load_plan``) follows from the user's load type and the table's kind:

=================  ==============================  ===========================================================
load type          snapshot table                  events table (messages, activities)
=================  ==============================  ===========================================================
Full load          full load, no primary key       full load, no primary key (the table holds this run's rows)
Incremental        full load, primary key kept     incremental load (upsert by primary key); a full load with
                   (the table equals Customer.io)  the key once, when Storage has another key (see below)
=================  ==============================  ===========================================================

Why a snapshot is a full load and not an incremental load with ``delete_where``: ``delete_where`` removes the rows
whose column holds one of the values listed, so a row can only leave Storage if the run names its value. What has
gone from Customer.io is exactly what a run no longer sees: a deleted segment, a segment taken out of the
configuration, a person who left a segment or the filter, an attribute removed from a person. Listing every value
the table might hold (every person) is no smaller than the table itself. A full load replaces the rows and keeps
the primary key in the manifest, so the table equals Customer.io after every run and keeps its key.

A snapshot table written as changes only (``Changes``: customers with "continue since last run", which knows from
Customer.io's activity log exactly which people changed) is the exception: an incremental load with its key and
``delete_where`` on the changed people's ids. Storage deletes the matching rows first, then loads the file
(developers.keboola.com, "Manifest files": delete_where_* apply to incremental loads), so a changed person's rows are
replaced and a deleted person's removed.

Storage changes a table's primary key only through a full load, and refuses an incremental load that brings
another key. ``stored_key`` is the key the Storage table has (remembered in state, ``None`` when unknown): when it
differs from the table's key, an events table is loaded in full once (after an upgrade from the older component,
or after a switch from Full load, which leaves no key).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keboola.component.dao import BaseType, ColumnDefinition, SupportedDataTypes, TableDefinition

from output.table_writer import EVENTS, TableResult, TableSpec

__all__ = ["Changes", "LoadPlan", "load_plan", "write_manifest"]


@dataclass(frozen=True)
class Changes:
    """A snapshot table that holds only what changed: the rows whose ``column`` (a Storage column name) holds one of
    ``values`` are deleted from Storage, then the file is upserted by the primary key."""

    column: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadPlan:
    """What the manifest asks of Storage: an incremental load or a full load, and the primary key (source keys)."""

    incremental: bool
    primary_key: tuple[str, ...]
    key_change: bool = False  # Storage holds the table under another primary key: this full load changes it
    changes: Changes | None = None  # an incremental load of changes only, with delete_where (see Changes)


def load_plan(spec: TableSpec, *, incremental: bool, stored_key: Sequence[str] | None = None) -> LoadPlan:
    """The load of ``spec``'s table under the user's load type (``incremental``); see the module docstring."""
    if not incremental:
        return LoadPlan(incremental=False, primary_key=())
    key = tuple(spec.primary_key)
    key_change = stored_key is not None and tuple(stored_key) != key
    if spec.kind != EVENTS or key_change:
        return LoadPlan(incremental=False, primary_key=key, key_change=key_change)
    return LoadPlan(incremental=True, primary_key=key)


class _Column(ColumnDefinition):
    """keboola.component drops every false value from a column, so ``nullable: false`` would never reach the
    manifest (and Storage's default is nullable): this keeps it."""

    def to_dict(self, name: str) -> dict:
        column = super().to_dict(name)
        if self.nullable is False:
            column["nullable"] = False
        return column


def write_manifest(
    component: Any, spec: TableSpec, result: TableResult, *, incremental: bool, plan: LoadPlan | None = None
) -> TableDefinition | None:
    """Write ``<name>.csv.manifest`` for a table written by ``TableWriter``.

    ``component`` is a ``keboola.component`` ``CommonInterface`` / ``ComponentBase``. The schema lists the Storage
    names in file order with their base types (``spec.column_types`` by source key, default STRING). The file has a
    header, so ``has_header=True`` is passed explicitly (with a schema the library would otherwise assume none).
    ``incremental`` is the user's load type; the load written is ``plan`` (default ``load_plan(spec,
    incremental=incremental)``): its incremental flag and its primary-key columns flagged (and not nullable). A
    column whose Storage name differs from its source key has the source key in its description. Nothing is written
    when the table has no columns (no file was written).
    """
    if not result.columns:
        return None
    plan = plan or load_plan(spec, incremental=incremental)
    primary_key = set(plan.primary_key)
    schema: OrderedDict[str, ColumnDefinition] = OrderedDict()
    for key, name in zip(result.columns, result.names, strict=True):
        data_type = SupportedDataTypes[spec.column_types.get(key, "STRING")]
        # A renamed column keeps its Customer.io name in its description; key columns are never empty.
        described = f"Customer.io field '{key}'." if key != name else None
        schema[name] = _Column(data_types=BaseType(data_type), primary_key=key in primary_key,
                               nullable=key not in primary_key, description=described)
    delete_where = None
    if plan.changes is not None and plan.changes.values:
        # Sorted: the same changes give the same manifest. The operator is passed: the library reads it unchecked.
        delete_where = {"column": plan.changes.column, "values": sorted(set(plan.changes.values)), "operator": "eq"}
    definition = component.create_out_table_definition(
        f"{spec.name}.csv",
        schema=schema,
        incremental=plan.incremental,
        has_header=True,
        description=spec.description or None,
        delete_where=delete_where,
    )
    component.write_manifest(definition)
    return definition
