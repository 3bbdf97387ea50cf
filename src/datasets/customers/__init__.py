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
    See ``export.py``: one export job, polled until done, downloaded, normalised into the same layout.

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

Modules: ``layout`` (tables, column keys, the row sink: shared by both modes), ``dataset`` (the dataset and search
mode), ``export`` (export mode). Neither mode imports the other.
"""

from .dataset import Customers
from .export import ExportFailedError, normalise_export, run_export
from .layout import ATTRIBUTES_SPEC, EVERYONE, FIXED_COLUMNS, IDENTIFIER_ATTRIBUTES, attribute_key, customers_spec

__all__ = ["ATTRIBUTES_SPEC", "EVERYONE", "FIXED_COLUMNS", "IDENTIFIER_ATTRIBUTES", "Customers", "ExportFailedError",
           "attribute_key", "customers_spec", "normalise_export", "run_export"]
