"""Sandbox settings and scenarios."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

MESSAGE_ORDERS = ("newest", "oldest", "unrelated")

SCENARIOS: dict[str, dict] = {
    "test": {},
    "demo": {},
    # The benchmark's large catalogue (issue 11): ~4,700 fan-out requests at 10 per second.
    "catalogue": {
        "campaigns": 500,
        "actions_per_campaign": 5,
        "newsletters": 2000,
        "contents_per_newsletter": 2,
        "broadcasts": 50,
        "transactional": 50,
        "latency_ms": 100.0,
        "jitter_ms": 50.0,
    },
    "bench": {
        "people": 100_000,
        "messages": 1_000_000,
        "activities": 100_000,
        "membership": 1_000_000,
        "segments": 12,
        "latency_ms": 100.0,
        "jitter_ms": 50.0,
        # The empty-page-with-next quirk stays in, but rarer than in the test scenario (every 7th/5th/3rd page),
        # whose job is to exercise it: how often Customer.io does it is not documented.
        "empty_page_every": 50,
    },
}


@dataclass
class SandboxSettings:
    """Every option of the sandbox. Defaults are the `test` scenario; port 0 picks an ephemeral port."""

    host: str = "127.0.0.1"
    port: int = 0
    scenario: str = "test"
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit: float = 10.0  # requests per sliding 1-second window per key; 0 disables
    people: int = 300
    messages: int = 3000
    activities: int = 2000
    membership: int = 600  # total membership rows over all segments (approximate, per-person hashing)
    segments: int = 5
    seed: int = 1
    api_key: str = "sandbox-key"
    limited_api_key: str = "sandbox-key-limited"
    export_delay: float = 2.0  # seconds an export stays pending
    faults: dict | None = None
    unwrapped_attributes: bool = False
    anchor: int | None = None  # unix seconds of "server start"; None = now
    download_url_ttl: int = 900  # seconds a pre-signed export download URL stays valid
    message_days: int = 426  # messages spread over ~14 months before the anchor
    activity_days: int = 40  # activities spread over 40 days (the API returns only the last 30)
    request_log_limit: int = 200_000
    # Catalogue sizes (sandbox/entities.py). The hand-written entities of catalog.py come first; counts above
    # theirs (7 campaigns, 3 newsletters, 2 broadcasts, 2 transactional) are generated.
    campaigns: int = 7
    actions_per_campaign: int = 3  # actions of each generated campaign
    newsletters: int = 3
    contents_per_newsletter: int = 2  # contents (languages or A/B variants) of each generated newsletter
    broadcasts: int = 2
    transactional: int = 2
    object_types: int = 2
    objects_per_type: int = 12
    relationships_per_object: int = 3  # people related to an object: 0 .. 4x this, varying per object
    sender_identities: int = 7
    design_studio_emails: int = 9  # Design Studio emails (3 folders; components below)
    design_studio_components: int = 4
    suppressions: int = 1203  # bounces; blocks a third, spam reports a seventh, invalid emails none
    empty_page_every: int = 0  # QUIRK frequency: every Kth page of a chain is empty but has `next`; 0 = 7/5/3
    search_overlap: int = 0  # QUIRK (opt-in): each customers search page after the first repeats this many people
    # GET /v1/messages order within a window: newest (created, newest first), oldest, or unrelated to time. The
    # live order was never observed; the component must read every delivery once under each.
    message_order: str = "newest"
    membership_overlap: int = 0  # QUIRK (opt-in): each membership page after the first repeats this many members

    @classmethod
    def for_scenario(cls, scenario: str = "test", **overrides) -> SandboxSettings:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
        values = dict(SCENARIOS[scenario])
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["scenario"] = scenario
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        if values.get("message_order", "newest") not in MESSAGE_ORDERS:
            raise ValueError(f"message_order must be one of {', '.join(MESSAGE_ORDERS)}")
        return cls(**values)
