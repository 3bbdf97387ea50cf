"""The registry drives everything that lists the datasets: the configuration model, the form (configSchema.json),
the README's configuration and output tables, and the demo configuration. This fails when they disagree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from configuration import Configuration, ConfigurationError, load_configuration
from datasets import REGISTRY, catalogue
from datasets.registry import Flag
from scripts import generate_docs

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "component_config" / "sample-config" / "config.json").read_text(encoding="utf-8"))
NOT_DATASETS = {"#api_secret", "api_region", "test_connection", "incremental_output", "debug", "catalogue_heading",
                "max_run_minutes"}
KEY = "sk-test-SECRET-123456"


def readme_section(readme: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", readme, re.DOTALL | re.MULTILINE)
    assert match, title
    return match.group(1)


def test_every_declared_dataset_writes_the_table_of_its_key_with_its_key_columns_seeded():
    for key in REGISTRY.flags():
        table = REGISTRY[key].declaration.table
        assert table.name == key
        assert set(table.primary_key) <= set(table.seed_columns), key


@pytest.mark.parametrize("path", sorted(generate_docs.generated(), key=str), ids=lambda path: path.name)
def test_the_committed_file_is_what_make_docs_writes(path):
    assert path.read_text(encoding="utf-8") == generate_docs.generated()[path], f"run make docs: {path}"


def test_make_docs_writes_every_dataset_into_the_form_the_readme_and_the_demo():
    files = generate_docs.generated()
    schema = json.loads(files[generate_docs.SCHEMA])
    assert set(schema["properties"]) - NOT_DATASETS == set(REGISTRY)
    for key in REGISTRY.flags():
        prop = schema["properties"][key]
        assert (prop["type"], prop.get("format"), prop.get("default")) == ("boolean", "checkbox", False), key
        assert REGISTRY[key].declaration.table.name in prop["description"], key
    for key in REGISTRY.sections():
        assert schema["properties"][key]["type"] in ("array", "object"), key
    readme = files[generate_docs.README]
    configuration = readme_section(readme, "Configuration")
    documented = {m.group(1) for m in re.finditer(r"^\| `([a-z_#]+)[`.]", configuration, re.MULTILINE)}
    assert documented - NOT_DATASETS == set(REGISTRY)
    tables = {m.group(1) for m in re.finditer(r"^\| `([a-z_<>]+)`", readme_section(readme, "Output tables"),
                                              re.MULTILINE)}
    assert {REGISTRY[key].declaration.table.name for key in REGISTRY.flags()} <= tables
    assert set(json.loads(files[generate_docs.SAMPLE])["parameters"]) - NOT_DATASETS == set(REGISTRY)


def test_the_demo_configuration_switches_every_dataset_on():
    parameters = SAMPLE["parameters"]
    assert set(parameters) - NOT_DATASETS == set(REGISTRY)
    config = load_configuration(parameters)
    assert config.enabled_datasets() == list(REGISTRY)


def test_the_configuration_model_follows_the_registry():
    fields = set(Configuration.model_fields)
    assert set(REGISTRY) <= fields
    config = load_configuration({"#api_secret": KEY, "snippets": 1, "workspaces": True, "messages": {},
                                 "campaigns": True})
    assert config.enabled_datasets() == [key for key in REGISTRY if key in ("snippets", "workspaces", "messages",
                                                                             "campaigns")]
    with pytest.raises(ConfigurationError, match=r"^Invalid configuration value 'optouts': must be true or false\.$"):
        load_configuration({"#api_secret": KEY, "optouts": "yes"})
    with pytest.raises(ConfigurationError) as info:
        load_configuration({"#api_secret": KEY})
    assert str(info.value).startswith("No dataset is selected")
    assert all(key in str(info.value) for key in REGISTRY)


def test_a_dataset_with_code_is_registered_as_its_class_with_its_settings_model():
    for key in REGISTRY.sections():
        entry = REGISTRY[key]
        assert not isinstance(entry, Flag)
        assert entry.key == key
        assert Configuration.model_fields[key].annotation == entry.settings | None


def test_parents_run_before_their_children_and_keys_are_unique():
    order = list(REGISTRY)
    for declaration in catalogue.CATALOGUE:
        for ancestor in declaration.lineage()[:-1]:
            if ancestor.key in REGISTRY:
                assert order.index(ancestor.key) < order.index(declaration.key), declaration.key
    tables = [REGISTRY[key].declaration.table.name for key in REGISTRY.flags()]
    assert len(tables) == len(set(tables))
