"""configSchema.json: valid for the sample and every dataset, consistent with itself and with the component.

Generic over every property, so fields added later are held to the same rules. The browser test
(tests/form/test_form.py) renders the same schema with RJSF.
"""

from __future__ import annotations

import typing

import jsonschema
import pytest
from pydantic import BaseModel

from configuration import Configuration, load_configuration
from customerio.types import ACTIVITY_TYPES, LEGACY_ACTIVITY_TYPES, MESSAGE_TYPES, RETIRED_MESSAGE_TYPES
from datasets import REGISTRY
from tests.keboola_schema import (
    OLDER_CONFIGURATION,
    dataset_cases,
    dependencies,
    is_button,
    load_schema,
    objects,
    sample_parameters,
    validation_view,
)

SCHEMA = load_schema()
VALIDATOR = jsonschema.Draft7Validator(validation_view(SCHEMA))


def errors_of(parameters: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path)) or 'root'}: {e.message}" for e in VALIDATOR.iter_errors(parameters)]


def test_the_schema_is_valid_json_schema():
    jsonschema.Draft7Validator.check_schema(validation_view(SCHEMA))


def test_the_sample_configuration_validates():
    assert errors_of(sample_parameters()) == []


def test_every_dataset_can_be_switched_on_in_the_form():
    assert set(REGISTRY) <= set(SCHEMA["properties"])


@pytest.mark.parametrize(("name", "parameters"), dataset_cases(SCHEMA, list(REGISTRY)), ids=lambda v: v if isinstance(v, str) else "")
def test_a_configuration_of_each_dataset_validates_and_runs(name, parameters):
    assert errors_of(parameters) == []
    dataset = name.split(" with ")[0]
    assert load_configuration(parameters).enabled_datasets() == [dataset]  # the component runs that dataset


def test_a_configuration_with_a_value_outside_an_enum_is_rejected():
    # The view must still validate: a closed enum (the region) rejects an unknown value.
    assert errors_of({**sample_parameters(), "api_region": "ap"})


def test_every_field_is_required_unless_it_depends_on_another():
    # Keboola's form saves a required field with its default, so the configuration says what runs; a field
    # shown only in one mode is left out of `required` (it is absent while hidden).
    for path, obj in objects(SCHEMA):
        props = obj.get("properties", {})
        expected = {name for name, prop in props.items() if not is_button(prop) and not dependencies(prop)}
        assert set(obj.get("required", [])) == expected, f"required of {'.'.join(path) or 'root'}"


def test_dependencies_name_a_sibling_and_values_it_can_take():
    for path, obj in objects(SCHEMA):
        props = obj.get("properties", {})
        for name, prop in props.items():
            for sibling, wanted in dependencies(prop).items():
                assert sibling in props and sibling != name, f"{name} depends on an unknown field {sibling}"
                target = props[sibling]
                for value in wanted if isinstance(wanted, list) else [wanted]:
                    if "enum" in target:
                        assert value in target["enum"], f"{'.'.join((*path, name))}: {sibling}={value!r}"
                    else:
                        assert target["type"] == "boolean" and isinstance(value, bool)


def test_the_mode_dependent_fields():
    items = {path: obj for path, obj in objects(SCHEMA)}
    assert dependencies(items[("customers",)]["properties"]["export_timeout_minutes"]) == {"mode": "export"}
    assert dependencies(items[("messages",)]["properties"]["metrics_lookback_days"]) == {"incremental_output": True}
    assert dependencies(items[("activities",)]["properties"]["overlap_minutes"]) == {"incremental_output": True}


def test_every_field_says_what_it_does_and_the_modes_say_what_they_trade():
    # Issue 20: activities.mode, customers.mode and customers.attributes_layout had no description.
    undescribed = [".".join(path + (name,)) for path, obj in objects(SCHEMA)
                   for name, prop in obj.get("properties", {}).items()
                   if not is_button(prop) and not prop.get("description", "").strip()]
    assert undescribed == []
    items = {path: obj["properties"] for path, obj in objects(SCHEMA)}
    customers_mode = items[("customers",)]["mode"]["description"].lower()
    assert "search" in customers_mode and "export" in customers_mode and "attribute" in customers_mode
    assert "per second" in customers_mode or "hours" in customers_mode  # speed
    assert "activities_all" in items[("activities",)]["mode"]["description"]
    assert "customer_attributes" in items[("customers",)]["attributes_layout"]["description"]


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_no_option_keboola_does_not_know():
    assert not [node for node in _walk(SCHEMA) if "allow_custom" in node.get("options", {})]


def test_activity_types_accept_any_type_and_list_every_known_one():
    types = SCHEMA["properties"]["activities"]["items"]["properties"]["types"]
    assert types["format"] == "select"
    # Keboola's documented creatable multi-select: options.tags and no enum (its validator holds typed values to
    # an enum); the known types are listed as examples
    assert types["options"].get("tags") is True and "enum" not in types["items"]
    assert set(ACTIVITY_TYPES) | set(LEGACY_ACTIVITY_TYPES) <= set(types["items"]["examples"])
    assert errors_of({**sample_parameters(), "activities": [{**sample_parameters()["activities"][0],
                                                             "types": ["_r:2:attribute_change", "_o:9:delete"]}]}) == []


def test_a_typed_activity_type_would_be_refused_if_the_list_were_an_enum():
    # Why the types have no enum: Keboola validates the saved configuration against the schema as it is.
    schema = load_schema()
    items = schema["properties"]["activities"]["items"]["properties"]["types"]["items"]
    items["enum"] = items["examples"]
    errors = list(jsonschema.Draft7Validator(validation_view(schema)).iter_errors(sample_parameters()))
    assert [e.instance for e in errors] == ["_o:1:create"]


def test_the_segment_list_loads_itself_once_the_key_and_region_are_set():
    # Keboola's autoload: a list of the watched fields' paths (an empty list would load on opening the form)
    async_ = SCHEMA["properties"]["segment_membership"]["items"]["properties"]["segment_ids"]["options"]["async"]
    assert async_["action"] == "listSegments"
    assert async_["autoload"] == ["parameters.#api_secret", "parameters.api_region"]
    assert {"#api_secret", "api_region"} <= set(SCHEMA["properties"])


def test_documentation_links_are_where_a_user_needs_them():
    props = SCHEMA["properties"]
    for field in (props["#api_secret"], props["customers"]["items"]["properties"]["filters"],
                  props["activities"]["items"]["properties"]["types"]):
        assert field["options"]["documentation"]["link"].startswith("https://")


def test_the_catalogue_checkboxes_sit_under_one_heading():
    props = SCHEMA["properties"]
    order = sorted(props, key=lambda name: props[name].get("propertyOrder", 0))
    heading = order.index("catalogue_heading")
    catalogue = [key for key in REGISTRY.flags() if key not in ("campaigns", "segments")]
    assert props["catalogue_heading"]["format"] == "info"
    assert order[heading + 1:heading + 1 + len(catalogue)] == catalogue


def test_a_saved_segment_id_validates():
    # The segment select's enum is empty in the schema: the listSegments sync action fills it.
    assert errors_of({**sample_parameters(), "segment_membership": [{"segment_ids": ["7", "12"]}]}) == []


def test_message_types_list_every_known_one_and_the_retired_ones():
    enum = SCHEMA["properties"]["messages"]["items"]["properties"]["types"]["items"]["enum"]
    assert set(MESSAGE_TYPES) | set(RETIRED_MESSAGE_TYPES) <= set(enum)


def test_an_older_configuration_uses_only_values_the_form_lists():
    # The form fills the fields the older component did not have with their defaults (see the browser test);
    # what it saved must be among the listed values so that it displays as it was saved.
    for name, section in OLDER_CONFIGURATION.items():
        if not isinstance(section, list):
            continue
        props = SCHEMA["properties"][name]["items"]["properties"]
        for key, value in section[0].items():
            enum = props[key].get("items", {}).get("enum") or props[key].get("enum")
            if enum:
                assert set(value if isinstance(value, list) else [value]) <= set(enum), f"{name}.{key}"


def _section_model(annotation) -> type[BaseModel] | None:
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _keys(model: type[BaseModel]) -> dict[str, object]:
    keys = {}
    for name, field in model.model_fields.items():
        for key in (name, field.alias, field.validation_alias):
            if isinstance(key, str):
                keys[key] = field
    return keys


def _check_read(schema: dict, model: type[BaseModel], path: str) -> None:
    keys = _keys(model)
    for name, prop in schema.get("properties", {}).items():
        if is_button(prop):
            continue
        where = f"{path}{name}"
        assert name in keys, f"the form has '{where}', the configuration model does not read it"
        nested = prop["items"] if prop.get("type") == "array" and prop.get("items", {}).get("type") == "object" else (
            prop if prop.get("type") == "object" else None)
        if nested is not None:
            section = _section_model(keys[name].annotation)
            assert section is not None, f"'{where}' is a section, the configuration model reads no settings from it"
            _check_read(nested, section, f"{where}.")


def test_every_field_of_the_form_is_read_by_the_component():
    _check_read(SCHEMA, Configuration, "")


def _numeric_fields():
    for path, obj in objects(SCHEMA):
        for name, prop in obj.get("properties", {}).items():
            if prop.get("type") in ("integer", "number") and ("minimum" in prop or "maximum" in prop):
                yield path, name, prop


def _with_value(path, name, value) -> dict:
    parameters = sample_parameters()
    if not path:
        return {**parameters, name: value}
    (section,) = path
    prop = SCHEMA["properties"][section]
    item = prop["items"] if prop["type"] == "array" else prop
    settings = {**{k: p["default"] for k, p in item["properties"].items() if "default" in p}, name: value}
    return {**parameters, section: [settings] if prop["type"] == "array" else settings}


@pytest.mark.parametrize(("path", "name", "prop"), list(_numeric_fields()), ids=lambda v: v if isinstance(v, str) else "")
def test_numeric_bounds_are_the_component_bounds(path, name, prop):
    for bound, step in (("minimum", -1), ("maximum", 1)):
        if bound not in prop:
            continue
        assert errors_of(_with_value(path, name, prop[bound])) == []
        load_configuration(_with_value(path, name, prop[bound]))
        outside = _with_value(path, name, prop[bound] + step)
        assert errors_of(outside)
        with pytest.raises(ValueError):
            load_configuration(outside)
