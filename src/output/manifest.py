"""Table manifests through keboola.component: typed columns, load (full or incremental), primary key, header.

Two manifest formats, chosen as keboola.component 1.11 chooses (``_expects_legacy_manifest``): the runner always sets
``KBC_STACKID`` and sets ``KBC_DATA_TYPE_SUPPORT`` only for projects with native types (the Portal property
``dataTypesConfiguration.dataTypesSupport``, default ``none``); ``storage.output.data_type_support`` in config.json
overrides it. With ``hints``/``authoritative`` (or outside Keboola) the manifest has a ``schema``; otherwise it is the
legacy one (``primary_key``, ``incremental``, ``metadata``; the columns from the file's header), where the library
drops every type,
``nullable`` and column description, so this module writes them as ``column_metadata`` (``KBC.datatype.basetype``,
``KBC.datatype.nullable``, ``KBC.description``) as the library's own ``create_out_table_definition_from_schema``
does. Never both in one manifest. https://developers.keboola.com/extend/common-interface/manifest-files/

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

import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keboola.component.dao import BaseType, ColumnDefinition, KBCMetadataKeys, SupportedDataTypes, TableDefinition

from output.table_writer import EVENTS, TableResult, TableSpec

__all__ = ["Changes", "LoadPlan", "column_description", "expects_legacy_manifest", "load_plan", "write_manifest"]

# Integer columns that hold a time as Customer.io sends it: unix seconds. By name, as the App API names them
# (created, updated, timestamp, first_started, *_at; period_start of the metrics tables); a spec may list more.
_TIME_NAMES = frozenset({"created", "updated", "timestamp", "first_started", "period_start"})
TIME_DESCRIPTION = "unix seconds (UTC)"
JSON_DESCRIPTION = "JSON text"


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


def column_description(spec: TableSpec, key: str, name: str) -> str | None:
    """What a column's name does not say: its Customer.io field when renamed, unix seconds, JSON text."""
    parts = []
    if key != name:
        parts.append(f"Customer.io field '{key}'")
    if key in spec.time_columns or (spec.column_types.get(key) == "INTEGER"
                                    and (key in _TIME_NAMES or key.endswith("_at"))):
        parts.append(TIME_DESCRIPTION)
    elif key in spec.json_fields:
        parts.append(JSON_DESCRIPTION)
    return "; ".join(parts) + "." if parts else None


def expects_legacy_manifest(component: Any) -> bool:
    """True when Storage reads this job's manifests in the legacy format (see the module docstring).

    The library's own rule (``CommonInterface._expects_legacy_manifest``), so the format always matches what its
    ``write_manifest`` would pick.
    """
    return bool(component._expects_legacy_manifest())


def write_manifest(
    component: Any, spec: TableSpec, result: TableResult, *, incremental: bool, plan: LoadPlan | None = None
) -> TableDefinition | None:
    """Write ``<name>.csv.manifest`` for a table written by ``TableWriter``.

    ``component`` is a ``keboola.component`` ``CommonInterface`` / ``ComponentBase``. The schema lists the Storage
    names in file order with their base types (``spec.column_types`` by source key, default STRING). The file has a
    header, so ``has_header=True`` is passed explicitly (with a schema the library would otherwise assume none).
    ``incremental`` is the user's load type; the load written is ``plan`` (default ``load_plan(spec,
    incremental=incremental)``): its incremental flag and its primary-key columns flagged (and not nullable). Column
    descriptions come from ``column_description``. In the legacy format the same types, nullability and descriptions
    go to ``column_metadata`` (see the module docstring). Nothing is written when the table has no columns (no file
    was written).
    """
    if not result.columns:
        return None
    plan = plan or load_plan(spec, incremental=incremental)
    primary_key = set(plan.primary_key)
    schema: OrderedDict[str, ColumnDefinition] = OrderedDict()
    for key, name in zip(result.columns, result.names, strict=True):
        data_type = SupportedDataTypes[spec.column_types.get(key, "STRING")]
        # Key columns are never empty.
        schema[name] = _Column(data_types=BaseType(data_type), primary_key=key in primary_key,
                               nullable=key not in primary_key, description=column_description(spec, key, name))
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
    legacy = expects_legacy_manifest(component)
    if legacy:
        # Set directly: TableMetadata.add_column_metadata is deprecated (it warns on every call).
        definition.table_metadata.column_metadata = {
            name: {KBCMetadataKeys.base_data_type.value: column.data_types["base"].dtype,
                   KBCMetadataKeys.data_type_nullable.value: column.nullable,
                   KBCMetadataKeys.description.value: column.description}
            for name, column in schema.items()
        }
    # Not component.write_manifest: on a project without queuev2 the library warns "Running on legacy queue some
    # manifest properties will be ignored: ['write_always']" once per table. The same dictionary is built here
    # with that one property dropped silently (this component never asks for write_always).
    manifest = definition.get_manifest_dictionary(legacy_queue=False, legacy_manifest=legacy)
    if component.is_legacy_queue:
        for excluded in TableDefinition.OUTPUT_MANIFEST_LEGACY_EXCLUDES:
            manifest.pop(excluded, None)
    os.makedirs(os.path.dirname(definition.full_path), exist_ok=True)
    with open(definition.full_path + ".manifest", "w") as file:
        json.dump(manifest, file)
    return definition
