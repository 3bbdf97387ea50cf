"""Customers (people): everyone the filter matches, with their attributes, devices and subscription flag.

Search mode (default)
    POST /v1/customers (``limit=1000``, body ``{"filter": ...}``, paged with ``start``/``next``) lists the people;
    POST /v1/customers/attributes?id_type=cio_id reads their attributes, devices and ``unsubscribed``, 100 people
    per request. People are addressed by ``cio_id`` (from ``identifiers``), never by ``id``: people without an
    ``id`` appear as ``""`` in ``ids`` and would be lost.

    The search chain runs in its own thread a bounded number of pages ahead; attribute batches run on a bounded
    thread pool under the client's shared rate limiter, with at most ``2 * max_workers`` batches in flight, so
    memory stays flat whatever the number of people. Each batch writes its own chain, keyed ``(page, batch)``,
    so the file lists people in search order whatever the thread timing.

Export mode
    See ``customers_export.py``: one export job, polled until done, downloaded, normalised into the same layout.

Tables
    ``customers.csv`` (primary key ``cio_id``): ``cio_id``, ``id``, ``email`` (the identifiers), ``unsubscribed``
    (BOOLEAN), ``devices`` (JSON text), then one column per attribute (wide layout). With
    ``attributes_layout: long`` the attributes go to ``customer_attributes.csv`` (``cio_id``, ``name``, ``value``;
    primary key ``cio_id``, ``name``) with the attribute names exactly as Customer.io has them, and
    ``customers.csv`` keeps only the five fixed columns.

Attribute columns in the wide layout (see ``attribute_key``)
    An attribute's source key is its name exactly, so the output layer turns it into a Storage-safe name and
    reports clashes. Customer.io stores ``cio_id``, ``id`` and ``email`` as attributes too (``IDENTIFIER_ATTRIBUTES``):
    they only repeat the identifier columns, so the wide layout does not write them again, in search and export mode
    alike, even when they are configured by name (the long layout keeps them, like every attribute). Any other
    attribute named like a fixed column, ``unsubscribed`` or ``devices`` or a fixed name followed by ``_``
    (``email_``), must stay a column of its own, apart from the fixed column. Its source key is therefore the name
    plus a trailing ``_`` (``unsubscribed`` -> ``unsubscribed_``, ``email_`` -> ``email__``), which the output layer
    sanitises back to the fixed name; the fixed columns come first in the table, so they keep the plain names and
    the attribute gets the clash suffix: the flag stays ``unsubscribed``, the attribute becomes ``unsubscribed_2``
    (``devices`` -> ``devices_2``, ``email_`` -> ``email_2``), and the log says so. No two attributes ever share a
    source key. Other clashes (``Email`` vs ``email``, ``first name`` vs ``first_name``) are the output layer's
    ordinary rule: the first column in table order keeps the plain name.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from configuration import AttributesLayout, CustomersMode, CustomersSettings
from customerio import response_part
from customerio.errors import InvalidResponseError
from output import ChainWriter, TableSpec, TableWriter, to_cell, to_json

from .base import Dataset, RunContext, Tables

log = logging.getLogger(__name__)

# The filter that matches everyone when the configuration has none. The older component used `id exists`,
# which skips people who have no `id` (email-only or anonymous profiles). Every person has a `cio_id` (Customer.io
# assigns it), so `cio_id exists` matches everyone, including people with neither id nor email (phone-only). It is
# also the filter Customer.io's own guidance and the other connectors (Airbyte, singer) use against the real API,
# and the sandbox accepts it; an `or` of `id exists` / `email exists` would still miss phone-only people.
EVERYONE: dict = {"attribute": {"field": "cio_id", "operator": "exists"}}

FIXED_COLUMNS = ("cio_id", "id", "email", "unsubscribed", "devices")
_FIXED = frozenset(FIXED_COLUMNS)
# Customer.io keeps the identifiers as attributes too; in the wide layout they would only repeat the identifier
# columns, so they are not written again there (the long layout keeps every attribute exactly).
IDENTIFIER_ATTRIBUTES = frozenset({"cio_id", "id", "email"})

SEARCH_PATH = "/v1/customers"
ATTRIBUTES_PATH = "/v1/customers/attributes"

ATTRIBUTES_SPEC = TableSpec(
    name="customer_attributes",
    primary_key=("cio_id", "name"),
    seed_columns=("cio_id", "name", "value"),
    description="Customer.io people attributes, one row per person and attribute (names exactly as in "
                "Customer.io; values are text).",
)


def attribute_key(name: str) -> str:
    """The wide-layout source key of attribute ``name`` (see the module docstring).

    The name itself, except for names that are a fixed column name followed by zero or more ``_``: those get one
    more ``_`` so they never share a key with the fixed column (``email`` -> ``email_``, ``email_`` -> ``email__``).
    The mapping is injective and never yields a fixed column name.
    """
    return name + "_" if name.rstrip("_") in _FIXED else name


def customers_spec(layout: AttributesLayout, attributes: Sequence[str] = ()) -> TableSpec:
    """customers.csv: the fixed columns, then (wide) the configured attributes in their configured order.

    Attributes that are not configured (search mode with an empty list: every attribute) follow, sorted by name.
    """
    wide = layout == AttributesLayout.WIDE
    seeds = FIXED_COLUMNS + (tuple(attribute_key(name) for name in attributes if name not in IDENTIFIER_ATTRIBUTES)
                             if wide else ())
    what = ("one column per attribute (values are text)" if wide
            else "attributes are in customer_attributes")
    return TableSpec(
        name="customers",
        primary_key=("cio_id",),
        seed_columns=seeds,
        column_types={"unsubscribed": "BOOLEAN"},
        description=f"Customer.io people: identifiers, unsubscribed flag, devices (JSON text); {what}.",
    )


# --------------------------------------------------------------------------------------------------- row building


class RowSink:
    """Writes one person at a time in the configured layout to the chains of one key (one batch or one file).

    ``attributes`` (configured names) limits which attributes are written; ``None`` writes every attribute.
    """

    __slots__ = ("_attrs", "_customers", "_keys", "_wanted")

    def __init__(self, customers: ChainWriter, attributes: ChainWriter | None, wanted: Sequence[str] | None):
        self._customers = customers
        self._attrs = attributes
        self._wanted = list(wanted) if wanted else None
        self._keys = ([(name, attribute_key(name)) for name in self._wanted if name not in IDENTIFIER_ATTRIBUTES]
                      if self._wanted else None)

    def write(self, cio_id: str, person_id: str, email: str, unsubscribed: str, devices: str,
              attributes: dict[str, Any] | None) -> None:
        row = {"cio_id": cio_id, "id": person_id, "email": email, "unsubscribed": unsubscribed, "devices": devices}
        attributes = attributes or {}
        if self._attrs is None:  # wide
            if self._keys is not None:
                for name, key in self._keys:
                    value = attributes.get(name)
                    row[key] = value if type(value) is str else to_cell(value)
            else:
                for name, value in attributes.items():
                    if name not in IDENTIFIER_ATTRIBUTES:
                        row[attribute_key(name)] = value if type(value) is str else to_cell(value)
            self._customers.write(row)
            return
        self._customers.write(row)
        names = [name for name in self._wanted if name in attributes] if self._wanted else sorted(attributes)
        write = self._attrs.write
        for name in names:
            value = attributes[name]
            write({"cio_id": cio_id, "name": name, "value": value if type(value) is str else to_cell(value)})

    def close(self) -> None:
        self._customers.close()
        if self._attrs is not None:
            self._attrs.close()


@dataclass
class Output:
    """The open tables of one run and how to get a sink for a chain key."""

    customers: TableWriter
    attributes: TableWriter | None
    wanted: Sequence[str] | None

    def sink(self, key: tuple) -> RowSink:
        return RowSink(self.customers.chain(key), self.attributes.chain(key) if self.attributes else None,
                       self.wanted)


def cell(value: Any) -> str:
    return value if type(value) is str else to_cell(value)


# ------------------------------------------------------------------------------------------------------ the dataset


class Customers(Dataset):
    key = "customers"

    SEARCH_LIMIT = 1000  # people per search page (the API maximum)
    BATCH_SIZE = 100  # people per attributes request (the API maximum)
    SEARCH_AHEAD = 3  # search pages read ahead of the attribute batches: enough to keep them busy, memory flat

    def run(self, ctx: RunContext, state: dict) -> dict:
        settings: CustomersSettings = self.config.customers
        long_layout = settings.attributes_layout == AttributesLayout.LONG
        tables = Tables(ctx, state)
        export = settings.mode == CustomersMode.EXPORT
        if export and not settings.attributes:
            log.info("Customers export: no attributes are configured, and an export contains only the attributes it "
                     "asks for by name, so customers.csv gets the identifier columns only. List attribute names in "
                     "'attributes' to export them.")
        spec = customers_spec(settings.attributes_layout, settings.attributes)
        with tables.open(spec) as customers_writer:
            if long_layout:
                with tables.open(ATTRIBUTES_SPEC) as attributes_writer:
                    self._extract(ctx, settings, Output(customers_writer, attributes_writer, settings.attributes))
            else:
                self._extract(ctx, settings, Output(customers_writer, None, settings.attributes))
        self._explain_renamed(ctx, settings)
        return {"columns": tables.columns}

    def _extract(self, ctx: RunContext, settings: CustomersSettings, output: Output) -> None:
        if settings.mode == CustomersMode.EXPORT:
            from .customers_export import run_export

            run_export(ctx, settings, output, everyone=EVERYONE)
        else:
            self._search(ctx, settings.filter or EVERYONE, output)

    @staticmethod
    def _explain_renamed(ctx: RunContext, settings: CustomersSettings) -> None:
        result = ctx.table_results.get("customers")
        if result is None or settings.attributes_layout != AttributesLayout.WIDE:
            return
        for key, name in zip(result.columns, result.names, strict=True):
            # key[:-1] is the attribute's name (attribute_key adds one "_"); identifier attributes are not written in
            # the wide layout, so their keys (cio_id_, id_, email_) can only be empty columns kept from state.
            if key not in _FIXED and key.rstrip("_") in _FIXED and key[:-1] not in IDENTIFIER_ATTRIBUTES:
                fixed = key.rstrip("_")
                log.info("Customer attribute '%s' is named like the column '%s': the column keeps '%s', the attribute "
                         "is written as '%s'.", key[:-1], fixed, fixed, name)

    # -------------------------------------------------------------------------------------------------- search

    def _search(self, ctx: RunContext, filter_: dict, output: Output) -> None:
        progress = ctx.progress("customers", unit="people")
        missing = _Counter()
        limit = max(1, 2 * ctx.max_workers)
        pages = _Prefetched(self._search_pages(ctx, filter_), self.SEARCH_AHEAD, name="customers-search")
        inflight: set[Future] = set()
        pool = ThreadPoolExecutor(max_workers=max(1, ctx.max_workers), thread_name_prefix="customers")
        try:
            for page_index, people in enumerate(pages):
                for batch_index, start in enumerate(range(0, len(people), self.BATCH_SIZE)):
                    while len(inflight) >= limit:
                        done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                    batch = people[start:start + self.BATCH_SIZE]
                    inflight.add(pool.submit(self._hydrate, ctx, output.sink((page_index, batch_index)), batch,
                                             missing, progress.add))
            while inflight:
                done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
        except BaseException:
            pages.stop()
            for future in inflight:
                future.cancel()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        log.info("Customers: %s people read.", f"{progress.count:,}")
        if missing.value:
            log.warning("Customers: %s people matched the search but Customer.io returned no attributes for them "
                        "(probably deleted during the run); they are written with their identifiers only.",
                        f"{missing.value:,}")

    def _search_pages(self, ctx: RunContext, filter_: dict) -> Iterator[list[tuple[str, str, str]]]:
        for page in ctx.client.paginate("POST", SEARCH_PATH, params={"limit": self.SEARCH_LIMIT},
                                        json_body={"filter": filter_}):
            if page.get("identifiers") is None and page.get("ids"):
                raise InvalidResponseError(
                    f"Customer.io answered POST {SEARCH_PATH} with 'ids' but without 'identifiers', so people "
                    "cannot be read by cio_id; try again later and contact Customer.io support if it persists.",
                    path=SEARCH_PATH)
            identifiers = response_part(page, "identifiers", f"POST {SEARCH_PATH}")
            yield [(cell(item.get("cio_id")), cell(item.get("id")), cell(item.get("email")))
                   for item in identifiers if isinstance(item, dict)]

    def _hydrate(self, ctx: RunContext, sink: RowSink, people: list[tuple[str, str, str]], missing: _Counter,
                 report: Callable[[int], None]) -> None:
        ids = [cio_id for cio_id, _, _ in people if cio_id]
        found = self._read_attributes(ctx, ids) if ids else {}
        lost = 0
        for cio_id, person_id, email in people:
            customer = found.get(cio_id) if cio_id else None
            if customer is None:
                lost += 1
                sink.write(cio_id, person_id, email, "", "", None)
                continue
            devices = customer.get("devices")
            sink.write(cio_id, person_id, email, cell(customer.get("unsubscribed")),
                       "" if devices is None else to_json(devices), customer.get("attributes"))
        sink.close()
        if lost:
            missing.add(lost)
        report(len(people))

    @staticmethod
    def _read_attributes(ctx: RunContext, ids: list[str]) -> dict[str, dict]:
        """cio_id -> customer object; items may come wrapped in {"customer": ...} or not (both are seen).

        The ids are the plain cio_ids from the search (`id_type=cio_id`), as the other connectors send them to the
        real API; the `cio_` prefix is only needed where a cio_id stands in a path. Unknown ids are omitted from the
        answer, and its order is not the request's, so items are matched by their cio_id.
        """
        response = ctx.client.request_json("POST", ATTRIBUTES_PATH, params={"id_type": "cio_id"},
                                           json_body={"ids": ids})
        items = response_part(response, "customers", f"POST {ATTRIBUTES_PATH}")
        found: dict[str, dict] = {}
        unmatched: list[dict] = []
        wanted = set(ids)
        for item in items:
            if not isinstance(item, dict):
                continue
            customer = item["customer"] if isinstance(item.get("customer"), dict) else item
            cio_id = _cio_id_of(customer)
            if cio_id in wanted:
                found[cio_id] = customer
            else:
                unmatched.append(customer)
        if unmatched and len(found) < len(wanted) and len(items) == len(ids):
            # No recognisable cio_id (or a differently formatted one): fall back to the order of the request, which
            # is what the API keeps when every id exists.
            for cio_id, item in zip(ids, items, strict=True):
                if isinstance(item, dict):
                    found.setdefault(cio_id, item["customer"] if isinstance(item.get("customer"), dict) else item)
        return found


def _cio_id_of(customer: dict) -> str:
    """The person's cio_id in an attributes answer (identifiers, top level or attributes; a `cio_` prefix dropped)."""
    value: Any = None
    identifiers = customer.get("identifiers")
    if isinstance(identifiers, dict) and identifiers.get("cio_id") not in (None, ""):
        value = identifiers["cio_id"]
    elif customer.get("cio_id") not in (None, ""):
        value = customer["cio_id"]
    else:
        attributes = customer.get("attributes")
        if isinstance(attributes, dict) and attributes.get("cio_id") not in (None, ""):
            value = attributes["cio_id"]
    text = cell(value)
    return text.removeprefix("cio_")


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


_END = object()


class _Prefetched:
    """Runs an iterator in its own thread, up to ``ahead`` items ahead of the consumer.

    The producer's exception is re-raised in the consumer. ``stop()`` ends the producer at its next item.
    """

    def __init__(self, source: Iterator[Any], ahead: int, name: str):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, ahead))
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _produce(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread, which re-raises it
            self._put(_Failure(exc))

    def _put(self, item: Any) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def stop(self) -> None:
        self._stopped.set()


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc
