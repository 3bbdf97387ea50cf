"""The metrics endpoints as a table: one row per endpoint. Adding an endpoint is one row.

A row says which entity kind it is read for, the table it fills, the path (``{id}`` the entity, ``{child}`` an
action or content id), how its answer is read, whether it is read once per child (action or content) and with
language variants, and the switches that enable it: the ``metrics.entities`` value (``switch``) and, for the
optional tables, the boolean setting (``option``: links, journey). The order is the order of the tables (their
manifests, and the marks in state).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from . import tables
from .tables import MetricsTable


class Reader(StrEnum):
    V2 = "v2"  # version=2: res, start, end, tz=UTC (campaigns and campaign actions)
    V1 = "v1"  # the older period/steps endpoints, buckets in US Eastern time
    LINKS = "links"  # .../metrics/links (period/steps)
    JOURNEY = "journey"  # /v1/campaigns/{id}/journey_metrics (version=2 parameters)


@dataclass(frozen=True)
class Job:
    kind: str  # the entity kind it is read for: campaign | newsletter | broadcast | transactional
    table: MetricsTable
    path: str
    reader: Reader
    switch: str  # the metrics.entities value that selects it
    option: str = ""  # the boolean setting it also needs ("links", "journey"); "" = none
    child: str = ""  # the key column of a per-child job ("action_id", "content_id"); "" = once per entity
    variants: bool = False  # one row per language variant


# The key column of each entity kind's id, and the value of metrics.entities that lists that kind.
ID_COLUMN = {"campaign": "campaign_id", "newsletter": "newsletter_id", "broadcast": "broadcast_id",
             "transactional": "transactional_message_id"}
KIND_ENTITIES = {"campaign": "campaigns", "newsletter": "newsletters", "broadcast": "broadcasts",
                 "transactional": "transactional_messages"}

JOBS: tuple[Job, ...] = (
    Job("campaign", tables.CAMPAIGN, "/v1/campaigns/{id}/metrics", Reader.V2, "campaigns"),
    Job("campaign", tables.CAMPAIGN_ACTION, "/v1/campaigns/{id}/actions/{child}/metrics", Reader.V2,
        "campaign_actions", child="action_id", variants=True),
    Job("newsletter", tables.NEWSLETTER, "/v1/newsletters/{id}/metrics", Reader.V1, "newsletters"),
    Job("newsletter", tables.NEWSLETTER_CONTENT, "/v1/newsletters/{id}/contents/{child}/metrics", Reader.V1,
        "newsletter_contents", child="content_id"),
    Job("broadcast", tables.BROADCAST, "/v1/broadcasts/{id}/metrics", Reader.V1, "broadcasts"),
    Job("broadcast", tables.BROADCAST_ACTION, "/v1/broadcasts/{id}/actions/{child}/metrics", Reader.V1,
        "broadcast_actions", child="action_id", variants=True),
    Job("transactional", tables.TRANSACTIONAL, "/v1/transactional/{id}/metrics", Reader.V1,
        "transactional_messages"),
    Job("campaign", tables.CAMPAIGN_LINK, "/v1/campaigns/{id}/metrics/links", Reader.LINKS, "campaigns",
        option="links"),
    Job("newsletter", tables.NEWSLETTER_LINK, "/v1/newsletters/{id}/metrics/links", Reader.LINKS, "newsletters",
        option="links"),
    Job("broadcast", tables.BROADCAST_LINK, "/v1/broadcasts/{id}/metrics/links", Reader.LINKS, "broadcasts",
        option="links"),
    Job("transactional", tables.TRANSACTIONAL_LINK, "/v1/transactional/{id}/metrics/links", Reader.LINKS,
        "transactional_messages", option="links"),
    Job("campaign", tables.CAMPAIGN_JOURNEY, "/v1/campaigns/{id}/journey_metrics", Reader.JOURNEY, "campaigns",
        option="journey"),
)

# The values metrics.entities accepts, in the order the form lists them.
ENTITIES: tuple[str, ...] = tuple(dict.fromkeys(job.switch for job in JOBS))
