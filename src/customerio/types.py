"""Enumerations the App API defines: message and activity types.

Source: Customer.io App API reference (https://docs.customer.io/api/app/), the `type` parameters of GET
/v1/messages and GET /v1/activities.
"""

from __future__ import annotations

import re

MESSAGE_TYPES = ("email", "webhook", "twilio", "whatsapp", "slack", "push", "in_app", "live_notification")
# The older component offered this; Customer.io no longer has it.
RETIRED_MESSAGE_TYPES = ("urban_airship",)


def _expand(prefix: str, suffixes: str) -> list[str]:
    return [f"{prefix}_{suffix}" for suffix in suffixes.split()]


ACTIVITY_TYPES: tuple[str, ...] = tuple(sorted({
    "add_relationship", "anon_merge", "attribute_change", "delete_relationship", "device_change",
    "dropped_whatasapp",  # sic: the spec's spelling
    "event", "page", "profile_create", "profile_delete", "profile_merge", "relationship_attribute_change",
    "relationship_failed_attribute_change", "screen", "skipped_update", "spammed_email",
    "topic_unsubscribed_email", "viewed_content", "webhook_event",
    *_expand("attempted", "action email in_app push slack twilio webhook whatsapp"),
    *_expand("bounced", "action email push twilio whatsapp"),
    *_expand("clicked", "action content email in_app push twilio webhook"),
    *_expand("converted", "action content email in_app slack twilio webhook whatsapp"),
    *_expand("deferred", "action email in_app push slack twilio webhook whatsapp"),
    *_expand("delivered", "action email push twilio whatsapp"),
    *_expand("drafted", "action email in_app push slack twilio webhook"),
    *_expand("dropped", "action email push twilio webhook"),
    *_expand("failed", "action attribute_change batch_update email event in_app object_journeys push "
                       "query_collection slack twilio webhook whatsapp"),
    *_expand("opened", "action email in_app push"),
    *_expand("sent", "action email in_app push slack twilio webhook whatsapp"),
    *_expand("suppressed", "twilio whatsapp"),
    *_expand("undeliverable", "action email in_app push slack twilio webhook whatsapp"),
    *_expand("unsubscribed", "action email"),
}))

# Object and relationship activity forms: _o:<object_type_id>:<action>, _r:<object_type_id>:<action>.
OBJECT_ACTIVITY = re.compile(
    r"^_o:\d+:(add_relationship|attribute_change|create|delete|delete_relationship|failed_attribute_change)$"
    r"|^_r:\d+:(attribute_change|failed_attribute_change)$"
)

# Names the older component offered that the API no longer lists. They stay accepted so old configurations
# run; `secondary:<type>` is requested as <type> (its table name keeps the old name).
LEGACY_ACTIVITY_TYPES = {
    "failed_attribute_change": "failed_attribute_change",
    "stripe_event": "stripe_event",
    **{f"secondary:{t}": t for t in (
        "dropped_email", "spammed_email", "bounced_email", "delivered_email", "opened_email", "clicked_email",
        "failed_email",
    )},
}


def is_activity_type(name: str) -> bool:
    return name in ACTIVITY_TYPES or name in LEGACY_ACTIVITY_TYPES or bool(OBJECT_ACTIVITY.match(name))


def api_activity_type(name: str) -> str:
    """The `type` value sent to the API for a configured activity type."""
    return LEGACY_ACTIVITY_TYPES.get(name, name)
