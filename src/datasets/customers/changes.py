"""Customers "continue since last run": who changed since the last run, from Customer.io's activity log.

After a full read, a run reads GET /v1/activities for the profile activity types since its last mark and reads only
the people named there (POST /v1/customers/attributes, 100 per request). The tables are then loaded as changes
(``output.Changes``): Storage deletes every row of the named people (``delete_where`` on ``cio_id``) and loads their
new rows, so a changed person is replaced (in the long layout all of their customer_attributes rows), and a deleted
or merged-away person, whom the attributes answer no longer knows, is removed.

When a run reads everyone instead (``full_read_reason``): the first run; the configuration's layout, attributes or
filter changed; the mark is older than the log keeps activities (30 days, reference §4.5); ``full_refresh_days``
passed since the last full read (a safety net: what the log does not say is corrected then); Storage does not hold
the tables under their keys yet; a filter with a ``segment`` (segment membership changes without a profile
activity); more changed people than ``MAX_CHANGED`` (the manifest lists every one).

With a filter of attributes only, the changed people are checked against it by Customer.io itself: a search for the
filter AND'ed with an ``or`` of ``cio_id`` conditions (the filter language's ``attribute`` ``eq``, reference §4.4)
lists those who match; the others leave the table.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator

from concurrency import BoundedExecutor
from customerio import CustomerIoClient, response_part

from .layout import SEARCH_PATH, cell
from .settings import CustomersSettings

log = logging.getLogger(__name__)

ACTIVITIES_PATH = "/v1/activities"
RETENTION_SECONDS = 30 * 86_400  # the activity log's guarantee (reference §4.5)
# Read this much before the last mark: an activity may be logged a little after the time it carries, and the
# component's clock and Customer.io's may differ.
OVERLAP_SECONDS = 600
# Activities that may change a person's row (attributes, unsubscribed, devices) or remove them. Object forms (_o:, _r:)
# are about objects, not people. UNCERTAIN: whether unsubscribing through a message link or a topic also logs an
# attribute_change; their own types are read too, which costs one request each per run.
PROFILE_TYPES = ("profile_create", "attribute_change", "profile_merge", "profile_delete", "device_change",
                 "unsubscribed_email", "unsubscribed_action", "topic_unsubscribed_email")
PAGE_SIZE = 100  # the API maximum for activities
# More changed people than this: a full read. Every one is listed in the manifest, and Keboola documents no limit
# on delete_where values that a larger list could be sure to stay under (UNCERTAIN), so the bound is conservative.
MAX_CHANGED = 50_000
SEARCH_LIMIT = 1000
CHECK_BATCH = 100  # cio_ids per filter check: the same size as an attributes batch


def shape_of(settings: CustomersSettings) -> str:
    """What the rows depend on besides the people: a change means the tables must be read in full again."""
    text = json.dumps([str(settings.attributes_layout), settings.attributes, settings.filter], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def uses_segments(node: object) -> bool:
    if isinstance(node, dict):
        return "segment" in node or any(uses_segments(value) for value in node.values())
    if isinstance(node, list):
        return any(uses_segments(item) for item in node)
    return False


def full_read_reason(settings: CustomersSettings, previous: dict | None, *, now: int, table_keys: dict,
                     keys: dict[str, list[str]]) -> str | None:
    """Why this run must read everyone (one clause for the log line), or None when changes are enough.

    ``keys``: the primary key each of the dataset's tables has; Storage must already hold them under it."""
    if uses_segments(settings.filter):
        return ("the filter uses segments, and a person joins or leaves a segment without a profile activity "
                "in Customer.io's log")
    if not previous or not isinstance(previous.get("mark"), int):
        return "it is the first run with 'Continue since last run'"
    if previous.get("shape") != shape_of(settings):
        return "the layout, attributes or filter changed since the last run"
    if now - previous["mark"] > RETENTION_SECONDS - OVERLAP_SECONDS:
        return (f"the last run was {(now - previous['mark']) // 86_400} days ago, and Customer.io's activity log "
                "keeps 30 days")
    full_at = previous.get("full_read_at")
    if not isinstance(full_at, int) or now - full_at >= settings.full_refresh_days * 86_400:
        return f"the last full read was {settings.full_refresh_days} or more days ago (full_refresh_days)"
    for name, key in keys.items():
        if table_keys.get(name) != key:
            return f"Storage does not hold table {name} under its primary key yet"
    return None


def changed_people(client: CustomerIoClient, since: int, workers: int = 1) -> tuple[list[str], int]:
    """The cio_ids the profile activities name since ``since`` (unix seconds), sorted, and the activities read.

    One chain per type, up to ``workers`` at once under the client's shared rate limiter. Deleted people's
    activities are asked for too (``deleted=true``): a profile_delete, and the merged-away person's profile_merge,
    belong to a person who no longer exists. Pages come newest first; a chain stops at the first page that reaches
    before ``since``.
    """
    with BoundedExecutor(min(workers, len(PROFILE_TYPES)), name="customers-changes") as pool:
        chains = [pool.submit(_chain, client, activity_type, since) for activity_type in PROFILE_TYPES]
    seen: set[str] = set()
    count = 0
    for chain in chains:
        named, read = chain.result()
        seen |= named
        count += read
    return sorted(seen), count


def _chain(client: CustomerIoClient, activity_type: str, since: int) -> tuple[set[str], int]:
    seen: set[str] = set()
    count = 0
    for activities in _pages(client, activity_type):
        oldest = None
        for activity in activities:
            if not isinstance(activity, dict):
                continue
            timestamp = activity.get("timestamp")
            if isinstance(timestamp, int):
                oldest = timestamp if oldest is None else min(oldest, timestamp)
                if timestamp < since:
                    continue
            count += 1
            identifiers = activity.get("customer_identifiers")
            if isinstance(identifiers, dict):
                cio_id = cell(identifiers.get("cio_id")).removeprefix("cio_")
                if cio_id:
                    seen.add(cio_id)
        if oldest is not None and oldest < since:
            break
    return seen, count


def _pages(client: CustomerIoClient, activity_type: str) -> Iterator[list]:
    # deleted=true lists deleted people's activities as well as everyone else's: Airbyte's source-customer-io reads
    # all its activities with deleted=true alone (reference peers.md §1.3).
    params = {"type": activity_type, "limit": PAGE_SIZE, "deleted": "true"}
    for page in client.paginate("GET", ACTIVITIES_PATH, params=params):
        yield response_part(page, "activities", f"GET {ACTIVITIES_PATH}")


def matching(client: CustomerIoClient, filter_: dict, cio_ids: list[str]) -> set[str]:
    """Those of ``cio_ids`` the filter matches, as Customer.io's own search answers."""
    found: set[str] = set()
    for start in range(0, len(cio_ids), CHECK_BATCH):
        batch = cio_ids[start:start + CHECK_BATCH]
        ids = {"or": [{"attribute": {"field": "cio_id", "operator": "eq", "value": cio_id}} for cio_id in batch]}
        body = {"filter": {"and": [filter_, ids]}}
        for page in client.paginate("POST", SEARCH_PATH, params={"limit": SEARCH_LIMIT}, json_body=body):
            for item in response_part(page, "identifiers", f"POST {SEARCH_PATH}"):
                if isinstance(item, dict):
                    found.add(cell(item.get("cio_id")).removeprefix("cio_"))
    return found & set(cio_ids)
