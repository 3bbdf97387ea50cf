"""The output layer: flattening, Storage names, streaming table writer and manifests."""

from output.flatten import flatten, to_cell, to_json
from output.manifest import write_manifest
from output.naming import ColumnClash, renamed_clashes, storage_column_names, table_name, table_names
from output.table_writer import ChainWriter, TableResult, TableSpec, TableWriter

__all__ = [
    "ChainWriter",
    "ColumnClash",
    "TableResult",
    "TableSpec",
    "TableWriter",
    "flatten",
    "renamed_clashes",
    "storage_column_names",
    "table_name",
    "table_names",
    "to_cell",
    "to_json",
    "write_manifest",
]
