"""Fixed (not time-anchored) catalogue data: campaigns, segments, newsletters, broadcasts, vocabularies.

Campaigns and segments carry fixed timestamps so their output is byte-stable across days.
"""

from __future__ import annotations

import copy
import json

CAMPAIGNS: list[dict] = [
    {
        "id": 5,
        "deduplicate_id": "5:1701234567",
        "name": "Welcome series — onboarding",
        "description": "Sends a welcome series to new trial signups.",
        "created": 1552341937,
        "updated": 1701234567,
        "active": True,
        "state": "running",
        "actions": [{"id": 259, "type": "email"}, {"id": 260, "type": "email"}, {"id": 261, "type": "push"}],
        "first_started": 1552341990,
        "tags": ["new", "welcome"],
        "trigger_segment_ids": [3],
        "filter_segment_ids": [7, 12],
        "msg_templates": [{"id": 259, "type": "email"}, {"id": 261, "type": "push"}],
        "type": "segment",
        "created_by": "jana.novakova@example.com",
        "scheduled_start": None,
        "scheduled_stop": None,
    },
    {
        "id": 12,
        "deduplicate_id": "12:1712000000",
        "name": 'Post-purchase follow-up, "thank you"',
        "description": "Triggered by the purchase event.\nSecond line of the description, with a comma.",
        "created": 1580000000,
        "updated": 1712000000,
        "active": True,
        "state": "running",
        "actions": [{"id": 301, "type": "email"}, {"id": 302, "type": "twilio"}, {"id": 303, "type": "webhook"}],
        "first_started": 1580000100,
        "tags": ["purchase"],
        "filter_segment_ids": [],
        "event_name": "purchase",
        "type": "event",
        "created_by": "petr@example.com",
        "event_type": "event",
    },
    {
        "id": 23,
        "deduplicate_id": "23:1690000000",
        "name": "Narozeninové přání 🎂",
        "description": "",
        "created": 1600000000,
        "updated": 1690000000,
        "active": True,
        "state": "running",
        "actions": [{"id": 215, "type": "email"}, {"id": 216, "type": "in_app"}],
        "first_started": 1600000500,
        "tags": ["birthday", "lifecycle"],
        "filter_segment_ids": [3],
        "date_attribute": "birthday",
        "frequency": "yearly",
        "start_hour": 9,
        "start_minutes": 30,
        "timezone": "Europe/Prague",
        "use_customer_timezone": True,
        "type": "date",
        "created_by": "eva@example.com",
    },
    {
        "id": 31,
        "deduplicate_id": "31:1695000000",
        "name": "Account owners (object)",
        "description": "Object-triggered campaign for accounts.",
        "created": 1650000000,
        "updated": 1695000000,
        "active": True,
        "state": "running",
        "actions": [{"id": 401, "type": "slack"}, {"id": 402, "type": "whatsapp"}],
        "first_started": 1650000300,
        "tags": ["b2b"],
        "filter_segment_ids": [],
        "audience": {
            "type": 1,
            "person_filters": {
                "and": [
                    {"attribute": {"field": "plan", "operator": "eq", "value": "enterprise"}},
                    {"segment": {"id": 21}},
                ]
            },
            "relationship_filters": {"or": [{"attribute": {"field": "role", "operator": "eq", "value": "admin"}}]},
        },
        "object_type_id": 1,
        "filter_object_attributes": {"and": [{"attribute": {"field": "tier", "operator": "exists"}}]},
        "object_attribute_triggers": [{"field": "tier", "changed_to": "gold"}],
        "type": "object",
        "created_by": "ops@example.com",
    },
    {
        "id": 45,
        "deduplicate_id": "45:1715769000",
        "name": "In-app survey",
        "description": "Relationship-triggered in-app survey.",
        "created": 1705000000,
        "updated": 1715769000,
        "active": True,
        "state": "running",
        "actions": [{"id": 312, "type": "in_app"}],
        "first_started": 1705000400,
        "tags": ["survey"],
        "filter_segment_ids": [12],
        # [S] real responses send the audience filters as JSON strings; this campaign does so on purpose.
        "audience": {
            "type": 0,
            "person_filters": json.dumps({"and": [{"attribute": {"field": "vip", "operator": "eq", "value": "true"}}]}),
            "relationship_filters": json.dumps({"and": []}),
        },
        "object_type_id": 1,
        "filter_relationship_attributes": None,
        "relationship_attribute_triggers": [],
        "type": "relationship",
        "created_by": "ops@example.com",
    },
    {
        "id": 58,
        "deduplicate_id": "58:1660000000",
        "name": "Newsletter signup form",
        "description": "Form submissions",
        "created": 1640000000,
        "updated": 1660000000,
        "active": False,
        "state": "stopped",
        "actions": [{"id": 501, "type": "email"}],
        "first_started": 1640000100,
        "tags": [],
        "filter_segment_ids": [],
        "type": "form",
        "created_by": None,
    },
    {
        "id": 61,
        "deduplicate_id": "61:1720000000",
        "name": "Webhook-triggered CRM sync",
        "description": "Draft, never started.",
        "created": 1719000000,
        "updated": 1720000000,
        "active": False,
        "state": "draft",
        "actions": [{"id": 601, "type": "webhook"}, {"id": 602, "type": "push"}],
        "first_started": None,
        "tags": ["crm", "webhook"],
        "filter_segment_ids": [42],
        "webhook_id": 9,
        "type": "webhook",
        "created_by": "petr@example.com",
        "scheduled_start": 1721000000,
        "scheduled_start_should_backfill": False,
        "scheduled_stop": None,
        "scheduled_stop_should_sunset": False,
    },
]

BASE_SEGMENTS: list[dict] = [
    {
        "id": 3,
        "name": "Trial users",
        "description": "People on a trial plan",
        "type": "dynamic",
        "state": "finished",
        "progress": None,
        "tags": ["trial", "lifecycle"],
        "created_at": 1650000000,
        "updated_at": 1701234567,
    },
    {
        "id": 7,
        "name": 'Praha & Brno, "VIP"',
        "description": "Manual list, VIP customers\nimported from CSV",
        "type": "manual",
        "state": "finished",
        "progress": None,
        "tags": None,
        "created_at": 1655000000,
        "updated_at": 1655000000,
    },
    {
        "id": 12,
        "name": "Nakupující (購入者)",
        "description": "Purchased in the last 90 days",
        "type": "dynamic",
        "state": "events",
        "progress": 100,
        "tags": [],
        "created_at": 1660000000,
        "updated_at": 1716000000,
    },
    {
        "id": 21,
        "name": "Churn risk",
        "description": "",
        "type": "dynamic",
        "state": "build",
        "progress": 42,
        "tags": ["risk"],
        "created_at": 1700000000,
        "updated_at": 1719999999,
    },
    {
        "id": 42,
        "name": "Empty segment",
        "description": "Nobody matches this one",
        "type": "manual",
        "state": "finished",
        "progress": None,
        "tags": None,
        "created_at": 1710000000,
        "updated_at": 1710000000,
    },
]
BASE_SEGMENT_WEIGHTS = [0.9, 0.6, 0.3, 0.15, 0.0]
EXTRA_SEGMENT_WEIGHTS = [1.0, 0.8, 0.95, 0.7, 0.85, 0.5, 1.0]

NEWSLETTERS = [
    {"id": 128275, "content_ids": [45, 46]},
    {"id": 128301, "content_ids": [77]},
    {"id": 130002, "content_ids": [90, 91, 92]},
]
BROADCASTS = [{"id": 14, "action_ids": [701, 702]}, {"id": 15, "action_ids": [711]}]
TRANSACTIONAL_IDS = [3, 4]

MESSAGE_TYPES = ("email", "webhook", "twilio", "whatsapp", "slack", "push", "in_app", "live_notification")
MESSAGE_METRICS = (
    "attempted",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "bounced",
    "spammed",
    "unsubscribed",
    "dropped",
    "failed",
    "undeliverable",
)

_CHANNELS_ACTION = ["action", "email", "in_app", "push", "slack", "twilio", "webhook", "whatsapp"]
ACTIVITY_TYPES: frozenset[str] = frozenset(
    ["add_relationship", "anon_merge", "attribute_change", "delete_relationship", "device_change", "event", "page"]
    + ["profile_create", "profile_delete", "profile_merge", "relationship_attribute_change"]
    + ["relationship_failed_attribute_change", "screen", "skipped_update", "spammed_email", "topic_unsubscribed_email"]
    + ["viewed_content", "webhook_event", "dropped_whatasapp"]
    + [f"attempted_{c}" for c in _CHANNELS_ACTION]
    + [f"bounced_{c}" for c in ["action", "email", "push", "twilio", "whatsapp"]]
    + [f"clicked_{c}" for c in ["action", "content", "email", "in_app", "push", "twilio", "webhook"]]
    + [f"converted_{c}" for c in ["action", "content", "email", "in_app", "slack", "twilio", "webhook", "whatsapp"]]
    + [f"deferred_{c}" for c in _CHANNELS_ACTION]
    + [f"delivered_{c}" for c in ["action", "email", "push", "twilio", "whatsapp"]]
    + [f"drafted_{c}" for c in ["action", "email", "in_app", "push", "slack", "twilio", "webhook"]]
    + [f"dropped_{c}" for c in ["action", "email", "push", "twilio", "webhook"]]
    + [
        f"failed_{c}"
        for c in [
            "action",
            "attribute_change",
            "batch_update",
            "email",
            "event",
            "in_app",
            "object_journeys",
            "push",
            "query_collection",
            "slack",
            "twilio",
            "webhook",
            "whatsapp",
        ]
    ]
    + [f"opened_{c}" for c in ["action", "email", "in_app", "push"]]
    + [f"sent_{c}" for c in _CHANNELS_ACTION]
    + [f"suppressed_{c}" for c in ["twilio", "whatsapp"]]
    + [f"undeliverable_{c}" for c in _CHANNELS_ACTION]
    + [f"unsubscribed_{c}" for c in ["action", "email"]]
)
OBJECT_ACTIVITY_SUFFIXES = frozenset(
    ["add_relationship", "attribute_change", "create", "delete", "delete_relationship", "failed_attribute_change"]
)
RELATIONSHIP_ACTIVITY_SUFFIXES = frozenset(["attribute_change", "failed_attribute_change"])


def is_valid_activity_type(value: str) -> bool:
    if value in ACTIVITY_TYPES:
        return True
    parts = value.split(":")
    if len(parts) == 3 and parts[1].isdigit():
        if parts[0] == "_o":
            return parts[2] in OBJECT_ACTIVITY_SUFFIXES
        if parts[0] == "_r":
            return parts[2] in RELATIONSHIP_ACTIVITY_SUFFIXES
    return False


FIRST_NAMES = [
    ("Jana", "jana"),
    ("Petr", "petr"),
    ("Tomáš", "tomas"),
    ("Eva", "eva"),
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Ming", "ming"),
    ("Aiko", "aiko"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("Chloé", "chloe"),
    ("Olga", "olga"),
    ("Ahmed", "ahmed"),
    ("Nguyễn", "nguyen"),
    ("Sarah", "sarah"),
    ("Liam", "liam"),
]
LAST_NAMES = [
    ("Novák", "novak"),
    ("Dvořák", "dvorak"),
    ("O'Brien", "obrien"),
    ("Smith", "smith"),
    ("van der Berg", "vanderberg"),
    ("Müller", "muller"),
    ("山田", "yamada"),
    ("García", "garcia"),
    ("Kowalski", "kowalski"),
    ("Nakamura", "nakamura"),
    ("Černá", "cerna"),
    ("Doe", "doe"),
]
EMAIL_DOMAINS = ["example.com", "example.cz", "mail.example.org", "Example.NET"]
PLANS = ["free", "pro", "enterprise", "Pro", "trial"]
CITIES = ["Praha", "Brno", "Ostrava", "České Budějovice", "Plzeň", "Ústí nad Labem"]
JP_NAMES = ["山田太郎", "佐藤花子", "鈴木一郎", "高橋", "田中"]
INTERESTS = ["roadrunners", "coyotes", "hiking", "cooking, baking", "chess"]
STATES = ["NM", "AZ", "CA", "NY", "TX"]
SOURCES = ["website_newsletter", "import", "api", "landing page", "referral"]
NOTES = [
    'Likes "fast" shipping, hates delays',
    "Line one\nLine two, with comma",
    'Quote " and comma , and newline\r\nend',
    "plain note",
    "=SUM(1,2)",
    "tab\tseparated\tvalue",
]
# Longer than 64 characters; the two share their first 64+ characters, so they clash after truncation.
LONG_ATTRIBUTE = "customer_lifetime_value_including_refunds_and_chargebacks_in_original_currency_v2"
LONG_ATTRIBUTE_2 = "customer_lifetime_value_including_refunds_and_chargebacks_in_original_currency_v3"

SUBJECTS = [
    "Did you get that thing I sent you?",
    "Welcome aboard, {name}!",
    'Your order "#{n}" has shipped',
    "Vítejte! Děkujeme za registraci 🎉",
    "ご注文ありがとうございます",
    "Last chance: 20% off, today only",
    "",
]
EVENT_NAMES = ["purchase", "signup", "viewed_product", "Added to Cart", "обновление профиля", "app.opened"]
SCREEN_NAMES = ["Home", "Settings", "Checkout", "Profil uživatele"]
PAGE_URLS = [
    "https://www.example.com/",
    "https://www.example.com/pricing?utm_source=newsletter&utm_medium=email",
    "https://www.example.com/blog/ünïcödé-post",
    "https://shop.example.com/cart#step-2",
]


def segments(count: int) -> list[dict]:
    """The first `count` segments (5 hand-written, then generated ones with fixed timestamps)."""
    out = [copy.deepcopy(s) for s in BASE_SEGMENTS[:count]]
    for k in range(max(0, count - len(BASE_SEGMENTS))):
        sid = 100 + 17 * k
        created = 1690000000 + 86400 * 3 * k
        out.append(
            {
                "id": sid,
                "name": f"Generated segment {k + 1}",
                "description": f"Bulk segment number {k + 1}",
                "type": "dynamic" if k % 3 else "manual",
                "state": "finished",
                "progress": None if k % 2 else 100,
                "tags": None if k % 4 == 0 else [f"bulk-{k % 3}"],
                "created_at": created,
                "updated_at": created + 3600 * (k + 1),
            }
        )
    for n, s in enumerate(out):
        s["deduplicate_id"] = f"{s['id']}:{s['updated_at']}"
        s["conditions"] = segment_conditions(n)
    return out


def segment_conditions(n: int) -> dict:
    """QUIRK: every live segment carries `conditions`, a nested predicate tree the spec does not list, whose shape
    varies by segment (estuary/connectors source-customer-io/bruno/Snapshots/segments.yml, VERIFIED)."""
    attribute = {"attribute": {"field": "plan_name", "operator": "eq", "value": ["trial", "premium", "free"][n % 3]}}
    event = {"event": {"filters": {"and": [{"field": "to", "inverse": False, "operator": "exists", "value": ""}]},
                       "id": n + 1, "name": "cio_id", "type": "attribute_change"},
             "inverse": False, "times": 1, "within": 2592000 * (n % 2)}
    shapes = [{"and": [event]}, {"or": [attribute, {"not": event}]}, {"not": attribute}, attribute]
    return shapes[n % len(shapes)]


def segment_weights(count: int) -> list[float]:
    out = list(BASE_SEGMENT_WEIGHTS[:count])
    for k in range(max(0, count - len(BASE_SEGMENT_WEIGHTS))):
        out.append(EXTRA_SEGMENT_WEIGHTS[k % len(EXTRA_SEGMENT_WEIGHTS)])
    return out


def segment_densities(count: int, people: int, membership: int) -> list[float]:
    """Share of people in each segment so that the sizes total ~membership (each capped at all people)."""
    weights = segment_weights(count)
    if people <= 0 or membership <= 0 or not any(weights):
        return [0.0] * count
    target = min(float(membership), float(people) * sum(1 for w in weights if w > 0))
    sizes = [0.0] * count
    free = [i for i, w in enumerate(weights) if w > 0]
    remaining = target
    while free and remaining > 1e-9:
        wsum = sum(weights[i] for i in free)
        capped = []
        for i in free:
            sizes[i] += remaining * weights[i] / wsum
        remaining = 0.0
        for i in free:
            if sizes[i] > people:
                remaining += sizes[i] - people
                sizes[i] = float(people)
                capped.append(i)
        free = [i for i in free if i not in capped]
    return [s / people for s in sizes]
