"""configSchema.json as Keboola's form reads it: the parts of its contract that the schema and form tests share.

Keboola's form adds keywords to JSON Schema: `type: button` (test-connection and sync-action buttons),
`format: info` (a heading that holds no value), `options.dependencies` (a field shows only while its siblings have
the given values), `options.async` (a sync action fills a select; `autoload` loads it when the watched fields are
set), and `options.tags` on a select (the user types values; Keboola documents it without an `enum`, since its
validator would hold typed values to one).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "component_config" / "configSchema.json"
SAMPLE_PATH = ROOT / "component_config" / "sample-config" / "config.json"

# What the older component saved (its schema: secondary:* and stripe_event activity types, urban_airship
# messages, no keys of this version). The form must display it without errors.
OLDER_CONFIGURATION = {
    "#api_secret": "sandbox-key",
    "api_region": "us",
    "incremental_output": 0,
    "campaigns": True,
    "segments": False,
    "activities": [{"types": ["page", "stripe_event", "secondary:delivered_email"], "mode": "SINGLE_TABLE",
                    "delete": False}],
    "messages": [{"types": ["email", "urban_airship"], "incremental_output": True}],
    "customers": [{"filters": "", "attributes": "email,name"}],
}


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def sample_parameters() -> dict:
    return json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))["parameters"]


def is_button(prop: dict) -> bool:
    """A field that holds no value: a sync-action button, or an info block (`format: info`, a heading)."""
    return prop.get("type") == "button" or prop.get("format") == "info"


def enum_only_suggests(prop: dict) -> bool:
    """An async select takes what its sync action loads (Keboola fills the enum with it). A creatable select is
    validated as it is: Keboola's validator holds a typed value to an enum, so a creatable select has none."""
    return bool(prop.get("options", {}).get("async"))


def dependencies(prop: dict) -> dict:
    return prop.get("options", {}).get("dependencies", {})


def dependency_met(deps: dict, siblings: dict) -> bool:
    """Keboola's rule: every named sibling has the value, or one of the values when a list is given."""
    for name, wanted in deps.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if siblings.get(name) not in allowed:
            return False
    return True


def objects(schema: dict, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    """Every object of the form with its path: the root, each optional section's item, nested objects."""
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "object":
            yield from objects(prop, (*path, name))
        elif prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
            yield from objects(prop["items"], (*path, name))


def validation_view(schema: dict) -> dict:
    """The schema as Keboola validates a configuration: buttons hold no value, open selects take any value."""
    view = copy.deepcopy(schema)
    for _, obj in objects(view):
        props = obj.get("properties", {})
        for name in [name for name, prop in props.items() if is_button(prop)]:
            del props[name]
        for prop in props.values():
            if enum_only_suggests(prop):
                (prop["items"] if prop.get("type") == "array" else prop).pop("enum", None)
    return view


def item_defaults(item: dict) -> dict:
    return {name: copy.deepcopy(prop["default"]) for name, prop in item.get("properties", {}).items()
            if "default" in prop and not is_button(prop)}


def _met(deps: dict) -> dict:
    return {key: (value[0] if isinstance(value, list) else value) for key, value in deps.items()}


def _dependency_variants(obj: dict, data: dict) -> list[tuple[str, dict]]:
    """`data` once per field of `obj` that it hides, with that field's dependencies met."""
    return [(field, {**data, **_met(dependencies(prop))}) for field, prop in obj.get("properties", {}).items()
            if dependencies(prop) and not dependency_met(dependencies(prop), data)]


def _section(prop: dict) -> dict | None:
    """The settings object of an optional section (a list of at most one object) or of a settings group."""
    if prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
        return prop["items"]
    return prop if prop.get("type") == "object" else None


def dataset_cases(schema: dict, datasets: list[str]) -> list[tuple[str, dict]]:
    """One configuration per dataset (only that dataset on, every setting at its default), plus one per
    dependent field with its dependencies met, so that every field of the form is shown by some case."""
    props = schema["properties"]
    settings = {name: copy.deepcopy(prop["default"]) for name, prop in props.items()
                if name not in datasets and "default" in prop}
    settings["#api_secret"] = "sandbox-key"
    off = {name: (False if props[name]["type"] == "boolean" else []) for name in datasets
           if props[name]["type"] in ("boolean", "array")}  # a missing settings object is off too
    sample = sample_parameters()
    cases = [(f"sample with {field}", data) for field, data in _dependency_variants(schema, sample)]
    for name, prop in props.items():
        section = _section(prop)
        if name not in datasets:
            if section is not None:  # a settings group: shown in every configuration
                group = sample.get(name, item_defaults(section))
                cases += [(f"{name} with {field}", {**sample, name: data})
                          for field, data in _dependency_variants(section, group)]
            continue
        if section is None:
            cases.append((name, {**settings, **off, name: True}))
            continue

        def switched_on(data: dict, prop: dict = prop) -> list | dict:
            return [data] if prop["type"] == "array" else data

        base = item_defaults(section)
        cases.append((name, {**settings, **off, name: switched_on(base)}))
        cases += [(f"{name} with {field}", {**settings, **off, name: switched_on(data)})
                  for field, data in _dependency_variants(section, base)]
    return cases
