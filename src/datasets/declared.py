"""Datasets declared as data, and the one reader that runs every declaration.

A dataset that lists one endpoint, or one endpoint per parent record, is a ``Declaration``: its path, the key of
the list in the answer, the paging style, an optional parent (another declaration whose records it is read for,
and which of their fields enter the path and the row), its table and an optional per-record transform.

How a declaration is read:

* no parent: the endpoint's pages are read in order and every record becomes one row;
* with a parent: the parent's records are read first (streamed, in order), then one chain of requests per parent
  record runs concurrently under the client's shared rate limiter. Each parent writes its own chain of the table,
  keyed by the parent's position, so the file lists the parents in their order whatever the timing. At most
  ``window`` parents are in flight (bounded submission): memory does not grow with the number of parents.
* a parent that answers 404 (deleted after it was listed) is skipped with a warning (``Parent.on_missing``):
  live, a child route of a missing parent answers a structured 404, never an empty list (estuary/connectors
  source-customer-io/bruno/Child Entities/missing parent 404.yml; Airbyte ignores that 404 on campaign actions,
  airbytehq/airbyte airbyte-integrations/connectors/source-customer-io/AGENTS.md);
* a 403 ends the run with one sentence naming the dataset and what access to grant (``base.run_dataset``).
"""

from __future__ import annotations

import logging
import string
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from budget import Estimate
from concurrency import BoundedExecutor
from customerio import CustomerIoClient, response_part
from customerio.errors import NotFoundError
from output import TableSpec, TableWriter, flatten, to_json

from .base import Dataset, RunContext, Tables
from .keyset import KeySet
from .state import DatasetState

log = logging.getLogger(__name__)

Record = dict[str, Any]


class Paging(StrEnum):
    NONE = "none"  # one answer holds every record
    CURSOR = "start/next"  # opaque `next` sent back as `start`; ends on a missing, null or empty `next`
    OFFSET = "limit/offset"  # `offset` grows by `limit`; ends on a page shorter than `limit` or one that repeats
    PAGE = "page/limit"  # `page` from 1 (Design Studio); ends on an empty or short page, or one that repeats


@dataclass(frozen=True)
class Parent:
    """The declaration this one is read for, once per parent record.

    ``columns``: row column -> field of the parent record. These are the names the child's path may use
    (``/v1/campaigns/{campaign_id}/actions``) and the first columns of every child row.
    ``on_missing``: what a 404 of one parent means: ``skip`` (deleted mid-run: warn and go on) or ``fail``.
    """

    declaration: Declaration | None  # None: a parent of fixed values (``values``), read without a request
    columns: Mapping[str, str]
    on_missing: str = "skip"
    noun: str = "parent"  # how a log line names one parent ("campaign", "newsletter")
    values: tuple[Record, ...] = ()  # the records of a parent of fixed values

    @classmethod
    def fixed(cls, column: str, values: Iterable[str], *, noun: str) -> Parent:
        """A parent of fixed values (the ESP suppression types): one child read per value, no listing request."""
        return cls(None, {column: column}, on_missing="fail", noun=noun,
                   values=tuple({column: value} for value in values))


@dataclass(frozen=True)
class Declaration:
    key: str  # configuration key, state key and name in messages (a parent-only declaration: any unique name)
    path: str  # may hold {column} placeholders of the parent's columns (URL-quoted when filled in)
    items_key: str  # the list in the answer ("actions"), or the object when ``items_kind`` is dict
    table: TableSpec | None = None  # None: only read as another declaration's parent
    paging: Paging = Paging.NONE
    page_size: int | None = None  # `limit` sent with CURSOR/OFFSET paging (None: the API's default)
    params: Mapping[str, Any] = field(default_factory=dict)  # fixed query parameters
    method: str = "GET"
    body: Callable[[Record], Any] | None = None  # JSON body built from the parent's columns (POST)
    parent: Parent | None = None
    items_kind: type = list  # list: every item is a record; dict: the object is handed whole to ``transform``
    transform: Callable[[Any], Iterable[Record]] | None = None  # one item -> rows (strip, explode, lift)
    title: str = ""  # how messages name the dataset ("campaign actions"); default: the key with spaces
    access: str = ""  # what to grant when Customer.io answers 403 ("access to Campaigns")
    label: str = ""  # how the form names it ("opt-outs (SMS, WhatsApp)"); default: ``name``, capitalised
    source_notes: str = ""  # what the README's output table adds after the endpoint
    # Several readings of one endpoint (extra query parameters each), rows kept once per primary key: for a filter
    # whose meaning is not established (sender identities' `hidden`), read under every value.
    passes: tuple[Mapping[str, Any], ...] = ({},)
    # The fields of each record the run's shared listing keeps (``listing``): what its children and metrics take.
    # The table's own read fills the listing when it runs first, so the endpoint is read once per run.
    listing_fields: tuple[str, ...] = ()
    # A count of GET /v1/workspaces ("objects") the dataset reads one request per item of, at least: its up-front
    # estimate (a snapshot that cannot fit the budget is refused at the start). "" = not estimated.
    one_request_per: str = ""

    @property
    def name(self) -> str:
        return self.title or self.key.replace("_", " ")

    def lineage(self) -> list[Declaration]:
        """This declaration and its parents, outermost first."""
        chain = [self]
        while chain[0].parent is not None and chain[0].parent.declaration is not None:
            chain.insert(0, chain[0].parent.declaration)
        return chain


class _PathFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        return quote(str(value), safe="")


_FORMAT = _PathFormatter()


def path_for(declaration: Declaration, scope: Mapping[str, Any]) -> str:
    return _FORMAT.format(declaration.path, **scope)


# ------------------------------------------------------------------------------------------------------ reading
def read_pages(client: CustomerIoClient, declaration: Declaration, scope: Mapping[str, Any],
               extra: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """The checked parts (``items_key``) of every page of one endpoint, in order."""
    path = path_for(declaration, scope)
    endpoint = f"{declaration.method} {path}"
    params = {**declaration.params, **(extra or {})}
    body = declaration.body(scope) if declaration.body else None
    kind = declaration.items_kind
    if declaration.paging is Paging.NONE:
        page = client.request_json(declaration.method, path, params=params or None, json_body=body)
        yield response_part(page, declaration.items_key, endpoint, kind=kind)
        # An answer that carries `next` is followed, whatever the spec says: the live broadcast actions route parses
        # `start` (estuary/connectors source-customer-io/bruno/Child Entities/broadcast actions bare.yml) and
        # Airbyte's unit tests page it with `next` (airbytehq/airbyte airbyte-integrations/connectors/source-customer-io/unit_tests/).
        following = page.get("next")
        if following is None or following == "":
            return
        for page in client.paginate(declaration.method, path, params=params, json_body=body, start=str(following)):
            yield response_part(page, declaration.items_key, endpoint, kind=kind)
    elif declaration.paging is Paging.CURSOR:
        if declaration.page_size:
            params["limit"] = declaration.page_size
        for page in client.paginate(declaration.method, path, params=params, json_body=body):
            yield response_part(page, declaration.items_key, endpoint, kind=kind)
    else:
        # OFFSET and PAGE are positional with no end marker. Whether an out-of-range position is honoured or
        # restarts the walk is not established live (estuary/connectors source-customer-io/bruno/ESP Suppressions/
        # offset pagination.yml: UNOBSERVABLE), so a page equal to the one before ends the walk too.
        limit = declaration.page_size or 100
        position = 0 if declaration.paging is Paging.OFFSET else 1
        key = "offset" if declaration.paging is Paging.OFFSET else "page"
        previous = None
        while True:
            page = client.request_json(declaration.method, path, params={**params, "limit": limit, key: position},
                                       json_body=body)
            items = response_part(page, declaration.items_key, endpoint, kind=list)
            if items and items == previous:
                log.warning("%s answered the same page for %s %s as for the one before: Customer.io does not page "
                            "this list, so only its first %d %s are read.", endpoint, key, position, len(items),
                            declaration.name)
            if not items or items == previous:
                return
            yield items
            if len(items) < limit:
                return
            previous = items
            position += limit if declaration.paging is Paging.OFFSET else 1


def read_rows(client: CustomerIoClient, declaration: Declaration, scope: Mapping[str, Any]) -> Iterator[Record]:
    """Every row of one endpoint (one parent): the parent's columns first, then the record's fields."""
    prefix = dict(scope)
    seen = KeySet() if len(declaration.passes) > 1 and declaration.table else None
    for extra in declaration.passes:
        for items in read_pages(client, declaration, scope, extra):
            for item in items if declaration.items_kind is list else [items]:
                if declaration.transform is not None:
                    records = declaration.transform(item)
                else:
                    records = [item] if isinstance(item, dict) else []
                for record in records:
                    row = {**prefix, **record} if prefix else record
                    if seen is not None and not seen.add(to_json([row.get(k) for k in declaration.table.primary_key])):
                        continue
                    yield row


def listed(ctx: RunContext, parent: Parent) -> Iterator[dict[str, Any]]:
    """The parent's columns for every parent record, from the run's one listing of the parent (``listing``)."""
    if parent.declaration is None:  # fixed values: no request
        yield from ({column: record.get(source) for column, source in parent.columns.items()}
                    for record in parent.values)
        return
    for record in listing(ctx, parent.declaration, tuple(parent.columns.values())):
        yield {column: record.get(source) for column, source in parent.columns.items()}


def listing(ctx: RunContext, declaration: Declaration, fields: tuple[str, ...] = ()) -> Iterator[Record]:
    """The records of ``declaration`` (its ``listing_fields`` and ``fields``, small), listed once per run: the first
    reader streams the endpoint and keeps those fields in ``ctx.listings``; every later reader of them gets them
    from there, and one that asks while the listing is under way (datasets run side by side) waits for it. A reader
    of a field the listing did not keep lists again (the declaration's ``listing_fields`` should name it:
    tests/unit/test_declared.py checks the readers in src/)."""
    wanted = tuple(dict.fromkeys((*declaration.listing_fields, *fields)))
    cached = _claim_listing(ctx, declaration.key, wanted)
    if cached is not None:
        yield from ({name: record[name] for name in wanted} for record in cached)
        return
    kept: list[Record] | None = []
    try:
        for outer in listed(ctx, declaration.parent) if declaration.parent is not None else ({},):
            try:
                for row in read_rows(ctx.client, declaration, outer):
                    kept.append({name: row.get(name) for name in wanted})
                    yield dict(kept[-1])
            except NotFoundError:
                if not _missing(declaration, outer):
                    raise
    except BaseException:
        kept = None  # only a complete listing is shared
        raise
    finally:
        _release_listing(ctx, declaration.key, wanted, kept)


def _claim_listing(ctx: RunContext, key: str, wanted: tuple[str, ...]) -> list[Record] | None:
    """The run's listing of ``key`` when it holds ``wanted``; else None, and this reader now lists it (others that
    ask meanwhile wait on ``ctx.listings_under_way[key]``): it must call ``_release_listing`` when done."""
    while True:
        with ctx.shared_lock:
            cached = ctx.listings.get(key)
            if cached is not None and set(wanted) <= set(cached[0]):
                return cached[1]
            under_way = ctx.listings_under_way.get(key)
            if under_way is None:
                ctx.listings_under_way[key] = threading.Event()
                return None
        under_way.wait()


def _release_listing(ctx: RunContext, key: str, fields: tuple[str, ...], records: list[Record] | None) -> None:
    """Done (``records``: the complete listing, shared from now on), failed or abandoned (None): whoever waits
    looks again, and lists it when this reader did not finish."""
    with ctx.shared_lock:
        if records is not None:
            ctx.listings[key] = (fields, records)
        ctx.listings_under_way.pop(key).set()


def _missing(declaration: Declaration, scope: Mapping[str, Any]) -> bool:
    """A 404 of one parent: True (warned, skip it) when the declaration allows it."""
    parent = declaration.parent
    if parent is None or parent.on_missing != "skip":
        return False
    which = ", ".join(f"{k} {v}" for k, v in scope.items())
    log.warning("The %s with %s was deleted during the run (404); its %s are skipped.", parent.noun, which,
                declaration.name)
    return True


def write_declared(ctx: RunContext, table: TableWriter, declaration: Declaration, *, window: int | None = None) -> int:
    """Read ``declaration`` into ``table``; returns the number of rows written."""
    client = ctx.client
    if declaration.parent is None:
        # A declaration others list (listing_fields) fills the run's listing while its table is written.
        fields = declaration.listing_fields
        with ctx.shared_lock:  # never waits: a table reads every record whoever else is listing them
            listing_it = bool(fields) and declaration.key not in ctx.listings_under_way and not set(fields) <= set(
                ctx.listings.get(declaration.key, ((), ()))[0])
            if listing_it:
                ctx.listings_under_way[declaration.key] = threading.Event()
        kept: list[Record] | None = [] if listing_it else None
        rows = 0
        try:
            for record in read_rows(client, declaration, {}):
                table.write(flatten(record, json_fields=table.spec.json_fields))
                if kept is not None:
                    kept.append({name: record.get(name) for name in fields})
                rows += 1
        except BaseException:
            kept = None
            raise
        finally:
            if listing_it:
                _release_listing(ctx, declaration.key, fields, kept)
        return rows
    workers = max(1, ctx.max_workers)
    window = window or ctx.in_flight
    progress = ctx.progress(declaration.key, unit="rows", steps=f"{declaration.parent.noun}s")

    def one_parent(position: int, scope: dict[str, Any]) -> int:
        chain = table.chain((position,))
        count = 0
        try:
            for record in read_rows(client, declaration, scope):
                chain.write(flatten(record, json_fields=table.spec.json_fields))
                count += 1
        except NotFoundError:
            if not _missing(declaration, scope):
                raise
            table.discard_chain((position,))
            return 0
        chain.close()
        progress.add(count)
        progress.step()
        return count

    with BoundedExecutor(workers, limit=window, name=f"declared-{declaration.key}") as pool:
        for position, scope in enumerate(listed(ctx, declaration.parent)):
            pool.submit(one_parent, position, scope)
    return progress.count  # every parent read adds its rows (a missing one adds none)


class DeclaredDataset(Dataset):
    """A dataset that is one declaration: runs it into its table and remembers the table's columns."""

    def __init__(self, config: Any, declaration: Declaration):
        super().__init__(config)
        self.declaration = declaration
        self.key = declaration.key  # type: ignore[misc]
        self.title = declaration.name  # type: ignore[misc]
        self.access = declaration.access or Dataset.access  # type: ignore[misc]

    def estimate(self, ctx: RunContext, state: dict) -> Estimate | None:
        """One request per counted item (``one_request_per``), plus its parents' listings (pages of 100)."""
        counted = self.declaration.one_request_per
        counts = ctx.workspace_counts() if counted else None
        if counts is None:
            return None
        items = getattr(counts, counted)
        listings = sum(-(-items // (d.page_size or 100)) if d.paging != Paging.NONE else 1
                       for d in self.declaration.lineage()[:-1])
        return Estimate(self.key, items + listings, counts.basis(counted),
                        at_least=self.declaration.paging != Paging.NONE,  # pages of each item's own: at least one
                        advice=f"switch {self.key} off here and read them in a configuration of their own")

    def run(self, ctx: RunContext, state: dict) -> dict:
        spec = self.declaration.table
        if spec is None:
            raise ValueError(f"Declaration {self.declaration.key} has no table.")
        tables = Tables(ctx, DatasetState.from_json(state))
        with tables.open(spec) as table:
            write_declared(ctx, table, self.declaration)
        return tables.new_state(DatasetState())


def strip_url_credentials(url: Any) -> Any:
    """``https://user:password@host/path`` -> ``https://host/path`` (the userinfo part only)."""
    if not isinstance(url, str) or "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{tail}"
