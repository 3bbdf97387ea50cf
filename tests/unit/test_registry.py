"""The registry drives everything that lists the datasets: the configuration model, the form (configSchema.json),
the README's configuration and output tables, and the demo configuration. This fails when they disagree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from configuration import Configuration, ConfigurationError, load_configuration
from datasets import REGISTRY, catalogue
from datasets.registry import Flag, Section

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "component_config" / "configSchema.json").read_text(encoding="utf-8"))
SAMPLE = json.loads((ROOT / "component_config" / "sample-config" / "config.json").read_text(encoding="utf-8"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
NOT_DATASETS = {"#api_secret", "api_region", "test_connection", "incremental_output", "debug", "max_run_minutes"}
KEY = "sk-test-SECRET-123456"


def readme_section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.DOTALL | re.MULTILINE)
    assert match, title
    return match.group(1)


def test_every_issue_dataset_is_registered_with_its_table_and_key():
    expected = {
        "campaign_actions": ("campaign_id", "id"), "newsletters": ("id",), "newsletter_contents": ("newsletter_id", "id"),
        "newsletter_test_groups": ("newsletter_id", "id"), "broadcasts": ("id",),
        "broadcast_actions": ("broadcast_id", "id"), "broadcast_triggers": ("broadcast_id", "id"),
        "transactional_messages": ("id",), "transactional_contents": ("transactional_message_id", "id"),
        "sender_identities": ("id",), "subscription_topics": ("id",), "optouts": ("cio_id",), "object_types": ("id",),
        "objects": ("object_type_id", "object_id"), "object_relationships": ("object_type_id", "object_id", "cio_id"),
        "workspaces": ("id",), "reporting_webhooks": ("id",), "snippets": ("name",), "collections": ("id",),
        "segment_usage": ("segment_id", "used_by_type", "used_by_id"),
        "esp_suppressions": ("suppression_type", "email"), "campaigns": ("id",), "segments": ("id",),
    }
    for key, primary_key in expected.items():
        entry = REGISTRY[key]
        assert isinstance(entry, Flag), key
        assert entry.declaration.table.name == key
        assert entry.declaration.table.primary_key == primary_key, key
        assert set(primary_key) <= set(entry.declaration.table.seed_columns), key


def test_the_form_lists_exactly_the_registry():
    properties = SCHEMA["properties"]
    assert set(properties) - NOT_DATASETS == set(REGISTRY)
    for key in REGISTRY.flags():
        prop = properties[key]
        assert (prop["type"], prop.get("format"), prop.get("default")) == ("boolean", "checkbox", False), key
        assert REGISTRY[key].declaration.table.name in prop["description"], key
    for key in REGISTRY.sections():
        assert properties[key]["type"] in ("array", "object"), key


def test_the_readme_tables_list_exactly_the_registry():
    configuration = readme_section("Configuration")
    documented = {m.group(1) for m in re.finditer(r"^\| `([a-z_#]+)[`.]", configuration, re.MULTILINE)}
    assert documented - NOT_DATASETS == set(REGISTRY)
    output = readme_section("Output tables")
    tables = {m.group(1) for m in re.finditer(r"^\| `([a-z_<>]+)`", output, re.MULTILINE)}
    for key in REGISTRY.flags():
        assert REGISTRY[key].declaration.table.name in tables, key


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


def test_sections_name_an_importable_dataset_with_the_same_key():
    for key in REGISTRY.sections():
        entry = REGISTRY[key]
        assert isinstance(entry, Section)
        assert entry.load().key == key


def test_parents_run_before_their_children_and_keys_are_unique():
    order = list(REGISTRY)
    for declaration in catalogue.CATALOGUE:
        for ancestor in declaration.lineage()[:-1]:
            if ancestor.key in REGISTRY:
                assert order.index(ancestor.key) < order.index(declaration.key), declaration.key
    tables = [REGISTRY[key].declaration.table.name for key in REGISTRY.flags()]
    assert len(tables) == len(set(tables))
