"""Each dataset's saved state, typed: a small dataclass per dataset whose JSON is exactly what every version saved.

A dataset reads its section of the state file with ``from_json`` (tolerant: a hand-edited or older section whose
part has the wrong JSON type is read as if that part were absent, the dataset then reads again) and saves with
``to_json``: ``columns`` first, then the dataset's own parts in field order, a part that is None left out. The JSON
is byte-identical to what earlier versions saved (tests/unit/test_state_types.py), including the older component's
state once ``upgrade.upgrade_state`` has turned it into this form.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass
class DatasetState:
    """What every dataset saves: ``columns``, every table's final columns (a table's header never loses a column
    between runs: Storage refuses a load whose CSV lacks a column the table has). Subclasses add their parts, each
    ``<JSON type> | None = None`` (dict, list or int)."""

    columns: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, section: object) -> Self:
        data = section if isinstance(section, dict) else {}
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            value = data.get(spec.name)
            if isinstance(value, _json_types(hints[spec.name])) and not isinstance(value, bool):
                values[spec.name] = dict(value) if spec.name == "columns" else value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {spec.name: getattr(self, spec.name) for spec in dataclasses.fields(self)
                if spec.name == "columns" or getattr(self, spec.name) is not None}


def _json_types(hint: Any) -> tuple[type, ...]:
    """``dict[str, int] | None`` -> (dict,): the JSON type a part must have to be read."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return tuple(typing.get_origin(option) or option for option in options if option is not type(None))
