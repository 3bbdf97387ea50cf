"""Write what the registry knows into the files people read: `make docs`.

From src/datasets (REGISTRY) this writes
- component_config/configSchema.json: the dataset properties and the required list (the settings every run has,
  such as #api_secret, are kept as they are in the file);
- README.md: the configuration and output tables between the <!-- registry:...:start/end --> markers (the rows of
  the settings every run has are kept);
- component_config/sample-config/config.json: every dataset switched on (the demo configuration).

A declared dataset (a Flag) needs nothing more than its declaration. A dataset with code has its form, its README
rows and its demo settings in src/datasets/forms/<key>.json. tests/unit/test_registry.py fails when a committed file
differs from what this writes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from datasets import REGISTRY, Flag

SCHEMA = ROOT / "component_config" / "configSchema.json"
SAMPLE = ROOT / "component_config" / "sample-config" / "config.json"
README = ROOT / "README.md"
FORMS = ROOT / "src" / "datasets" / "forms"
FIRST_FLAGS_ORDER = 10  # propertyOrder of the flags listed before the first section (campaigns, segments)
LATER_FLAGS_ORDER = 60  # and of the flags after it (the catalogue)


def section(key: str) -> dict:
    return json.loads((FORMS / f"{key}.json").read_text(encoding="utf-8"))


def _primary_key(flag: Flag) -> str:
    return ", ".join(flag.declaration.table.primary_key)


def _title(flag: Flag) -> str:
    name = flag.declaration.label or flag.declaration.name
    return name[:1].upper() + name[1:]


def flag_property(flag: Flag, order: int) -> dict:
    table = flag.declaration.table
    return {"type": "boolean", "title": _title(flag), "format": "checkbox", "default": flag.default,
            "propertyOrder": order,
            "description": f"{table.description.rstrip('.')} → table {table.name} (primary key {_primary_key(flag)})."}


def _flag_orders() -> dict[str, int]:
    orders: dict[str, int] = {}
    seen_section = False
    first, later = FIRST_FLAGS_ORDER, LATER_FLAGS_ORDER
    for key, entry in REGISTRY.items():
        if not isinstance(entry, Flag):
            seen_section = True
        elif seen_section:
            orders[key], later = later, later + 1
        else:
            orders[key], first = first, first + 1
    return orders


def schema(current: dict) -> dict:
    general = {key: value for key, value in current["properties"].items() if key not in REGISTRY}
    orders = _flag_orders()
    datasets = {key: flag_property(entry, orders[key]) if isinstance(entry, Flag) else section(key)["form"]
                for key, entry in REGISTRY.items()}
    required = [key for key in current.get("required", []) if key not in REGISTRY] + list(REGISTRY)
    return {**current, "required": required, "properties": {**general, **datasets}}


def _flags_first() -> list[tuple[str, Flag | type]]:
    """The README and the demo list the switches first, then the sections."""
    return sorted(REGISTRY.items(), key=lambda item: not isinstance(item[1], Flag))


def sample(current: dict) -> dict:
    general = {key: value for key, value in current["parameters"].items() if key not in REGISTRY}
    datasets = {key: True if isinstance(entry, Flag) else section(key)["demo"] for key, entry in _flags_first()}
    return {**current, "parameters": {**general, **datasets}}


def _sample_text(config: dict) -> str:
    # One line per parameter, as the file has always been written: easy to read and to edit by hand.
    lines = [f"    {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in
             config["parameters"].items()]
    rest = [f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in config.items()
            if key != "parameters"]
    return "{\n  \"parameters\": {\n" + ",\n".join(lines) + "\n  }" + "".join(f",\n{line}" for line in rest) + "\n}\n"


CONFIG_HEADER = ("| Key | Type | Default | Meaning |", "|---|---|---|---|")
OUTPUT_HEADER = ("| Table | Source | Primary key (incremental load) |", "|---|---|---|")


def _row_key(row: str) -> str:
    match = re.match(r"\| `([^`.]+)", row)
    return match.group(1) if match else ""


def configuration_rows(current_rows: list[str]) -> list[str]:
    """The rows of the settings every run has keep their place around the datasets' rows."""
    dataset_at = [i for i, row in enumerate(current_rows) if _row_key(row) in REGISTRY]
    split = dataset_at[0] if dataset_at else len(current_rows)
    general = [row for row in current_rows if _row_key(row) not in REGISTRY]
    before = [row for row in general if current_rows.index(row) < split]
    after = [row for row in general if current_rows.index(row) >= split]
    rows = []
    for key, entry in _flags_first():
        if isinstance(entry, Flag):
            table = entry.declaration.table
            rows.append(f"| `{key}` | boolean | {str(entry.default).lower()} | Table `{table.name}`: "
                        f"{table.description} |")
        else:
            rows.extend(section(key)["readme_configuration"])
    return [*before, *rows, *after]


def output_rows() -> list[str]:
    rows = []
    for key, entry in _flags_first():
        if isinstance(entry, Flag):
            declaration = entry.declaration
            source = f"{declaration.method} {declaration.path}"
            if declaration.parent is not None:
                source += f" for every {declaration.parent.noun}"
            if declaration.source_notes:
                source += f": {declaration.source_notes}"
            primary_key = ", ".join(f"`{column}`" for column in declaration.table.primary_key)
            rows.append(f"| `{declaration.table.name}` | {source} | {primary_key} |")
        else:
            rows.extend(section(key)["readme_output"])
    return rows


def _between(text: str, name: str, lines: list[str]) -> str:
    start, end = f"<!-- registry:{name}:start -->", f"<!-- registry:{name}:end -->"
    pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {start} ... {end} markers.")
    return pattern.sub(lambda _: "\n".join([start, *lines, end]), text, count=1)


def _table_rows(text: str, name: str) -> list[str]:
    match = re.search(rf"<!-- registry:{name}:start -->\n(.*?)<!-- registry:{name}:end -->", text, re.DOTALL)
    return [line for line in (match.group(1) if match else "").splitlines() if line.startswith("| `")]


def readme(text: str) -> str:
    text = _between(text, "config", [*CONFIG_HEADER, *configuration_rows(_table_rows(text, "config"))])
    return _between(text, "output", [*OUTPUT_HEADER, *output_rows()])


def generated() -> dict[Path, str]:
    """Every generated file's path -> its content."""
    return {
        SCHEMA: json.dumps(schema(json.loads(SCHEMA.read_text(encoding="utf-8"))), indent=2, ensure_ascii=False)
        + "\n",
        SAMPLE: _sample_text(sample(json.loads(SAMPLE.read_text(encoding="utf-8")))),
        README: readme(README.read_text(encoding="utf-8")),
    }


def main() -> int:
    for path, text in generated().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"Wrote {path.relative_to(ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
