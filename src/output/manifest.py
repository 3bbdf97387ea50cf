"""Table manifests through keboola.component: typed schema, incremental flag, primary key, header."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from keboola.component.dao import BaseType, ColumnDefinition, SupportedDataTypes, TableDefinition

from output.table_writer import TableResult, TableSpec

__all__ = ["write_manifest"]


def write_manifest(
    component: Any, spec: TableSpec, result: TableResult, *, incremental: bool
) -> TableDefinition | None:
    """Write ``<name>.csv.manifest`` for a table written by ``TableWriter``.

    ``component`` is a ``keboola.component`` ``CommonInterface`` / ``ComponentBase``. The schema lists the Storage
    names in file order with their base types (``spec.column_types`` by source key, default STRING). The file has a
    header, so ``has_header=True`` is passed explicitly (with a schema the library would otherwise assume none).
    Full load: ``incremental: false`` and no primary key. Incremental: ``incremental: true`` and the
    ``spec.primary_key`` columns flagged. Nothing is written when the table has no columns (no file was written).
    """
    if not result.columns:
        return None
    primary_key = set(spec.primary_key) if incremental else set()
    schema: OrderedDict[str, ColumnDefinition] = OrderedDict()
    for key, name in zip(result.columns, result.names, strict=True):
        data_type = SupportedDataTypes[spec.column_types.get(key, "STRING")]
        schema[name] = ColumnDefinition(data_types=BaseType(data_type), primary_key=key in primary_key)
    definition = component.create_out_table_definition(
        f"{spec.name}.csv",
        schema=schema,
        incremental=incremental,
        has_header=True,
        description=spec.description or None,
    )
    component.write_manifest(definition)
    return definition
