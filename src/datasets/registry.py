"""The registry's building blocks: one entry per configuration key, in run order.

Two kinds of entry:

* ``Flag(declaration)``: a top-level boolean key that runs one declaration (declared.py) into its table;
* a ``Dataset`` subclass with code: its ``key`` is its settings section, its ``settings`` the model of that
  section (a field of the same name on configuration.Configuration), its ``tables`` what the README lists.

The configuration (keys, defaults, run order, ``enabled_datasets()``, the "No dataset is selected" sentence) follows
the registry, and scripts/generate_docs.py writes from it the form (component_config/configSchema.json), the
README's tables and the demo configuration; tests/unit/test_registry.py fails when they disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .base import Dataset
from .declared import Declaration, DeclaredDataset


@dataclass(frozen=True)
class Flag:
    declaration: Declaration
    default: bool = False

    @property
    def key(self) -> str:
        return self.declaration.key

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.declaration.table.name,) if self.declaration.table else ()

    @property
    def description(self) -> str:
        return self.declaration.table.description if self.declaration.table else ""

    def __call__(self, config: Any) -> Dataset:
        return DeclaredDataset(config, self.declaration)


Entry = Flag | type[Dataset]


class Registry(Mapping[str, Entry]):
    """Configuration key -> entry, in run order. ``REGISTRY[key](config)`` builds the dataset."""

    def __init__(self, *entries: Entry) -> None:
        self._entries: dict[str, Entry] = {}
        for entry in entries:
            if entry.key in self._entries:
                raise ValueError(f"Dataset {entry.key!r} is registered twice.")
            self._entries[entry.key] = entry

    def __getitem__(self, key: str) -> Entry:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def flags(self) -> list[str]:
        return [key for key, entry in self._entries.items() if isinstance(entry, Flag)]

    def sections(self) -> list[str]:
        return [key for key, entry in self._entries.items() if not isinstance(entry, Flag)]

    def enabled(self, config: Any) -> list[str]:
        """The keys switched on in ``config``, in run order: a flag that is true, a section that is present and
        selects something."""
        out = []
        for key, entry in self._entries.items():
            value = getattr(config, key, None)
            if (value is True) if isinstance(entry, Flag) else (value is not None and not value.selects_nothing):
                out.append(key)
        return self._run_order(out)

    def _run_order(self, keys: list[str]) -> list[str]:
        """Registry order, except that a dataset with code runs after the enabled tables whose listings it reads
        (``Dataset.lists``): their own read fills the run's listing (declared.listing), so each is read once."""
        order: list[str] = []
        waiting: list[str] = []
        for key in keys:
            waiting.append(key)
            while True:
                ready = [k for k in waiting
                         if all(dep in order or dep not in keys or dep == k for dep in getattr(self[k], "lists", ()))]
                if not ready:
                    break
                order.append(ready[0])
                waiting.remove(ready[0])
        return order + waiting

    def no_dataset_sentence(self) -> str:
        keys = list(self._entries)
        return (f"No dataset is selected: enable at least one of {', '.join(keys[:-1])} or {keys[-1]}."
                if len(keys) > 1 else f"No dataset is selected: enable {keys[0]}.")
