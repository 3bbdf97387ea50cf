"""Segments: GET /v1/segments (one response, no pagination) -> segments.csv, primary key id."""

from __future__ import annotations

from output import TableSpec

from .base import Dataset, RunContext
from .listing import write_listing

SPEC = TableSpec(
    name="segments",
    primary_key=("id",),
    seed_columns=("id", "deduplicate_id", "name", "description", "type", "state", "progress", "tags",
                  "created_at", "updated_at"),
    column_types={"id": "INTEGER", "progress": "INTEGER", "created_at": "INTEGER", "updated_at": "INTEGER"},
    description="Customer.io segments. tags is JSON text.",
)


class Segments(Dataset):
    key = "segments"

    def run(self, ctx: RunContext, state: dict) -> dict:
        return write_listing(ctx, state, SPEC, "/v1/segments", "segments")
