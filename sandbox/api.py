"""The App API endpoints: request -> Response. Transport, auth, rate limits and faults live in server.py."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import catalog
from .faults import Faults
from .filters import FilterError, compile_filter
from .util import CursorCodec, dumps, error_body
from .workspace import RETENTION, Workspace

TAG_MESSAGES, TAG_ACTIVITIES, TAG_MEMBERSHIP, TAG_CUSTOMERS = 1, 2, 3, 4
# QUIRK: every Kth page of a chain is empty but still carries `next` (see README).
EMPTY_PAGE_EVERY = {TAG_MESSAGES: 7, TAG_ACTIVITIES: 5, TAG_MEMBERSHIP: 3}
# A page stops scanning after this many candidate records even when not full (it then carries `next`).
SCAN_BUDGET = {TAG_MESSAGES: 50_000, TAG_ACTIVITIES: 50_000, TAG_MEMBERSHIP: 200_000, TAG_CUSTOMERS: 20_000}

_INT = re.compile(r"-?[0-9]+")
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
LIMITED_PATHS = re.compile(r"^/v1/(campaigns(/.*)?|segments|segments/[^/]+|segments/[^/]+/customer_count)$")


class ApiError(Exception):
    def __init__(self, status: int, detail: str, pointer: str | None = None, code: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.pointer = pointer
        self.code = code


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]
    base_url: str

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes] | None = None  # chunked body (downloads)
    stream_rows: int = 0  # rows the stream will produce (for download_cut)


def json_response(obj: object, status: int = 200) -> Response:
    return Response(status, dumps(obj))


def error_response(err: ApiError) -> Response:
    return json_response(error_body(err.status, err.detail, err.code, err.pointer), err.status)


# ---------------------------------------------------------------------- parameter parsing
def int_param(req: Request, name: str) -> int | None:
    raw = req.param(name)
    if raw is None:
        return None
    if not _INT.fullmatch(raw):
        raise ApiError(400, f"{name} must be an integer, got {raw!r}", code="invalid_parameter")
    return int(raw)


def bool_param(req: Request, name: str, default: bool = False) -> bool:
    raw = req.param(name)
    if raw is None:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ApiError(400, f"{name} must be a boolean, got {raw!r}", code="invalid_parameter")


def limit_param(req: Request, default: int, maximum: int) -> int:
    value = int_param(req, "limit")
    if value is None:
        return default
    if value < 1 or value > maximum:
        raise ApiError(400, f"limit must be between 1 and {maximum}", code="invalid_parameter")
    return value


def json_body(req: Request) -> dict:
    if not req.body.strip():
        raise ApiError(400, "request body is required", pointer="")
    try:
        body = json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}", pointer="") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object", pointer="")
    return body


# ---------------------------------------------------------------------- exports
@dataclass
class Export:
    id: int
    created_at: int
    created_mono: float
    ready_mono: float
    filters: dict
    attributes: list[str]
    predicate: Callable
    fail: bool
    total: int | None = None
    downloads: int = 0

    def status(self) -> str:
        if time.monotonic() < self.ready_mono or (self.total is None and not self.fail):
            return "pending"
        return "failed" if self.fail else "done"

    def to_json(self) -> dict:
        status = self.status()
        updated = self.created_at if status == "pending" else self.created_at + int(self.ready_mono - self.created_mono)
        return {
            "created_at": self.created_at,
            "deduplicate_id": f"{self.id}:{updated}",
            "description": "Customers export (created via the api)",
            "downloads": self.downloads,
            "failed": status == "failed",
            "id": self.id,
            "status": status,
            "total": self.total if status == "done" else 0,
            "type": "customers",
            "updated_at": updated,
            "user_email": "sandbox@example.com",
            "user_id": 0,
        }


class Api:
    def __init__(self, workspace: Workspace, faults: Faults, settings, secret: bytes):
        self.ws = workspace
        self.faults = faults
        self.settings = settings
        self.codec = CursorCodec(secret)
        self._secret = secret
        self._chains = itertools.count(1)
        self._export_ids = itertools.count(1001)
        self.exports: dict[int, Export] = {}
        self._lock = threading.Lock()
        self._positions: dict[tuple[int, int, int], int] = {}  # (chain, offset, list length) -> scan position
        self.routes: list[tuple[str, re.Pattern, Callable]] = [
            ("GET", re.compile(r"^/v1/campaigns$"), self.campaigns),
            ("GET", re.compile(r"^/v1/segments$"), self.segments),
            ("GET", re.compile(r"^/v1/segments/([^/]+)$"), self.segment),
            ("GET", re.compile(r"^/v1/segments/([^/]+)/customer_count$"), self.customer_count),
            ("GET", re.compile(r"^/v1/segments/([^/]+)/membership$"), self.membership),
            ("GET", re.compile(r"^/v1/messages$"), self.messages),
            ("GET", re.compile(r"^/v1/activities$"), self.activities),
            ("POST", re.compile(r"^/v1/customers$"), self.customers_search),
            ("POST", re.compile(r"^/v1/customers/attributes$"), self.customers_attributes),
            ("POST", re.compile(r"^/v1/exports/customers$"), self.export_create),
            ("GET", re.compile(r"^/v1/exports$"), self.export_list),
            ("GET", re.compile(r"^/v1/exports/([^/]+)$"), self.export_get),
            ("GET", re.compile(r"^/v1/exports/([^/]+)/download$"), self.export_download),
        ]

    def handle(self, req: Request) -> Response:
        path_known = False
        for method, pattern, func in self.routes:
            match = pattern.match(req.path)
            if match:
                path_known = True
                if method == req.method:
                    try:
                        return func(req, *match.groups())
                    except ApiError as err:
                        return error_response(err)
        if path_known:
            return error_response(ApiError(405, f"method {req.method} is not allowed on {req.path}"))
        return error_response(ApiError(404, f"no such endpoint: {req.method} {req.path}", code="not_found"))

    # ------------------------------------------------------------------ helpers
    def _cursor(self, req: Request, tag: int) -> tuple[int, int, int, int, int] | None:
        start = req.param("start")
        if not start:
            return None
        cur = self.codec.decode(start, tag)
        if cur is None:
            raise ApiError(400, "invalid start token", code="invalid_parameter")
        return cur

    def _next(self, req: Request, tag: int, exhausted: bool, pos: int, a: int, b: int, page: int, chain: int) -> str:
        nxt = "" if exhausted else self.codec.encode(tag, pos, a, b, page + 1, chain)
        start = req.param("start")
        if start and self.faults.flag("repeat_cursor", req.path) and self.faults.claim_repeat(chain):
            return start
        return nxt

    def _quirk_empty(self, req: Request, tag: int, page: int) -> bool:
        every = EMPTY_PAGE_EVERY.get(tag)
        if every and self.settings.empty_page_every:
            every = self.settings.empty_page_every
        if page == 1 and self.faults.flag("empty_first_page", req.path):
            return True  # fault: the first page of every chain is empty but carries `next`
        return bool(every) and page % every == 0

    def _segment_id(self, raw: str) -> int:
        if not _INT.fullmatch(raw):
            raise ApiError(400, "The segment_id is invalid.", code="invalid_parameter")
        sid = int(raw)
        if self.ws.segment(sid) is None:
            raise ApiError(404, "The segment_id does not exist.", code="not_found")
        return sid

    # ------------------------------------------------------------------ catalogue
    def campaigns(self, req: Request) -> Response:
        return json_response({"campaigns": self.ws.campaigns()})

    def segments(self, req: Request) -> Response:
        return json_response({"segments": self.ws.segments()})

    def segment(self, req: Request, raw: str) -> Response:
        return json_response({"segment": self.ws.segment(self._segment_id(raw))})

    def customer_count(self, req: Request, raw: str) -> Response:
        sid = self._segment_id(raw)
        return json_response({"count": self.ws.segment_count(sid), "segment_id": sid})

    # ------------------------------------------------------------------ membership
    def membership(self, req: Request, raw: str) -> Response:
        limit = limit_param(req, 1000, 30000)
        sid = self._segment_id(raw)
        cur = self._cursor(req, TAG_MEMBERSHIP)
        if cur is None:
            pos, page, chain = 0, 1, next(self._chains)
        else:
            pos, seg_in_cursor, before, page, chain = cur
            if seg_in_cursor != sid:
                # Live, another segment's token is a 200 with null arrays and no next, not an error (estuary/connectors
                # source-customer-io/bruno/Child Entities/membership token walk.yml, VERIFIED).
                return json_response({"segment_id": sid, "ids": None, "identifiers": None, "next": ""})
            if self.settings.membership_overlap:
                # QUIRK (opt-in): live tokens are positions, so a segment that gains people while it is paged lists
                # again the last members of the page before (never back to that page's start: the walk advances).
                back, seen = pos, 0
                while back - 1 > before and seen < self.settings.membership_overlap:
                    back -= 1
                    seen += self.ws.is_member(sid, back)
                pos = back
        start = pos
        total = self.ws.slot_end
        identifiers: list[dict] = []
        ids: list[str] = []
        if pos < total and self._quirk_empty(req, TAG_MEMBERSHIP, page):
            j = pos
        else:
            j, scanned, budget = pos, 0, SCAN_BUDGET[TAG_MEMBERSHIP]
            while j < total and len(ids) < limit and scanned < budget:
                if self.ws.is_member(sid, j):
                    cio, pid, email = self.ws.identity(j)
                    identifiers.append({"id": pid, "email": email, "cio_id": cio})
                    ids.append(pid or "")
                j += 1
                scanned += 1
        nxt = self._next(req, TAG_MEMBERSHIP, j >= total, j, sid, start, page, chain)
        return json_response({"identifiers": identifiers, "ids": ids, "next": nxt, "segment_id": sid})

    # ------------------------------------------------------------------ messages
    def messages(self, req: Request) -> Response:
        limit = limit_param(req, 50, 1000)
        mtype = req.param("type")
        if mtype is not None and mtype not in catalog.MESSAGE_TYPES:
            raise ApiError(400, f"type must be one of {', '.join(catalog.MESSAGE_TYPES)}", code="invalid_parameter")
        metric = req.param("metric")
        if metric is not None and metric not in catalog.MESSAGE_METRICS:
            raise ApiError(400, f"metric must be one of {', '.join(catalog.MESSAGE_METRICS)}", code="invalid_parameter")
        drafts = bool_param(req, "drafts")
        tracked = bool_param(req, "get_tracked_responses")
        campaign_id = int_param(req, "campaign_id")
        newsletter_id = int_param(req, "newsletter_id")
        action_id = int_param(req, "action_id")
        start_ts = int_param(req, "start_ts")
        end_ts = int_param(req, "end_ts")
        timeline = self.ws.messages
        cur = self._cursor(req, TAG_MESSAGES)
        if cur is None:
            lo, hi = self.ws.message_window(start_ts, end_ts)
            offset, page, chain = 0, 1, next(self._chains)
        else:
            offset, lo, hi, page, chain = cur
            if start_ts is not None or end_ts is not None:  # live, a token is only a position: the query decides
                lo, hi = self.ws.message_window(start_ts, end_ts)
        # The list is taken afresh on every page: deliveries created since the last page shift the positions.
        floor = timeline.first_at_or_after(lo)
        count = max(0, timeline.last_at_or_before(hi) - floor + 1) if lo <= hi else 0
        at = self._message_order(floor, count)

        def matches(m: dict) -> bool:
            metrics = m["metrics"]
            return (
                (mtype is None or m["type"] == mtype)
                and ("drafted" in metrics) == drafts
                and (metric is None or metric in metrics
                     or (metric == "attempted" and ("sent" in metrics or "failed" in metrics)))
                and (campaign_id is None or m["campaign_id"] == campaign_id)
                and (newsletter_id is None or m["newsletter_id"] == newsletter_id)
                and (action_id is None or m["action_id"] == action_id)
            )

        k = self._message_position(chain, offset, count, at, matches)
        if k is None:  # live: a token past the end silently restarts at page 1 (see README)
            offset, k, page = 0, 0, 1
        items: list[dict] = []
        if not (k < count and self._quirk_empty(req, TAG_MESSAGES, page)):
            stop = min(count, k + SCAN_BUDGET[TAG_MESSAGES])
            message = self.ws.message
            while k < stop and len(items) < limit:
                m = message(at(k), tracked)
                k += 1
                if matches(m):
                    items.append(m)
        offset += len(items)
        if k < count:
            self._remember_position(chain, offset, count, k)
        nxt = self._next(req, TAG_MESSAGES, k >= count, offset, lo, hi, page, chain)
        return json_response({"messages": items, "next": nxt})

    def _message_order(self, floor: int, count: int) -> Callable[[int], int]:
        """k-th delivery of a window -> timeline index, in the order the setting asks for: nobody has observed the
        live order (estuary/connectors source-customer-io/bruno/Messages/page walk.yml: UNOBSERVABLE)."""
        order = self.settings.message_order
        if order == "oldest":
            return lambda k: floor + k
        if order == "unrelated":
            stride = 7919
            while count and math.gcd(stride, count) != 1:
                stride += 2
            return lambda k: floor + (k * stride + count // 3) % count
        top = floor + count - 1
        return lambda k: top - k

    def _message_position(self, chain: int, offset: int, count: int, at: Callable[[int], int],
                          matches: Callable[[dict], bool]) -> int | None:
        """Where the `offset`-th matching delivery of the list as it is now ends, or None when the list has fewer
        (out of range). Live tokens are positions (`djIwOjE=` = `v20:1`: estuary/connectors
        source-customer-io/bruno/Messages/page walk continued.yml); the walk is remembered while the list keeps
        its length, and counted again from the top when it changed (the positions shift)."""
        if offset == 0:
            return 0
        with self._lock:
            known = self._positions.get((chain, offset, count))
        if known is not None:
            return known
        seen, k, message = 0, 0, self.ws.message
        while k < count:
            found = matches(message(at(k)))
            k += 1
            if found:
                seen += 1
                if seen == offset:
                    return k
        return None

    def _remember_position(self, chain: int, offset: int, count: int, k: int) -> None:
        with self._lock:
            if len(self._positions) >= 200_000:
                self._positions.clear()
            self._positions[(chain, offset, count)] = k

    # ------------------------------------------------------------------ activities
    def activities(self, req: Request) -> Response:
        limit = limit_param(req, 10, 100)
        atype = req.param("type")
        if atype is not None and not catalog.is_valid_activity_type(atype):
            raise ApiError(400, f"unknown activity type {atype!r}", code="invalid_parameter")
        name = req.param("name")
        deleted = bool_param(req, "deleted")
        customer_id = req.param("customer_id")
        id_type = req.param("id_type") or "id"
        if id_type not in ("id", "email", "cio_id"):
            raise ApiError(400, "id_type must be one of id, email, cio_id", code="invalid_parameter")
        if customer_id is not None and id_type == "cio_id" and customer_id.startswith("cio_"):
            customer_id = customer_id[4:]
        key = {"cio_id": 0, "id": 1, "email": 2}[id_type]
        timeline = self.ws.activities
        now = self.ws.now()
        floor = timeline.first_at_or_after(now - RETENTION)  # retention is evaluated on every request
        cur = self._cursor(req, TAG_ACTIVITIES)
        if cur is None:
            pos, page, chain = timeline.last_at_or_before(now), 1, next(self._chains)
        else:
            pos, _a, _b, page, chain = cur
        items: list[dict] = []
        if pos >= floor and self._quirk_empty(req, TAG_ACTIVITIES, page):
            i = pos
        else:
            i = pos
            stop = max(floor - 1, pos - SCAN_BUDGET[TAG_ACTIVITIES])
            head = self.ws.activity_head
            identity = self.ws.identity
            while i > stop and len(items) < limit:
                index = i
                i -= 1
                _h, t, j, by_deleted = head(index)
                if by_deleted and not deleted:
                    continue
                if atype is not None and t != atype:
                    continue
                if customer_id is not None and (j < 0 or identity(j)[key] != customer_id):
                    continue
                rec = self.ws.activity(index)
                if name is not None and rec["name"] != name:
                    continue
                items.append(rec)
        nxt = self._next(req, TAG_ACTIVITIES, i < floor, i, 0, 0, page, chain)
        return json_response({"activities": items, "next": nxt})

    # ------------------------------------------------------------------ customers
    def _compile(self, node: object, pointer: str) -> Callable:
        try:
            return compile_filter(node, self.ws, pointer)
        except FilterError as err:
            raise ApiError(400, err.detail, pointer=err.pointer, code="invalid_filter") from err

    def _matcher(self, predicate: Callable) -> Callable[[int], bool]:
        person = self.ws.person

        def match(j: int) -> bool:
            if not self.ws.is_live(j):
                return False  # deleted through the admin API
            cache: list[dict] = []

            def attrs() -> dict:
                if not cache:
                    cache.append(person(j)["attributes"])
                return cache[0]

            return predicate(j, attrs)

        return match

    def customers_search(self, req: Request) -> Response:
        limit = limit_param(req, 50, 1000)
        body = json_body(req)
        if "filter" not in body:
            raise ApiError(400, "filter is required", pointer="/filter", code="invalid_filter")
        match = self._matcher(self._compile(body["filter"], "/filter"))
        cur = self._cursor(req, TAG_CUSTOMERS)
        pos, page, chain = (0, 1, next(self._chains)) if cur is None else (cur[0], cur[3], cur[4])
        total = self.ws.slot_end
        if cur is not None and self.settings.search_overlap:
            # QUIRK (opt-in): people changed during a long run, so a page lists again the last people of the page
            # before it.
            back, seen = pos, 0
            while back > 0 and seen < self.settings.search_overlap:
                back -= 1
                seen += match(back)
            pos = back
        identifiers: list[dict] = []
        ids: list[str] = []
        j, stop = pos, min(total, pos + SCAN_BUDGET[TAG_CUSTOMERS])
        if pos < total and self._quirk_empty(req, TAG_CUSTOMERS, page):
            stop = pos  # only under the empty_first_page fault: search has no Kth-page quirk
        while j < stop and len(ids) < limit:
            if match(j):
                cio, pid, email = self.ws.identity(j)
                identifiers.append({"cio_id": cio, "email": email, "id": pid})
                ids.append(pid or "")
            j += 1
        nxt = self._next(req, TAG_CUSTOMERS, j >= total, j, 0, 0, page, chain)
        return json_response({"identifiers": identifiers, "ids": ids, "next": nxt})

    def customers_attributes(self, req: Request) -> Response:
        id_type = req.param("id_type") or "id"
        if id_type == "phone":
            raise ApiError(400, "phone is not enabled as an identifier in this workspace", code="invalid_parameter")
        if id_type not in ("id", "email", "cio_id"):
            raise ApiError(400, "id_type must be one of id, email, cio_id, phone", code="invalid_parameter")
        body = json_body(req)
        values = body.get("ids")
        if not isinstance(values, list):
            raise ApiError(400, "ids must be an array of strings", pointer="/ids")
        if not 1 <= len(values) <= 100:
            raise ApiError(400, f"ids must contain between 1 and 100 items, got {len(values)}", pointer="/ids")
        found: set[int] = set()
        for n, value in enumerate(values):
            if not isinstance(value, str):
                raise ApiError(400, "every id must be a string", pointer=f"/ids/{n}")
            j = self.ws.find_person(value, id_type)
            if j is not None:
                found.add(j)
        items = []
        for j in sorted(found):  # sandbox choice: internal (cio_id) order, not request order
            customer = self.ws.person(j)
            customer.pop("index")
            items.append(customer if self.settings.unwrapped_attributes else {"customer": customer})
        return json_response({"customers": items})

    # ------------------------------------------------------------------ exports
    def export_create(self, req: Request) -> Response:
        body = json_body(req)
        if "filters" not in body:
            raise ApiError(400, "filters is required", pointer="/filters", code="invalid_filter")
        predicate = self._compile(body["filters"], "/filters")
        attributes = body.get("attributes", [])
        if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
            raise ApiError(400, "attributes must be an array of strings", pointer="/attributes")
        now_mono = time.monotonic()
        with self._lock:
            export = Export(
                id=next(self._export_ids),
                created_at=self.ws.now(),
                created_mono=now_mono,
                ready_mono=now_mono + float(self.settings.export_delay),
                filters=body["filters"],
                attributes=list(attributes),
                predicate=self._matcher(predicate),
                fail=self.faults.flag("export_failed", req.path),
            )
            self.exports[export.id] = export
        if not export.fail:
            threading.Thread(target=self._count_export, args=(export,), daemon=True).start()
        return json_response({"export": export.to_json()})

    def _count_export(self, export: Export) -> None:
        export.total = sum(1 for j in range(self.ws.slot_end) if export.predicate(j))

    def _export(self, raw: str) -> Export:
        export = self.exports.get(int(raw)) if _INT.fullmatch(raw) else None
        if export is None:
            raise ApiError(404, "The export ID does not exist.", code="not_found")
        return export

    def export_list(self, req: Request) -> Response:
        with self._lock:
            exports = [self.exports[k] for k in sorted(self.exports)]
        return json_response({"exports": [e.to_json() for e in exports]})

    def export_get(self, req: Request, raw: str) -> Response:
        return json_response({"export": self._export(raw).to_json()})

    def export_download(self, req: Request, raw: str) -> Response:
        export = self._export(raw)
        status = export.status()
        if status == "pending":
            raise ApiError(400, "The export is not ready yet; try again later.", code="export_not_ready")
        if status == "failed":
            raise ApiError(400, "The export failed; create a new export.", code="export_failed")
        expires = self.ws.now() + int(self.settings.download_url_ttl)
        if self.faults.claim_expired_url(req.path):
            expires = self.ws.now() - 60  # fault: this URL has already expired (S3 answers 403 "Request has expired")
        sig = self.sign(export.id, expires)
        url = f"{req.base_url}/_download/{export.id}?X-Expires={expires}&X-Signature={sig}"
        return json_response({"url": url})

    def sign(self, export_id: int, expires: int) -> str:
        return hmac.new(self._secret, f"download:{export_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ download (pre-signed, S3-like)
    def download(self, req: Request, raw: str) -> Response:
        if "authorization" in req.headers:
            return s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                "string parameter or the Authorization header should be specified",
                {"ArgumentName": "Authorization", "ArgumentValue": "Bearer"},
            )
        export = self.exports.get(int(raw)) if _INT.fullmatch(raw) else None
        expires_raw, sig = req.param("X-Expires"), req.param("X-Signature")
        if export is None:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.", {"Key": f"exports/{raw}.csv"})
        if not expires_raw or not sig or not _INT.fullmatch(expires_raw):
            return s3_error(
                403, "AccessDenied", "Query-string authentication requires the Signature and Expires parameters"
            )
        expires = int(expires_raw)
        if not hmac.compare_digest(sig, self.sign(export.id, expires)):
            return s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the "
                "signature you provided. Check your key and signing method.",
            )
        now = self.ws.now()
        if now > expires:
            return s3_error(
                403, "AccessDenied", "Request has expired", {"Expires": _iso(expires), "ServerTime": _iso(now)}
            )
        export.downloads += 1
        return Response(
            200,
            content_type="text/csv",
            headers=[("Content-Disposition", f'attachment; filename="export_{export.id}.csv"')],
            stream=self._csv_rows(export),
            stream_rows=export.total or 0,
        )

    def _csv_rows(self, export: Export) -> Iterator[bytes]:
        """CSV lines: header `cio_id,id,email,<attributes in request order>`, then one line per matching person."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(["cio_id", "id", "email", *export.attributes])
        yield buf.getvalue().encode()
        for j in range(self.ws.slot_end):
            if not export.predicate(j):
                continue
            person = self.ws.person(j)
            attrs = person["attributes"]
            ident = person["identifiers"]
            buf.seek(0)
            buf.truncate()
            writer.writerow(
                [
                    ident["cio_id"],
                    ident["id"] or "",
                    ident["email"] or "",
                    *[attrs.get(a, "") for a in export.attributes],
                ]
            )
            yield buf.getvalue().encode()


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def s3_error(status: int, code: str, message: str, extra: dict | None = None) -> Response:
    parts = [f"<Code>{code}</Code>", f"<Message>{_xml(message)}</Message>"]
    for k, v in (extra or {}).items():
        parts.append(f"<{k}>{_xml(str(v))}</{k}>")
    parts.append("<RequestId>SANDBOX0000000000</RequestId><HostId>sandbox</HostId>")
    body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
    return Response(status, body.encode(), content_type="application/xml")


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
