"""The output layer: flattening, Storage names, streaming table writer and manifests."""

from output.flatten import flatten, to_cell, to_json
from output.manifest import LoadPlan, load_plan, write_manifest
from output.naming import ColumnClash, renamed_clashes, storage_column_names, table_name
from output.table_writer import EVENTS, SNAPSHOT, ChainWriter, TableResult, TableSpec, TableWriter

__all__ = [
    "EVENTS",
    "SNAPSHOT",
    "ChainWriter",
    "ColumnClash",
    "LoadPlan",
    "TableResult",
    "TableSpec",
    "TableWriter",
    "flatten",
    "load_plan",
    "renamed_clashes",
    "storage_column_names",
    "table_name",
    "to_cell",
    "to_json",
    "write_manifest",
]
