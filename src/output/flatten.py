"""Record -> flat row of CSV-ready strings.

Rules:
- nested dicts flatten recursively into ``parent_child`` keys (joined with ``_``);
  an empty nested dict, and a ``None`` value (a null object or scalar), produce no columns;
- lists (of anything) become JSON text;
- a key listed in ``json_fields`` (by its flattened name) whose value is a dict is written whole as JSON text;
- values become strings: ``True``/``False`` -> ``"true"``/``"false"``, ``int`` -> decimal,
  ``float`` -> shortest round-trip form (``1.5``, ``2.0``, ``1e+20``), ``str`` unchanged,
  dict/list -> compact JSON (``ensure_ascii=False``, no spaces); never Python ``repr``.
- if two paths produce the same key (``{"a_b": 1, "a": {"b": 2}}``) both values are kept: the shallower path keeps
  the key, the deeper one is written under its path joined with ``.`` (``a.b``), whatever the order of the keys.

This runs once per record, so the loop is kept flat: exact type checks, most frequent types first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["flatten", "to_cell", "to_json"]

_EMPTY: frozenset[str] = frozenset()


def _json_default(value: Any) -> Any:
    """Make the JSON encoder total for JSON-like Python values (never falls back to repr for containers)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default).encode


def to_json(value: Any) -> str:
    """Compact JSON text of ``value`` (UTF-8 characters kept, no spaces)."""
    return _encode(value)


def to_cell(value: Any) -> str:
    """One value as a CSV-ready string (see the module rules)."""
    t = type(value)
    if t is str:
        return value
    if value is None:
        return ""
    if t is int:
        return str(value)
    if t is bool:
        return "true" if value else "false"
    if t is float:
        return repr(value)
    if t is dict or t is list:
        return _encode(value)
    return _to_cell_other(value)


def _to_cell_other(value: Any) -> str:
    # Subclasses and non-JSON types: rare, so isinstance checks are fine here.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, list):
        return _encode(value)
    if isinstance(value, (Mapping, tuple, set, frozenset)):
        return _encode(_json_default(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def flatten(record: Mapping[str, Any], *, json_fields: frozenset[str] = _EMPTY, prefix: str = "") -> dict[str, str]:
    """Flatten one record into ``{column: str}``.

    ``json_fields``: keys (as flattened names, e.g. ``data`` or ``audience_person_filters``) whose dict value is
    written whole as JSON text instead of being flattened; a text value there stays as it is, so a field that
    arrives sometimes as JSON text and sometimes as an object lands in one column.
    ``prefix``: when given, every key becomes ``<prefix>_<key>`` (as if ``record`` were nested under ``prefix``).
    """
    out: dict[str, str] = {}
    root = f"{prefix}_" if prefix else ""
    try:
        usual = _flatten_fast(out, record, root, json_fields) == len(out)
    except (_Unusual, TypeError):
        usual = False
    if not usual:
        # Fewer columns than values (two paths met), or an unusual value: the general path, tracking every path.
        out = {}
        _flatten_into(out, {}, record, root, root, (), json_fields)
    return out


class _Unusual(Exception):
    """A non-str key, a Mapping subclass or another type: left to the general path."""


def _flatten_fast(out: dict[str, str], record: Mapping[str, Any], prefix: str, json_fields: frozenset[str]) -> int:
    """The usual case, kept flat and cheap: returns how many values were written (a collision overwrites one)."""
    encode = _encode
    written = 0
    for key, value in record.items():
        t = type(value)
        if t is str:
            out[prefix + key] = value  # a non-str key raises TypeError here: see flatten()
        elif value is None:
            continue
        elif t is int:
            out[prefix + key] = str(value)
        elif t is dict:
            name = prefix + key
            if name in json_fields:
                out[name] = encode(value)
            elif value:
                written += _flatten_fast(out, value, name + "_", json_fields)
                continue
            else:
                continue
        elif t is bool:
            out[prefix + key] = "true" if value else "false"
        elif t is float:
            out[prefix + key] = repr(value)
        elif t is list:
            out[prefix + key] = encode(value)
        else:
            raise _Unusual
        written += 1
    return written


def _flatten_into(out: dict[str, str], paths: dict[str, tuple], record: Mapping[str, Any], prefix: str, root: str,
                  parent: tuple, json_fields: frozenset[str]) -> None:
    """``paths``: the key path of every column written from a nested object (only those can collide)."""
    encode = _encode
    for key, value in record.items():
        try:
            name = prefix + key
        except TypeError:  # non-str key (not possible for parsed JSON)
            key = to_cell(key)
            name = prefix + key
        t = type(value)
        if t is str:
            cell = value
        elif value is None:
            continue  # a null says nothing: a null object must not leave an always-empty column behind
        elif t is int:
            cell = str(value)
        elif t is dict or (t is not list and isinstance(value, Mapping)):
            if name in json_fields:
                cell = encode(dict(value) if t is not dict else value)
            else:
                if value:
                    _flatten_into(out, paths, value, name + "_", root, (*parent, key), json_fields)
                continue
        elif t is bool:
            cell = "true" if value else "false"
        elif t is float:
            cell = repr(value)
        elif t is list:
            cell = encode(value)
        else:
            cell = _to_cell_other(value)
        if name in out:
            name = _separate(out, paths, name, (*parent, key), root)
        out[name] = cell
        if parent:
            paths[name] = (*parent, key)


def _separate(out: dict[str, str], paths: dict[str, tuple], name: str, path: tuple, root: str) -> str:
    """Two paths flatten to one name (``{"product_id": 5, "product": {"id": 7}}``): keep both values.

    The shallower path keeps the plain name (the same path first in sorted order when both are equally deep);
    the other is written under its path joined with ``.`` (``product.id``), whatever the order of the keys. The
    table's column naming then gives the two distinct Storage names and reports the clash.
    """
    held = paths.get(name) or (name[len(root):],)
    if (len(path), path) > (len(held), held):
        return root + ".".join(path)
    moved = root + ".".join(held)
    out[moved] = out.pop(name)
    paths[moved] = held
    return name
