"""Table manifests through keboola.component: typed schema, incremental flag, primary key, header."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from keboola.component.dao import BaseType, ColumnDefinition, SupportedDataTypes, TableDefinition

from output.table_writer import TableResult, TableSpec

__all__ = ["write_manifest"]


class _Column(ColumnDefinition):
    """keboola.component drops every false value from a column, so ``nullable: false`` would never reach the
    manifest (and Storage's default is nullable): this keeps it."""

    def to_dict(self, name: str) -> dict:
        column = super().to_dict(name)
        if self.nullable is False:
            column["nullable"] = False
        return column


def write_manifest(
    component: Any, spec: TableSpec, result: TableResult, *, incremental: bool
) -> TableDefinition | None:
    """Write ``<name>.csv.manifest`` for a table written by ``TableWriter``.

    ``component`` is a ``keboola.component`` ``CommonInterface`` / ``ComponentBase``. The schema lists the Storage
    names in file order with their base types (``spec.column_types`` by source key, default STRING). The file has a
    header, so ``has_header=True`` is passed explicitly (with a schema the library would otherwise assume none).
    Full load: ``incremental: false`` and no primary key. Incremental: ``incremental: true`` and the
    ``spec.primary_key`` columns flagged (and not nullable). A column whose Storage name differs from its source key
    has the source key in its description. Nothing is written when the table has no columns (no file was written).
    """
    if not result.columns:
        return None
    primary_key = set(spec.primary_key) if incremental else set()
    schema: OrderedDict[str, ColumnDefinition] = OrderedDict()
    for key, name in zip(result.columns, result.names, strict=True):
        data_type = SupportedDataTypes[spec.column_types.get(key, "STRING")]
        # A renamed column keeps its Customer.io name in its description; key columns are never empty.
        described = f"Customer.io field '{key}'." if key != name else None
        schema[name] = _Column(data_types=BaseType(data_type), primary_key=key in primary_key,
                               nullable=key not in primary_key, description=described)
    definition = component.create_out_table_definition(
        f"{spec.name}.csv",
        schema=schema,
        incremental=incremental,
        has_header=True,
        description=spec.description or None,
    )
    component.write_manifest(definition)
    return definition
