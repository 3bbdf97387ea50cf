"""Segment membership: who is in which segment -> segment_membership.csv (primary key segment_id, cio_id).

GET /v1/segments/{id}/membership (``limit=30000``, the API maximum, paged with ``start``/``next``) for the
configured segments, or for every segment (GET /v1/segments, in id order) when the list is empty. A segment that
answers 404 (deleted after it was listed, or a wrong id) is skipped with a warning. A segment whose state is not
``finished`` is being rebuilt and answers a partial roster: it is read all the same, with a warning naming it.
Page tokens are positions (``MDox`` is ``0:1``) over a member set that is not frozen while it is paged
(estuary/connectors source-customer-io/bruno/Child Entities/membership token walk.yml), so a person can come
twice in one segment's pages: each (segment, person) is written once.

Segments are read concurrently (``SEGMENTS_AT_ONCE`` chains, ``concurrency.Interleaved``), one chain per segment
keyed by its position, so the file lists the segments in the configured (or id) order whatever the thread timing.
Pages wait as bytes (``DeferredPage``) and ONE consumer, the run's own thread, parses them in arrival order, one
at a time: memory holds one parsed page (about 13 MB for 30,000 members) and at most one page of bytes (about
3 MB) per chain being read, whatever the scale. A chain fetches its next page as soon as the consumer has parsed
its last one (the cursor is in it), while the consumer writes the rows, so the sandbox, the network and the
consumer all stay busy. The per-row path builds plain dicts of strings directly (no generic flatten).
A segment still being read after the progress interval gets its own progress line with the total from
GET /v1/segments/{id}/customer_count (asked then, so a short run never pays that request).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, field_validator

from budget import Estimate, disagrees
from concurrency import Interleaved
from customerio import DeferredPage
from customerio.errors import InvalidResponseError, NotFoundError
from output import ChainWriter, TableSpec, to_cell
from progress import Progress

from .base import Dataset, RunContext, Tables
from .catalogue import SEGMENTS
from .declared import Parent, listed
from .keyset import KeySet, process_hash
from .settings import Settings
from .state import DatasetState

log = logging.getLogger(__name__)

SPEC = TableSpec(
    name="segment_membership",
    primary_key=("segment_id", "cio_id"),
    seed_columns=("segment_id", "cio_id", "id", "email"),
    column_types={"segment_id": "INTEGER"},
    description="Customer.io segment membership: one row per person per segment.",
)


@dataclass(eq=False)
class _Segment:
    """One segment's chain: what the consumer (rows) and the producer (its own progress line) share."""

    position: int
    segment_id: int
    path: str
    rows: int = 0
    own: Progress | None = None
    read: bool = False  # read to its end
    # Live tokens are positions: a segment that changes between pages lists a member twice. Each person once.
    seen: KeySet = field(default_factory=KeySet)


_GONE = object()  # the segment answered 404: its chain ends here
# The segments with what the rebuild warning names (one listing per run, shared: segment_usage's BY_SEGMENT ids are
# taken from it when this one is listed first).
WITH_STATES = Parent(SEGMENTS, {"segment_id": "id", "name": "name", "state": "state", "progress": "progress"},
                     noun="segment")


class SegmentMembershipSettings(Settings):
    segment_ids: list[int] = Field(default_factory=list)

    @field_validator("segment_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> list[int]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("must be a list of segment ids")
        ids = []
        for item in value:
            if isinstance(item, bool) or not re.fullmatch(r"\d+", str(item).strip()):
                raise ValueError(f"'{item}' is not a segment id (a whole number)")
            ids.append(int(str(item).strip()))
        return list(dict.fromkeys(ids))


class SegmentMembership(Dataset):
    key = "segment_membership"
    settings = SegmentMembershipSettings
    title = "segment members"
    access = "access to Segments and People"
    lists = ("segments",)

    PAGE_LIMIT = 30000  # people per page (the API maximum)
    # Segments read at once. The consumer (parse and write) is what bounds this dataset, not the rate limit: a few
    # chains keep pages arriving while it works, and each chain holds at most one page of bytes.
    SEGMENTS_AT_ONCE = 4

    ROWS_PER_SECOND = 100_000  # what the one consumer parses and writes (bench/run.py): bounds it before the rate

    def estimate(self, ctx: RunContext, state: dict) -> Estimate | None:
        """At most the workspace's people per segment; if that bound does not fit the budget, each segment's
        customer_count (one request each) makes it exact."""
        counts = ctx.workspace_counts()
        if counts is None:
            return None
        self._segment_ids = self._chosen_segments(ctx)
        sizes = [counts.people] * len(self._segment_ids)
        basis = f"{len(sizes)} segments of at most {counts.people:,} people (GET /v1/workspaces)"
        estimate = self._estimate(sizes, basis, certain=False)
        if estimate.seconds > ctx.budget.seconds:
            sizes = [self._customer_count(ctx, segment_id) or 0 for segment_id in self._segment_ids]
            estimate = self._estimate(sizes, f"{sum(sizes):,} members in {len(sizes)} segments (customer_count)",
                                      certain=True)
        return estimate

    def _estimate(self, sizes: list[int], basis: str, certain: bool) -> Estimate:
        requests = sum(max(1, -(-size // self.PAGE_LIMIT)) for size in sizes)
        return Estimate("segment_membership", requests, basis, certain=certain,
                        floor_seconds=sum(sizes) / self.ROWS_PER_SECOND,
                        advice="choose fewer segments in segment_membership")

    def check_completeness(self, ctx: RunContext) -> None:
        """Each segment read against its customer_count (one request each, after the read; a count may lag)."""
        for segment_id, rows in getattr(self, "_rows", {}).items():
            count = self._customer_count(ctx, segment_id)
            if count is not None and disagrees(rows, count):
                log.warning("segment_membership: segment %s has %s rows in the table, Customer.io counts %s members "
                            "(customer_count): check the table before relying on it, and run again if the segment "
                            "changed a lot meanwhile.", segment_id, f"{rows:,}", f"{count:,}")

    @staticmethod
    def _customer_count(ctx: RunContext, segment_id: int) -> int | None:
        try:
            count = ctx.client.request_json("GET", f"/v1/segments/{segment_id}/customer_count").get("count")
        except NotFoundError:
            return None
        return count if isinstance(count, int) and not isinstance(count, bool) else None

    def _chosen_segments(self, ctx: RunContext) -> list[int]:
        settings = self.config.segment_membership
        listed = self._listed(ctx)  # the run's shared listing of GET /v1/segments
        segment_ids = list(settings.segment_ids) if settings and settings.segment_ids else self._all_segments(listed)
        _warn_rebuilding(listed, segment_ids)
        return segment_ids

    def run(self, ctx: RunContext, state: dict) -> dict:
        # Chosen once: by the estimate at the start of the run, or here.
        segment_ids = getattr(self, "_segment_ids", None) or self._chosen_segments(ctx)
        tables = Tables(ctx, DatasetState.from_json(state))
        progress = ctx.progress("segment_membership", unit="rows", steps="segments")
        progress.step(0, total=len(segment_ids))
        segments = [_Segment(position, segment_id, f"/v1/segments/{segment_id}/membership")
                    for position, segment_id in enumerate(segment_ids)]
        started = time.monotonic()
        with tables.open(SPEC) as table, Interleaved(
                [(segment, self._pages(ctx, segment, started)) for segment in segments],
                active=max(1, min(ctx.max_workers, self.SEGMENTS_AT_ONCE)), ahead=1,
                name="segment-membership") as pages:
            chains: dict[int, ChainWriter] = {}
            for segment, page in pages:
                if page is None or page is _GONE:  # the segment is read to its end, or answered 404
                    finished = chains.pop(segment.position, None)
                    if page is _GONE:
                        self._gone(segment)
                        if finished is not None:
                            # A deleted segment has no members: its rows must leave the (snapshot) table, not stay
                            # as half a segment.
                            table.discard_chain((segment.position,))
                    else:
                        log.debug("Segment %s: %s members.", segment.segment_id, f"{segment.rows:,}")
                        segment.read = True
                        if finished is not None:
                            finished.close()  # a closed chain keeps only what the merge needs
                    segment.seen = KeySet()  # the segment is done: its keys are not needed any more
                    progress.step()
                    continue
                identifiers = _take_members(page, segment.path)  # parses the page, then releases it
                del page
                pages.release()  # the cursor is read: this segment's next page is fetched while these rows are written
                if identifiers:  # null for an empty segment
                    chain = chains.get(segment.position)
                    if chain is None:
                        chain = chains[segment.position] = table.chain((segment.position,))
                    written = _write_members(chain, str(segment.segment_id), identifiers, segment.seen)
                    del identifiers  # the parsed page is freed here, before the next page is parsed
                    segment.rows += written
                    progress.add(written)
                    own = segment.own
                    if own is not None:
                        own.add(written)
            for chain in chains.values():
                chain.close()
        # Read to the end (a deleted segment is not compared): for the completeness check.
        self._rows = {segment.segment_id: segment.rows for segment in segments if segment.read}
        log.debug("segment_membership: %s rows from %d segments.", f"{progress.count:,}", len(segment_ids))
        return tables.new_state(DatasetState())

    @staticmethod
    def _listed(ctx: RunContext) -> dict[int, dict]:
        """GET /v1/segments (the run's shared listing): every segment by id, with what tells which are being
        rebuilt (state, progress) and their names."""
        scopes = listed(ctx, WITH_STATES)
        return {scope["segment_id"]: scope for scope in scopes
                if isinstance(scope["segment_id"], int) and not isinstance(scope["segment_id"], bool)}

    @staticmethod
    def _all_segments(listed: dict[int, dict]) -> list[int]:
        log.info("segment_membership: reading all %d segments.", len(listed))
        return sorted(listed)

    def _pages(self, ctx: RunContext, segment: _Segment, started: float) -> Iterator[Any]:
        """The chain of one segment (run in a reader thread): its pages as bytes, then None (or _GONE on a 404).

        It is resumed only once the consumer has parsed the page it yielded (Interleaved with ahead=1), so the
        paginating generator reads the cursor from the released page, never parsing a page itself.
        """
        pages = ctx.client.paginate("GET", segment.path, params={"limit": self.PAGE_LIMIT}, defer_parse=True)
        try:
            for page in pages:
                yield page
                if (segment.own is None and page.get("next")
                        and time.monotonic() - started >= ctx.progress_interval):
                    segment.own = self._segment_progress(ctx, segment.segment_id)
                page = None  # not kept while the next page is fetched
        except NotFoundError:
            yield _GONE
            return
        finally:
            pages.close()
        yield None

    @staticmethod
    def _gone(segment: _Segment) -> None:
        if segment.rows:
            log.warning("segment_membership: segment %s was deleted while it was read (404); the %s rows read "
                        "before are left out, as it has no members any more.", segment.segment_id, f"{segment.rows:,}")
        else:
            log.warning("segment_membership: segment %s was not found (404): it was probably deleted after it "
                        "was listed or chosen; it is skipped.", segment.segment_id)

    @classmethod
    def _segment_progress(cls, ctx: RunContext, segment_id: int) -> Progress | None:
        total = cls._customer_count(ctx, segment_id)
        if total:
            log.debug("Segment %s: %s members to read.", segment_id, f"{total:,}")
        return ctx.progress(f"segment {segment_id} membership", unit="rows", total=total)


def _warn_rebuilding(listed: dict[int, dict], segment_ids: list[int]) -> None:
    """Name each segment read while Customer.io rebuilds it: its roster may be partial (a 200 all the same).

    The partial roster is still written: the table is a snapshot replaced each run, so skipping the segment would
    drop all its members from Storage, where a partial roster drops only those not listed yet.
    """
    for segment_id in segment_ids:
        segment = listed.get(segment_id) or {}
        state = segment.get("state")
        if state is None or state == "finished":
            continue
        progress = segment.get("progress")
        done = f", {progress}% done" if isinstance(progress, int) and not isinstance(progress, bool) else ""
        log.warning("segment_membership: segment %s (%s) is being rebuilt by Customer.io (state '%s'%s): its members "
                    "are written as listed now, which may be only part of them; run again once it has finished.",
                    segment_id, segment.get("name") or "no name", state, done)


def _take_members(page: DeferredPage, path: str) -> list[Any] | None:
    """Parse the page and keep the members; the page is released (it keeps only its cursor, for the chain)."""
    identifiers = page.get("identifiers")
    if not identifiers and page.get("ids"):
        raise InvalidResponseError(f"Customer.io answered GET {path} with 'ids' but without 'identifiers'; try "
                                   "again later.", path=path)
    page.release()
    return identifiers


def _write_members(chain: ChainWriter, segment_id: str, identifiers: list[Any], seen: KeySet) -> int:
    """The hot path: one plain dict of strings per member, same keys in the same order (the writer's fast path).

    A member already written for this segment (``seen``) is left out: the key is (segment_id, cio_id). The page's
    ids are hashed and looked up in one call (per key, the calls cost more than the lookups)."""
    write = chain.write
    cio_ids = [cio_id if type(cio_id := item.get("cio_id")) is str else to_cell(cio_id) for item in identifiers]
    count = 0
    for item, cio_id, fresh in zip(identifiers, cio_ids, seen.add_hashes(map(process_hash, cio_ids)), strict=True):
        if not fresh:
            continue
        person_id = item.get("id")
        email = item.get("email")
        write({
            "segment_id": segment_id,
            "cio_id": cio_id,
            "id": person_id if type(person_id) is str else to_cell(person_id),
            "email": email if type(email) is str else to_cell(email),
        })
        count += 1
    return count
