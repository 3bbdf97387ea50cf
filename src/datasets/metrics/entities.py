"""The entities whose metrics are read, from the run's shared listings of the catalogue's declarations (the same
paths, paging and shape checks as the catalogue tables; each listed once per run, whoever reads it first).

Action and content ids come from the parent's listing when it carries them (`actions[].id` on campaigns and
broadcasts, `content_ids` on newsletters: one request saved per parent); when an entry lacks an id (the spec's own
broadcast example does) the parent's children endpoint is asked instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from customerio import CustomerIoClient

from .. import catalogue
from ..base import RunContext
from ..declared import Declaration, Parent, listed, read_rows
from .readers import as_id


@dataclass(frozen=True)
class Entity:
    kind: str  # "campaign" | "newsletter" | "broadcast" | "transactional"
    id: int
    started: bool  # False: never started or sent, so it cannot have metrics yet
    born: int | None  # when it was created (no bucket before it can count anything); None = unknown
    children: tuple[int, ...] | None = None  # action or content ids from the listing; None = ask the endpoint


def _listed(declaration: Declaration, *fields: str) -> Parent:
    return Parent(declaration, {name: name for name in fields}, noun=declaration.key)


# What metrics takes of each listing: the run's one listing of each kind (declared.listed) keeps these fields, as
# the declarations' ``listing_fields`` say (tests/unit/test_declared.py), so no kind is listed twice in a run.
CAMPAIGNS = _listed(catalogue.CAMPAIGNS, "id", "state", "first_started", "created", "actions")
BROADCASTS = _listed(catalogue.BROADCASTS, "id", "state", "first_started", "created", "actions")
NEWSLETTERS = _listed(catalogue.NEWSLETTERS, "id", "sent_at", "created", "content_ids")
TRANSACTIONAL = _listed(catalogue.TRANSACTIONAL_MESSAGES, "id", "created_at")


def campaigns(ctx: RunContext) -> Iterator[Entity]:
    return _with_actions(ctx, "campaign", CAMPAIGNS)


def broadcasts(ctx: RunContext) -> Iterator[Entity]:
    return _with_actions(ctx, "broadcast", BROADCASTS)


def _with_actions(ctx: RunContext, kind: str, parent: Parent) -> Iterator[Entity]:
    """Campaigns and broadcasts: each with its actions (and a state: a draft never started)."""
    for item in listed(ctx, parent):
        entity_id = as_id(item.get("id"))
        if entity_id is not None:
            yield Entity(kind, entity_id, _has_started(item), _time(item.get("created")),
                         _ids(item.get("actions"), "id"))


def transactional(ctx: RunContext) -> Iterator[Entity]:
    for item in listed(ctx, TRANSACTIONAL):
        entity_id = as_id(item.get("id"))
        if entity_id is not None:
            yield Entity("transactional", entity_id, True, _time(item.get("created_at")))


def newsletters(ctx: RunContext) -> Iterator[Entity]:
    for item in listed(ctx, NEWSLETTERS):
        entity_id = as_id(item.get("id"))
        if entity_id is not None:
            yield Entity("newsletter", entity_id, bool(item.get("sent_at")), _time(item.get("created")),
                         _plain_ids(item.get("content_ids")))


# The listing of an entity's children (actions or contents), and the parent column its path takes.
_CHILDREN = {"campaign": (catalogue.CAMPAIGN_ACTIONS, "campaign_id"),
             "broadcast": (catalogue.BROADCAST_ACTIONS, "broadcast_id"),
             "newsletter": (catalogue.NEWSLETTER_CONTENTS, "newsletter_id")}


def children(client: CustomerIoClient, entity: Entity) -> tuple[int, ...]:
    """Action ids of a campaign or broadcast, content ids of a newsletter."""
    if entity.children is not None:
        return entity.children
    declaration, column = _CHILDREN[entity.kind]
    ids = (as_id(row.get("id")) for row in read_rows(client, declaration, {column: entity.id}))
    return tuple(dict.fromkeys(i for i in ids if i is not None))


def _has_started(item: dict) -> bool:
    """A campaign or broadcast in draft that has never started cannot have metrics."""
    return not (item.get("state") == "draft" and not item.get("first_started"))


def _ids(entries: object, field: str) -> tuple[int, ...] | None:
    """Ids of a listing's embedded entries; None when the list is missing or an entry has no usable id."""
    if not isinstance(entries, list):
        return None
    ids = [as_id(entry.get(field)) if isinstance(entry, dict) else None for entry in entries]
    if any(entry_id is None for entry_id in ids):
        return None
    return tuple(dict.fromkeys(ids))  # type: ignore[arg-type]


def _plain_ids(values: object) -> tuple[int, ...] | None:
    if not isinstance(values, list):
        return None
    ids = [as_id(value) for value in values]
    return None if any(i is None for i in ids) else tuple(dict.fromkeys(ids))  # type: ignore[arg-type]


def _time(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
