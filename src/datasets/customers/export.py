"""Customers export mode: one Customer.io export job, streamed into the same customers layout as search mode.

1. POST /v1/exports/customers ``{"filters": <filter or everyone>, "attributes": [names]}`` starts the job.
2. GET /v1/exports/{id} is polled until ``status`` is ``done``: every 2 s at first, the wait growing by half each
   time up to 30 s (every second while the run's other requests leave the rate idle), until
   ``export_timeout_minutes`` (default 2 hours) have passed. ``failed: true`` (or status ``failed``) ends the run
   with a readable error. When the run's time budget (max_run_minutes) is spent first, the
   run leaves the export (``ExportNotReady``): the customers table is not loaded, the state keeps the export's id,
   and the next run waits for that same export (Customer.io keeps preparing it) instead of starting another, so an
   export that takes longer than one run still ends in a table; ``export_timeout_minutes`` counts from its start.
3. GET /v1/exports/{id}/download gives a pre-signed URL (valid 15 minutes); ``client.download`` streams it into a
   temporary file (no Authorization header; a body cut off half way is retried by the client). A refused URL
   (403/401: expired) or a download that still fails gets a fresh URL and another try.
4. The file (CSV, optionally gzip-compressed, optional UTF-8 BOM) is read row by row with the csv module and
   normalised (``normalise_export``): the identifier columns ``cio_id``, ``id``, ``email`` are found by name
   (exact, else ignoring case and surrounding spaces; ``customer_id`` also counts as ``id``); each configured
   attribute is the column with exactly its name (else ignoring case), preferring one the identifiers do not use
   (the sandbox, like an export asked for ``email``, writes ``cio_id,id,email,<attributes in request order>``, so
   the attribute ``email`` is a second ``email`` column); ``unsubscribed``, when the file has it, is
   normalised to ``true``/``false``; ``devices`` is not part of an export and stays empty. Other file columns are
   not attributes that were asked for; they are left out (and named in the log). Rows without a ``cio_id`` cannot
   be keyed and are skipped with a warning.
5. The rows go through the same ``RowSink`` as search mode, so the layouts follow the same rules: an attribute
   named like an identifier (``cio_id``, ``id``, ``email``) is still asked for and read (its own file column, else
   the identifier's), but the wide layout does not write it again, as it only repeats the identifier column (no
   ``email_2``); the long layout keeps it as a ``customer_attributes`` row named exactly ``email``. An attribute
   named ``unsubscribed`` gets its own column (``unsubscribed_2``), as in search mode.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from customerio import response_part
from customerio.errors import CustomerIoError, ExpiredDownloadError, InvalidResponseError, NotFoundError, ServerError

from ..base import RunContext
from .layout import Output
from .settings import CustomersSettings

log = logging.getLogger(__name__)

CREATE_PATH = "/v1/exports/customers"

POLL_FIRST = 2.0  # seconds before the first status check
POLL_FACTOR = 1.5
POLL_MAX = 30.0
# While the other datasets beside the wait (datasets.runner) leave the 10 requests/s half idle, a check costs them
# nothing: check every second, so the export is read within a second of being ready instead of up to 30 s after.
POLL_SPARE = 1.0
DOWNLOAD_ATTEMPTS = 5  # fresh URLs tried before giving up
PROGRESS_EVERY = 10_000  # rows between progress updates

_ID_ALIASES = {"cio_id": ("cio_id",), "id": ("id", "customer_id"), "email": ("email",)}
_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})


class ExportFailedError(CustomerIoError):
    """Customer.io reported the export job as failed, or it did not finish in time."""


class ExportNotReady(Exception):
    """The run's time budget is spent while Customer.io still prepares the export."""

    def __init__(self, export_id: Any, saved: dict):
        super().__init__(f"export {export_id} not ready")
        self.export_id = export_id
        self.saved = saved  # the state's ``export`` part: what the next run waits for


def run_export(ctx: RunContext, settings: CustomersSettings, output: Output, *, everyone: dict,
               pending: dict | None = None, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> int:
    """Run one export job and write its rows; returns the number of people written. ``pending``: the export a run
    stopped by its budget left (state ``export``), waited for again when it asked for the same rows."""
    attributes = list(settings.attributes)
    body = {"filters": settings.filter or everyone, "attributes": attributes}
    request = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    export, started = _pending_export(ctx, pending, request, settings.export_timeout_minutes), ctx.now
    if export is not None:
        export_id, started = export.get("id"), pending["started"]
        log.info("customers: waiting for export %s, started by an earlier run.", export_id)
    else:
        created = ctx.client.request_json("POST", CREATE_PATH, json_body=body)
        export = _export_of(created, f"POST {CREATE_PATH}")
        export_id = export.get("id")
        if export_id in (None, ""):
            raise InvalidResponseError(f"Customer.io answered POST {CREATE_PATH} without an export id; try again "
                                       "later.", path=CREATE_PATH)
        log.info("customers: export %s started (%s).", export_id,
                 f"attributes: {', '.join(attributes)}" if attributes else "identifier columns only")
    deadline = clock() + settings.export_timeout_minutes * 60 - max(0, ctx.now - started)
    try:
        export = wait_for_export(ctx, export_id, export, deadline, settings.export_timeout_minutes, sleep=sleep,
                                 clock=clock)
    except ExportNotReady:
        raise ExportNotReady(export_id, {"id": export_id, "started": started, "request": request}) from None
    export = wait_for_export(ctx, export_id, export, deadline, settings.export_timeout_minutes, sleep=sleep,
                             clock=clock)
    total = export.get("total") if isinstance(export.get("total"), int) else None
    log.info("customers: export %s is ready%s; downloading.", export_id, f" ({total:,} people)" if total else "")
    # The temporary directory (TMPDIR; Keboola mounts a fresh /tmp per job), never /data: the platform's rule is no
    # arbitrary files in the data folder. The file is read from there; only the table goes to out/tables.
    with tempfile.TemporaryFile(prefix="customers-export-") as file:
        size = download_export(ctx, export_id, file, deadline, settings.export_timeout_minutes, sleep=sleep,
                               clock=clock)
        log.info("customers: export %s downloaded (%s bytes); writing the table.", export_id, f"{size:,}")
        file.seek(0)
        progress = ctx.progress("customers export", unit="people", total=total)
        sink = output.sink((0,))
        rows = normalise_export(file, attributes, sink.write, progress.add)
        sink.close()
    log.debug("customers: %s people read from export %s.", f"{rows:,}", export_id)  # the table's line is the total
    return rows


def wait_for_export(ctx: RunContext, export_id: Any, export: dict, deadline: float, minutes: int, *,
                    sleep: Callable[[float], None], clock: Callable[[], float]) -> dict:
    """Poll GET /v1/exports/{id} until done; raise ExportFailedError when it fails or the deadline passes."""
    path = f"/v1/exports/{export_id}"
    interval = POLL_FIRST
    started = clock()
    while True:
        _check_failed(export, export_id)
        if export.get("status") == "done":
            return export
        if clock() + interval > deadline:
            raise ExportFailedError(
                f"The customers export {export_id} did not finish within {minutes} minutes "
                f"(export_timeout_minutes): raise export_timeout_minutes, narrow the filter, or use mode 'search'.",
                path=path)
        if not ctx.budget.fits(interval, "customers"):  # its own reserve (datasets.runner) is its to spend
            raise ExportNotReady(export_id, {})
        sleep(interval)
        interval = POLL_SPARE if _rate_spare(ctx) else min(interval * POLL_FACTOR, POLL_MAX)
        export = _export_of(ctx.client.request_json("GET", path), f"GET {path}")
        log.debug("customers: export %s status %s after %.0f s.", export_id, export.get("status"), clock() - started)


def _rate_spare(ctx: RunContext) -> bool:
    limiter = getattr(ctx.client, "rate_limiter", None)
    return limiter is not None and limiter.spare()


def download_export(ctx: RunContext, export_id: Any, file: IO[bytes], deadline: float, minutes: int, *,
                    sleep: Callable[[float], None], clock: Callable[[], float]) -> int:
    """Fetch a download URL and stream it into ``file``; a refused (expired) URL or a failed download gets a new URL."""
    path = f"/v1/exports/{export_id}/download"
    last: CustomerIoError | None = None
    interval = POLL_FIRST
    attempts = 0
    while attempts < DOWNLOAD_ATTEMPTS:
        url = ctx.client.request_json("GET", path).get("url")
        if not isinstance(url, str) or not url:
            # Not ready yet (the older component saw this right after "done"): wait like the status poll.
            if clock() + interval > deadline:
                raise ExportFailedError(
                    f"Customer.io gave no download link for the customers export {export_id} within {minutes} "
                    "minutes (export_timeout_minutes): raise export_timeout_minutes or try again later.", path=path)
            sleep(interval)
            interval = min(interval * POLL_FACTOR, POLL_MAX)
            continue
        attempts += 1
        try:
            return ctx.client.download(url, file)
        except ExpiredDownloadError as exc:
            log.info("customers: the download link of export %s expired; fetching a new one.", export_id)
            last = exc
        except (ServerError, InvalidResponseError) as exc:
            log.warning("customers: downloading export %s failed (%s); trying again with a new link.", export_id, exc)
            last = exc
    reason = "the link had expired" if isinstance(last, ExpiredDownloadError) else "the download failed"
    raise ExportFailedError(
        f"The customers export {export_id} could not be downloaded with {DOWNLOAD_ATTEMPTS} fresh links ({reason} "
        f"each time, last at {last.path if last else path}): try again later, or use mode 'search'.", path=path)


def _pending_export(ctx: RunContext, pending: dict | None, request: str, minutes: int) -> dict | None:
    """The export an earlier run left, as Customer.io reports it now; None when there is none to wait for (asked for
    other rows, gone, failed, or still not ready after ``export_timeout_minutes``: a new export is started). Customer.io documents no retention for exports; GET
    /v1/exports/{export_id} answers 404 "The export ID does not exist." (App API reference, exports)."""
    if not pending or pending.get("request") != request or not isinstance(pending.get("started"), int):
        return None
    path = f"/v1/exports/{pending.get('id')}"
    try:
        export = _export_of(ctx.client.request_json("GET", path), f"GET {path}")
    except NotFoundError:
        export = {"failed": True}
    if export.get("failed") is True or export.get("status") == "failed":
        log.info("customers: export %s, started by an earlier run, is no longer available; starting a new one.",
                 pending.get("id"))
        return None
    if export.get("status") != "done" and ctx.now - pending["started"] >= minutes * 60:
        log.warning("customers: export %s, started by an earlier run, did not finish within %s minutes "
                    "(export_timeout_minutes); starting a new one. Raise export_timeout_minutes, narrow the filter, or "
                    "use mode 'search' if this repeats.", pending.get("id"), minutes)
        return None
    return {**export, "id": pending.get("id")}


def _export_of(response: dict, path: str) -> dict:
    return response_part(response, "export", path, kind=dict, required=True)


def _check_failed(export: dict, export_id: Any) -> None:
    if export.get("failed") is True or export.get("status") == "failed":
        raise ExportFailedError(
            f"Customer.io reports that the customers export {export_id} failed: check the filter and the attribute "
            "names, then run again (or use mode 'search').", path=f"/v1/exports/{export_id}")


# ---------------------------------------------------------------------------------------------------- the file


def open_text(file: IO[bytes]) -> io.TextIOBase:
    """The export file as text: gzip is detected by its magic bytes; a UTF-8 BOM is dropped."""
    head = file.read(2)
    file.seek(0)
    raw: IO[bytes] = gzip.GzipFile(fileobj=file, mode="rb") if head == b"\x1f\x8b" else file  # type: ignore[assignment]
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def normalise_export(file: IO[bytes], attributes: Sequence[str], write: Callable[..., None],
                     report: Callable[[int], None] = lambda n: None) -> int:
    """Stream the export file into ``write(cio_id, id, email, unsubscribed, devices, attributes)`` calls."""
    text = open_text(file)
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return 0
        columns = _map_columns(header, attributes)
        return _write_rows(reader, columns, attributes, write, report)
    finally:
        text.detach()


class _Columns:
    def __init__(self, cio_id: int, person_id: int | None, email: int | None, unsubscribed: int | None,
                 attributes: list[tuple[str, int | None]]):
        self.cio_id = cio_id
        self.id = person_id
        self.email = email
        self.unsubscribed = unsubscribed
        self.attributes = attributes


def _find(header: Sequence[str], names: Sequence[str]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    folded = [h.strip().lower() for h in header]
    for name in names:
        if name.lower() in folded:
            return folded.index(name.lower())
    return None


def _find_attribute(header: Sequence[str], name: str, taken: set[int | None]) -> int | None:
    free = [index for index, column in enumerate(header) if column == name and index not in taken]
    if free:
        return free[0]
    folded = name.lower()
    free = [index for index, column in enumerate(header)
            if column.strip().lower() == folded and index not in taken]
    return free[0] if free else _find(header, (name,))


def _map_columns(header: list[str], attributes: Sequence[str]) -> _Columns:
    cio_id = _find(header, _ID_ALIASES["cio_id"])
    if cio_id is None:
        raise InvalidResponseError(
            f"The customers export file has no cio_id column (its columns: {', '.join(header[:20])}), so its rows "
            "cannot be keyed; use mode 'search' and report this to the component's maintainers.")
    person_id = _find(header, _ID_ALIASES["id"])
    email = _find(header, _ID_ALIASES["email"])
    unsubscribed = _find(header, ("unsubscribed",))
    identifiers = {cio_id, person_id, email}
    # An attribute asked for by the name of an identifier (`email`) may come as a second column of that name, after
    # the identifier columns: prefer a column the identifiers do not use, else share the identifier's column.
    mapped = [(name, _find_attribute(header, name, identifiers)) for name in attributes]
    absent = [name for name, index in mapped if index is None]
    if absent:
        log.info("customers: the export has no column for the attributes %s; they are written empty.",
                 ", ".join(absent))
    used = {cio_id, person_id, email, unsubscribed} | {index for _, index in mapped}
    extra = [name for index, name in enumerate(header) if index not in used]
    if extra:
        log.info("customers: the export file also has the columns %s, which are not configured attributes; they "
                 "are left out.", ", ".join(extra[:20]))
    return _Columns(cio_id, person_id, email, unsubscribed, mapped)


def _write_rows(reader: Iterator[list[str]], columns: _Columns, attributes: Sequence[str],
                write: Callable[..., None], report: Callable[[int], None]) -> int:
    cio_index, id_index, email_index, unsub_index = columns.cio_id, columns.id, columns.email, columns.unsubscribed
    attribute_columns = columns.attributes
    rows = 0
    skipped = 0
    pending = 0
    for record in reader:
        if not record:
            continue
        width = len(record)
        cio_id = record[cio_index].strip() if cio_index < width else ""
        if not cio_id:
            skipped += 1
            continue
        person_id = record[id_index] if id_index is not None and id_index < width else ""
        email = record[email_index] if email_index is not None and email_index < width else ""
        unsubscribed = _boolean(record[unsub_index]) if unsub_index is not None and unsub_index < width else ""
        # An empty cell is an attribute the person does not have (as in search mode, where it is simply absent).
        values = {name: record[index] for name, index in attribute_columns
                  if index is not None and index < width and record[index] != ""}
        write(cio_id, person_id, email, unsubscribed, "", values)
        rows += 1
        pending += 1
        if pending >= PROGRESS_EVERY:
            report(pending)
            pending = 0
    if pending:
        report(pending)
    if skipped:
        log.warning("customers: the export had %s rows without a cio_id; they are skipped.", f"{skipped:,}")
    return rows


def _boolean(value: str) -> str:
    low = value.strip().lower()
    if low in _TRUE:
        return "true"
    if low in _FALSE:
        return "false"
    return ""
