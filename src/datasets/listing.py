"""Shared by the small list endpoints that answer in one response (campaigns, segments)."""

from __future__ import annotations

from customerio.errors import InvalidResponseError
from output import TableSpec, flatten

from .base import RunContext, Tables


def write_listing(ctx: RunContext, state: dict, spec: TableSpec, path: str, items_key: str) -> dict:
    response = ctx.client.request_json("GET", path)
    items = response.get(items_key)
    if not isinstance(items, list):
        raise InvalidResponseError(f"Customer.io answered GET {path} without a '{items_key}' list; try again later.",
                                   path=path)
    tables = Tables(ctx, state)
    with tables.open(spec) as table:
        for item in items:
            table.write(flatten(item, json_fields=spec.json_fields))
    return {"columns": tables.columns}
