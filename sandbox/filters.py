"""The Customer.io people filter language: validation (with JSON pointers) and evaluation.

Grammar (App API reference, POST /v1/customers `filter`): a node is an object with exactly one key of
`and` [nodes], `or` [nodes], `not` node, `segment` {"id": int}, `attribute` {"field", "operator": eq|exists, "value"}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Memberships(Protocol):
    """What a filter needs from the workspace (a protocol, so this module does not import workspace.py)."""

    def is_member(self, segment_id: int, j: int) -> bool: ...


# A compiled predicate takes (person index, lazy attribute getter) and returns bool.
Predicate = Callable[[int, Callable[[], dict]], bool]

NODE_KEYS = ("and", "or", "not", "segment", "attribute")
OPERATORS = ("eq", "exists")


class FilterError(ValueError):
    def __init__(self, pointer: str, detail: str):
        super().__init__(detail)
        self.pointer = pointer
        self.detail = detail


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def compile_filter(node: object, workspace: Memberships, pointer: str = "/filter") -> Predicate:
    """Validate `node` and return a predicate. Raises FilterError with a JSON pointer to the offending part."""
    if not isinstance(node, dict):
        raise FilterError(pointer, "filter must be an object")
    if len(node) != 1:
        raise FilterError(pointer, "filter must contain exactly one of: and, or, not, segment, attribute")
    key, value = next(iter(node.items()))
    here = f"{pointer}/{_escape(str(key))}"
    if key in ("and", "or"):
        if not isinstance(value, list) or not value:
            raise FilterError(here, f"'{key}' must be a non-empty array of filters")
        parts = [compile_filter(item, workspace, f"{here}/{n}") for n, item in enumerate(value)]
        if key == "and":
            return lambda j, attrs: all(p(j, attrs) for p in parts)
        return lambda j, attrs: any(p(j, attrs) for p in parts)
    if key == "not":
        inner = compile_filter(value, workspace, here)
        return lambda j, attrs: not inner(j, attrs)
    if key == "segment":
        if not isinstance(value, dict):
            raise FilterError(here, "'segment' must be an object with an integer id")
        extra = set(value) - {"id"}
        if extra:
            raise FilterError(f"{here}/{_escape(min(extra))}", "unknown key in segment filter")
        sid = value.get("id")
        if isinstance(sid, bool) or not isinstance(sid, int):
            raise FilterError(f"{here}/id", "segment id must be an integer")
        return lambda j, attrs: workspace.is_member(sid, j)
    if key == "attribute":
        if not isinstance(value, dict):
            raise FilterError(here, "'attribute' must be an object")
        extra = set(value) - {"field", "operator", "value"}
        if extra:
            raise FilterError(f"{here}/{_escape(min(extra))}", "unknown key in attribute filter")
        field = value.get("field")
        if not isinstance(field, str) or not field:
            raise FilterError(f"{here}/field", "attribute field must be a non-empty string")
        operator = value.get("operator")
        if operator not in OPERATORS:
            raise FilterError(f"{here}/operator", f"unsupported operator {operator!r}; supported: eq, exists")
        if field == "unsubscribed":
            # [S] Customer.io treats the subscription flag as the attribute `unsubscribed` ("true"/"false") in
            # filters, as its own filter example does, though the attributes answer carries it beside them.
            if operator == "exists":
                return lambda j, attrs: True
            flag = value.get("value")
            if not isinstance(flag, str):
                raise FilterError(f"{here}/value", "value is required for eq and must be a string")
            return lambda j, attrs: ("true" if workspace.is_unsubscribed(j) else "false") == flag
        if operator == "exists":
            return lambda j, attrs: field in attrs()
        expected = value.get("value")
        if not isinstance(expected, str):
            raise FilterError(f"{here}/value", "value is required for eq and must be a string")
        return lambda j, attrs: attrs().get(field) == expected
    raise FilterError(here, f"unknown filter type {key!r}; expected one of: and, or, not, segment, attribute")
