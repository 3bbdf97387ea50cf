"""Customer.io's people filter language: parse JSON text and check its structure before any request.

Grammar (App API reference, POST /v1/customers and POST /v1/exports/customers):
    filter    := {"and": [item, ...]} | {"or": [item, ...]} | {"not": filter} | segment | attribute
    item      := {"segment": ...} | {"attribute": ...} | {"not": ...} | {"and": ...} | {"or": ...}
    segment   := {"segment": {"id": <integer>}}
    attribute := {"attribute": {"field": <string>, "operator": "eq" | "exists", "value": <string>}}
                 ("value" is required for "eq")
"""

from __future__ import annotations

import json
from typing import Any

OPERATORS = ("eq", "exists")
_KEYS = ("and", "or", "not", "segment", "attribute")


class FilterError(ValueError):
    """The filter text is not valid; str() is one sentence on one line naming where and what is allowed."""


_TOO_DEEP = ("The customers filter is nested too deeply to be checked; write it with fewer levels of "
             "'and', 'or' and 'not'.")


def parse_filter(text: str | dict | None) -> dict | None:
    """Parse and validate filter text. Empty text means no filter (everyone)."""
    if text is None:
        return None
    if isinstance(text, dict):
        value: Any = text
    else:
        if not text.strip():
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FilterError(_json_error_sentence(text, exc)) from None
        except RecursionError:
            raise FilterError(_TOO_DEEP) from None
    try:
        validate_filter(value)
    except RecursionError:
        raise FilterError(_TOO_DEEP) from None
    return value


def validate_filter(value: Any, path: str = "$") -> None:
    if not isinstance(value, dict):
        raise FilterError(f"The customers filter at {path} must be a JSON object with one of the keys {_keys()}.")
    if len(value) != 1:
        found = ", ".join(_quote(k) for k in value) or "no key"
        raise FilterError(f"The customers filter at {path} must have exactly one of the keys {_keys()}, not {found}.")
    key, inner = next(iter(value.items()))
    here = f"{path}.{key}"
    if key in ("and", "or"):
        if not isinstance(inner, list) or not inner:
            raise FilterError(f"The customers filter at {here} must be a non-empty list of conditions.")
        for index, item in enumerate(inner):
            validate_filter(item, f"{here}[{index}]")
    elif key == "not":
        validate_filter(inner, here)
    elif key == "segment":
        if not isinstance(inner, dict) or not _is_int(inner.get("id")) or set(inner) - {"id"}:
            raise FilterError(f'The customers filter at {here} must be {{"id": <segment id as a number>}}.')
    elif key == "attribute":
        _validate_attribute(inner, here)
    else:
        raise FilterError(f"The customers filter at {path} has the unknown key {_quote(key)}; allowed keys are "
                          f"{_keys()}.")


def _validate_attribute(inner: Any, here: str) -> None:
    if not isinstance(inner, dict):
        raise FilterError(f'The customers filter at {here} must be an object like {{"field": "plan", "operator": '
                          f'"eq", "value": "pro"}}.')
    field = inner.get("field")
    if not isinstance(field, str) or not field:
        raise FilterError(f"The customers filter at {here}.field must be a non-empty attribute name.")
    operator = inner.get("operator")
    if operator not in OPERATORS:
        raise FilterError(f"The customers filter at {here}.operator must be 'eq' or 'exists' (the operators the "
                          f"App API supports), not {json.dumps(operator)}.")
    if operator == "eq" and "value" not in inner:
        raise FilterError(f"The customers filter at {here} uses 'eq' and needs a 'value'.")
    if "value" in inner and not isinstance(inner["value"], str | int | float | bool):
        raise FilterError(f"The customers filter at {here}.value must be a string (Customer.io stores attributes as "
                          f"text), not {type(inner['value']).__name__}.")
    unknown = set(inner) - {"field", "operator", "value"}
    if unknown:
        raise FilterError(f"The customers filter at {here} has unknown keys {sorted(unknown)}; allowed are "
                          f"'field', 'operator' and 'value'.")


def _json_error_sentence(text: str, exc: json.JSONDecodeError) -> str:
    where = f"line {exc.lineno}, column {exc.colno} (character {exc.pos + 1})"
    if exc.msg == "Extra data":
        rest = text[exc.pos:].strip()
        hint = " — there is an extra closing brace" if rest and set(rest) <= {"}"} else ""
        return (f"The customers filter is not valid JSON: unexpected text after the end of the filter at {where}"
                f"{hint}; remove it.")
    return f"The customers filter is not valid JSON: {exc.msg.lower()} at {where}."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _quote(key: Any) -> str:
    """A key from the user's filter for a message: quoted, line breaks and other control characters escaped."""
    return repr(key)


def _keys() -> str:
    return ", ".join(_quote(k) for k in _KEYS)
