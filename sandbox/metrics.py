"""The metrics endpoints (App API reference, https://docs.customer.io/api/app/) with both parameter styles and their rules.

- `version=2` (campaigns and campaign actions only): `res` (hours|hourly|days|daily|weeks|weekly|months|monthly),
  `start`, `end` (unix, required; 400 without them; `end` at most 10 years after `start`), `tz` (default UTC).
  Buckets start at `start` rounded down to its bucket in `tz` and run while they start before `end`; the answer's
  `start`/`end` are Go-style strings ("2025-01-01 00:00:00 +0000 UTC"), `res` echoes the request.
- The older style everywhere else (and on campaigns without `version=2`): `period` (hours|days|weeks|months,
  default days), `steps` (default and 0 = the maximum, 1 answers 2 buckets, above the maximum of 24 hours,
  45 days, 12 weeks, 121 months a 400). Buckets are US Eastern: days start at 00:00 America/New_York, weeks on
  Sunday, months on the 1st; oldest first, the last one the bucket running at the sandbox clock.
- Link metrics (`/metrics/links`, older style, `unique`): `{"links":[{"link":{"id","href"},"metric":{"series"}}]}`.
- Journey metrics (`/journey_metrics`): `start`, `end`, `resolution` all required; buckets from `start` (UTC).

Counts are deterministic per entity, bucket and resolution (hashing, no storage) and grow with the sandbox clock:
a bucket's counts reach their final value MATURE_HOURS after the bucket started (opens and clicks come later).
Parents are the sums of their leaves: a campaign of its actions' variants, a newsletter of its contents, a
broadcast of its actions. Webhook actions add the response-class series 2xx..5xx (not in the spec: the "unknown
series" case). Email actions whose id is divisible by 3 are multi-language branches with a default and an `es`
variant (variant id = action id * 10 + 1), returned as `language_variants`.

`MetricsModel` is the plain-function view tests use to compute the numbers the endpoints answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from hashlib import blake2b
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .api import ApiError, Request, Response, bool_param, int_param, json_response
from .entities import Entities
from .workspace import Workspace

SERIES = ("attempted", "bounced", "clicked", "converted", "created", "deferred", "delivered", "drafted", "failed",
          "human_clicked", "human_opened", "link_untracked", "machine_clicked", "open_untracked", "opened",
          "prefetch_opened", "replied", "sent", "spammed", "suppressed", "topic_unsubscribed",
          "tracking_consent_denied", "tracking_consent_granted", "undeliverable", "unsubscribed", "untracked")
WEBHOOK_SERIES = ("2xx", "3xx", "4xx", "5xx")
LINK_SERIES = ("clicked", "human_clicked", "machine_clicked")
JOURNEY_SERIES = ("started", "activated", "never_activated", "exited_early", "messaged", "finished", "converted")
V1_MAX_STEPS = {"hours": 24, "days": 45, "weeks": 12, "months": 121}
V2_RES = {"hours": "hours", "hourly": "hours", "days": "days", "daily": "days", "weeks": "weeks",
          "weekly": "weeks", "months": "months", "monthly": "months"}
CAMPAIGN_TYPES = ("email", "webhook", "twilio", "whatsapp", "slack", "push", "in_app", "live_notification")
NEWSLETTER_TYPES = ("email", "webhook", "twilio", "push", "in_app", "inbox")
EASTERN = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
MATURE_HOURS = 7 * 24
MAX_BUCKETS = 100_000
TEN_YEARS = 3653 * 86400
CAMPAIGN_400 = "The `campaignID` or `actionID` is invalid."
CAMPAIGN_404 = "The automation and/or action do not exist."
BROADCAST_400 = "The `broadcastID`, `actionID` or `triggerID` is invalid."
BROADCAST_404 = "The broadcast, action, and/or trigger do not exist."
NEWSLETTER_404 = "The one-time send and/or variant does not exist."
TRANSACTIONAL_404 = "The transactional message does not exist."
_INT = re.compile(r"[0-9]+")

Series = dict[str, int]


# ---------------------------------------------------------------------------------------------- buckets
def bucket_floor(ts: int, res: str, zone: ZoneInfo) -> int:
    local = datetime.fromtimestamp(ts, zone)
    if res == "hours":
        return ts - local.minute * 60 - local.second
    day = local.date()
    if res == "weeks":
        day -= timedelta(days=(day.weekday() + 1) % 7)
    elif res == "months":
        day = day.replace(day=1)
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def bucket_next(start: int, res: str, zone: ZoneInfo, count: int = 1) -> int:
    if res == "hours":
        return start + 3600 * count
    day = datetime.fromtimestamp(start, zone).date()
    if res == "days":
        day += timedelta(days=count)
    elif res == "weeks":
        day += timedelta(days=7 * count)
    else:
        months = day.year * 12 + day.month - 1 + count
        day = date(months // 12, months % 12 + 1, 1)
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def eastern_buckets(now: int, res: str, steps: int) -> list[int]:
    """The buckets an older-style request with `steps` answers at `now` (steps already clamped)."""
    current = bucket_floor(now, res, EASTERN)
    first = bucket_next(current, res, EASTERN, -(steps - 1))
    return [bucket_next(first, res, EASTERN, i) for i in range(steps)]


def range_buckets(start: int, end: int, res: str, zone: ZoneInfo) -> list[int]:
    out, bucket = [], bucket_floor(start, res, zone)
    while bucket < end:
        out.append(bucket)
        if len(out) > MAX_BUCKETS:
            raise ApiError(400, f"the range holds more than {MAX_BUCKETS} periods", code="invalid_parameter")
        bucket = bucket_next(bucket, res, zone)
    return out


def go_time(ts: int, zone: ZoneInfo) -> str:
    local = datetime.fromtimestamp(ts, zone)
    name = "UTC" if zone.key == "UTC" else local.strftime("%Z")
    return local.strftime("%Y-%m-%d %H:%M:%S %z ") + name


def clamp_steps(req: Request, period: str) -> int:
    steps = int_param(req, "steps")
    maximum = V1_MAX_STEPS[period]
    if steps is None or steps == 0:
        return maximum
    if steps < 0 or steps > maximum:
        raise ApiError(400, f"steps must be between 0 and {maximum} for period {period}", code="invalid_parameter")
    return max(2, steps)


# ---------------------------------------------------------------------------------------------- counts
class MetricsModel:
    """The numbers behind the endpoints. `now` is the sandbox clock of the request."""

    def __init__(self, entities: Entities, seed: int):
        self.e = entities
        self.seed = seed
        self._cache: dict[tuple, tuple] = {}

    # entity facts (fixed for a sandbox's life; cached because every bucket of every leaf asks) -----------
    def _cached(self, key: tuple, build: Callable[[], tuple]) -> tuple:
        value = self._cache.get(key)
        if value is None:
            value = self._cache.setdefault(key, build())
        return value

    def _campaign_info(self, cid: int) -> tuple[int | None, dict[int, str]]:
        """(first started, {action id: channel}) of a campaign."""
        return self._cached(("c", cid), lambda: (
            (self.e.campaign(cid) or {}).get("first_started"),
            {a["id"]: a["type"] for a in self.e.campaign_actions(cid) or []}))

    def _newsletter_info(self, nid: int) -> tuple[int | None, str, list[int]]:
        def build() -> tuple:
            newsletter = self.e.newsletter(nid) or {}
            return newsletter.get("sent_at"), newsletter.get("type") or "email", self.e.newsletter_content_ids(nid)
        return self._cached(("n", nid), build)

    def _broadcast_info(self, bid: int) -> tuple[int | None, dict[int, str]]:
        return self._cached(("b", bid), lambda: (
            (self.e.broadcast(bid) or {}).get("first_started"),
            {a["id"]: a["type"] for a in self.e.broadcast_actions(bid) or []}))

    def _transactional_born(self, tid: int) -> int | None:
        return self._cached(("t", tid), lambda: (
            next((t["created_at"] for t in self.e.transactional() if t["id"] == tid), None),))[0]

    # leaves ------------------------------------------------------------------------------------
    def _leaf(self, tag: str, res: str, bucket: int, now: int, born: int | None, webhook: bool = False) -> Series:
        if born is None or bucket < born or bucket > now:
            out = dict.fromkeys(SERIES, 0)
            if webhook:
                out.update(dict.fromkeys(WEBHOOK_SERIES, 0))
            return out
        h = blake2b(f"{self.seed}:{tag}:{res}:{bucket}".encode(), digest_size=16).digest()
        sent = h[0] % 40
        delivered = sent - h[1] % (sent // 8 + 1)
        opened = delivered * (h[2] % 70) // 100
        human_opened = opened - h[3] % (opened // 4 + 1)
        clicked = opened * (h[4] % 40) // 100
        human_clicked = clicked - h[5] % (clicked // 3 + 1)
        out = dict.fromkeys(SERIES, 0)
        out.update(attempted=sent + h[6] % 2, sent=sent, delivered=delivered, bounced=sent - delivered,
                   failed=h[6] % 2, opened=opened, human_opened=human_opened, prefetch_opened=opened - human_opened,
                   clicked=clicked, human_clicked=human_clicked, machine_clicked=clicked - human_clicked,
                   converted=clicked * (h[7] % 30) // 100, unsubscribed=int(h[8] % 9 == 0 and delivered > 0),
                   spammed=int(h[9] % 23 == 0 and delivered > 0))
        if webhook:
            failed_calls = min(sent, h[10] % 3)
            out.update({"2xx": sent - failed_calls, "3xx": 0, "4xx": failed_calls, "5xx": 0})
        age_hours = (now // 3600 * 3600 - bucket) // 3600 + 1
        if age_hours < MATURE_HOURS:  # the bucket's counts are still growing
            out = {name: value * age_hours // MATURE_HOURS for name, value in out.items()}
        return out

    @staticmethod
    def total(parts: list[Series]) -> Series:
        out: Series = dict.fromkeys(SERIES, 0)
        for part in parts:
            for name, value in part.items():
                out[name] = out.get(name, 0) + value
        return out

    @staticmethod
    def variants(action_id: int, channel: str) -> list[tuple[str, int]]:
        """(language, variant id) of an action; more than one = a multi-language branch."""
        if channel == "email" and action_id % 3 == 0:
            return [("", action_id), ("es", action_id * 10 + 1)]
        return [("", action_id)]

    # campaigns ---------------------------------------------------------------------------------
    def campaign_action_variants(self, cid: int, aid: int) -> list[tuple[str, int]]:
        return self.variants(aid, self._campaign_info(cid)[1].get(aid, "email"))

    def campaign_action(self, cid: int, aid: int, res: str, bucket: int, now: int,
                        type_filter: str | None = None) -> dict[str, Series]:
        """{language: series} of one action (one entry unless it is a multi-language branch)."""
        born, channels = self._campaign_info(cid)
        channel = channels.get(aid, "email")
        born = born if type_filter in (None, channel) else None
        return {language: self._leaf(f"ca:{cid}:{vid}", res, bucket, now, born, channel == "webhook")
                for language, vid in self.variants(aid, channel)}

    def campaign(self, cid: int, res: str, bucket: int, now: int, type_filter: str | None = None) -> Series:
        return self.total([series for aid in self._campaign_info(cid)[1]
                           for series in self.campaign_action(cid, aid, res, bucket, now, type_filter).values()])

    def journey(self, cid: int, res: str, bucket: int, now: int) -> Series:
        base = self.campaign(cid, res, bucket, now)
        started = base["attempted"]
        activated = started - started // 7
        return {"started": started, "activated": activated, "never_activated": started - activated,
                "exited_early": activated // 9, "messaged": base["sent"], "finished": activated - activated // 9,
                "converted": base["converted"]}

    # newsletters -------------------------------------------------------------------------------
    def newsletter_type(self, nid: int) -> str:
        return self._newsletter_info(nid)[1]

    def newsletter_content(self, nid: int, content_id: int, res: str, bucket: int, now: int,
                           type_filter: str | None = None) -> Series:
        born, channel, _ = self._newsletter_info(nid)
        return self._leaf(f"nc:{nid}:{content_id}", res, bucket, now, born if type_filter in (None, channel) else None)

    def newsletter(self, nid: int, res: str, bucket: int, now: int, type_filter: str | None = None) -> Series:
        return self.total([self.newsletter_content(nid, c, res, bucket, now, type_filter)
                           for c in self._newsletter_info(nid)[2]])

    # broadcasts --------------------------------------------------------------------------------
    def broadcast_action_variants(self, bid: int, aid: int) -> list[tuple[str, int]]:
        return self.variants(aid, self._broadcast_info(bid)[1].get(aid, "email"))

    def broadcast_action(self, bid: int, aid: int, res: str, bucket: int, now: int,
                         type_filter: str | None = None) -> dict[str, Series]:
        born, channels = self._broadcast_info(bid)
        channel = channels.get(aid, "email")
        born = born if type_filter in (None, channel) else None
        return {language: self._leaf(f"ba:{bid}:{vid}", res, bucket, now, born, channel == "webhook")
                for language, vid in self.variants(aid, channel)}

    def broadcast(self, bid: int, res: str, bucket: int, now: int, type_filter: str | None = None) -> Series:
        return self.total([series for aid in self._broadcast_info(bid)[1]
                           for series in self.broadcast_action(bid, aid, res, bucket, now, type_filter).values()])

    # transactional -----------------------------------------------------------------------------
    def transactional(self, tid: int, res: str, bucket: int, now: int) -> Series:
        return self._leaf(f"t:{tid}", res, bucket, now, self._transactional_born(tid))

    # links -------------------------------------------------------------------------------------
    def links(self, kind: str, ident: int, res: str, bucket: int, now: int) -> dict[int, tuple[str, Series]]:
        """{link id: (href, series)}: 0..3 tracked links per entity; clicks are the entity's, split per link."""
        whole = {"campaign": self.campaign, "newsletter": self.newsletter, "broadcast": self.broadcast,
                 "transactional": self.transactional}[kind](ident, res, bucket, now)
        out = {}
        count = ident % 4
        for n in range(count):
            link_id = ident * 10 + n
            share = (n + 1) / (count * (count + 1) / 2)  # the first link gets the smallest share
            human = int(whole["human_clicked"] * share)
            machine = int(whole["machine_clicked"] * share)
            out[link_id] = (f"https://example.com/{kind}/{ident}/link-{n}?utm=sandbox",
                            {"clicked": human + machine, "human_clicked": human, "machine_clicked": machine})
        return out


# ---------------------------------------------------------------------------------------------- endpoints
class MetricsApi:
    """The metrics routes; server.py appends `.routes` to the Api's routes."""

    def __init__(self, workspace: Workspace):
        self.ws = workspace
        self.e: Entities = workspace.entities
        self.model = MetricsModel(workspace.entities, workspace.seed)
        r = re.compile
        self.routes: list[tuple[str, re.Pattern, Callable]] = [
            ("GET", r(r"^/v1/campaigns/([^/]+)/metrics$"), self.campaign),
            ("GET", r(r"^/v1/campaigns/([^/]+)/actions/([^/]+)/metrics$"), self.campaign_action),
            ("GET", r(r"^/v1/campaigns/([^/]+)/metrics/links$"), self.campaign_links),
            ("GET", r(r"^/v1/campaigns/([^/]+)/journey_metrics$"), self.journey),
            ("GET", r(r"^/v1/newsletters/([^/]+)/metrics$"), self.newsletter),
            ("GET", r(r"^/v1/newsletters/([^/]+)/contents/([^/]+)/metrics$"), self.newsletter_content),
            ("GET", r(r"^/v1/newsletters/([^/]+)/metrics/links$"), self.newsletter_links),
            ("GET", r(r"^/v1/broadcasts/([^/]+)/metrics$"), self.broadcast),
            ("GET", r(r"^/v1/broadcasts/([^/]+)/actions/([^/]+)/metrics$"), self.broadcast_action),
            ("GET", r(r"^/v1/broadcasts/([^/]+)/metrics/links$"), self.broadcast_links),
            ("GET", r(r"^/v1/transactional/([^/]+)/metrics$"), self.transactional),
            ("GET", r(r"^/v1/transactional/([^/]+)/metrics/links$"), self.transactional_links),
        ]

    # ids -----------------------------------------------------------------------------------------
    @staticmethod
    def _int(raw: str, detail: str) -> int:
        if not _INT.fullmatch(raw):
            raise ApiError(400, detail, code="invalid_parameter")
        return int(raw)

    def _campaign(self, raw: str, raw_action: str | None = None) -> tuple[int, int | None]:
        cid = self._int(raw, CAMPAIGN_400)
        aid = self._int(raw_action, CAMPAIGN_400) if raw_action is not None else None
        if self.e.campaign(cid) is None or (aid is not None and self.e.campaign_action(cid, aid) is None):
            raise ApiError(404, CAMPAIGN_404, code="not_found")
        return cid, aid

    def _newsletter(self, raw: str, raw_content: str | None = None) -> tuple[int, int | None]:
        nid = self._int(raw, "The newsletter_id is invalid.")
        content = self._int(raw_content, "The content_id is invalid.") if raw_content is not None else None
        if self.e.newsletter(nid) is None or (content is not None and content not in self.e.newsletter_content_ids(nid)):
            raise ApiError(404, NEWSLETTER_404, code="not_found")
        return nid, content

    def _broadcast(self, raw: str, raw_action: str | None = None) -> tuple[int, int | None]:
        bid = self._int(raw, BROADCAST_400)
        aid = self._int(raw_action, BROADCAST_400) if raw_action is not None else None
        if self.e.broadcast(bid) is None or (aid is not None and aid not in self.e.broadcast_action_ids(bid)):
            raise ApiError(404, BROADCAST_404, code="not_found")
        return bid, aid

    def _transactional(self, raw: str) -> int:
        tid = self._int(raw, "The transactional_id is invalid.")
        if self.e.transactional_contents(tid) is None:  # deleted (a deleted one may still be listed)
            raise ApiError(404, TRANSACTIONAL_404, code="not_found")
        return tid

    # parameter styles ----------------------------------------------------------------------------
    @staticmethod
    def _type(req: Request, allowed: tuple[str, ...] | None) -> str | None:
        value = req.param("type")
        if value is None or allowed is None:
            return None
        if value not in allowed:
            raise ApiError(400, f"type must be one of {', '.join(allowed)}", code="invalid_parameter")
        return value

    def _v1(self, req: Request) -> tuple[str, list[int]]:
        period = req.param("period") or "days"
        if period not in V1_MAX_STEPS:
            raise ApiError(400, "period must be one of hours, days, weeks, months", code="invalid_parameter")
        return period, eastern_buckets(self.ws.now(), period, clamp_steps(req, period))

    def _v2(self, req: Request) -> tuple[str, str, list[int], ZoneInfo, int]:
        raw_res, start, end = req.param("res"), int_param(req, "start"), int_param(req, "end")
        if raw_res is None or start is None or end is None:
            raise ApiError(400, "res, start and end are required with version 2", code="invalid_parameter")
        if raw_res not in V2_RES:
            raise ApiError(400, f"res must be one of {', '.join(V2_RES)}", code="invalid_parameter")
        if end <= start or end - start > TEN_YEARS:
            raise ApiError(400, "end must be after start and at most 10 years from it", code="invalid_parameter")
        try:
            zone = ZoneInfo(req.param("tz") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise ApiError(400, "tz must be a time zone name such as America/New_York", code="invalid_parameter") from None
        res = V2_RES[raw_res]
        return raw_res, res, range_buckets(start, end, res, zone), zone, end

    @staticmethod
    def _columns(per_bucket: list[Series]) -> Series:
        names = sorted({name for series in per_bucket for name in series})
        return {name: [series.get(name, 0) for series in per_bucket] for name in names}

    def _answer(self, req: Request, versioned: bool, compute: Callable, variants: Callable | None = None,
                metric_type: str | None = None) -> Response:
        """`compute(res, bucket, now)` -> series; `variants(res, bucket, now)` -> {variant id: (language, series)}."""
        now = self.ws.now()
        body: dict = {}
        if versioned and req.param("version") == "2":
            raw_res, res, buckets, zone, end = self._v2(req)
            body.update(start=go_time(buckets[0] if buckets else end, zone), end=go_time(end, zone), res=raw_res)
        else:
            res, buckets = self._v1(req)
        body["metric"] = {"series": self._columns([compute(res, b, now) for b in buckets])}
        if metric_type is not None:
            body["metric"]["type"] = metric_type
        if variants is not None:
            per_bucket = [variants(res, b, now) for b in buckets]
            if per_bucket and len(per_bucket[0]) > 1:
                body["language_variants"] = {
                    str(vid): {"default": language == "", "language": language,
                               "series": self._columns([bucket[vid][1] for bucket in per_bucket])}
                    for vid, (language, _series) in per_bucket[0].items()}
        return json_response(body)

    # metrics -------------------------------------------------------------------------------------
    def campaign(self, req: Request, raw: str) -> Response:
        cid, _ = self._campaign(raw)
        kind = self._type(req, CAMPAIGN_TYPES)
        return self._answer(req, True, lambda res, b, now: self.model.campaign(cid, res, b, now, kind))

    def campaign_action(self, req: Request, raw: str, raw_action: str) -> Response:
        cid, aid = self._campaign(raw, raw_action)
        kind = self._type(req, CAMPAIGN_TYPES)
        ids = dict(self.model.campaign_action_variants(cid, aid))

        def per_variant(res: str, b: int, now: int) -> dict:
            by_language = self.model.campaign_action(cid, aid, res, b, now, kind)
            return {ids[language]: (language, series) for language, series in by_language.items()}

        return self._answer(req, True, lambda res, b, now: MetricsModel.total(
            list(self.model.campaign_action(cid, aid, res, b, now, kind).values())), per_variant)

    def newsletter(self, req: Request, raw: str) -> Response:
        nid, _ = self._newsletter(raw)
        kind = self._type(req, NEWSLETTER_TYPES)
        return self._answer(req, False, lambda res, b, now: self.model.newsletter(nid, res, b, now, kind),
                            metric_type=self.model.newsletter_type(nid))

    def newsletter_content(self, req: Request, raw: str, raw_content: str) -> Response:
        nid, content = self._newsletter(raw, raw_content)
        kind = self._type(req, NEWSLETTER_TYPES)
        return self._answer(req, False, lambda res, b, now: self.model.newsletter_content(
            nid, content, res, b, now, kind), metric_type=self.model.newsletter_type(nid))

    def broadcast(self, req: Request, raw: str) -> Response:
        bid, _ = self._broadcast(raw)
        kind = self._type(req, CAMPAIGN_TYPES)
        return self._answer(req, False, lambda res, b, now: self.model.broadcast(bid, res, b, now, kind))

    def broadcast_action(self, req: Request, raw: str, raw_action: str) -> Response:
        bid, aid = self._broadcast(raw, raw_action)
        kind = self._type(req, CAMPAIGN_TYPES)
        ids = dict(self.model.broadcast_action_variants(bid, aid))

        def per_variant(res: str, b: int, now: int) -> dict:
            by_language = self.model.broadcast_action(bid, aid, res, b, now, kind)
            return {ids[language]: (language, series) for language, series in by_language.items()}

        return self._answer(req, False, lambda res, b, now: MetricsModel.total(
            list(self.model.broadcast_action(bid, aid, res, b, now, kind).values())), per_variant)

    def transactional(self, req: Request, raw: str) -> Response:
        tid = self._transactional(raw)
        return self._answer(req, False, lambda res, b, now: self.model.transactional(tid, res, b, now))

    def journey(self, req: Request, raw: str) -> Response:
        cid, _ = self._campaign(raw)
        start, end, res = int_param(req, "start"), int_param(req, "end"), req.param("resolution")
        if start is None or end is None or res is None:
            raise ApiError(400, "start, end and resolution are required", code="invalid_parameter")
        if res not in V1_MAX_STEPS or end <= start or end - start > TEN_YEARS:
            raise ApiError(400, "resolution must be hours, days, weeks or months and end after start",
                           code="invalid_parameter")
        now = self.ws.now()
        buckets = range_buckets(start, end, res, UTC)
        return json_response({"journey_metric": self._columns([self.model.journey(cid, res, b, now)
                                                               for b in buckets])})

    # links ---------------------------------------------------------------------------------------
    def _links(self, req: Request, kind: str, ident: int) -> Response:
        bool_param(req, "unique")  # validated; unique and total clicks are the same in the sandbox
        period, buckets = self._v1(req)
        now = self.ws.now()
        per_bucket = [self.model.links(kind, ident, period, b, now) for b in buckets]
        links = []
        for link_id, (href, _series) in (per_bucket[0] if per_bucket else {}).items():
            links.append({"link": {"href": href, "id": link_id},
                          "metric": {"series": self._columns([bucket[link_id][1] for bucket in per_bucket])}})
        return json_response({"links": links})

    def campaign_links(self, req: Request, raw: str) -> Response:
        return self._links(req, "campaign", self._campaign(raw)[0])

    def newsletter_links(self, req: Request, raw: str) -> Response:
        return self._links(req, "newsletter", self._newsletter(raw)[0])

    def broadcast_links(self, req: Request, raw: str) -> Response:
        return self._links(req, "broadcast", self._broadcast(raw)[0])

    def transactional_links(self, req: Request, raw: str) -> Response:
        return self._links(req, "transactional", self._transactional(raw))
