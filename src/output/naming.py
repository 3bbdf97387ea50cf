"""Keboola Storage column and table names.

Storage rules applied here: only ASCII letters, digits and ``_``; no leading ``_``; at most 64 characters;
unique ignoring case; never empty.

Sanitising one name: anything not ASCII is transliterated with the ``anyascii`` library (``město`` -> ``mesto``,
``名前`` -> ``MingQian``, ``город`` -> ``gorod``): a maintained table for every script, where a hand-made one would
cover a few; a symbol it has no letters for gets its Unicode name (``★`` -> ``BLACK_STAR``); every run of other
characters (spaces, punctuation, ``_``) becomes one ``_``; leading and trailing ``_`` are stripped; an empty result
becomes ``column`` (``table`` for tables). A name longer than 64 characters is cut
to 55 characters plus ``_`` and 8 hex digits of a SHA-1 of the whole lower-cased sanitised name, so two long
names that share their first 64 characters still get distinct, readable, stable names.

Names are assigned in order; the first one keeps the plain name, and a later name equal to an earlier one
ignoring case gets ``_2``, ``_3``, ... (the base is cut so the total stays within 64 and the suffixed name is
itself checked against all earlier names). Because only earlier names matter, extending the list never renames
earlier columns (append-stable), which keeps names stable across incremental runs when the known order is kept
in state. A column Storage already holds keeps the name it was written with (``kept``), even when this rule has
changed since: the state remembers each table's renamed columns (``datasets.base.Tables``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from anyascii import anyascii

__all__ = [
    "MAX_NAME_LENGTH",
    "ColumnClash",
    "earlier_column_names",
    "renamed_clashes",
    "renamed_columns",
    "sanitize",
    "storage_column_names",
    "table_name",
]

MAX_NAME_LENGTH = 64
_HASH_LENGTH = 8
_OTHER = re.compile(r"[^A-Za-z0-9]+")


class ColumnClash(NamedTuple):
    """A source key whose Storage name had to be changed because an earlier key already held it."""

    source: str  # the original key that was renamed
    clashes_with: str  # the earlier original key that keeps the plain name
    name: str  # the final Storage name of ``source``

    def message(self, table: str) -> str:
        return (
            f"Columns '{self.clashes_with}' and '{self.source}' of table {table} clash in Storage; "
            f"'{self.source}' is written as '{self.name}'."
        )


def sanitize(text: str, fallback: str = "column") -> str:
    """One name made valid on its own (not yet unique): see the module rules."""
    name = ""
    if not text.isascii():
        name = _OTHER.sub("_", anyascii(text)).strip("_")
        if not name:  # symbols with no transliteration (★): their Unicode names, still recognisable
            name = _OTHER.sub("_", " ".join(unicodedata.name(c, "") for c in text)).strip("_")
    else:
        name = _OTHER.sub("_", text).strip("_")
    return _fit(name or fallback)


def _fit(name: str) -> str:
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha1(name.lower().encode("ascii")).hexdigest()[:_HASH_LENGTH]
    return f"{name[: MAX_NAME_LENGTH - _HASH_LENGTH - 1].rstrip('_')}_{digest}"


def earlier_sanitize(text: str, fallback: str = "column") -> str:
    """One name by the rule of the versions before transliteration (until 2026-12-01): accents dropped (NFKD,
    combining marks removed), every other non-ASCII character a ``_`` (``straße`` -> ``stra_e``, ``город`` ->
    ``column``). Only to know the Storage names of tables those versions wrote."""
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _fit(_OTHER.sub("_", text).strip("_") or fallback)


def earlier_column_names(source_keys: Sequence[str]) -> list[str]:
    """``storage_column_names`` as the versions before transliteration gave them."""
    return _assign_unique(earlier_sanitize(str(key)) for key in source_keys)


def _assign_unique(plains: Iterable[str], reserved: Iterable[str] = ()) -> list[str]:
    """Make names unique ignoring case, in order; the first keeps its plain name; ``reserved`` names are taken."""
    taken: set[str] = {name.lower() for name in reserved}
    next_suffix: dict[str, int] = {}
    names: list[str] = []
    for plain in plains:
        name = plain
        low = plain.lower()
        if low in taken:
            n = next_suffix.get(low, 2)
            while True:
                suffix = f"_{n}"
                name = plain[: MAX_NAME_LENGTH - len(suffix)].rstrip("_") + suffix
                n += 1
                if name.lower() not in taken:
                    break
            next_suffix[low] = n
        taken.add(name.lower())
        names.append(name)
    return names


def storage_column_names(source_keys: Sequence[str], kept: Mapping[str, str] | None = None) -> list[str]:
    """Storage column names for ``source_keys`` (same length and order; valid, unique ignoring case).

    ``kept``: source key -> the name its Storage column already has. Those keep it, whatever the rule gives now
    (Storage refuses a load that lacks a column the table has); the other keys get names none of them holds.
    """
    kept = {str(key): kept[key] for key in source_keys if key in kept} if kept else {}
    fresh = iter(_assign_unique((sanitize(str(key)) for key in source_keys if str(key) not in kept),
                                reserved=kept.values()))
    return [kept[str(key)] if str(key) in kept else next(fresh) for key in source_keys]


def renamed_clashes(source_keys: Sequence[str], names: Sequence[str] | None = None) -> list[ColumnClash]:
    """The keys whose Storage name differs from their plain name because an earlier key held it.

    ``names`` is the result of ``storage_column_names(source_keys)`` (computed when not given).
    """
    if names is None:
        names = storage_column_names(source_keys)
    owner = {name.lower(): key for key, name in zip(source_keys, names, strict=True)}
    clashes: list[ColumnClash] = []
    for key, name in zip(source_keys, names, strict=True):
        plain = sanitize(str(key))
        if name != plain:
            clashes.append(ColumnClash(str(key), str(owner.get(plain.lower(), "")), name))
    return clashes


def renamed_columns(source_keys: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """``{source key: Storage name}`` for every column whose Storage name is not its source key."""
    return {str(key): name for key, name in zip(source_keys, names, strict=True) if str(key) != name}


def table_name(raw: str) -> str:
    """A valid Storage table name (letters, digits, ``_``; <= 64) for one arbitrary string."""
    return sanitize(raw, fallback="table")
