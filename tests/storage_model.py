"""A model of Keboola Storage for tests: what a run's tables and manifests do to the Storage tables, run after run.

    storage = Storage()
    storage.create("campaigns", ["id", "name"], rows, primary_key=["id"])   # optional: tables that already exist
    storage.load(result.tables)          # every <name>.csv + <name>.csv.manifest of one run, like the platform
    storage.rows("campaigns")            # -> list of {column: value}, in Storage order
    storage["campaigns"].primary_key     # -> ("id",)

The rules (Keboola's output mapping, as far as the tests need them):
- A table that does not exist yet is created with the CSV's columns and the manifest's primary key.
- Full load (``incremental: false``): the rows are replaced by the CSV's, and the primary key by the manifest's
  (none if it has none). Columns are never dropped: a CSV that lacks a column the table has is refused
  ("Some columns are missing in the csv file"), for full and incremental loads alike. New columns are added
  (empty in rows already there).
- Incremental load (``incremental: true``): refused when the manifest brings a primary key other than the table's
  (a key changes only through a full load); no key in the manifest means the table's key. Then ``delete_where``
  (``delete_where_column``, ``delete_where_values``, ``delete_where_operator`` ``eq`` (default) or ``ne``) deletes
  rows, then the CSV's rows are upserted by the primary key, or appended when the table has none.
- Rows of one load that share a primary key are deduplicated (the last one kept) and counted in
  ``Table.duplicates``, so a test can insist that a run never writes a key twice.
A refused load raises ``LoadRefused`` and leaves every table as it was (``load`` checks every table first).

Manifests in the new format (``schema`` with ``primary_key`` flags) and the legacy one (``primary_key`` list,
``columns`` for headerless files) are both read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LoadRefused", "Storage", "Table", "manifest_of"]


class LoadRefused(Exception):
    """Storage refused a load (the message says why, as Keboola's does)."""


@dataclass
class Table:
    name: str
    columns: list[str]
    primary_key: tuple[str, ...] = ()
    rows: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0  # rows of the last load that repeated a primary key of the same load

    def values(self, column: str) -> list[str]:
        return [row[column] for row in self.rows]

    def keyed(self) -> dict[tuple[str, ...], dict[str, str]]:
        """Rows by primary key (the table must have one)."""
        assert self.primary_key, f"table {self.name} has no primary key"
        return {tuple(row[c] for c in self.primary_key): row for row in self.rows}


def manifest_of(csv_path: Path) -> dict:
    return json.loads(Path(f"{csv_path}.manifest").read_text(encoding="utf-8"))


class Storage:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.loads: list[tuple[str, bool]] = []  # (table, incremental) of every accepted load, in order

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    def __contains__(self, name: str) -> bool:
        return name in self.tables

    def rows(self, name: str) -> list[dict[str, str]]:
        return self.tables[name].rows

    def create(self, name: str, columns: Sequence[str], rows: Iterable[Mapping[str, str]] = (),
               primary_key: Sequence[str] = ()) -> Table:
        """A table that exists before the first run (e.g. the older component's)."""
        table = Table(name, list(columns), tuple(primary_key))
        table.rows = [{c: str(row.get(c, "")) for c in table.columns} for row in rows]
        self.tables[name] = table
        return table

    def load(self, tables_dir: Path | str) -> list[str]:
        """Load every table of one run (``<name>.csv`` with its manifest); all or none. Returns the table names."""
        loads = []
        for path in sorted(Path(tables_dir).glob("*.csv")):
            name = path.name[: -len(".csv")]
            loads.append((name, *self._read(path)))
        planned = {name: self._apply(name, header, rows, manifest) for name, header, rows, manifest in loads}
        for name, (table, incremental) in planned.items():
            self.tables[name] = table
            self.loads.append((name, incremental))
        return list(planned)

    def load_table(self, name: str, header: Sequence[str], rows: Iterable[Sequence[str]], manifest: dict) -> Table:
        """Load one table from its header, rows and manifest (what ``load`` does for each CSV)."""
        table, incremental = self._apply(name, list(header), [list(r) for r in rows], manifest)
        self.tables[name] = table
        self.loads.append((name, incremental))
        return table

    # ------------------------------------------------------------------ the rules

    @staticmethod
    def _read(path: Path) -> tuple[list[str], list[list[str]], dict]:
        manifest = manifest_of(path)
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            if manifest.get("has_header") is False or "columns" in manifest:
                header = list(manifest.get("columns") or [c["name"] for c in manifest.get("schema", [])])
            else:
                header = next(reader, [])
            return header, list(reader), manifest

    def _apply(self, name: str, header: list[str], rows: list[list[str]], manifest: dict) -> tuple[Table, bool]:
        if len(set(header)) != len(header):
            raise LoadRefused(f"Table {name}: the CSV has duplicate columns {header}.")
        incremental = bool(manifest.get("incremental", False))
        key = _primary_key(manifest)
        missing_key = [c for c in key if c not in header]
        if missing_key:
            raise LoadRefused(f"Table {name}: primary key columns {missing_key} are not in the CSV.")
        old = self.tables.get(name)
        if old is not None:
            missing = [c for c in old.columns if c not in header]
            if missing:
                raise LoadRefused(f"Table {name}: Some columns are missing in the csv file. Missing columns: "
                                  f"{','.join(missing)}. Expected columns: {','.join(old.columns)}.")
        columns = list(old.columns) if old else []
        columns += [c for c in header if c not in columns]
        for line, row in enumerate(rows, start=1):
            if len(row) != len(header):
                raise LoadRefused(f"Table {name}: row {line} has {len(row)} values for {len(header)} columns.")
        new_rows = [dict(zip(header, row, strict=True)) for row in rows]
        if old is None or not incremental:
            table = Table(name, columns, key)
            table.rows, table.duplicates = _dedup(new_rows, key, columns)
            return table, incremental
        if key and key != old.primary_key:
            raise LoadRefused(f"Table {name}: the incremental load brings primary key {list(key)}, the table has "
                              f"{list(old.primary_key)}; a primary key changes only through a full load.")
        key = old.primary_key
        kept = [_pad(row, columns) for row in old.rows]
        column = manifest.get("delete_where_column")
        if column:
            if column not in columns:
                raise LoadRefused(f"Table {name}: delete_where_column {column!r} is not a column of the table.")
            values = {str(v) for v in manifest.get("delete_where_values") or []}
            operator = manifest.get("delete_where_operator", "eq")
            if operator not in ("eq", "ne"):
                raise LoadRefused(f"Table {name}: delete_where_operator must be eq or ne, not {operator!r}.")
            kept = [row for row in kept if (row[column] in values) != (operator == "eq")]
        loaded, duplicates = _dedup(new_rows, key, columns)
        table = Table(name, columns, key, duplicates=duplicates)
        if key:
            merged = {tuple(row[c] for c in key): row for row in kept}
            for row in loaded:
                merged[tuple(row[c] for c in key)] = row
            table.rows = list(merged.values())
        else:
            table.rows = kept + loaded
        return table, incremental


def _primary_key(manifest: dict) -> tuple[str, ...]:
    if "schema" in manifest:
        return tuple(c["name"] for c in manifest["schema"] if c.get("primary_key"))
    return tuple(manifest.get("primary_key") or ())


def _pad(row: Mapping[str, str], columns: Sequence[str]) -> dict[str, str]:
    return {c: row.get(c, "") for c in columns}


def _dedup(rows: list[dict[str, str]], key: tuple[str, ...], columns: Sequence[str]) -> tuple[list[dict], int]:
    padded = [_pad(row, columns) for row in rows]
    if not key:
        return padded, 0
    by_key = {tuple(row[c] for c in key): row for row in padded}
    return list(by_key.values()), len(padded) - len(by_key)
