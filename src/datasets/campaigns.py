"""Campaigns: GET /v1/campaigns (one response, no pagination) -> campaigns.csv, primary key id."""

from __future__ import annotations

from output import TableSpec

from .base import Dataset, RunContext
from .listing import write_listing

SPEC = TableSpec(
    name="campaigns",
    primary_key=("id",),
    # The older component's columns stay (Storage refuses a load that lacks a column the table has): customer_id,
    # date_attribute, frequency, start_hour, start_minutes, timezone, use_customer_timezone are empty where the API
    # has no value.
    seed_columns=("id", "deduplicate_id", "name", "description", "type", "state", "active", "created", "updated",
                  "first_started", "created_by", "tags", "actions", "trigger_segment_ids", "filter_segment_ids",
                  "customer_id", "date_attribute", "frequency", "start_hour", "start_minutes", "timezone",
                  "use_customer_timezone"),
    column_types={"id": "INTEGER", "created": "INTEGER", "updated": "INTEGER", "first_started": "INTEGER",
                  "active": "BOOLEAN", "start_hour": "INTEGER", "start_minutes": "INTEGER",
                  "use_customer_timezone": "BOOLEAN", "webhook_id": "INTEGER", "object_type_id": "INTEGER"},
    description="Customer.io campaigns (automations). Lists are JSON text; nested objects are parent_child columns.",
)


class Campaigns(Dataset):
    key = "campaigns"

    def run(self, ctx: RunContext, state: dict) -> dict:
        return write_listing(ctx, state, SPEC, "/v1/campaigns", "campaigns")
