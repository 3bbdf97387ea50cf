"""Campaigns: GET /v1/campaigns (one response, no pagination) -> campaigns.csv, primary key id."""

from __future__ import annotations

from output import TableSpec

from .base import Dataset, RunContext
from .listing import write_listing

SPEC = TableSpec(
    name="campaigns",
    primary_key=("id",),
    seed_columns=("id", "deduplicate_id", "name", "description", "type", "state", "active", "created", "updated",
                  "first_started", "created_by", "tags", "actions", "trigger_segment_ids", "filter_segment_ids"),
    column_types={"id": "INTEGER", "created": "INTEGER", "updated": "INTEGER", "first_started": "INTEGER",
                  "active": "BOOLEAN", "start_hour": "INTEGER", "start_minutes": "INTEGER",
                  "use_customer_timezone": "BOOLEAN", "webhook_id": "INTEGER", "object_type_id": "INTEGER",
                  "scheduled_start_should_backfill": "BOOLEAN", "scheduled_stop_should_sunset": "BOOLEAN"},
    # Customer.io sends the audience filters sometimes as JSON text, sometimes as an object: one JSON column each.
    json_fields=frozenset({"audience_person_filters", "audience_relationship_filters"}),
    description="Customer.io campaigns (automations). Lists are JSON text; nested objects are parent_child columns.",
)


class Campaigns(Dataset):
    key = "campaigns"

    def run(self, ctx: RunContext, state: dict) -> dict:
        return write_listing(ctx, state, SPEC, "/v1/campaigns", "campaigns")
