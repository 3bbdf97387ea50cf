"""The entities whose metrics are read, listed through the client.

Action and content ids come from the parent's listing when it carries them (`actions[].id` on campaigns and
broadcasts, `content_ids` on newsletters: one request saved per parent); when an entry lacks an id (the spec's own
broadcast example does) the parent's children endpoint is asked instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from customerio import CustomerIoClient
from customerio.errors import InvalidResponseError

from .readers import as_id

NEWSLETTER_PAGE = 100


@dataclass(frozen=True)
class Entity:
    kind: str  # "campaign" | "newsletter" | "broadcast" | "transactional"
    id: int
    started: bool  # False: never started or sent, so it cannot have metrics yet
    born: int | None  # when it was created (no bucket before it can count anything); None = unknown
    children: tuple[int, ...] | None = None  # action or content ids from the listing; None = ask the endpoint


def campaigns(client: CustomerIoClient) -> Iterator[Entity]:
    return _with_actions(client, "campaign", "/v1/campaigns", "campaigns")


def broadcasts(client: CustomerIoClient) -> Iterator[Entity]:
    return _with_actions(client, "broadcast", "/v1/broadcasts", "broadcasts")


def _with_actions(client: CustomerIoClient, kind: str, path: str, key: str) -> Iterator[Entity]:
    """Campaigns and broadcasts: listed in one answer, each with its actions (and a state: a draft never started)."""
    for item in _list(client, path, key):
        entity_id = as_id(item.get("id"))
        if entity_id is not None:
            yield Entity(kind, entity_id, _has_started(item), _time(item.get("created")),
                         _ids(item.get("actions"), "id"))


def transactional(client: CustomerIoClient) -> Iterator[Entity]:
    for item in _list(client, "/v1/transactional", "messages"):  # sic: the envelope key is `messages`
        entity_id = as_id(item.get("id"))
        if entity_id is not None:
            yield Entity("transactional", entity_id, True, _time(item.get("created_at")))


def newsletters(client: CustomerIoClient) -> Iterator[Entity]:
    """Page by page: only one page of newsletters is held at a time."""
    for page in client.paginate("GET", "/v1/newsletters", params={"limit": NEWSLETTER_PAGE}):
        items = page.get("newsletters")
        if not isinstance(items, list):
            raise _invalid("/v1/newsletters", "newsletters")
        for item in items:
            entity_id = as_id(item.get("id")) if isinstance(item, dict) else None
            if entity_id is not None:
                children = _plain_ids(item.get("content_ids"))
                yield Entity("newsletter", entity_id, bool(item.get("sent_at")), _time(item.get("created")), children)


def children(client: CustomerIoClient, entity: Entity) -> tuple[int, ...]:
    """Action ids of a campaign or broadcast, content ids of a newsletter."""
    if entity.children is not None:
        return entity.children
    if entity.kind == "campaign":
        path = f"/v1/campaigns/{entity.id}/actions"
        found: list[int] = []
        for page in client.paginate("GET", path):
            found.extend(_ids(_items(page, "actions", path), "id") or ())
        return tuple(dict.fromkeys(found))
    if entity.kind == "broadcast":
        path, key = f"/v1/broadcasts/{entity.id}/actions", "actions"
    else:
        path, key = f"/v1/newsletters/{entity.id}/contents", "contents"
    return tuple(dict.fromkeys(_ids(_items(client.request_json("GET", path), key, path), "id") or ()))


def _list(client: CustomerIoClient, path: str, key: str) -> list[dict]:
    return [item for item in _items(client.request_json("GET", path), key, path) if isinstance(item, dict)]


def _items(body: dict, key: str, path: str) -> list:
    items = body.get(key)
    if not isinstance(items, list):
        raise _invalid(path, key)
    return items


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


def _invalid(path: str, key: str) -> InvalidResponseError:
    return InvalidResponseError(f"Customer.io answered GET {path} without a '{key}' list; try again later.", path=path)
