"""A user's own mistakes in config.json: one rule for every boolean, and a misspelled key named with a suggestion."""

from __future__ import annotations

import logging

import pytest

from configuration import Configuration, load_configuration

KEY = "cio-KEY-do-not-print-3f9a7c1e"


def boolean_fields() -> list[tuple[str | None, str]]:
    """(section or None, field) for every boolean the configuration reads, found from the models themselves."""
    found = [(None, name) for name, field in Configuration.model_fields.items() if field.annotation is bool]
    for section, field in Configuration.model_fields.items():
        model = next((arg for arg in getattr(field.annotation, "__args__", ()) if hasattr(arg, "model_fields")), None)
        if model is not None:
            found += [(section, name) for name, sub in model.model_fields.items() if sub.annotation is bool]
    return found


FIELDS = boolean_fields()


def parameters(section: str | None, name: str, value) -> dict:
    base = {"#api_secret": KEY, "segments" if name == "campaigns" else "campaigns": True}
    return {**base, name: value} if section is None else {**base, section: {name: value}}


def read(config, section: str | None, name: str):
    return getattr(config if section is None else getattr(config, section), name)


def test_the_booleans_found_include_each_kind():
    assert {(None, "incremental_output"), (None, "debug"), (None, "campaigns"), ("messages", "incremental_output"),
            ("activities", "delete"), ("metrics", "links")} <= set(FIELDS)


@pytest.mark.parametrize(("section", "name"), FIELDS)
@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), (1, True), (0, False)])
def test_every_boolean_takes_true_false_1_and_0(section, name, value, expected):
    assert read(load_configuration(parameters(section, name, value)), section, name) is expected


@pytest.mark.parametrize(("section", "name"), FIELDS)
@pytest.mark.parametrize("value", ["yes", "1", "true", "on", 2, 0.5, [True]])
def test_every_boolean_refuses_anything_else_with_one_sentence(section, name, value):
    with pytest.raises(ValueError, match=r"^Invalid configuration value '[\w.]+': must be (true or false|0 \(full)"):
        load_configuration(parameters(section, name, value))


@pytest.mark.parametrize(("section", "name"), FIELDS)
def test_a_null_boolean_is_its_default(section, name):
    config = load_configuration(parameters(section, name, None))
    model = Configuration if section is None else type(getattr(config, section))
    assert read(config, section, name) is model.model_fields[name].default


def test_a_misspelled_dataset_key_is_named_once_with_the_closest_key(caplog):
    with caplog.at_level(logging.WARNING):
        load_configuration({"#api_secret": KEY, "segments": True, "campaign": True, "Messages": {}})
    lines = [r.getMessage() for r in caplog.records]
    assert sum("'campaign'" in line for line in lines) == 1
    assert any("'campaign'" in line and "did you mean 'campaigns'?" in line for line in lines)
    assert any("'Messages'" in line and "did you mean 'messages'?" in line for line in lines)


def test_a_key_like_no_other_is_named_without_a_guess(caplog):
    with caplog.at_level(logging.WARNING):
        load_configuration({"#api_secret": KEY, "segments": True, "xyzzy": 1})
    assert [r.getMessage() for r in caplog.records] == [
        ("The configuration key 'xyzzy' is not one this component reads, so it is ignored: see the configuration "
         "keys in the documentation.")]


def test_keys_the_older_component_wrote_and_known_keys_stay_silent(caplog):
    older = {"#api_secret": KEY, "api_region": "us", "incremental_output": 0, "campaigns": True, "segments": False,
             "site_id": "123", "api_client_id": "abc", "users": [], "debug": False, "test_connection": None,
             "activities": [], "messages": [], "customers": []}
    with caplog.at_level(logging.WARNING):
        load_configuration(older)
    assert caplog.records == []


def test_a_sync_action_does_not_warn_about_keys(caplog):
    with caplog.at_level(logging.WARNING):
        load_configuration({"#api_secret": KEY, "campaign": True}, for_run=False)
    assert caplog.records == []


def test_the_warning_never_shows_the_key_pasted_as_a_key_name(caplog):
    with caplog.at_level(logging.WARNING):
        load_configuration({"#api_secret": KEY, "segments": True, KEY: True})
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)
