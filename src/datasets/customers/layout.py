"""The customers layout shared by search and export mode: tables, column keys, and the row sink.

See the package docstring for the tables and the attribute column rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from output import ChainWriter, TableSpec, TableWriter, to_cell

from .settings import AttributesLayout

# The filter that matches everyone when the configuration has none. The older component used `id exists`,
# which skips people who have no `id` (email-only or anonymous profiles). Every person has a `cio_id` (Customer.io
# assigns it), so `cio_id exists` matches everyone, including people with neither id nor email (phone-only). It is
# also the filter Customer.io's own guidance and the other connectors (Airbyte, singer) use against the real API,
# and the sandbox accepts it; an `or` of `id exists` / `email exists` would still miss phone-only people.
EVERYONE: dict = {"attribute": {"field": "cio_id", "operator": "exists"}}

FIXED_COLUMNS = ("cio_id", "id", "email", "unsubscribed", "devices")
FIXED_NAMES = frozenset(FIXED_COLUMNS)
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
    return name + "_" if name.rstrip("_") in FIXED_NAMES else name


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
        json_fields=frozenset({"devices"}),  # written as JSON text by RowSink; the manifest describes it so
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
