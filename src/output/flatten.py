"""Record -> flat row of CSV-ready strings.

Rules:
- nested dicts flatten recursively into ``parent_child`` keys (joined with ``_``);
  an empty nested dict produces no columns;
- lists (of anything) become JSON text;
- a top-level key listed in ``json_fields`` whose value is a dict is written whole as JSON text;
- values become strings: ``None`` -> ``""``, ``True``/``False`` -> ``"true"``/``"false"``, ``int`` -> decimal,
  ``float`` -> shortest round-trip form (``1.5``, ``2.0``, ``1e+20``), ``str`` unchanged,
  dict/list -> compact JSON (``ensure_ascii=False``, no spaces); never Python ``repr``.
- if two paths produce the same key (``{"a_b": 1, "a": {"b": 2}}``) the later one in record order wins.

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

    ``json_fields``: top-level keys whose dict value is written whole as JSON text instead of being flattened.
    ``prefix``: when given, every key becomes ``<prefix>_<key>`` (as if ``record`` were nested under ``prefix``).
    """
    out: dict[str, str] = {}
    _flatten_into(out, record, f"{prefix}_" if prefix else "", json_fields)
    return out


def _flatten_into(out: dict[str, str], record: Mapping[str, Any], prefix: str, json_fields: frozenset[str]) -> None:
    encode = _encode
    for key, value in record.items():
        try:
            name = prefix + key
        except TypeError:  # non-str key (not possible for parsed JSON)
            name = prefix + to_cell(key)
        t = type(value)
        if t is str:
            out[name] = value
        elif value is None:
            out[name] = ""
        elif t is int:
            out[name] = str(value)
        elif t is dict:
            if key in json_fields:
                out[name] = encode(value)
            elif value:
                _flatten_into(out, value, name + "_", _EMPTY)
        elif t is bool:
            out[name] = "true" if value else "false"
        elif t is float:
            out[name] = repr(value)
        elif t is list:
            out[name] = encode(value)
        elif isinstance(value, Mapping):  # dict subclasses and other mappings
            if key in json_fields:
                out[name] = encode(dict(value))
            elif value:
                _flatten_into(out, value, name + "_", _EMPTY)
        else:
            out[name] = _to_cell_other(value)
