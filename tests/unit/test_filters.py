"""The customers filter (customerio.filters): parse_filter accepts the App API's filter language and turns every
mistake into one FilterError sentence, on one line, naming where the mistake is and what is allowed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customerio.filters import FilterError, parse_filter

KEYS = "'and', 'or', 'not', 'segment', 'attribute'"
DOCUMENTATION_EXAMPLE = '{"attribute":{"field":"unsubscribed","operator":"eq","value":"true"}}'


def error_of(text) -> str:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    message = str(info.value)
    assert_one_line_sentence(message)
    return message


def assert_one_line_sentence(message: str) -> None:
    assert len(message.splitlines()) == 1 and "\n" not in message and "\r" not in message, message
    assert "customers filter" in message, message


# ------------------------------------------------------------------------------------------------- valid filters


@pytest.mark.parametrize("text", [None, "", "   ", " \n\t "])
def test_no_filter_means_everyone(text):
    assert parse_filter(text) is None


def test_a_valid_nested_filter_is_accepted():
    flt = {"and": [{"segment": {"id": 3}}, {"or": [{"attribute": {"field": "state", "operator": "eq", "value": "NM"}},
                                                  {"not": {"attribute": {"field": "species", "operator": "exists"}}}]}]}
    assert parse_filter(json.dumps(flt)) == flt
    assert parse_filter(json.dumps(flt, indent=2)) == flt
    assert parse_filter(flt) is flt  # an already parsed filter is checked and returned as it is


@pytest.mark.parametrize("flt", [
    json.loads(DOCUMENTATION_EXAMPLE),
    {"and": [{"segment": {"id": 7}}, {"segment": {"id": 5}}]},  # the README's other example
    {"attribute": {"field": "cio_id", "operator": "exists"}},  # the component's "everyone"
    {"not": {"not": {"segment": {"id": 0}}}},
    {"or": [{"attribute": {"field": "名前", "operator": "exists"}}]},
    {"attribute": {"field": "age", "operator": "eq", "value": 30}},
    {"attribute": {"field": "vip", "operator": "eq", "value": True}},
    {"attribute": {"field": "plan", "operator": "exists", "value": "ignored"}},
])
def test_valid_filters_are_returned_unchanged(flt):
    assert parse_filter(json.dumps(flt, ensure_ascii=False)) == flt


# ---------------------------------------------------------------------------------------------------- not JSON


def test_the_documentation_example_with_one_brace_too_many_names_the_brace_and_its_position():
    message = error_of(DOCUMENTATION_EXAMPLE + "}")
    assert message == ("The customers filter is not valid JSON: unexpected text after the end of the filter at line 1, "
                       "column 70 (character 70) — there is an extra closing brace; remove it.")
    # several extra braces (and a line break after them) are still "an extra closing brace", at the first of them
    assert "column 70 (character 70) — there is an extra closing brace" in error_of(DOCUMENTATION_EXAMPLE + "}}\n")


def test_other_text_after_the_filter_is_not_called_a_brace():
    message = error_of('{"segment":{"id":1}} and more')
    assert message == ("The customers filter is not valid JSON: unexpected text after the end of the filter at line 1, "
                       "column 22 (character 22); remove it.")
    assert "brace" not in error_of('{"segment":{"id":1}}]')


@pytest.mark.parametrize("text, expected", [
    ("{not json", ("The customers filter is not valid JSON: expecting property name enclosed in double quotes at "
                   "line 1, column 2 (character 2).")),
    ('{"segment": {"id": 1}', ("The customers filter is not valid JSON: expecting ',' delimiter at line 1, column 22 "
                               "(character 22).")),
    ("{'segment': {'id': 1}}", ("The customers filter is not valid JSON: expecting property name enclosed in double "
                                "quotes at line 1, column 2 (character 2).")),
    ('{\n  "segment": {"id": 1}\n  "not": {}\n}', ("The customers filter is not valid JSON: expecting ',' delimiter "
                                                 "at line 3, column 3 (character 28).")),
    ("segment 7", "The customers filter is not valid JSON: expecting value at line 1, column 1 (character 1)."),
])
def test_text_that_is_not_json_gives_the_position(text, expected):
    assert error_of(text) == expected


# --------------------------------------------------------------------------------------------------- wrong shapes


@pytest.mark.parametrize("text, expected", [
    # the top level must be an object with exactly one known key
    ('[{"segment": {"id": 1}}]', f"The customers filter at $ must be a JSON object with one of the keys {KEYS}."),
    ('"everyone"', f"The customers filter at $ must be a JSON object with one of the keys {KEYS}."),
    ("null", f"The customers filter at $ must be a JSON object with one of the keys {KEYS}."),
    ('{"segment": {"id": 1}, "not": {"segment": {"id": 2}}}',
     f"The customers filter at $ must have exactly one of the keys {KEYS}, not 'segment', 'not'."),
    ("{}", f"The customers filter at $ must have exactly one of the keys {KEYS}, not no key."),
    ('{"nand": [{"segment": {"id": 1}}]}',
     f"The customers filter at $ has the unknown key 'nand'; allowed keys are {KEYS}."),
    ('{"and": [{"segment": {"id": 1}}, {"sgment": {"id": 2}}]}',
     f"The customers filter at $.and[1] has the unknown key 'sgment'; allowed keys are {KEYS}."),
    # and / or: a non-empty list of conditions, each checked
    ('{"and": []}', "The customers filter at $.and must be a non-empty list of conditions."),
    ('{"or": []}', "The customers filter at $.or must be a non-empty list of conditions."),
    ('{"and": {"segment": {"id": 1}}}', "The customers filter at $.and must be a non-empty list of conditions."),
    ('{"or": [{"segment": {"id": 1}}, [{"segment": {"id": 2}}]]}',
     f"The customers filter at $.or[1] must be a JSON object with one of the keys {KEYS}."),
    # segment: {"id": <integer>} and nothing else
    ('{"segment": {"id": "7"}}', 'The customers filter at $.segment must be {"id": <segment id as a number>}.'),
    ('{"segment": {"id": 7.0}}', 'The customers filter at $.segment must be {"id": <segment id as a number>}.'),
    ('{"segment": {"id": true}}', 'The customers filter at $.segment must be {"id": <segment id as a number>}.'),
    ('{"segment": {}}', 'The customers filter at $.segment must be {"id": <segment id as a number>}.'),
    ('{"segment": 7}', 'The customers filter at $.segment must be {"id": <segment id as a number>}.'),
    ('{"segment": {"id": 7, "name": "VIP"}}',
     'The customers filter at $.segment must be {"id": <segment id as a number>}.'),
    # attribute: field, operator eq|exists, value (required for eq)
    ('{"attribute": "plan"}', ('The customers filter at $.attribute must be an object like {"field": "plan", '
                               '"operator": "eq", "value": "pro"}.')),
    ('{"attribute": {"operator": "exists"}}',
     "The customers filter at $.attribute.field must be a non-empty attribute name."),
    ('{"attribute": {"field": "", "operator": "exists"}}',
     "The customers filter at $.attribute.field must be a non-empty attribute name."),
    ('{"attribute": {"field": 5, "operator": "exists"}}',
     "The customers filter at $.attribute.field must be a non-empty attribute name."),
    ('{"attribute": {"field": "plan", "operator": "gt", "value": "1"}}',
     ("The customers filter at $.attribute.operator must be 'eq' or 'exists' (the operators the App API supports), "
      'not "gt".')),
    ('{"attribute": {"field": "plan", "operator": "EQ", "value": "pro"}}',
     ("The customers filter at $.attribute.operator must be 'eq' or 'exists' (the operators the App API supports), "
      'not "EQ".')),
    ('{"attribute": {"field": "plan", "value": "pro"}}',
     ("The customers filter at $.attribute.operator must be 'eq' or 'exists' (the operators the App API supports), "
      "not null.")),
    ('{"attribute": {"field": "plan", "operator": "eq"}}',
     "The customers filter at $.attribute uses 'eq' and needs a 'value'."),
    ('{"attribute": {"field": "plan", "operator": "eq", "value": ["pro"]}}',
     "The customers filter at $.attribute.value must be a string (Customer.io stores attributes as text), not list."),
    ('{"attribute": {"field": "plan", "operator": "eq", "value": null}}',
     ("The customers filter at $.attribute.value must be a string (Customer.io stores attributes as text), not "
      "NoneType.")),
    ('{"attribute": {"field": "plan", "operator": "eq", "value": "pro", "values": ["x"]}}',
     "The customers filter at $.attribute has unknown keys ['values']; allowed are 'field', 'operator' and 'value'."),
    # the path names the place deep inside
    ('{"or": [{"and": [{"segment": {"id": 1}}, {"not": {"segment": {"id": "x"}}}]}]}',
     'The customers filter at $.or[0].and[1].not.segment must be {"id": <segment id as a number>}.'),
    ('{"not": {"attribute": {"field": "x", "operator": "eq"}}}',
     "The customers filter at $.not.attribute uses 'eq' and needs a 'value'."),
])
def test_wrong_shapes_name_the_place_and_what_is_allowed(text, expected):
    assert error_of(text) == expected
    value = json.loads(text)
    if isinstance(value, dict):  # an already parsed filter gets the same sentence
        assert error_of(value) == expected


def test_keys_with_line_breaks_are_quoted_on_one_line():
    message = error_of('{"seg\\nment": {"id": 1}}')
    assert message == f"The customers filter at $ has the unknown key 'seg\\nment'; allowed keys are {KEYS}."
    assert "'a\\u2028b', 'c'" in error_of('{"a\\u2028b": 1, "c": 2}')
    assert "['x\\ry']" in error_of('{"attribute": {"field": "f", "operator": "exists", "x\\ry": 1}}')


@pytest.mark.parametrize("text", ['{"not":' * 5000 + '{"segment":{"id":1}}' + "}" * 5000, "[" * 100_000])
def test_absurdly_deep_nesting_is_a_filter_error_not_a_crash(text):
    assert "nested too deeply" in error_of(text)


def test_absurdly_deep_nesting_of_a_parsed_filter_is_a_filter_error_not_a_crash():
    flt: dict = {"segment": {"id": 1}}
    for _ in range(5000):
        flt = {"not": flt}
    assert "nested too deeply" in error_of(flt)


# ------------------------------------------------------------------------------------------------------ property

WORDS = ("and", "or", "not", "segment", "attribute", "id", "field", "operator", "value", "eq", "exists")
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.sampled_from(WORDS)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)
# Near-valid filters, so the property also reaches the checks deep inside a filter, not only the top level.
segments = st.fixed_dictionaries({"segment": st.fixed_dictionaries({"id": st.integers() | scalars}) | json_values})
attributes = st.fixed_dictionaries({"attribute": st.dictionaries(
    st.sampled_from(("field", "operator", "value", "values")),
    st.sampled_from(("eq", "exists", "plan", "")) | scalars, max_size=4) | json_values})
filterish = st.recursive(
    segments | attributes | json_values,
    lambda children: st.fixed_dictionaries({"and": st.lists(children, max_size=3)})
    | st.fixed_dictionaries({"or": st.lists(children, max_size=3)})
    | st.fixed_dictionaries({"not": children})
    | st.dictionaries(st.sampled_from(WORDS), children, min_size=2, max_size=3),
    max_leaves=10,
)
texts = (
    st.text()
    | json_values.map(json.dumps)
    | filterish.map(json.dumps)
    | st.tuples(filterish.map(json.dumps), st.sampled_from(("}", "]", " }}", " x", ",", "\n"))).map("".join)
    | st.tuples(filterish.map(json.dumps), st.integers(min_value=0)).map(lambda t: t[0][: t[1] % (len(t[0]) + 1)])
)


def check(value) -> None:
    try:
        result = parse_filter(value)
    except FilterError as exc:
        assert_one_line_sentence(str(exc))
        return
    assert result is None or isinstance(result, dict)
    if isinstance(value, dict):
        assert result is value
    elif result is None:
        assert not value or not value.strip()


@settings(max_examples=400, deadline=None)
@given(texts)
def test_any_text_is_a_filter_or_a_one_line_filter_error(text):
    check(text)


@settings(max_examples=400, deadline=None)
@given(json_values | filterish)
def test_any_json_value_is_a_filter_or_a_one_line_filter_error(value):
    check(json.dumps(value))
    check(json.dumps(value, indent=2, ensure_ascii=False))
    if isinstance(value, dict):
        check(value)
