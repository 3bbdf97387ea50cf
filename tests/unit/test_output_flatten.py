import json
from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from output import flatten, to_cell


def test_nested_dicts_flatten_into_parent_child_keys():
    record = {"id": "m1", "metrics": {"sent": 1619137768, "delivered": 1619137769}, "a": {"b": {"c": "deep"}}}
    assert flatten(record) == {
        "id": "m1",
        "metrics_sent": "1619137768",
        "metrics_delivered": "1619137769",
        "a_b_c": "deep",
    }


def test_key_order_follows_the_record():
    assert list(flatten({"z": 1, "m": {"y": 2, "x": 3}, "a": 4})) == ["z", "m_y", "m_x", "a"]


def test_scalars_become_csv_ready_strings():
    row = flatten({"s": "text", "n": None, "t": True, "f": False, "i": 42, "neg": -7, "x": 1.5, "w": 2.0, "big": 1e20})
    assert row == {
        "s": "text",
        "t": "true",
        "f": "false",
        "i": "42",
        "neg": "-7",
        "x": "1.5",
        "w": "2.0",
        "big": "1e+20",
    }


def test_lists_are_json_text_not_python_repr():
    row = flatten({"tags": ["a", "b"], "objs": [{"k": None, "t": True}], "empty": [], "mixed": [1, "x", None, 2.5]})
    assert row["tags"] == '["a","b"]'
    assert row["objs"] == '[{"k":null,"t":true}]'
    assert row["empty"] == "[]"
    assert row["mixed"] == '[1,"x",null,2.5]'
    for value in row.values():
        assert "None" not in value and "True" not in value and "'" not in value
        json.loads(value)


def test_empty_nested_dict_produces_no_columns():
    assert flatten({"id": "1", "attributes": {}}) == {"id": "1"}


def test_json_fields_are_written_whole_at_top_level_only():
    record = {"type": "page", "data": {"url": "https://x", "nested": {"a": 1}}, "other": {"data": {"b": 2}}}
    row = flatten(record, json_fields=frozenset({"data"}))
    assert row == {"type": "page", "data": '{"url":"https://x","nested":{"a":1}}', "other_data_b": "2"}
    # An empty dict in a JSON field still yields the column (stable table shape).
    assert flatten({"data": {}}, json_fields=frozenset({"data"})) == {"data": "{}"}


def test_unicode_is_kept_as_is():
    row = flatten({"město": "Praha ✓", "tags": ["žluť", "日本"], "d": {"ключ": "значение"}})
    assert row == {"město": "Praha ✓", "tags": '["žluť","日本"]', "d_ключ": "значение"}


def test_prefix_nests_the_whole_record():
    assert flatten({"a": 1, "b": {"c": 2}}, prefix="attr") == {"attr_a": "1", "attr_b_c": "2"}


@pytest.mark.parametrize("record", [{"product_id": 5, "product": {"id": 7}}, {"product": {"id": 7}, "product_id": 5}],
                         ids=["flat_first", "nested_first"])
def test_a_flat_and_a_nested_key_that_meet_both_survive_whatever_the_order(record):
    assert flatten(record) == {"product_id": "5", "product.id": "7"}
    assert flatten({"data": record}) == {"data_product_id": "5", "data.product.id": "7"}


def test_equally_deep_paths_that_meet_are_separated_by_sorted_path():
    one = flatten({"a_b": {"c": 1}, "a": {"b_c": 2}})
    other = flatten({"a": {"b_c": 2}, "a_b": {"c": 1}})
    assert one == other == {"a_b_c": "2", "a_b.c": "1"}


def test_null_objects_and_values_make_no_columns():
    assert flatten({"id": 1, "customer_identifiers": None, "data": {"x": None}}) == {"id": "1"}


def test_a_field_that_is_sometimes_json_text_and_sometimes_an_object_is_one_json_column():
    fields = frozenset({"audience_person_filters"})
    as_object = flatten({"audience": {"type": 1, "person_filters": {"and": [{"segment": {"id": 3}}]}}},
                        json_fields=fields)
    as_text = flatten({"audience": {"type": 0, "person_filters": '{"and":[]}'}}, json_fields=fields)
    assert as_object == {"audience_type": "1", "audience_person_filters": '{"and":[{"segment":{"id":3}}]}'}
    assert as_text == {"audience_type": "0", "audience_person_filters": '{"and":[]}'}


def test_mapping_subclasses_and_tuples():
    row = flatten({"o": OrderedDict([("x", 1)]), "t": (1, 2), "s": "plain"})
    assert row == {"o_x": "1", "t": "[1,2]", "s": "plain"}


def test_to_cell():
    assert to_cell(None) == ""
    assert to_cell("x") == "x"
    assert to_cell(True) == "true"
    assert to_cell(0) == "0"
    assert to_cell(0.1) == "0.1"
    assert to_cell({"a": [1, None]}) == '{"a":[1,null]}'
    assert to_cell(["ü"]) == '["ü"]'
    assert to_cell((1, "a")) == '[1,"a"]'
    assert to_cell(OrderedDict([("k", False)])) == '{"k":false}'
    assert to_cell(b"bytes") == "bytes"


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
plain_keys = st.text(alphabet="abcXYZ09 -.:éž日", min_size=1, max_size=6)


def json_like(keys):
    return st.recursive(
        json_scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=20,
    )


def reference(record, prefix="", top=True):
    """The documented rules, spelled out independently (keys without '_' cannot collide)."""
    out = {}
    for key, value in record.items():
        name = prefix + key
        if isinstance(value, dict) and not (top and key == "data"):
            out.update(reference(value, name + "_", top=False))
        elif isinstance(value, (dict, list)):
            out[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        elif value is None:
            continue
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


@given(st.dictionaries(plain_keys, json_like(plain_keys), max_size=8))
def test_flatten_matches_the_documented_rules(record):
    row = flatten(record, json_fields=frozenset({"data"}))
    assert row == reference(record)


@given(st.dictionaries(st.text(max_size=10), json_like(st.text(max_size=8)), max_size=8))
def test_flatten_never_raises_and_never_emits_python_repr(record):
    row = flatten(record, json_fields=frozenset({"data"}))
    assert all(type(key) is str and type(value) is str for key, value in row.items())
    for key, value in record.items():
        if isinstance(value, list) or (key == "data" and isinstance(value, dict)):
            # Top-level containers written as text are JSON (the cell may only be overwritten by a collision).
            cell = row[key]
            if cell == to_cell(value):
                assert json.loads(cell) == value
                assert cell == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@given(json_like(st.text(max_size=8)))
def test_to_cell_of_containers_is_json(value):
    cell = to_cell(value)
    assert type(cell) is str
    if isinstance(value, (list, dict)):
        assert json.loads(cell) == value
