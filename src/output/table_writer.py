"""Streaming CSV table writer: per-chain spool files, deterministic merge, dynamic columns.

A table is written through one or more *chains* (``writer.chain(key)``). Each chain appends rows to its own
spool files (in a folder of the temporary directory, ``tempfile``/TMPDIR, never under /data), so a chain never waits for another and no row
is held in memory. A chain writes its rows in the final column order as far as it knows it: the fixed columns
(known columns from state, then seed columns, then primary-key columns), then the other keys it has seen, sorted.
A row with a new key starts a new spool segment (see ``ChainWriter``). A closed chain of at most
``_CONSOLIDATE_ROWS`` rows is rewritten into one segment, and closed chains share their column tuples, so a table
of thousands of small chains (customers: one per 100 people) keeps about a kilobyte per chain until the merge.

``close()`` fixes the final column order (the fixed columns, then every other column seen in any chain, sorted
by name) and merges the chains in sorted key order into ``<tables_dir>/<name>.csv`` with a header of Storage
names. A segment whose columns are the final columns is copied byte for byte (the usual case: all but the first
few rows of a run, and every row once the columns are known from state); other segments are re-read and each row
is re-ordered and padded.

The same rows written to the same chain keys give a byte-identical file whatever the thread timing and whatever
order the chains were written or closed in.

CSV dialect: ``,`` delimiter, ``"`` quoting (minimal: a field is quoted when it holds ``,``, ``"``, ``\\r`` or
``\\n``), ``\\n`` line ends, UTF-8 (a lone surrogate, which cannot be encoded, is written as ``?``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Self

from output.naming import ColumnClash, renamed_clashes, storage_column_names

__all__ = ["DATA_TYPES", "EVENTS", "KINDS", "SNAPSHOT", "ChainWriter", "TableResult", "TableSpec", "TableWriter"]

DATA_TYPES = frozenset({"STRING", "INTEGER", "NUMERIC", "FLOAT", "BOOLEAN", "DATE", "TIMESTAMP"})
# What a table holds, which decides what a load does to its Storage table (see output.manifest.load_plan):
# a snapshot is everything Customer.io holds now (campaigns, people, memberships); events accumulate run after run
# (messages, activities).
SNAPSHOT = "snapshot"
EVENTS = "events"
KINDS = frozenset({SNAPSHOT, EVENTS})

_ENCODING = "utf-8"
_ERRORS = "replace"
_SPOOL_BUFFER = 1 << 18
_NO_COLUMNS: Mapping[str, Any] = MappingProxyType({})  # a closed chain's column index and empty row
_MAX_SEGMENTS = 64  # spool files per chain
_MAX_FITS = 4096  # key tuples remembered per chain (rows of one source repeat a few key orders)
# A closed chain with several segments and at most this many rows is rewritten into one segment: a table may have
# thousands of small chains (customers: one per 100 people), and each segment kept costs memory until the merge.
_CONSOLIDATE_ROWS = 20_000

# JSON cells (activity data, customer attributes) can be far above csv's default 128 KiB field limit.
with contextlib.suppress(OverflowError):
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


@dataclass(frozen=True)
class TableSpec:
    """What a table is: its file name, keys, seed columns, data types (by source key), description and kind.

    ``kind`` is ``"snapshot"`` (the default: each run writes everything Customer.io holds, so the Storage table is
    replaced) or ``"events"`` (messages, activities: runs add to the Storage table under the incremental load type).
    """

    name: str
    primary_key: tuple[str, ...] = ()
    seed_columns: tuple[str, ...] = ()
    column_types: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    kind: str = SNAPSHOT
    # Fields (by flattened name) written whole as JSON text: objects that also arrive as JSON text (see flatten).
    json_fields: frozenset[str] = frozenset()
    # Integer columns (by source key) that hold unix seconds beyond those the manifest knows by name (created,
    # *_at, ...; see output.manifest.column_description): their manifest description says so.
    time_columns: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.name or not all(c.isascii() and (c.isalnum() or c in "_-") for c in self.name):
            raise ValueError(f"Table name {self.name!r} must be letters, digits, '_' or '-' (see output.table_name).")
        object.__setattr__(self, "primary_key", tuple(self.primary_key))
        object.__setattr__(self, "seed_columns", tuple(self.seed_columns))
        if self.kind not in KINDS:
            raise ValueError(f"Table kind {self.kind!r} of table {self.name} must be one of {sorted(KINDS)}.")
        object.__setattr__(self, "json_fields", frozenset(self.json_fields))
        object.__setattr__(self, "time_columns", frozenset(self.time_columns))
        bad = {key: kind for key, kind in self.column_types.items() if kind not in DATA_TYPES}
        if bad:
            raise ValueError(f"Unknown column types {bad} for table {self.name}; use one of {sorted(DATA_TYPES)}.")


@dataclass(frozen=True)
class TableResult:
    """What ``TableWriter.close()`` wrote. ``columns`` are source keys; ``names`` the matching Storage names."""

    columns: list[str]
    names: list[str]
    rows: int
    clashes: list[ColumnClash] = field(default_factory=list)
    path: Path | None = None  # the written CSV; None when nothing was written (no columns at all)


def _csv_writer(write: Callable[[str], Any]) -> Any:
    """A csv writer that quotes fields holding ``\\r`` or ``\\n`` and ends lines with ``\\n``.

    Python's minimal quoting only looks at the characters of the line terminator, so with ``\\n`` alone a bare
    ``\\r`` would be written unquoted and split the row when read back. The writer therefore uses ``\\r\\n`` and
    the target rewrites the terminator (csv calls ``write`` exactly once per row).
    """

    class _Target:
        __slots__ = ()

        @staticmethod
        def write(line: str) -> Any:
            return write(line[:-2] + "\n")

    return csv.writer(_Target(), lineterminator="\r\n")


@dataclass(slots=True)
class _Segment:
    """A finished spool file of one chain: every row has exactly ``columns`` unless ``short``."""

    path: str
    columns: tuple[str, ...]
    rows: int
    short: bool


class ChainWriter:
    """One chain of rows, written by one thread at a time. Obtain it from ``TableWriter.chain(key)``.

    Rows go to a spool *segment* whose columns are the table's fixed columns (known, seed and primary-key columns)
    followed by the other keys this chain has seen, sorted, i.e. the final order as far as the chain knows it.
    Every row is written with all the segment's columns (missing keys as empty cells). When a row brings a new
    key, a new segment is started with the new column set (or, before the segment's first row, the columns are
    simply re-sorted), so once the keys are known the rows land in spool files that can be copied byte for byte
    at merge time. After ``_MAX_SEGMENTS`` segments new columns are appended to the current segment instead, which
    makes its earlier rows short; such a segment is re-ordered and padded at merge time.
    """

    __slots__ = (
        "_blank",
        "_closed",
        "_columns",
        "_done",
        "_file",
        "_fits",
        "_fixed",
        "_index",
        "_interned",
        "_order",
        "_others",
        "_path",
        "_rows",
        "_short",
        "_spool_dir",
        "_stem",
        "_writerow",
        "key",
    )

    def __init__(self, key: tuple, spool_dir: Path, stem: str, fixed_columns: Sequence[str] = (),
                 interned: dict | None = None) -> None:
        self.key = key
        self._spool_dir = spool_dir
        self._stem = stem
        # Column tuples and sets shared by the table's chains: closed chains keep one copy of each, not their own.
        self._interned: dict = interned if interned is not None else {}
        self._fixed = self._intern(tuple(fixed_columns))
        self._others: set[str] | frozenset[str] = set()  # keys seen in this chain that are not fixed columns
        self._done: list[_Segment] = []
        self._closed = False
        self._fits: set[tuple] = set()  # key tuples of rows whose keys are all spool columns
        self._open_segment()

    def _open_segment(self) -> None:
        self._path = os.path.join(self._spool_dir, f"{self._stem}-{len(self._done)}.csv")
        self._file = open(self._path, "w", encoding=_ENCODING, errors=_ERRORS, newline="", buffering=_SPOOL_BUFFER)  # noqa: SIM115
        self._writerow = _csv_writer(self._file.write).writerow
        self._set_columns([*self._fixed, *sorted(self._others)])
        self._rows = 0
        self._short = False

    def _set_columns(self, columns: list[str]) -> None:
        self._columns = columns
        self._blank = dict.fromkeys(columns, "")
        self._index = {column: i for i, column in enumerate(columns)}
        self._order = tuple(columns)

    @property
    def rows(self) -> int:
        return sum(segment.rows for segment in self._done) + (0 if self._closed else self._rows)

    @property
    def columns(self) -> list[str]:
        """Every column of this chain: the fixed ones, then the others seen, sorted."""
        return [*self._fixed, *sorted(self._others)]

    def write(self, row: Mapping[str, str]) -> None:
        """Append one row ``{source_key: str}`` (values must already be strings, e.g. from ``flatten``)."""
        keys = tuple(row)
        if keys == self._order:  # same keys in the same order as the spool: write the values as they are
            self._writerow(row.values())
        else:
            if keys not in self._fits:  # key tuples already known to fit the spool's columns skip the check
                if not self._index.keys() >= row.keys():
                    self._add_columns(row)
                if len(self._fits) >= _MAX_FITS:
                    self._fits.clear()
                self._fits.add(keys)  # columns only ever grow, so a tuple that fits keeps fitting
            # The row's values laid over empty cells in the spool's column order (one C-level dict merge).
            self._writerow((self._blank | row).values())
        self._rows += 1

    def _add_columns(self, row: Mapping[str, str]) -> None:
        if self._closed:
            raise ValueError(f"Chain {self.key!r} is closed.")
        new = [key for key in row if key not in self._index]
        for key in new:
            if type(key) is not str:
                raise TypeError(f"Column names must be str, got {key!r}.")
        self._others.update(new)
        if not self._rows:
            self._set_columns([*self._fixed, *sorted(self._others)])
        elif len(self._done) + 1 < _MAX_SEGMENTS:
            self._finish_segment()
            self._open_segment()
        else:
            self._set_columns([*self._columns, *sorted(new)])
            self._short = True

    def _finish_segment(self) -> None:
        self._file.close()
        self._done.append(_Segment(self._path, tuple(self._columns), self._rows, self._short))

    def close(self) -> None:
        """Flush and close this chain's spool (idempotent). Writing afterwards raises ``ValueError``."""
        if not self._closed:
            self._closed = True
            self._finish_segment()
            # A table may hold thousands of closed chains: keep only what the merge needs. The closed file and
            # the csv writer bound to it would otherwise keep their buffers (about 128 KiB a chain) alive.
            self._fits = set()
            self._file = None
            self._writerow = self._refuse_write
            self._index = _NO_COLUMNS
            self._columns = self._order = ()
            self._blank = _NO_COLUMNS
            self._others = self._intern(frozenset(self._others))
            if len(self._done) > 1 and sum(segment.rows for segment in self._done) <= _CONSOLIDATE_ROWS:
                self._consolidate()
            for segment in self._done:
                segment.columns = self._intern(segment.columns)

    def _intern(self, value: Any) -> Any:
        return self._interned.setdefault(value, value)  # dict.setdefault is atomic: chains close in many threads

    def _consolidate(self) -> None:
        """Rewrite this closed chain's segments as one, in the chain's full column order."""
        columns = (*self._fixed, *sorted(self._others))
        path = os.path.join(self._spool_dir, f"{self._stem}-all.csv")
        rows = 0
        with open(path, "w", encoding=_ENCODING, errors=_ERRORS, newline="", buffering=_SPOOL_BUFFER) as file:
            writerow = _csv_writer(file.write).writerow
            for segment in self._done:
                _copy_reordered(segment, columns, writerow)
                rows += segment.rows
        for segment in self._done:
            os.unlink(segment.path)
        self._done = [_Segment(path, columns, rows, False)]

    def _refuse_write(self, _values: Iterable[str]) -> None:
        raise ValueError(f"Chain {self.key!r} is closed.")

    def _segments(self) -> list[_Segment]:
        self.close()
        return self._done

    def _discard(self) -> None:
        self._closed = True
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()


class TableWriter:
    """Streams one output table. See the module docstring for the contract.

    ``known_columns``: source keys remembered from earlier runs (state); they come first, in the given order,
    and are never dropped even when absent from this run's data. ``known_names``: the Storage names they were
    written with; they keep them whatever the naming rule gives now.
    """

    def __init__(self, tables_dir: Path | str, spec: TableSpec, known_columns: Sequence[str] = (),
                 known_names: Mapping[str, str] | None = None) -> None:
        self.tables_dir = Path(tables_dir)
        self.spec = spec
        self.known_columns = list(dict.fromkeys(known_columns))
        self.known_names = dict(known_names or {})  # source key -> the name its Storage column already has
        self._lock = threading.Lock()
        self._chains: dict[tuple, ChainWriter] = {}
        self._stems = itertools.count()
        self._spool_dir: Path | None = None
        self._result: TableResult | None = None
        self._finished = False
        self._interned: dict = {}

    @property
    def path(self) -> Path:
        return self.tables_dir / f"{self.spec.name}.csv"

    # -- writing -------------------------------------------------------------------------------------------------

    def chain(self, key: tuple = ()) -> ChainWriter:
        """The chain for ``key`` (created on first use; thread-safe). Chains are merged in sorted key order."""
        if not isinstance(key, tuple):
            raise TypeError(f"Chain keys are tuples, got {key!r}.")
        with self._lock:
            chain = self._chains.get(key)
            if chain is None:
                if self._finished:
                    raise RuntimeError(f"Table {self.spec.name} is already closed.")
                # A counter, not len(self._chains): after discard_chain a length would name a live chain's spool.
                stem = f"chain-{next(self._stems)}"
                chain = ChainWriter(key, self._ensure_spool_dir(), stem, self._fixed_columns(), self._interned)
                self._chains[key] = chain
            return chain

    def write(self, row: Mapping[str, str]) -> None:
        """Write a row to the default chain ``()``."""
        self.chain(()).write(row)

    def discard_chain(self, key: tuple) -> None:
        """Drop a chain and its rows (e.g. read speculatively and not wanted after all)."""
        with self._lock:
            chain = self._chains.pop(key, None)
        if chain is not None:
            chain._discard()
            for segment in chain._done:
                with contextlib.suppress(OSError):
                    os.unlink(segment.path)

    def _ensure_spool_dir(self) -> Path:
        if self._spool_dir is None:
            # The temporary directory (TMPDIR; Keboola mounts a per-job host folder at /tmp, keboola/docker-bundle
            # Container.php): the platform allows no arbitrary
            # files in /data, and a spool is never mistaken for a table there.
            self._spool_dir = Path(tempfile.mkdtemp(prefix=f"spool-{self.spec.name}-"))
        return self._spool_dir

    # -- finishing -----------------------------------------------------------------------------------------------

    def _fixed_columns(self) -> list[str]:
        """Known columns, then seeds, then primary-key columns (each once)."""
        ordered = dict.fromkeys(self.known_columns)
        ordered.update(dict.fromkeys(self.spec.seed_columns))
        ordered.update(dict.fromkeys(self.spec.primary_key))
        return list(ordered)

    def final_columns(self) -> list[str]:
        """Known columns, then seeds, then primary-key columns, then every other column seen, sorted."""
        ordered = dict.fromkeys(self._fixed_columns())
        others: set[str] = set()
        for chain in self._chains.values():
            others.update(chain._others)
        others.difference_update(ordered)
        return [*ordered, *sorted(others)]

    def close(self) -> TableResult:
        """Merge the chains into ``<tables_dir>/<name>.csv`` and return what was written (idempotent)."""
        with self._lock:
            if self._result is not None:
                return self._result
            if self._finished:
                raise RuntimeError(f"Table {self.spec.name} was aborted.")
            self._finished = True
        try:
            result = self._merge()
        except BaseException:
            self._cleanup()
            raise
        self._cleanup()
        self._result = result
        return result

    def _merge(self) -> TableResult:
        chains = [self._chains[key] for key in _sorted_keys(self._chains)]
        for chain in chains:
            chain.close()
        final = self.final_columns()
        if not final:
            return TableResult(columns=[], names=[], rows=0)
        columns = tuple(final)  # as segments hold them
        names = storage_column_names(final, self.known_names)
        clashes = renamed_clashes(final, names)
        # The merge writes the table straight to its final path (no move: /tmp and /data are different filesystems,
        # so a move would copy the whole file once more). Safe because Keboola reads out/tables only after the process
        # exits 0: a run that fails or is killed during the merge loads nothing, and a failed merge removes its file.
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        try:
            rows = self._write_merged(chains, columns, names)
        except BaseException:
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise
        return TableResult(columns=final, names=names, rows=rows, clashes=clashes, path=self.path)

    def _write_merged(self, chains: list[ChainWriter], columns: tuple[str, ...], names: list[str]) -> int:
        rows = 0
        with open(self.path, "wb") as binary:
            text = io.TextIOWrapper(binary, encoding=_ENCODING, errors=_ERRORS, newline="")
            writerow = _csv_writer(text.write).writerow
            writerow(names)
            for chain in chains:
                for segment in chain._segments():
                    rows += segment.rows
                    if not segment.rows:
                        continue
                    if segment.columns == columns and not segment.short:
                        text.flush()
                        with open(segment.path, "rb") as spool:
                            shutil.copyfileobj(spool, binary, 1 << 20)
                    else:
                        _copy_reordered(segment, columns, writerow)
            text.flush()
            text.detach()
        return rows

    def abort(self) -> None:
        """Discard everything written so far (spool files); the table file is not written (idempotent)."""
        with self._lock:
            self._finished = True
            if self._result is not None:
                return
        self._cleanup()

    def _cleanup(self) -> None:
        for chain in self._chains.values():
            chain._discard()
        if self._spool_dir is not None:
            shutil.rmtree(self._spool_dir, ignore_errors=True)
            self._spool_dir = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _sorted_keys(keys: Iterable[tuple]) -> list[tuple]:
    keys = list(keys)
    try:
        return sorted(keys)
    except TypeError:  # incomparable key parts (e.g. None next to int): still deterministic
        return sorted(keys, key=repr)


def _copy_reordered(segment: _Segment, columns: tuple[str, ...], writerow: Callable[[Iterable[str]], Any]) -> None:
    """Re-read a spool segment and write each row in the final column order, padded."""
    width = len(segment.columns)
    total = len(columns)
    with open(segment.path, encoding=_ENCODING, errors=_ERRORS, newline="") as spool:
        reader = csv.reader(spool)
        if segment.columns == columns[:width]:
            pad = [""] * total
            for row in reader:
                writerow(row + pad[len(row) :] if len(row) < total else row)
            return
        position = {column: i for i, column in enumerate(segment.columns)}
        sources = [position.get(column, width) for column in columns]  # index ``width`` is an empty cell
        pad = [""] * (width + 1)
        if total == 1:
            source = sources[0]

            def pick(row: list[str]) -> tuple[str, ...]:
                return (row[source],)
        else:
            pick = itemgetter(*sources)
        for row in reader:
            row += pad[len(row) :]
            writerow(pick(row))
