"""Property-based tests (hypothesis): no input may produce a traceback for the user or an invalid column name.

- Configuration parsing: arbitrary JSON-like parameters -> load_configuration returns a Configuration or raises
  ConfigurationError, never anything else; the message is one line, one sentence, and never holds the key, even
  when the key was pasted into another field.
- Dates: parse_date_from answers any text with a timestamp or a ValueError.
- Column naming, end to end: arbitrary records through flatten and the table writer give a CSV header of valid
  Storage names, unique ignoring case, and every row as wide as the header. (Name-level properties of the naming
  functions themselves are in test_output_naming.py; filter properties in test_filters.py.)
"""

from __future__ import annotations

import csv
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from configuration import Configuration, ConfigurationError, load_configuration
from datasets.settings import parse_date_from
from output import TableSpec, TableWriter, flatten

KEY = "cio-KEY-do-not-print-3f9a7c1e"
VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,63}$")

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                    st.sampled_from([KEY, f" {KEY}\n", "", " ", "0", "1", "true", "us", "EU", "email", "event",
                                     "search", "export", "wide", "long", "PARSED_DATA", "SINGLE_TABLE", "7",
                                     "30 days ago", "2024-02-30", '{"segment": {"id": 7}}', "{", "[]"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)


def section(**fields: st.SearchStrategy) -> st.SearchStrategy:
    body = st.fixed_dictionaries({}, optional={name: st.one_of(strategy, json_values)
                                               for name, strategy in fields.items()})
    return st.one_of(body, st.lists(body, max_size=2), json_values)


type_lists = st.lists(st.one_of(st.sampled_from(["email", "push", "fax", "event", "_o:1:create", "evnt", KEY,
                                                 "urban_airship", "secondary:event"]), st.text(max_size=10)),
                      max_size=4)
parameters = st.fixed_dictionaries({
    "#api_secret": st.one_of(st.just(KEY), st.just(f" {KEY}\n"), json_values),
}, optional={
    "api_region": st.one_of(st.sampled_from(["us", "eu", " EU ", "mars", KEY]), json_values),
    "incremental_output": json_values,
    "campaigns": json_values,
    "segments": json_values,
    "debug": json_values,
    "messages": section(types=type_lists, incremental_output=st.booleans(), date_from=st.text(max_size=20),
                        metrics_lookback_days=st.integers()),
    "activities": section(types=type_lists, mode=st.sampled_from(["PARSED_DATA", "SINGLE_TABLE", "x", KEY]),
                          delete=st.booleans(), deleted=json_values, incremental_output=st.booleans()),
    "customers": section(filters=st.one_of(st.text(max_size=40), json_values), attributes=st.text(max_size=30),
                         mode=st.sampled_from(["search", "export", KEY]), attributes_layout=st.text(max_size=6),
                         export_timeout_minutes=json_values),
    "segment_membership": section(segment_ids=st.lists(st.one_of(st.integers(), st.text(max_size=8), st.just(KEY)),
                                                       max_size=3)),
}) | json_values  # and, now and then, parameters that are no settings object at all


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameters, st.booleans())
def test_configuration_parsing_answers_every_input_with_a_configuration_or_one_sentence(params, for_run):
    try:
        config = load_configuration(params, for_run=for_run)
    except ConfigurationError as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        assert KEY not in message, message
        if isinstance(params, dict) and params.get("#api_secret") in (KEY, f" {KEY}\n"):
            assert message.endswith((".", "?")), message
        return
    assert isinstance(config, Configuration)
    assert config.api_secret.strip() == config.api_secret and config.api_secret
    if for_run:
        assert config.enabled_datasets()
    assert KEY not in repr(config)  # the key is kept out of the model's repr


FIELDS = [("api_region",), ("incremental_output",), ("campaigns",), ("debug",), ("messages",), ("messages", "types"),
          ("messages", "date_from"), ("messages", "metrics_lookback_days"), ("activities", "types"),
          ("activities", "mode"), ("activities", "delete"), ("customers", "filters"), ("customers", "attributes"),
          ("customers", "mode"), ("customers", "attributes_layout"), ("customers", "export_timeout_minutes"),
          ("segment_membership", "segment_ids")]
around = st.text(max_size=6)
typed = st.one_of(
    st.builds(lambda a, b: a + KEY + b, around, around),  # the key pasted into the wrong field
    st.builds(lambda a, b: a + "\n" + b, around, around),  # a line break
    st.builds(lambda a, b: f'{{"{a}": "{KEY}\n{b}"}}', around, around),  # JSON text holding both
)
typed_values = st.one_of(typed, st.lists(typed, min_size=1, max_size=3), st.dictionaries(typed, typed, min_size=1,
                                                                                          max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELDS), typed_values, st.sampled_from([KEY, f" {KEY}\n"]))
def test_what_was_typed_into_any_field_never_brings_the_key_or_a_line_break_into_the_message(field, value, key):
    params = {"#api_secret": key, "campaigns": True, "messages": {}, "activities": {}, "customers": {},
              "segment_membership": {}}
    if len(field) == 1:
        params[field[0]] = value
    else:
        params[field[0]] = {field[1]: value}
    try:
        load_configuration(params)
    except ConfigurationError as exc:
        message = str(exc)
        assert KEY not in message, message
        assert "\n" not in message and "\r" not in message, repr(message)
        assert message.endswith((".", "?")), message


@given(st.text(max_size=40) | st.from_regex(r"\s*[0-9]{1,30}\s+days?\s+ago\s*", fullmatch=True))
def test_date_from_is_a_timestamp_or_a_value_error(text):
    try:
        value = parse_date_from(text, datetime(2026, 1, 1, tzinfo=UTC))
    except ValueError as exc:
        assert "\n" not in str(exc).replace(text, "")
        return
    assert isinstance(value, int)


keys = st.one_of(st.text(max_size=70), st.sampled_from(["id", "Name", "name", "First Name", "first_name", "_id",
                                                         "město", "名前", "", "a" * 80, "a" * 80 + "b"]))
records = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
                       max_leaves=10)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(keys, records, max_size=6), min_size=1, max_size=5),
       st.lists(keys, max_size=3))
def test_any_records_give_valid_unique_storage_columns(rows, known):
    with tempfile.TemporaryDirectory() as tmp:
        spec = TableSpec(name="t", primary_key=("id",), seed_columns=("id", "name"))
        writer = TableWriter(Path(tmp), spec, known_columns=known)
        for index, record in enumerate(rows):
            writer.chain((index % 2,)).write(flatten(record))
        result = writer.close()
        assert all(VALID_NAME.match(name) for name in result.names), result.names
        assert len({name.lower() for name in result.names}) == len(result.names)
        with (Path(tmp) / "t.csv").open(newline="", encoding="utf-8") as fh:
            table = list(csv.reader(fh))
        assert table[0] == result.names
        assert len(table) == len(rows) + 1
        assert all(len(row) == len(result.names) for row in table)
