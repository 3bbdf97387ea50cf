"""Configuration parsing: the older keys, both section forms, and one readable sentence for every invalid value."""

from __future__ import annotations

import logging

import pytest

from configuration import ConfigurationError, load_configuration
from datasets.activities import ActivityMode
from datasets.customers.settings import AttributesLayout, CustomersMode
from datasets.metrics.settings import MetricsResolution
from datasets.settings import parse_date_from

KEY = "sk-test-SECRET-123456"


def config(**parameters):
    return load_configuration({"#api_secret": KEY, **parameters})


def error_of(**parameters) -> str:
    with pytest.raises(ConfigurationError) as info:
        config(**parameters)
    message = str(info.value)
    assert KEY not in message
    assert "\n" not in message
    return message


def test_older_component_configuration_keeps_working():
    legacy = config(
        api_region="eu",
        incremental_output=0,
        campaigns=True,
        segments=True,
        activities=[{"types": ["event", "secondary:dropped_email"], "mode": "SINGLE_TABLE", "delete": True}],
        messages=[{"types": ["email", "push"], "incremental_output": True}],
        customers=[{"filters": '{"segment": {"id": 7}}', "attributes": "plan, name"}],
    )
    assert legacy.api_secret == KEY
    assert legacy.api_region.value == "eu"
    assert legacy.incremental_output is False
    assert legacy.activities.mode is ActivityMode.SINGLE_TABLE
    assert legacy.activities.delete is True
    assert legacy.activities.types == ["event", "secondary:dropped_email"]
    assert legacy.messages.types == ["email", "push"]
    assert legacy.messages.incremental_output is True
    assert legacy.customers.filter == {"segment": {"id": 7}}
    assert legacy.customers.attributes == ["plan", "name"]
    assert legacy.enabled_datasets() == ["campaigns", "segments", "messages", "activities", "customers"]


def test_plain_object_sections_and_empty_lists():
    parsed = config(messages={"types": []}, activities=[], customers=None, segment_membership={"segment_ids": ["3"]})
    assert parsed.messages.types == []
    assert parsed.activities is None
    assert parsed.customers is None
    assert parsed.segment_membership.segment_ids == [3]
    assert parsed.enabled_datasets() == ["messages", "segment_membership"]
    assert config(customers={}).customers.mode is CustomersMode.SEARCH
    assert config(campaigns=True, customers={"enabled": False}).customers is None


def test_deleted_is_an_alias_of_delete():
    assert config(activities={"deleted": True}).activities.delete is True
    assert config(activities={"delete": False, "deleted": True}).activities.delete is False


@pytest.mark.parametrize("value, expected", [(0, False), (1, True), (True, True), (False, False)])
def test_incremental_output_accepts_numbers_and_booleans(value, expected):
    assert config(campaigns=True, incremental_output=value).incremental_output is expected


def test_unknown_keys_are_ignored():
    assert config(campaigns=True, site_id="legacy", something_new={"a": 1}).campaigns is True


def test_customers_defaults_and_attribute_list(caplog):
    with caplog.at_level(logging.WARNING):
        parsed = config(customers={"attributes": " plan ,, name , plan ,"})
    assert parsed.customers.attributes == ["plan", "name"]
    assert parsed.customers.mode is CustomersMode.SEARCH
    assert parsed.customers.attributes_layout is AttributesLayout.WIDE
    assert parsed.customers.filter is None
    assert "'plan' is listed twice" in caplog.text


def test_urban_airship_is_accepted_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        parsed = config(messages={"types": ["email", "urban_airship"]})
    assert parsed.messages.types == ["email"]
    assert "urban_airship" in caplog.text


def test_only_urban_airship_never_widens_to_every_type(caplog):
    with caplog.at_level(logging.WARNING):
        parsed = config(messages={"types": ["urban_airship"]}, campaigns=True)
    assert parsed.enabled_datasets() == ["campaigns"]  # messages skipped, not "every type"
    assert "Messages are skipped" in caplog.text and "'urban_airship'" in caplog.text


def test_only_urban_airship_and_nothing_else_is_one_sentence():
    message = error_of(messages={"types": ["urban_airship"]})
    assert "'messages.types'" in message and "no longer exists" in message


@pytest.mark.parametrize(("section", "value", "attribute", "expected"), [
    ("activities", {"mode": "single_table"}, "mode", ActivityMode.SINGLE_TABLE),
    ("activities", {"mode": " Parsed_Data "}, "mode", ActivityMode.PARSED_DATA),
    ("customers", {"mode": "EXPORT"}, "mode", CustomersMode.EXPORT),
    ("customers", {"attributes_layout": "Long"}, "attributes_layout", AttributesLayout.LONG),
    ("metrics", {"resolution": "Weeks"}, "resolution", MetricsResolution.WEEKS),
])
def test_enumerated_values_ignore_case(section, value, attribute, expected):
    assert getattr(getattr(config(**{section: value}), section), attribute) is expected


def test_region_and_message_types_ignore_case():
    parsed = config(api_region="EU", messages={"types": ["Email", "PUSH"]})
    assert parsed.api_region.value == "eu" and parsed.messages.types == ["email", "push"]


def test_object_activity_types_are_accepted():
    assert config(activities={"types": ["_o:12:create", "_r:3:attribute_change"]}).activities.types == [
        "_o:12:create", "_r:3:attribute_change"]


@pytest.mark.parametrize("parameters, expected", [
    ({"api_region": "asia", "campaigns": True}, "Invalid configuration value 'api_region': must be 'us' or 'eu'."),
    ({"incremental_output": "yes", "campaigns": True}, "'incremental_output': must be 0 (full load) or 1"),
    ({"incremental_output": 2, "campaigns": True}, "'incremental_output': must be 0 (full load) or 1"),
    ({"campaigns": "maybe"}, "'campaigns': must be true or false"),
    ({"messages": {"types": ["fax"]}}, "unknown message type 'fax'; allowed are email, webhook"),
    ({"messages": {"types": "email", "metrics_lookback_days": -1}}, "'messages.metrics_lookback_days'"),
    ({"messages": {"date_from": "last tuesday"}}, "'last tuesday' is not a date"),
    ({"activities": {"types": ["opened_emial"]}}, "Did you mean 'opened_email'?"),
    ({"activities": {"mode": "PARSED"}}, "'activities.mode': must be 'PARSED_DATA' or 'SINGLE_TABLE'"),
    ({"activities": {"delete": "sometimes"}}, "'activities.delete': must be true or false"),
    ({"customers": {"mode": "scan"}}, "'customers.mode': must be"),
    ({"customers": {"attributes_layout": "tall"}}, "'customers.attributes_layout': must be 'wide' or 'long'"),
    ({"customers": {"filters": "{not json"}}, "The customers filter is not valid JSON"),
    ({"customers": {"filters": '{"attribute": {"field": "x", "operator": "gt", "value": "1"}}'}},
     "operator must be 'eq' or 'exists'"),
    ({"customers": [{"filters": ""}, {"filters": ""}]}, "'customers': must hold at most one settings object"),
    ({"customers": "everyone"}, "'customers': must be a settings object"),
    ({"messages": {"types": {"email": True}}}, "'messages.types': must be a list of type names"),
    ({"segment_membership": {"segment_ids": ["abc"]}}, "'abc' is not a segment id"),
    ({"segment_membership": {"segment_ids": 5}}, "must be a list of segment ids"),
    ({"customers": {"export_timeout_minutes": 0}}, "'customers.export_timeout_minutes'"),
])
def test_invalid_values_give_one_sentence_naming_the_key(parameters, expected):
    assert expected in error_of(**parameters)


def test_the_documentation_filter_example_with_an_extra_brace_is_explained():
    message = error_of(customers={"filters": '{"attribute":{"field":"unsubscribed","operator":"eq","value":"true"}}}'})
    assert "extra closing brace" in message
    assert "column 70" in message


@pytest.mark.parametrize("parameters, expected", [
    (None, "The configuration is empty"),
    ({}, "The configuration is empty"),
    ({"campaigns": True}, "has no App API key"),
    ({"#api_secret": "", "campaigns": True}, "'#api_secret': fill in the App API key"),
    ({"#api_secret": "   ", "campaigns": True}, "'#api_secret': fill in the App API key"),
    ({"#api_secret": 12345, "campaigns": True}, "'#api_secret': fill in the App API key"),
    ({"#api_secret": KEY}, "No dataset is selected"),
    ({"#api_secret": KEY, "campaigns": False, "messages": [], "customers": None}, "No dataset is selected"),
])
def test_missing_key_and_empty_configuration(parameters, expected):
    with pytest.raises(ConfigurationError) as info:
        load_configuration(parameters)
    assert expected in str(info.value)
    assert KEY not in str(info.value)


def test_invalid_region_error_does_not_echo_the_key():
    # pydantic echoes inputs unless told not to; the key must never reach a message.
    message = error_of(api_region=KEY, campaigns=True)
    assert KEY not in message


def test_parse_date_from():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    assert parse_date_from("2026-11-01", now) == int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    assert parse_date_from("7 days ago", now) == int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
    assert parse_date_from("today", now) == int(datetime(2026, 11, 27, tzinfo=UTC).timestamp())
    with pytest.raises(ValueError):
        parse_date_from("soon", now)


def test_activity_types_are_de_duplicated_after_mapping_to_the_api_type(caplog):
    # Issue 10, bug 5: `secondary:delivered_email` is the API type `delivered_email`; both would be read.
    with caplog.at_level(logging.WARNING):
        settings = config(activities={"types": ["secondary:delivered_email", "event", "delivered_email",
                                                "event"]}).activities
    assert settings.types == ["secondary:delivered_email", "event"]
    assert "'delivered_email' is the same type as 'secondary:delivered_email'" in caplog.text


def test_activities_overlap_minutes():
    assert config(activities={}).activities.overlap_minutes == 60
    assert config(activities={"overlap_minutes": 0}).activities.overlap_minutes == 0
    assert "activities.overlap_minutes" in error_of(activities={"overlap_minutes": -1})
