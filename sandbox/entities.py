"""The sandbox's catalogue: a deterministic entity model sized by SandboxSettings.

The hand-written campaigns, newsletters, broadcasts and transactional messages of catalog.py come first (messages
already reference their ids); generated ones follow, up to the sizes the settings ask for. Everything is derived
from (seed, index) with fixed timestamps, so the same settings always give the same bodies.

Plain functions for other modules (metrics, tests, benchmark):

    e = Entities(settings)
    e.campaign_ids() -> [int];  e.campaign_action_ids(cid) -> [int];  e.campaign(cid) / e.campaign_action(cid, aid)
    e.newsletter_ids();  e.newsletter_content_ids(nid);  e.newsletter_test_groups(nid) -> [dict]
    e.broadcast_ids();  e.broadcast_action_ids(bid);  e.broadcast_triggers(bid) -> [dict]
    e.transactional_ids();  e.transactional_content_ids(tid)
    e.object_type_ids() -> ["1", ...];  e.object_ids(type_id) -> [str];  e.object_relationships(type_id, oid)
    e.delete(kind, id[, listed=True]) / e.is_deleted(kind, id)   (kind: campaign, newsletter, broadcast, transactional, object)
"""

from __future__ import annotations

import copy
import threading

from . import catalog, design_studio
from .util import digest

ACTION_PAGE_SIZE = 10  # GET /v1/campaigns/{id}/actions: fixed page size (maxItems 10), no limit parameter
SUPPRESSION_TYPES = ("bounces", "blocks", "spam_reports", "invalid_emails")
# The userinfo part of these reporting webhook URLs must never reach the extractor's output or logs.
WEBHOOK_CREDENTIALS = ("hook-user:Sup3r-S3cret-Hook@", "ingest-bot:tok_9f8e7d6c5b4a@")
KINDS = ("campaign", "newsletter", "broadcast", "transactional", "object")

_T0 = 1_690_000_000  # generated entities get fixed timestamps from here on
_CHANNELS = ("email", "email", "email", "push", "twilio", "webhook", "in_app", "whatsapp", "slack")
_LANGUAGES = ("", "fr", "de", "cs", "es")


def _deduplicate(record: dict, updated_key: str = "updated") -> None:
    record["deduplicate_id"] = f"{record['id']}:{record[updated_key]}"


def message_template(kind: str, ident: int, channel: str, created: int, language: str = "", name: str = "") -> dict:
    """One action / content in the shape of its channel (App API reference, campaign actions: email, SMS, WhatsApp, webhook)."""
    base = {"id": ident, "name": name or f"{channel.title()} message {ident}", "type": channel, "created": created,
            "updated": created + 3600, "sending_state": "automatic" if ident % 5 else "draft", "language": language,
            "layout": "", "headers": "[]"}
    if channel == "webhook":
        base.update({"method": "post", "url": f"https://hooks.example.com/{kind}/{ident}",
                     "body": '{"customer":"{{customer.id}}"}'})
    elif channel == "twilio":
        base.update({"body": f"Hi {{{{customer.first_name}}}}, code {ident}", "image_url": None, "recipient": "",
                     "from_id": 7, "from": "+15550001111"})
    elif channel == "whatsapp":
        base.update({"body": '{"template":"welcome","language":"en"}', "body_json": {"template": "welcome"},
                     "sender_identity_id": 9, "send_to_unsubscribed": False, "tracked": True})
    else:
        subject = catalog.SUBJECTS[ident % len(catalog.SUBJECTS)]
        base.update({"subject": subject, "body": f"<p>{subject}</p>\n<p>Message {ident}, line two, \"quoted\"</p>",
                     "body_amp": "", "preheader_text": "", "from": "news@example.com", "from_id": 1,
                     "reply_to": "support@example.com", "reply_to_id": 38 if ident % 2 else None,
                     "recipient": "{{customer.email}}", "bcc": "", "cc": "", "fake_bcc": False,
                     "headers": '[{"name":"X-Mailgun-Tag","value":"sandbox"}]', "preprocessor": "premailer"})
    base["deduplicate_id"] = f"{ident}:{base['updated']}"
    return base


class Entities:
    """Campaigns, newsletters, broadcasts, transactional messages, objects and workspace lists of one sandbox."""

    def __init__(self, settings) -> None:
        self.seed = settings.seed
        self._deleted: set[tuple[str, object]] = set()
        self._still_listed: set[tuple[str, object]] = set()  # deleted, yet in their lists (see delete)
        self._lock = threading.Lock()
        self._build_campaigns(settings.campaigns, settings.actions_per_campaign)
        self._build_newsletters(settings.newsletters, settings.contents_per_newsletter)
        self._build_broadcasts(settings.broadcasts)
        self._build_transactional(settings.transactional)
        self._build_objects(settings.object_types, settings.objects_per_type, settings.relationships_per_object,
                            settings.people)
        self.sender_identities = self._senders(settings.sender_identities)
        self.subscription_topics = copy.deepcopy(list(SUBSCRIPTION_TOPICS))
        self.subscription_channels = copy.deepcopy(list(SUBSCRIPTION_CHANNELS))
        self.design_studio = design_studio.build(settings.design_studio_emails, settings.design_studio_components)
        self.workspaces = copy.deepcopy(list(WORKSPACES))
        # The first workspace is this one: its objects and object types are counted, as Customer.io counts them.
        self.workspaces[0].update(objects=sum(map(len, self._objects.values())), object_types=len(self.object_types))
        self.reporting_webhooks = copy.deepcopy(list(REPORTING_WEBHOOKS))
        self.snippets = copy.deepcopy(list(SNIPPETS))
        self.collections = copy.deepcopy(list(COLLECTIONS))
        self.suppressions = {kind: self._suppressions(kind, n) for kind, n in zip(
            SUPPRESSION_TYPES, _suppression_counts(settings.suppressions), strict=True)}

    # ---------------------------------------------------------------------------------------------- deletion
    def delete(self, kind: str, ident: object, *, listed: bool = False) -> bool:
        """Delete an entity mid-run (admin API): its list entry goes and its per-id endpoints answer 404.

        ``listed``: it stays in its list, as for a reader that listed it just before it was deleted (the normal
        race of a parent-iterating read: estuary/connectors source-customer-io/bruno/Child Entities/missing parent
        404.yml). Every run then meets a listed parent whose children answer 404, with no timing to arrange."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
        known = {
            "campaign": self._campaigns, "newsletter": self._newsletters, "broadcast": self._broadcasts,
            "transactional": self._transactional,
        }
        if kind == "object":
            type_id, _, oid = str(ident).partition("/")
            exists = oid in self._objects.get(type_id, {})
        else:
            exists = int(ident) in known[kind]
            ident = int(ident)
        if exists:
            with self._lock:
                self._deleted.add((kind, ident))
                if listed:
                    self._still_listed.add((kind, ident))
        return exists

    def is_deleted(self, kind: str, ident: object) -> bool:
        return (kind, ident) in self._deleted

    def _unlisted(self, kind: str, ident: object) -> bool:
        return (kind, ident) in self._deleted and (kind, ident) not in self._still_listed

    # ---------------------------------------------------------------------------------------------- campaigns
    def _build_campaigns(self, count: int, per_campaign: int) -> None:
        self._campaigns: dict[int, dict] = {}
        self._campaign_actions: dict[int, list[dict]] = {}
        for c in catalog.CAMPAIGNS[: max(0, count)]:
            campaign = copy.deepcopy(c)
            self._campaigns[campaign["id"]] = campaign
            self._campaign_actions[campaign["id"]] = [
                self._campaign_action(campaign, a["id"], a["type"], n) for n, a in enumerate(campaign["actions"])]
        for k in range(max(0, count - len(catalog.CAMPAIGNS))):
            cid = 1000 + k
            created = _T0 + 3600 * k
            first_action = 100_000 + k * max(1, per_campaign)
            actions = [{"id": first_action + n, "type": _CHANNELS[(k + n) % len(_CHANNELS)]}
                       for n in range(per_campaign)]
            campaign = {"id": cid, "name": f"Generated campaign {k + 1}", "description": f"Bulk campaign {k + 1}",
                        "created": created, "updated": created + 86400, "active": k % 4 != 3,
                        "state": ("running", "running", "draft", "stopped")[k % 4], "actions": actions,
                        "first_started": created + 60 if k % 4 != 2 else None, "tags": [f"bulk-{k % 3}"],
                        "filter_segment_ids": [3] if k % 2 else [], "trigger_segment_ids": [12] if k % 3 == 0 else [],
                        "type": "segment", "created_by": "bulk@example.com"}
            _deduplicate(campaign)
            self._campaigns[cid] = campaign
            self._campaign_actions[cid] = [self._campaign_action(campaign, a["id"], a["type"], n)
                                           for n, a in enumerate(actions)]

    def _campaign_action(self, campaign: dict, action_id: int, channel: str, position: int) -> dict:
        language = _LANGUAGES[position % 2] if channel == "email" else ""
        action = message_template("campaign", action_id, channel, campaign["created"] + 60 * position, language,
                                  f"{campaign['name']} — step {position + 1}")
        return {"campaign_id": campaign["id"], "broadcast_id": None,
                "parent_action_id": action_id - 1 if position else None, **action}

    def campaigns(self) -> list[dict]:
        return [copy.deepcopy(c) for cid, c in self._campaigns.items() if not self._unlisted("campaign", cid)]

    def campaign_ids(self) -> list[int]:
        return [cid for cid in self._campaigns if not self._unlisted("campaign", cid)]

    def campaign(self, cid: int) -> dict | None:
        if cid not in self._campaigns or self.is_deleted("campaign", cid):
            return None
        return copy.deepcopy(self._campaigns[cid])

    def campaign_actions(self, cid: int) -> list[dict] | None:
        if self.campaign(cid) is None:
            return None
        return copy.deepcopy(self._campaign_actions[cid])

    def campaign_action_ids(self, cid: int) -> list[int]:
        return [a["id"] for a in self._campaign_actions.get(cid, [])]

    def campaign_action(self, cid: int, aid: int) -> dict | None:
        for action in self.campaign_actions(cid) or []:
            if action["id"] == aid:
                return action
        return None

    # ---------------------------------------------------------------------------------------------- newsletters
    def _build_newsletters(self, count: int, per_newsletter: int) -> None:
        self._newsletters: dict[int, dict] = {}
        self._contents: dict[int, list[dict]] = {}
        self._test_groups: dict[int, list[dict]] = {}
        specs = [(n["id"], list(n["content_ids"])) for n in catalog.NEWSLETTERS[: max(0, count)]]
        for k in range(max(0, count - len(catalog.NEWSLETTERS))):
            first = 300_000 + k * max(1, per_newsletter)
            specs.append((140_000 + 7 * k, [first + n for n in range(per_newsletter)]))
        for k, (nid, content_ids) in enumerate(specs):
            created = _T0 + 7200 * k
            channel = "push" if k % 6 == 5 else "email"
            ab_test = len(content_ids) >= 2 and k % 2 == 0
            newsletter = {"id": nid, "name": f"Newsletter {k + 1}" if k >= len(catalog.NEWSLETTERS)
                          else ("Weekly Product Update", "Akce týdne — sleva 20 %", "Spring launch")[k],
                          "type": channel, "created": created, "updated": created + 600,
                          "sent_at": created + 900 if k % 5 != 4 else None, "content_ids": content_ids,
                          "recipient_segment_ids": [3, 7][: 1 + k % 2] if k % 3 else [], "tags": [f"news-{k % 4}"],
                          "subscription_topic_id": 1 + k % 3}
            _deduplicate(newsletter)
            self._newsletters[nid] = newsletter
            contents = []
            for n, cid in enumerate(content_ids):
                language = "" if ab_test else _LANGUAGES[n % len(_LANGUAGES)]
                content = message_template("newsletter", cid, channel, created, language,
                                           f"{newsletter['name']} variant {chr(65 + n)}" if ab_test else newsletter["name"])
                for key in ("created", "updated", "sending_state"):  # the contents schema has no created/updated
                    content.pop(key)
                content["deduplicate_id"] = f"{cid}:{created}"
                contents.append({"newsletter_id": nid, **content})
            self._contents[nid] = contents
            groups = []
            if ab_test:  # group ids restart per newsletter and step by 2 (reference example: 0, 2)
                half = (len(content_ids) + 1) // 2
                for g, ids in enumerate((content_ids[:half], content_ids[half:])):
                    if ids:
                        groups.append({"id": 2 * g, "name": chr(65 + g), "label": f"test {g + 1}",
                                       "winner": g == 0 and newsletter["sent_at"] is not None, "content_ids": ids})
            self._test_groups[nid] = groups

    def newsletters(self) -> list[dict]:
        return [copy.deepcopy(n) for nid, n in self._newsletters.items() if not self._unlisted("newsletter", nid)]

    def newsletter_ids(self) -> list[int]:
        return [nid for nid in self._newsletters if not self._unlisted("newsletter", nid)]

    def newsletter(self, nid: int) -> dict | None:
        if nid not in self._newsletters or self.is_deleted("newsletter", nid):
            return None
        return copy.deepcopy(self._newsletters[nid])

    def newsletter_contents(self, nid: int) -> list[dict] | None:
        return copy.deepcopy(self._contents[nid]) if self.newsletter(nid) is not None else None

    def newsletter_content_ids(self, nid: int) -> list[int]:
        return [c["id"] for c in self._contents.get(nid, [])]

    def newsletter_test_groups(self, nid: int) -> list[dict] | None:
        return copy.deepcopy(self._test_groups[nid]) if self.newsletter(nid) is not None else None

    # ---------------------------------------------------------------------------------------------- broadcasts
    def _build_broadcasts(self, count: int) -> None:
        self._broadcasts: dict[int, dict] = {}
        self._broadcast_actions: dict[int, list[dict]] = {}
        self._triggers: dict[int, list[dict]] = {}
        specs = [(b["id"], list(b["action_ids"])) for b in catalog.BROADCASTS[: max(0, count)]]
        for k in range(max(0, count - len(catalog.BROADCASTS))):
            specs.append((100 + k, [500_000 + 2 * k, 500_000 + 2 * k + 1][: 1 + k % 2]))
        trigger_id = 1
        for k, (bid, action_ids) in enumerate(specs):
            created = _T0 + 5400 * k
            channels = [_CHANNELS[(k + n) % len(_CHANNELS)] for n in range(len(action_ids))]
            summary = [{"id": aid, "type": ch} for aid, ch in zip(action_ids, channels, strict=True)]
            broadcast = {"id": bid, "name": f"API broadcast {k + 1}", "type": "triggered_broadcast",
                         "state": "running" if k % 3 else "draft", "active": bool(k % 3), "created": created,
                         "updated": created + 120, "first_started": created + 60, "tags": [f"api-{k % 2}"],
                         "actions": summary, "msg_template_ids": action_ids, "created_by": "ExamplePerson"}
            if k == 1:
                # QUIRK (spec example): tags as the string "nil" and action entries missing id or type.
                broadcast["tags"] = "nil"
                broadcast["actions"] = [*summary, {"type": "webhook"}]
            _deduplicate(broadcast)
            self._broadcasts[bid] = broadcast
            self._broadcast_actions[bid] = [
                {"broadcast_id": bid, **message_template("broadcast", aid, ch, created)}
                for aid, ch in zip(action_ids, channels, strict=True)]
            triggers = []
            for t in range((k + 2) % 3):
                triggers.append({"id": trigger_id, "broadcast_id": bid, "created_at": created + 86400 * (t + 1),
                                 "processed_at": created + 86400 * (t + 1) + 3 + t,
                                 "error_count": (trigger_id * 7) % 12})
                trigger_id += 1
            self._triggers[bid] = triggers

    def broadcasts(self) -> list[dict]:
        return [copy.deepcopy(b) for bid, b in self._broadcasts.items() if not self._unlisted("broadcast", bid)]

    def broadcast_ids(self) -> list[int]:
        return [bid for bid in self._broadcasts if not self._unlisted("broadcast", bid)]

    def broadcast(self, bid: int) -> dict | None:
        if bid not in self._broadcasts or self.is_deleted("broadcast", bid):
            return None
        return copy.deepcopy(self._broadcasts[bid])

    def broadcast_actions(self, bid: int) -> list[dict] | None:
        return copy.deepcopy(self._broadcast_actions[bid]) if self.broadcast(bid) is not None else None

    def broadcast_action_ids(self, bid: int) -> list[int]:
        return [a["id"] for a in self._broadcast_actions.get(bid, [])]

    def broadcast_triggers(self, bid: int) -> list[dict] | None:
        """Triggers as the API answers them (without the sandbox-only error count)."""
        if self.broadcast(bid) is None:
            return None
        return [{k: v for k, v in t.items() if k != "error_count"} for t in self._triggers[bid]]

    def trigger_errors(self, bid: int, trigger_id: int) -> list[str] | None:
        for t in self._triggers.get(bid, []) if self.broadcast(bid) is not None else []:
            if t["id"] == trigger_id:
                return [f"line {2 + 3 * n}: {('customer_id is required', 'unknown identifier')[n % 2]}"
                        for n in range(t["error_count"])]
        return None

    # ---------------------------------------------------------------------------------------------- transactional
    def _build_transactional(self, count: int) -> None:
        self._transactional: dict[int, dict] = {}
        self._transactional_contents: dict[int, list[dict]] = {}
        ids = list(catalog.TRANSACTIONAL_IDS[: max(0, count)])
        ids += [200 + k for k in range(max(0, count - len(catalog.TRANSACTIONAL_IDS)))]
        for k, tid in enumerate(ids):
            created = _T0 + 4000 * k
            self._transactional[tid] = {
                "id": tid, "name": ("password reset", "order receipt")[k] if k < 2 else f"Transactional {k + 1}",
                "description": f"Transactional message {tid}, sent through the API.",
                "send_to_unsubscribed": k % 2 == 0, "link_tracking": True, "open_tracking": k % 3 != 0,
                "hide_message_body": k % 4 == 3, "queue_drafts": False, "created_at": created,
                "updated_at": created + 300}
            languages = ("", "fr") if k % 2 == 0 else ("",)
            contents = []
            for n, language in enumerate(languages):
                content = message_template("transactional", 700_000 + 2 * k + n, "email" if k % 5 else "push",
                                           created, language, f"Transactional {tid} ({language or 'default'})")
                content.pop("sending_state")
                content.pop("deduplicate_id")
                contents.append(content)
            self._transactional_contents[tid] = contents

    def transactional(self) -> list[dict]:
        return [copy.deepcopy(t) for tid, t in self._transactional.items()
                if not self._unlisted("transactional", tid)]

    def transactional_ids(self) -> list[int]:
        return [tid for tid in self._transactional if not self._unlisted("transactional", tid)]

    def transactional_contents(self, tid: int) -> list[dict] | None:
        if tid not in self._transactional or self.is_deleted("transactional", tid):
            return None
        return copy.deepcopy(self._transactional_contents[tid])

    def transactional_content_ids(self, tid: int) -> list[int]:
        return [c["id"] for c in self._transactional_contents.get(tid, [])]

    # ---------------------------------------------------------------------------------------------- objects
    def _build_objects(self, types: int, per_type: int, relationships: int, people: int) -> None:
        names = [("Accounts", "Account", "building"), ("Concerts", "Concert", "calendar"),
                 ("Courses", "Course", "book"), ("Stores", "Store", "shop")]
        self.object_types: list[dict] = []
        self._objects: dict[str, dict[str, dict]] = {}
        self._relationships: dict[tuple[str, str], list[int]] = {}
        for t in range(max(0, types)):
            name, singular, icon = names[t % len(names)]
            if t >= len(names):
                name, singular = f"{name} {t + 1}", f"{singular} {t + 1}"
            type_id = str(t + 1)  # QUIRK: object type ids are strings
            self.object_types.append({"id": type_id, "name": name, "singular_name": singular,
                                      "slug": name.lower().replace(" ", "-"),
                                      "singular_slug": singular.lower().replace(" ", "-"), "icon": icon,
                                      "enabled": t != 3})
            objects: dict[str, dict] = {}
            for n in range(max(0, per_type)):
                oid = f"{singular.lower().split()[0]}-{t + 1}-{n + 1:04d}"
                h = digest(self.seed, f"object:{type_id}", n)
                attributes = {"name": f"{singular} {n + 1}", "plan": catalog.PLANS[h[0] % len(catalog.PLANS)],
                              "seats": h[1] % 200, "city": catalog.CITIES[h[2] % len(catalog.CITIES)]}
                if h[3] % 3 == 0:
                    attributes["tier"] = ("gold", "silver")[h[4] % 2]
                if h[5] % 4 == 0:
                    attributes["tags"] = ["b2b", "priority"][: 1 + h[6] % 2]
                stamp = _T0 + 600 * n
                objects[oid] = {"attributes": attributes,
                                "identifiers": {"object_id": oid, "cio_object_id": f"ob{t + 1:02x}{n + 1:06x}"},
                                "object_type_id": type_id, "timestamps": dict.fromkeys(attributes, stamp)}
                count = (n * 5) % (4 * relationships + 1)
                self._relationships[(type_id, oid)] = [
                    (n * 31 + 7 * r) % people for r in range(count)] if people else []
            self._objects[type_id] = objects

    def object_type_ids(self) -> list[str]:
        return [t["id"] for t in self.object_types]

    def object_ids(self, type_id: str) -> list[str]:
        return [oid for oid in self._objects.get(type_id, {}) if not self._unlisted("object", f"{type_id}/{oid}")]

    def object(self, type_id: str, oid: str) -> dict | None:
        if oid not in self._objects.get(type_id, {}) or self.is_deleted("object", f"{type_id}/{oid}"):
            return None
        return copy.deepcopy(self._objects[type_id][oid])

    def listed_object(self, type_id: str, oid: str) -> dict | None:
        """The object as its list (objects search) shows it: a deleted one still listed (see delete) too."""
        if oid not in self._objects.get(type_id, {}) or self._unlisted("object", f"{type_id}/{oid}"):
            return None
        return copy.deepcopy(self._objects[type_id][oid])

    def object_relationships(self, type_id: str, oid: str) -> list[int] | None:
        """Person indices related to the object (sorted, unique), None when the object does not exist."""
        if self.object(type_id, oid) is None:
            return None
        return sorted(set(self._relationships[(type_id, oid)]))

    # ---------------------------------------------------------------------------------------------- workspace lists
    def _senders(self, count: int) -> list[dict]:
        out = []
        for n in range(max(0, count)):
            sid = 4534 + 11 * n
            phone = n % 4 == 3
            name = ("Cher Ami", "Podpora", "Newsletter", "SMS sender", "Billing")[n % 5]
            email = f"sender{n + 1}@example.com"
            out.append({"id": sid, "name": name, "email": None if phone else email,
                        "address": None if phone else f"{name} <{email}>",
                        "phone": f"+1555000{n:04d}" if phone else None, "template_type": "phone" if phone else "email",
                        "auto_generated": n == 0, "hidden": n % 3 == 2, "deduplicate_id": f"{sid}:{_T0 + n}"})
        return out

    def _suppressions(self, kind: str, count: int) -> list[dict]:
        reasons = {"bounces": "550 5.1.1 User unknown", "blocks": "554 blocked by policy",
                   "spam_reports": "Marked as spam", "invalid_emails": "Invalid address"}
        out = []
        for n in range(count):
            domain = catalog.EMAIL_DOMAINS[n % len(catalog.EMAIL_DOMAINS)]
            out.append({"email": f"{kind[:5]}.{n + 1:05d}@{domain}", "created": _T0 + 37 * n,
                        "reason": reasons[kind] if n % 7 else "Uploaded manually via api.customer.io",
                        "status": "550" if kind == "bounces" else "554"})
        return out

    def segment_usage(self, segment_id: int) -> dict:
        """Which campaigns and newsletters use a segment (GET /v1/segments/{id}/used_by)."""
        campaigns = sorted(c["id"] for c in self.campaigns()
                           if segment_id in (c.get("filter_segment_ids") or []) + (c.get("trigger_segment_ids") or []))
        sent, draft = [], []
        for n in self.newsletters():
            if segment_id in n["recipient_segment_ids"]:
                (sent if n["sent_at"] is not None else draft).append(n["id"])
        return {"campaigns": campaigns, "sent_newsletters": sorted(sent), "draft_newsletters": sorted(draft)}


SUBSCRIPTION_TOPICS: tuple[dict, ...] = (
    {"id": 1, "identifier": "topic_1", "name": "Product Updates",
     "description": "For people who want updates on product releases.", "subscribed_by_default": False},
    {"id": 2, "identifier": "topic_2", "name": "Novinky a akce", "description": "Týdenní přehled, slevy",
     "subscribed_by_default": True},
    {"id": 3, "identifier": "topic_3", "name": "Events, \"meetups\"", "description": "Line one\nLine two",
     "subscribed_by_default": False},
)
SUBSCRIPTION_CHANNELS: tuple[dict, ...] = (
    {"id": 1, "name": "Email", "description": "", "subscribed_by_default": True, "type": "email"},
    {"id": 2, "name": "SMS", "description": "Text messages", "subscribed_by_default": False, "type": "twilio"},
)
WORKSPACES: tuple[dict, ...] = (
    {"id": 130001, "name": "Production", "messages_sent": 100202, "billable_messages_sent": 75124,
     "people": 25666, "objects": 10, "object_types": 2},
    {"id": 130002, "name": "Staging — test", "messages_sent": 12, "billable_messages_sent": 0, "people": 40,
     "objects": 0, "object_types": 0},
)
REPORTING_WEBHOOKS: tuple[dict, ...] = (
    {"id": 4, "name": "my cool webhook", "endpoint": f"https://{WEBHOOK_CREDENTIALS[0]}hooks.example.com/cio?src=x",
     "events": ["email_failed", "webhook_failed"], "disabled": False, "full_resolution": True,
     "with_content": False, "type": "webhook"},
    {"id": 5, "name": "warehouse", "endpoint": "https://ingest.example.com/customerio",
     "events": ["email_sent", "email_opened", "customer_unsubscribed"], "disabled": True,
     "full_resolution": False, "with_content": True, "type": "webhook"},
    {"id": 9, "name": "bot", "endpoint": f"http://{WEBHOOK_CREDENTIALS[1]}10.0.0.5:8080/in",
     "events": ["push_sent"], "disabled": False, "full_resolution": False, "with_content": False, "type": "js"},
)
SNIPPETS: tuple[dict, ...] = (
    {"name": "address", "value": "<strong>My Company</strong></br>1234 Fake St<br/>Fake,NY<br/>10111",
     "updated_at": 1582500000},
    {"name": "footer_cs", "value": "Odhlásit se: {{ unsubscribe_url }}", "updated_at": 1690000000},
    {"name": "signature", "value": "Line one\nLine \"two\", with comma", "updated_at": 1700000000},
)
COLLECTIONS: tuple[dict, ...] = (
    {"id": 1, "name": "upcoming events", "bytes": 296, "rows": 2, "schema": ["eventDate", "eventName", "presents"],
     "created_at": 1552341937, "updated_at": 1552341937},
    {"id": 2, "name": "store locations", "bytes": 1024, "rows": 14, "schema": ["city", "address"],
     "created_at": 1690000000, "updated_at": 1700000000},
)


def _suppression_counts(total: int) -> tuple[int, int, int, int]:
    # QUIRK: invalid_emails is an empty list; the others shrink so paging is exercised on bounces only.
    return total, total // 3, total // 7, 0
