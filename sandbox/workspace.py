"""The simulated workspace: every record is derived from (seed, index) by hashing, on demand.

Nothing per-record is stored: a million messages cost no memory. Records with a time (messages, activities) sit on
a monotone timeline: index order == time order (ties allowed), so "newest first" is "highest index first" and keyset
cursors are plain indices. `append()` adds a new block of indices after the current newest record.
"""

from __future__ import annotations

import bisect
import functools
import json
import threading
import time
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import blake2b

from . import catalog
from .entities import Entities
from .filters import compile_filter
from .settings import SandboxSettings
from .util import delivery_id, digest, ulid, weighted_table

_NEWSLETTERS = catalog.NEWSLETTERS
_BROADCASTS = catalog.BROADCASTS
_TRANSACTIONAL = catalog.TRANSACTIONAL_IDS
_SUBJECTS = catalog.SUBJECTS

DAY = 86400
SIX_MONTHS = 183 * DAY
RETENTION = 30 * DAY
_ID_MASK = 0x5A5A1234ABCD

MSG_TYPES = weighted_table(
    [("email", 70), ("push", 8), ("in_app", 6), ("twilio", 5), ("webhook", 4), ("slack", 3), ("whatsapp", 4)]
)
MSG_PARENTS = weighted_table([("campaign", 65), ("newsletter", 25), ("broadcast", 7), ("transactional", 3)])
ACT_TYPES = weighted_table(
    [
        ("event", 25),
        ("attribute_change", 12),
        ("sent_email", 14),
        ("delivered_email", 10),
        ("opened_email", 12),
        ("clicked_email", 5),
        ("page", 10),
        ("_o:1:create", 4),
        ("screen", 8),
    ]
)
FAILURES = [
    "Missing email address",
    "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown",
    "Liquid error: undefined variable 'customer.first_name', line 3",
    'webhook returned 500: {"error": "boom"}',
]
DELIVERY_TYPES = {"email": "email", "push": "ios", "twilio": "phone", "whatsapp": "phone"}
ATTR_CHANGE_FIELDS = ["email", "plan", "Name", "first_name", "město", "vip", "名前"]


ACTIVITY_ID_ORIGIN = 1_700_000_000  # unix seconds the activity ids count from (see activity())

@dataclass(frozen=True)
class Block:
    start: int
    count: int
    t_lo: int
    t_hi: int


class Timeline:
    """Monotone index -> unix time mapping, made of blocks (the initial data and each append)."""

    def __init__(self, count: int, t_lo: int, t_hi: int, clusters: bool):
        self.clusters = clusters
        # (blocks, block starts), replaced as one tuple so concurrent readers see a consistent pair.
        self._state: tuple[tuple[Block, ...], tuple[int, ...]] = ((Block(0, count, t_lo, t_hi),), (0,))
        self._lock = threading.Lock()
        self._floor = t_lo

    @property
    def blocks(self) -> tuple[Block, ...]:
        return self._state[0]

    @property
    def total(self) -> int:
        b = self._state[0][-1]
        return b.start + b.count

    def time(self, i: int) -> int:
        blocks, starts = self._state
        b = blocks[bisect.bisect_right(starts, i) - 1] if len(blocks) > 1 else blocks[0]
        k = i - b.start
        if self.clusters and (k // 200) % 29 == 3:
            k -= k % 200  # a blast: 200 records created in the same second
        elif k % 11 == 5:
            k -= 1  # a tie with the previous record
        if b.count <= 1:
            return b.t_hi
        return b.t_lo + (k * (b.t_hi - b.t_lo)) // (b.count - 1)

    def newest_time(self) -> int:
        total = self.total
        return self.time(total - 1) if total else self._floor

    def append(self, count: int, now: int) -> tuple[int, int]:
        """Add `count` records strictly newer than the current newest. Returns the new index range."""
        with self._lock:
            start = self.total
            t_lo = self.newest_time() + 1
            t_hi = max(now, t_lo)
            blocks = self.blocks + (Block(start, count, t_lo, t_hi),)
            self._state = (blocks, tuple(b.start for b in blocks))
            return start, start + count

    def append_tie(self, now: int) -> int:
        """Add one record at `now` (or at the newest time, if that is later: the order stays monotone; ties are
        allowed). Returns its index. Changes made one after another in the same second share that second."""
        with self._lock:
            start = self.total
            at = max(now, self.newest_time())
            blocks = self.blocks + (Block(start, 1, at, at),)
            self._state = (blocks, tuple(b.start for b in blocks))
            return start

    def first_at_or_after(self, ts: int) -> int:
        lo, hi = 0, self.total
        while lo < hi:
            mid = (lo + hi) // 2
            if self.time(mid) < ts:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def last_at_or_before(self, ts: int) -> int:
        """Highest index with time <= ts, or -1."""
        lo, hi = 0, self.total
        while lo < hi:
            mid = (lo + hi) // 2
            if self.time(mid) <= ts:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1


class Workspace:
    def __init__(self, settings: SandboxSettings):
        self.settings = settings
        self.seed = settings.seed
        self.anchor = int(settings.anchor if settings.anchor is not None else time.time())
        self._t0 = time.monotonic()
        self.people_count = max(0, settings.people)
        self.deleted_people_count = max(2, self.people_count // 25) if self.people_count else 0
        self.entities = Entities(settings)  # campaigns, newsletters, broadcasts, objects... (sandbox/entities.py)
        # GET /v1/workspaces: the first workspace is this one. Its people count is taken once, at the start, like
        # Customer.io's ("cached ... may be up to two hours old"): deletions during a session do not change it.
        self.entities.workspaces[0]["people"] = self.people_count
        self._campaigns = self.entities.campaigns()
        self._segments = catalog.segments(max(0, settings.segments))
        densities = catalog.segment_densities(len(self._segments), self.people_count, settings.membership)
        self._thresholds = {s["id"]: int(d * (1 << 64)) for s, d in zip(self._segments, densities, strict=True)}
        # QUIRK: a segment whose state is not "finished" is being rebuilt and answers a partial roster with a 200:
        # only the people up to its progress (half when progress is null) are members so far.
        self._built_upto = {s["id"]: self.people_count * (50 if s["progress"] is None else s["progress"]) // 100
                            for s in self._segments if s.get("state") != "finished"}
        self._deleted_segments: set[int] = set()
        # Changes made between runs through the admin API (nothing else is stored per record).
        self._gone_people: set[int] = set()  # live slots deleted since the start
        self._left_segments: set[tuple[int, int]] = set()  # (segment id, person slot) no longer a member
        self._attribute_changes: dict[int, dict[str, str | None]] = {}  # person slot -> name -> value (None: removed)
        self._activity_timestamps: dict[int, int] = {}  # activity index -> timestamp set by its sender's device
        self._created_people: set[int] = set()  # slots created since the start (after the deleted people's slots)
        self._next_slot = self.people_count + self.deleted_people_count
        # Profile activities the changes above logged: activity index -> (type, person slot, data).
        self._profile_activities: dict[int, tuple[str, int, dict]] = {}
        self._count_cache: dict[int, int] = {}
        self._lock = threading.Lock()
        self.messages = Timeline(
            max(0, settings.messages), self.anchor - settings.message_days * DAY, self.anchor - 60, clusters=True
        )
        self.activities = Timeline(
            max(0, settings.activities), self.anchor - settings.activity_days * DAY, self.anchor - 30, clusters=False
        )
        by_type: dict[str, list[tuple[int, int, bool]]] = {}
        for c in self._campaigns:
            for a in c["actions"]:
                by_type.setdefault(a["type"], []).append((c["id"], a["id"], c["type"] == "event"))
        self._actions_by_type = by_type
        self._msg_prefix = b"%d:m:" % self.seed
        # Identities are tiny and hot (every message and activity names a person); a bounded cache keeps them fast.
        self.identity = functools.lru_cache(maxsize=1 << 17)(self._identity)  # type: ignore[method-assign]

    # ------------------------------------------------------------------ time
    def now(self) -> int:
        """Sandbox clock: the anchor plus the time elapsed since the workspace was created."""
        return self.anchor + int(time.monotonic() - self._t0)

    # ------------------------------------------------------------------ catalogue
    def campaigns(self) -> list[dict]:
        return self.entities.campaigns()

    def segments(self) -> list[dict]:
        return [dict(s) for s in self._segments if s["id"] not in self._deleted_segments]

    def segment(self, segment_id: int) -> dict | None:
        for s in self._segments:
            if s["id"] == segment_id and segment_id not in self._deleted_segments:
                return dict(s)
        return None

    def delete_segment(self, segment_id: int) -> bool:
        with self._lock:
            known = any(s["id"] == segment_id for s in self._segments)
            if known:
                self._deleted_segments.add(segment_id)
            return known

    # ------------------------------------------------------------------ people
    def _identity(self, j: int) -> tuple[str, str | None, str | None]:
        """(cio_id, id, email) of person slot j (live people are 0..people-1, deleted people follow)."""
        h = digest(self.seed, "p", j)
        cio = f"a3{j + 1:06x}"
        kind = h[0]
        if kind < 13:
            pid = None
        elif kind < 140:
            pid = f"{j + 1:07d}"  # numeric-looking, with leading zeros
        else:
            pid = (
                f"{h[4:8].hex()}-{h[8:10].hex()}-4{h[10:12].hex()[1:]}-{0x80 | (h[12] & 0x3F):02x}{h[13]:02x}-"
                f"{j ^ _ID_MASK:012x}"
            )
        if h[1] < 13 and pid is not None:
            email = None
        else:
            first = catalog.FIRST_NAMES[h[2] % len(catalog.FIRST_NAMES)][1]
            last = catalog.LAST_NAMES[h[3] % len(catalog.LAST_NAMES)][1]
            domain = catalog.EMAIL_DOMAINS[h[14] % len(catalog.EMAIL_DOMAINS)]
            local = f"{first}.{last}" if h[15] % 4 else f"{first.capitalize()}.{last.capitalize()}+tag"
            email = f"{local}{j + 1}@{domain}"
        return cio, pid, email

    @property
    def slot_end(self) -> int:
        """One past the highest person slot that may be live (people created between runs come last)."""
        return self._next_slot if self._created_people else self.people_count

    def is_live(self, j: int) -> bool:
        return (0 <= j < self.people_count or j in self._created_people) and j not in self._gone_people

    def _log_profile(self, atype: str, j: int, data: dict) -> None:
        """Log a profile activity of person slot j now (the activity log is how a client learns who changed)."""
        i = self.activities.append_tie(self.now())
        self._profile_activities[i] = (atype, j, data)

    def create_person(self) -> str:
        """A new person (the next cio_id after every existing one); logs profile_create. Returns the cio_id."""
        with self._lock:
            j = self._next_slot
            self._next_slot += 1
            self._created_people.add(j)
            self._count_cache.clear()
            self._log_profile("profile_create", j, {})
        return self.identity(j)[0]

    def delete_person(self, cio_id: str) -> bool:
        """The person leaves the workspace: no longer searched, exported, in any segment or in the attributes answer.
        Logs profile_delete, which (like every activity of a deleted person) is listed only with deleted=true."""
        j = self.find_person(cio_id, "cio_id")
        if j is None:
            return False
        with self._lock:
            self._gone_people.add(j)
            self._count_cache.clear()
            self._log_profile("profile_delete", j, {})
        return True

    def merge_people(self, primary: str, secondary: str) -> bool:
        """Merge `secondary` into `primary` as Customer.io does (docs.customer.io, "Resolve duplicate people"): the
        primary inherits the attributes it lacks or has empty, the secondary is deleted. UNCERTAIN: what the
        profile_merge activity names is not documented; the sandbox logs one on each person and nothing in `data`
        (the secondary's is listed only with deleted=true, like every activity of a deleted person)."""
        p, s = self.find_person(primary, "cio_id"), self.find_person(secondary, "cio_id")
        if p is None or s is None or p == s:
            return False
        mine = self.person(p)["attributes"]
        inherited = {name: value for name, value in self.person(s)["attributes"].items()
                     if name not in ("cio_id", "id", "email") and value != "" and mine.get(name) in (None, "")}
        with self._lock:
            self._attribute_changes.setdefault(p, {}).update(inherited)
            self._gone_people.add(s)
            self._count_cache.clear()
            self._log_profile("profile_merge", s, {})
            self._log_profile("profile_merge", p, {})
        return True

    def leave_segment(self, segment_id: int, cio_id: str) -> bool:
        j = self.find_person(cio_id, "cio_id")
        if j is None or not self.is_member(segment_id, j):
            return False
        with self._lock:
            self._left_segments.add((segment_id, j))
            self._count_cache.clear()
        return True

    def change_attributes(self, cio_id: str, changes: dict[str, str | None]) -> bool:
        """Set attributes (a value) or remove them (None). The identifiers (cio_id, id, email) cannot change."""
        j = self.find_person(cio_id, "cio_id")
        if j is None:
            return False
        if set(changes) & {"cio_id", "id", "email"}:
            raise ValueError("the identifiers cio_id, id and email cannot be changed")
        before = self.person(j)["attributes"]
        with self._lock:
            self._attribute_changes.setdefault(j, {}).update(changes)
            self._count_cache.clear()
            for name, value in changes.items():  # one attribute_change per attribute, as the activity data shows
                if before.get(name) != value:
                    self._log_profile("attribute_change", j, {name: {"from": before.get(name) or "", "to": value or ""}})
        return True

    def find_person(self, value: str, id_type: str = "id") -> int | None:
        """Index of the live person whose `id_type` identifier equals `value` (None if none)."""
        j: int | None = None
        try:
            if id_type == "cio_id":
                raw = value.removeprefix("cio_")
                if len(raw) == 8 and raw.startswith("a3"):
                    j = int(raw, 16) - 0xA3000001
            elif id_type == "id":
                if len(value) == 7 and value.isdigit():
                    j = int(value) - 1
                elif len(value) == 36 and value.count("-") == 4:
                    j = int(value[-12:], 16) ^ _ID_MASK
            elif id_type == "email":
                local = value.rsplit("@", 1)[0]
                digits = len(local) - len(local.rstrip("0123456789"))
                if digits:
                    j = int(local[-digits:]) - 1
        except ValueError:
            return None
        if j is None or not self.is_live(j):
            return None
        cio, pid, email = self.identity(j)
        actual = {"cio_id": cio, "id": pid, "email": email}[id_type]
        if id_type == "cio_id":
            return j if actual == value.removeprefix("cio_") else None
        return j if actual == value else None

    def person(self, j: int) -> dict:
        """The full customer object of person slot j (the `customer` of the attributes endpoint), plus 'index'."""
        cio, pid, email = self.identity(j)
        h = digest(self.seed, "p", j)
        g = digest(self.seed, "pa", j, 48)
        first = catalog.FIRST_NAMES[h[2] % len(catalog.FIRST_NAMES)][0]
        last = catalog.LAST_NAMES[h[3] % len(catalog.LAST_NAMES)][0]
        created = 1500000000 + int.from_bytes(g[0:4], "big") % 220_000_000
        attrs: dict[str, str] = {"cio_id": cio, "created_at": str(created), "first_name": first}
        if pid is not None:
            attrs["id"] = pid
        if email is not None:
            attrs["email"] = email
        if g[4] < 200:
            attrs["First Name"] = first.upper() if g[4] % 3 == 0 else first
        attrs["name"] = f"{first} {last}"
        if g[5] < 180:
            attrs["Name"] = f"{last}, {first}"
        if g[6] < 230:
            attrs["plan"] = catalog.PLANS[g[7] % len(catalog.PLANS)]
        if g[8] < 150:
            attrs["město"] = catalog.CITIES[g[9] % len(catalog.CITIES)]
        if g[10] < 100:
            attrs["名前"] = catalog.JP_NAMES[g[11] % len(catalog.JP_NAMES)]
        if g[12] < 60:
            attrs[catalog.LONG_ATTRIBUTE] = f"{int.from_bytes(g[13:15], 'big') % 100000}.{g[15] % 100:02d}"
            if g[12] < 20:
                attrs[catalog.LONG_ATTRIBUTE_2] = f"{int.from_bytes(g[14:16], 'big') % 1000}"
        if g[16] < 120:
            attrs["note"] = catalog.NOTES[g[17] % len(catalog.NOTES)]
        if g[18] < 160:
            attrs["interest"] = catalog.INTERESTS[g[19] % len(catalog.INTERESTS)]
        if g[20] < 160:
            attrs["state"] = catalog.STATES[g[21] % len(catalog.STATES)]
        if g[22] < 200:
            attrs["source"] = catalog.SOURCES[g[23] % len(catalog.SOURCES)]
        if g[24] < 180:
            attrs["_last_emailed"] = str(created + int.from_bytes(g[25:28], "big") % 40_000_000)
        if g[28] < 100:
            topics = {f"topic_{t}": bool(g[29] >> t & 1) for t in range(1, 4)}
            attrs["cio_subscription_preferences"] = json.dumps({"topics": topics}, separators=(",", ":"))
        attrs["vip"] = "true" if g[30] < 40 else "false"
        if g[31] < 30:
            attrs["empty_value"] = ""
        if g[32] < 220:
            attrs["age"] = str(18 + g[33] % 60)
        if g[34] < 200:
            attrs["birthday"] = str(100000000 + int.from_bytes(g[35:38], "big") * 37 % 900_000_000)
        for name, value in self._attribute_changes.get(j, {}).items():
            if value is None:
                attrs.pop(name, None)
            else:
                attrs[name] = value
        attrs = dict(sorted(attrs.items()))
        timestamps = {
            k: (created if k in ("cio_id", "id", "created_at") else created + (g[38] * 7919) % 9_000_000) for k in attrs
        }
        devices = []
        for d in range(g[39] % 3):
            dh = digest(self.seed, f"pd{d}", j, 16)
            device: dict = {
                "id": dh.hex(),
                "last_used": created + int.from_bytes(dh[0:3], "big") * 13,
                "platform": "ios" if dh[4] & 1 else "android",
            }
            if dh[5] < 100:
                device["attributes"] = {"app_version": f"2.{dh[6] % 10}.{dh[7] % 20}", "device_locale": "cs-CZ"}
            devices.append(device)
        return {
            "attributes": attrs,
            "devices": devices,
            "id": pid,
            "identifiers": {"cio_id": cio, "email": email, "id": pid},
            "timestamps": timestamps,
            "unsubscribed": g[40] < 13,
            "index": j,
        }

    def is_unsubscribed(self, j: int) -> bool:
        """The person's `unsubscribed` flag (as in person(j)), without building the person."""
        return digest(self.seed, "pa", j, 48)[40] < 13

    def iter_people(self) -> Iterator[dict]:
        """All live (not deleted) people, in cio_id order. Each item is `person(j)`."""
        for j in range(self.slot_end):
            if self.is_live(j):
                yield self.person(j)

    def person_attributes(self, cio_id: str) -> dict | None:
        """The `customer` object the attributes endpoint returns for this cio_id (None if unknown/deleted)."""
        j = self.find_person(cio_id, "cio_id")
        if j is None:
            return None
        p = self.person(j)
        p.pop("index")
        return p

    # ------------------------------------------------------------------ segments
    def is_member(self, segment_id: int, j: int) -> bool:
        threshold = self._thresholds.get(segment_id, 0)
        if not threshold or segment_id in self._deleted_segments or not self.is_live(j):
            return False
        if (segment_id, j) in self._left_segments or j >= self._built_upto.get(segment_id, j + 1):
            return False
        return int.from_bytes(digest(self.seed, f"s{segment_id}", j, 8), "big") < threshold

    def segment_member_indices(self, segment_id: int) -> Iterator[int]:
        for j in range(self.slot_end):
            if self.is_member(segment_id, j):
                yield j

    def segment_member_ids(self, segment_id: int) -> list[str]:
        """cio_ids of the members, in membership-endpoint order."""
        return [self.identity(j)[0] for j in self.segment_member_indices(segment_id)]

    def segment_count(self, segment_id: int) -> int:
        cached = self._count_cache.get(segment_id)
        if cached is None:
            cached = sum(1 for _ in self.segment_member_indices(segment_id))
            self._count_cache[segment_id] = cached
        return cached

    def match_filter(self, filter: dict, person: dict | int) -> bool:
        """Evaluate a filter (the value of the `filter` key) against a person (dict from iter_people, or index)."""
        j = person if isinstance(person, int) else person["index"]
        predicate = compile_filter(filter, self)
        cache: list[dict] = []

        def attrs() -> dict:
            if not cache:
                cache.append(person["attributes"] if isinstance(person, dict) else self.person(j)["attributes"])
            return cache[0]

        return predicate(j, attrs)

    # ------------------------------------------------------------------ messages
    def message(self, i: int, tracked: bool = False) -> dict:
        h = blake2b(self._msg_prefix + b"%d" % i, digest_size=32).digest()
        created = self.messages.time(i)
        mtype = MSG_TYPES[h[0]]
        parent = MSG_PARENTS[h[1]]
        if self.people_count:
            cio, pid, email = self.identity(int.from_bytes(h[2:6], "big") % self.people_count)
        else:
            cio, pid, email = f"a3{i % 999 + 1:06x}", None, None
        campaign_id = newsletter_id = broadcast_id = action_id = content_id = None
        parent_action_id = trigger_event_id = transactional_id = None
        if parent == "campaign":
            options = self._actions_by_type.get(mtype)
            if options:
                campaign_id, action_id, event_triggered = options[h[6] % len(options)]
                if h[7] < 40:
                    parent_action_id = action_id - 1
                if event_triggered:
                    trigger_event_id = ulid(created * 1000, h[20:30])
            else:
                parent = "newsletter"
        if parent == "newsletter":
            nl = _NEWSLETTERS[h[6] % len(_NEWSLETTERS)]
            newsletter_id = nl["id"]
            content_id = nl["content_ids"][h[7] % len(nl["content_ids"])]
        elif parent == "broadcast":
            b = _BROADCASTS[h[6] % len(_BROADCASTS)]
            broadcast_id = b["id"]
            action_id = b["action_ids"][h[7] % len(b["action_ids"])]
        elif parent == "transactional":
            transactional_id = _TRANSACTIONAL[h[6] % len(_TRANSACTIONAL)]

        subject = None
        if mtype == "email":
            recipient = email
            subject = _SUBJECTS[h[16] % len(_SUBJECTS)]
            if "{" in subject:
                subject = subject.replace("{name}", cio).replace("{n}", str(i))
        elif mtype == "push":
            recipient = h[16:28].hex()
        elif mtype == "in_app":
            recipient = pid or cio
        elif mtype == "slack":
            recipient = "#alerts"
        elif mtype == "webhook":
            recipient = "https://hooks.example.com/in/" + h[16:20].hex()
        else:  # twilio, whatsapp
            recipient = f"+4206{int.from_bytes(h[16:20], 'big') % 100_000_000:08d}"

        failure = None
        if h[8] < 8:
            metrics: dict[str, int] = {"drafted": created}
            last = created
        else:
            last = sent = created + h[9] % 120
            if h[10] < 8 or (mtype == "email" and email is None):
                metrics = {"failed": sent}
                failure = FAILURES[0] if mtype == "email" and email is None else FAILURES[h[11] % len(FAILURES)]
            elif h[10] < 12:
                metrics = {"dropped": sent}
            else:
                metrics = {"sent": sent}
                delivered = opened = 0
                if mtype in DELIVERY_TYPES:
                    if mtype == "email" and h[13] < 5:
                        last = metrics["bounced"] = sent + 5
                    elif mtype == "push" and h[13] < 15:
                        last = metrics["undeliverable"] = sent + 3
                    elif h[11] < 235:
                        last = delivered = metrics["delivered"] = sent + h[12] % 60
                # Live, human_opened, human_clicked and prefetch_opened are unix seconds like the rest, and each
                # tracked link clicked adds link:<n> and (when counted as human) human_link:<n> (estuary/connectors
                # source-customer-io/bruno/Messages/bare.yml).
                if (delivered or mtype == "in_app") and h[14] < 110:
                    last = opened = metrics["opened"] = sent + 60 + int.from_bytes(h[14:17], "big") % (3 * DAY)
                    if mtype == "email" and h[15] < 90:
                        metrics["human_opened"] = opened + h[15] % 3
                        if h[17] < 60:
                            metrics["prefetch_opened"] = (delivered or sent) + 1
                    last = max(metrics.values())
                if opened and h[18] < 90:
                    last = clicked = metrics["clicked"] = opened + 5 + h[18]
                    human = h[18] < 50
                    if human:
                        metrics["human_clicked"] = clicked
                    links = [1 + h[28] % 40] + ([41 + h[29] % 40] if h[29] < 70 else [])
                    for n, link in enumerate(links):
                        metrics[f"link:{link}"] = clicked + 30 * n
                        if human:
                            metrics[f"human_link:{link}"] = clicked + 30 * n
                    last = max(metrics.values())
                    if h[19] < 60:
                        last = metrics["converted"] = opened + 3600 + h[19]
                if mtype == "email" and delivered and h[24] < 6:
                    metrics["unsubscribed"] = delivered + 100
                    if h[24] < 2:
                        metrics["spammed"] = delivered + 200
                    last = max(last, delivered + 200)
                if len(metrics) > 1:
                    metrics = dict(sorted(metrics.items()))
        forgotten = h[22] < 3
        if forgotten:
            recipient = None
            subject = None
        mid = urlsafe_b64encode(b"\x6a\x0d" + h[16:20] + i.to_bytes(8, "big") + h[20:32]).decode()
        msg: dict = {
            "action_id": action_id,
            "broadcast_id": broadcast_id,
            "campaign_id": campaign_id,
            "content_id": content_id,
            "created": created,
            "customer_id": pid,
            "customer_identifiers": {"cio_id": cio, "email": email, "id": pid},
            "deduplicate_id": f"{mid}:{last}",
            "failure_message": failure,
            "forgotten": forgotten,
            "id": mid,
            "metrics": metrics,
            "msg_template_id": action_id + h[23] % 3 if action_id else 0,
            "newsletter_id": newsletter_id,
            "parent_action_id": parent_action_id,
            "recipient": recipient,
            "subject": subject,
        }
        if tracked and mtype == "in_app" and h[25] < 128:
            msg["tracked_responses"] = {
                "how-satisfied": {"id": 1 + h[26] % 5, "ts": created + 70},
                "would-recommend": {"id": 1 + h[27] % 2, "ts": created + 75},
            }
        if transactional_id is not None:
            msg["transactional_message_id"] = transactional_id
        msg["trigger_event_id"] = trigger_event_id
        msg["type"] = mtype
        return msg

    @staticmethod
    def message_is_draft(msg: dict) -> bool:
        return "drafted" in msg["metrics"]

    def iter_messages(self, type: str | None = None, drafts: bool | None = False) -> Iterator[dict]:
        """Ground truth: all messages of any age, newest first (the API's default order, see message_order).

        drafts=False (default, like the API default) excludes drafts, True yields only drafts, None yields all.
        """
        for i in range(self.messages.total - 1, -1, -1):
            m = self.message(i)
            if type is not None and m["type"] != type:
                continue
            if drafts is not None and self.message_is_draft(m) != drafts:
                continue
            yield m

    def message_window(self, start_ts: int | None, end_ts: int | None, now: int | None = None) -> tuple[int, int]:
        """The 6-month rule of GET /v1/messages, literally (inclusive bounds). See README."""
        now = self.now() if now is None else now
        if start_ts is None and end_ts is None:
            return now - SIX_MONTHS, now
        if start_ts is None:
            return end_ts - SIX_MONTHS, end_ts
        if end_ts is None:
            # "we then set the end_ts to the current time and deliver 6 months of data prior to this timestamp"
            return now - SIX_MONTHS, now
        if start_ts < end_ts - SIX_MONTHS:
            return end_ts - SIX_MONTHS, end_ts
        return start_ts, end_ts

    # ------------------------------------------------------------------ activities
    def activity_head(self, i: int) -> tuple[bytes, str, int, bool]:
        """(hash, type, person slot, by a deleted person) without building the record."""
        h = digest(self.seed, "a", i)
        logged = self._profile_activities.get(i)
        if logged is not None:
            return h, logged[0], logged[1], not self.is_live(logged[1])
        atype = ACT_TYPES[h[0]]
        if atype.startswith("_o:"):
            return h, atype, -1, False
        if self.deleted_people_count and h[1] < 10:
            return h, atype, self.people_count + int.from_bytes(h[2:6], "big") % self.deleted_people_count, True
        j = int.from_bytes(h[2:6], "big") % self.people_count if self.people_count else -1
        return h, atype, j, j in self._gone_people  # a person deleted since: their activities are a deleted person's

    def activity(self, i: int) -> dict:
        h, atype, j, _deleted = self.activity_head(i)
        ts = self._activity_timestamps.get(i) or self.activities.time(i)
        # The id's time part counts from a fixed origin, not from today: a sandbox started again (the demo's second
        # run) gives the same activity the same id, as Customer.io does, so a re-read activity is not a new one.
        id_ms = (ts - self.anchor + ACTIVITY_ID_ORIGIN) * 1000 + int.from_bytes(h[6:8], "big") % 1000
        act_id = ulid(id_ms, h[8:13] + i.to_bytes(5, "big"))
        if j >= 0:
            cio, pid, email = self.identity(j)
            rec: dict = {"customer_id": pid, "customer_identifiers": {"cio_id": cio, "email": email, "id": pid}}
        else:
            rec = {"customer_id": None, "customer_identifiers": None}
        name = None
        url = None
        extra: dict = {}
        if atype.endswith("_email"):
            did = delivery_id(0x0E, i, h[10:26])
            data: dict = {"delivered": None, "delivery_id": did, "opened": None}
            if atype in ("delivered_email", "opened_email", "clicked_email"):
                data["delivered"] = ts - 30 - h[13] % 300
                data["opened"] = atype != "delivered_email"
            if atype == "clicked_email":
                data["href"] = catalog.PAGE_URLS[h[14] % len(catalog.PAGE_URLS)]
                data["link_id"] = 1 + h[15] % 9
            if h[16] < 40:
                del data["opened"]
            if h[17] < 30:
                data["action_id"] = 259 + h[17] % 3
            extra = {"delivery_id": did, "delivery_type": "email"}
        elif i in self._profile_activities:
            data = dict(self._profile_activities[i][2])
            if atype == "attribute_change":
                name = next(iter(data))
        elif atype == "attribute_change":
            name = ATTR_CHANGE_FIELDS[h[13] % len(ATTR_CHANGE_FIELDS)]
            change: dict = {"to": catalog.PLANS[h[14] % len(catalog.PLANS)] if name == "plan" else f"value-{h[15]}"}
            if h[16] >= 50:
                change = {"from": "" if h[16] < 80 else f"old-{h[17]}", **change}
            data = {name: change}
        elif atype == "event":
            name = catalog.EVENT_NAMES[h[13] % len(catalog.EVENT_NAMES)]
            data = self._event_data(name, h, i)
        elif atype == "page":
            url = catalog.PAGE_URLS[h[13] % len(catalog.PAGE_URLS)]
            name = url
            data = {"referrer": "https://www.google.com/", "title": 'Pricing, plans & "more"'} if h[14] < 150 else {}
        elif atype == "screen":
            name = catalog.SCREEN_NAMES[h[13] % len(catalog.SCREEN_NAMES)]
            data = {"duration_ms": h[14] * 37} if h[14] < 128 else {}
        else:  # object create
            obj = f"acct_{int.from_bytes(h[13:16], 'big') % 5000:04d}"
            name = obj
            data = {
                "object_id": obj,
                "object_type_id": "1",
                "attributes": {"name": f"Account {obj}", "tier": ["gold", "silver"][h[16] & 1]},
            }
            if h[17] < 60:
                data["attributes"]["domains"] = ["example.com", "example.cz"]
        rec["data"] = data
        rec.update(extra)
        rec["id"] = act_id
        rec["name"] = name
        rec["timestamp"] = ts
        rec["type"] = atype
        if url is not None:
            rec["url"] = url
        return rec

    @staticmethod
    def _event_data(name: str, h: bytes, i: int) -> dict:
        if name == "purchase":
            data: dict = {
                "order_id": f"ORD-{i:07d}",
                "total": round((h[20] * 257 + h[21]) / 100, 2),
                "currency": "CZK" if h[22] & 1 else "EUR",
                "items": [
                    {"sku": f"SKU-{h[23] + k}", "qty": 1 + k, "price": 9.9 * (k + 1)} for k in range(h[24] % 3 + 1)
                ],
                "shipping": {"address": {"city": catalog.CITIES[h[25] % len(catalog.CITIES)], "zip": "110 00"}},
            }
            if h[26] < 80:
                data["coupon"] = "SPRING,10"
            if h[27] < 50:
                data["note"] = 'Ring twice, "front" door\nthanks'
            return data
        if name == "signup":
            data = {"source": catalog.SOURCES[h[20] % len(catalog.SOURCES)]}
            if h[21] < 150:
                data["utm"] = {"campaign": "spring", "medium": "email", "content": None}
            return data
        if name == "viewed_product":
            data = {"product_id": h[20] * 11, "tags": ["shoes", "sale"][: 1 + h[21] % 2], "price (CZK)": h[22] * 3}
            if h[23] < 100:  # [S] a flat key and a nested one that flatten to the same column (product_id)
                data["product"] = {"id": h[20] * 11 + 1, "name": f"Shoe {h[24]}"}
            if h[25] < 60:  # [S] a null object
                data["variant"] = None
            return data
        if name == "Added to Cart":
            return {} if h[20] < 128 else {"cart": {"items": [], "value": 0}}
        if name == "app.opened":
            return {"app": {"version": "2.3.1", "build": h[20]}, "first_open": bool(h[21] & 1)}
        return {"pole": "hodnota", "seznam": [1, 2, 3]}

    def iter_activities(self, type: str | None = None, deleted: bool = False) -> Iterator[dict]:
        """Ground truth: activities within the 30-day retention (what the API returns), newest first.

        deleted=False excludes deleted people's activities (the API default); True includes them.
        """
        lo = self.now() - RETENTION
        first = self.activities.first_at_or_after(lo)
        for i in range(self.activities.total - 1, first - 1, -1):
            _h, atype, _j, by_deleted = self.activity_head(i)
            if type is not None and atype != type:
                continue
            if by_deleted and not deleted:
                continue
            yield self.activity(i)

    # ------------------------------------------------------------------ growth
    def append(self, dataset: str, count: int, now: int | None = None) -> tuple[int, int]:
        """Add `count` records newer than everything so far (spread up to now). Returns the new index range."""
        if count < 0:
            raise ValueError("count must be >= 0")
        now = self.now() if now is None else now
        if dataset == "messages":
            return self.messages.append(count, now)
        if dataset == "activities":
            return self.activities.append(count, now)
        raise ValueError(f"cannot append to {dataset!r}; use 'messages' or 'activities'")

    def append_future_activities(self, count: int, seconds_ahead: int, now: int | None = None) -> tuple[int, int]:
        """Add `count` activities that reach Customer.io now but carry a `timestamp` `seconds_ahead` in the future
        (event, page and screen timestamps come from the sender's device, whose clock may be wrong)."""
        if seconds_ahead <= 0:
            raise ValueError("seconds_ahead must be > 0")
        now = self.now() if now is None else now
        first, end = self.activities.append(count, now)
        with self._lock:
            for i in range(first, end):
                self._activity_timestamps[i] = now + seconds_ahead
        return first, end
