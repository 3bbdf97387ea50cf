"""Segment membership: who is in which segment -> segment_membership.csv (primary key segment_id, cio_id).

GET /v1/segments/{id}/membership (``limit=30000``, the API maximum, paged with ``start``/``next``) for the
configured segments, or for every segment (GET /v1/segments, in id order) when the list is empty. A segment that
answers 404 (deleted after it was listed, or a wrong id) is skipped with a warning.

Segments are read concurrently, one chain per segment keyed by its position, so the file lists the segments in
the configured (or id) order whatever the thread timing. The per-row path builds plain dicts of strings
directly (no generic flatten), and a segment with several pages reads its next page while the current one is
written (at most ``PREFETCH_SLOTS`` segments do so at a time). Pages wait as bytes and are parsed and written one
at a time, so memory holds one parsed page and a few pages of bytes whatever the scale.
A segment with more than one page also gets its own progress line with the total from
GET /v1/segments/{id}/customer_count.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from customerio import DeferredPage, response_part
from customerio.errors import InvalidResponseError, NotFoundError
from output import ChainWriter, TableSpec, TableWriter, to_cell
from progress import Progress

from .base import Dataset, RunContext, Tables

log = logging.getLogger(__name__)

SPEC = TableSpec(
    name="segment_membership",
    primary_key=("segment_id", "cio_id"),
    seed_columns=("segment_id", "cio_id", "id", "email"),
    column_types={"segment_id": "INTEGER"},
    description="Customer.io segment membership: one row per person per segment.",
)


class SegmentMembership(Dataset):
    key = "segment_membership"

    PAGE_LIMIT = 30000  # people per page (the API maximum)
    PREFETCH_SLOTS = 2  # segments that may read their next page while writing the current one
    # Segments read at once: while one page is written, the other segments fetch theirs (CPU, not the rate limit,
    # is what bounds this dataset, so a few chains are enough to keep it busy).
    SEGMENTS_AT_ONCE = 3

    def run(self, ctx: RunContext, state: dict) -> dict:
        settings = self.config.segment_membership
        segment_ids = list(settings.segment_ids) if settings and settings.segment_ids else self._all_segments(ctx)
        tables = Tables(ctx, state)
        progress = ctx.progress("segment_membership", unit="rows", steps="segments")
        progress.step(0, total=len(segment_ids))
        prefetch = threading.BoundedSemaphore(max(1, self.PREFETCH_SLOTS))
        # One page is parsed and written at a time: the work is CPU-bound under the GIL anyway, and this keeps a
        # single parsed page (~13 MB for 30,000 members) in memory while the other segments wait as bytes.
        writing = threading.Lock()
        # One long-lived prefetch pool for every segment: a fresh thread per segment would leave each segment's
        # freed pages in another malloc arena, and peak memory would creep up with the number of segments.
        helper = ThreadPoolExecutor(max_workers=max(1, self.PREFETCH_SLOTS), thread_name_prefix="membership-prefetch")
        with tables.open(SPEC) as table:
            workers = max(1, min(ctx.max_workers, self.SEGMENTS_AT_ONCE, len(segment_ids) or 1))
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segment-membership")
            futures: list[Future] = []
            try:
                futures = [pool.submit(self._read_segment, ctx, table, position, segment_id, progress, writing,
                                       prefetch, helper)
                           for position, segment_id in enumerate(segment_ids)]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()  # the first failure, if any
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
                helper.shutdown(wait=True)
        log.info("Segment membership: %s rows from %d segments.", f"{progress.count:,}", len(segment_ids))
        return {"columns": tables.columns}

    @staticmethod
    def _all_segments(ctx: RunContext) -> list[int]:
        segments = response_part(ctx.client.request_json("GET", "/v1/segments"), "segments", "GET /v1/segments")
        ids = {item["id"] for item in segments
               if isinstance(item, dict) and isinstance(item.get("id"), int) and not isinstance(item["id"], bool)}
        log.info("Segment membership: reading all %d segments.", len(ids))
        return sorted(ids)

    def _read_segment(self, ctx: RunContext, table: TableWriter, position: int, segment_id: int,
                      progress: Progress, writing: threading.Lock, prefetch: threading.BoundedSemaphore,
                      helper: ThreadPoolExecutor) -> None:
        path = f"/v1/segments/{segment_id}/membership"
        # Deferred parsing: a page waits as its bytes (~3 MB); it is parsed under the `writing` lock.
        pages = ctx.client.paginate("GET", path, params={"limit": self.PAGE_LIMIT}, defer_parse=True)
        ahead = _ReadAhead(pages, prefetch, helper)
        chain: ChainWriter | None = None
        own: Progress | None = None
        rows = 0
        first = True
        try:
            while (page := ahead.fetch()) is not None:  # network I/O, outside the lock
                with writing:
                    more, identifiers = _take_members(page, path)  # parses the page, then releases it
                    del page
                    if more:
                        ahead.prefetch()
                    written = 0
                    if identifiers:  # null for an empty segment
                        if chain is None:
                            chain = table.chain((position,))
                        written = _write_members(chain, str(segment_id), identifiers)
                    del identifiers  # the parsed page is freed here, before another segment parses its own
                rows += written
                progress.add(written)
                if first and more:
                    own = self._segment_progress(ctx, segment_id)
                if own is not None:
                    own.add(written)
                first = False
        except NotFoundError:
            if rows:
                log.warning("Segment %s was deleted while it was read (404); the %s rows read before are kept.",
                            segment_id, f"{rows:,}")
            else:
                log.warning("Segment %s was not found (404): it was probably deleted after it was listed or chosen; "
                            "it is skipped.", segment_id)
        finally:
            ahead.close()
            if chain is not None:
                chain.close()
        progress.step()
        log.debug("Segment %s: %s members.", segment_id, f"{rows:,}")

    @staticmethod
    def _segment_progress(ctx: RunContext, segment_id: int) -> Progress | None:
        try:
            count = ctx.client.request_json("GET", f"/v1/segments/{segment_id}/customer_count").get("count")
        except NotFoundError:
            return None
        total = count if isinstance(count, int) and not isinstance(count, bool) else None
        if total:
            log.debug("Segment %s: %s members to read.", segment_id, f"{total:,}")
        return ctx.progress(f"segment {segment_id} membership", unit="rows", total=total)


def _take_members(page: DeferredPage, path: str) -> tuple[bool, list[Any] | None]:
    """Parse the page and keep what is needed: whether another page follows, and the members.

    The page is released (it keeps only its cursor) because the paginating generator holds on to it until it is
    resumed, which may be after another segment has started parsing its own page.
    """
    more = bool(page.get("next"))
    identifiers = page.get("identifiers")
    if not identifiers and page.get("ids"):
        raise InvalidResponseError(f"Customer.io answered GET {path} with 'ids' but without 'identifiers'; try "
                                   "again later.", path=path)
    page.release()
    return more, identifiers


def _write_members(chain: ChainWriter, segment_id: str, identifiers: list[Any]) -> int:
    """The hot path: one plain dict of strings per member, same keys in the same order (the writer's fast path)."""
    write = chain.write
    count = 0
    for item in identifiers:
        cio_id = item.get("cio_id")
        person_id = item.get("id")
        email = item.get("email")
        write({
            "segment_id": segment_id,
            "cio_id": cio_id if type(cio_id) is str else to_cell(cio_id),
            "id": person_id if type(person_id) is str else to_cell(person_id),
            "email": email if type(email) is str else to_cell(email),
        })
        count += 1
    return count


_END = object()


class _ReadAhead:
    """The pages of one segment, with the next page fetched in a helper thread while the current one is written.

    A segment reads ahead (in the shared ``helper`` pool) only while it holds one of the shared ``slots``, which
    bounds the pages in flight. The generator ``pages`` is only ever advanced by one thread at a time (a fetch
    waits for the one before), so its state stays consistent.
    """

    def __init__(self, pages: Iterator[DeferredPage], slots: threading.BoundedSemaphore,
                 helper: ThreadPoolExecutor) -> None:
        self._pages = pages
        self._slots = slots
        self._helper = helper
        self._following: Future | None = None
        self._box: list[DeferredPage | object] = []

    def fetch(self) -> DeferredPage | None:
        """The next page (the one read ahead, or fetched now), or None at the end of the segment."""
        if self._following is not None:
            following, self._following = self._following, None
            try:
                following.result()  # raises what the fetch raised
                page = self._box.pop()
            finally:
                self._slots.release()
        else:
            page = next(self._pages, _END)
        return None if page is _END else page

    def prefetch(self) -> None:
        """Start fetching the next page now, if a slot is free (call it once the current page is parsed)."""
        if self._following is None and self._slots.acquire(blocking=False):
            self._following = self._helper.submit(self._fetch_into_box)

    def _fetch_into_box(self) -> None:
        # The page travels in a box, not as the future's result: the helper thread may hold on to the future a
        # moment after it completed, and with it the page, once the writer has let go of it.
        self._box.append(next(self._pages, _END))

    def close(self) -> None:
        following, self._following = self._following, None
        if following is not None:
            following.cancel()
            wait([following])
            self._slots.release()
        self._box.clear()
        close = getattr(self._pages, "close", None)
        if close is not None:
            close()
