"""The state of the older Customer.io component, turned into this version's state (once, on the first run).

The older component kept the headers of its event tables (``message_headers``: list, ``activity_headers``: type ->
list) and page tokens (``message_last_token``). Its tokens do not apply (the first run is a backfill), but its
headers are the columns its Storage tables have: they become the known columns of the same tables, because Storage
refuses a load whose CSV lacks a column the table has. Its primary keys are remembered too (messages were keyed by
``deduplicate_id``, customers by ``id``), so the first run loads the tables whose key changed in full (see
``output.manifest``).
"""

from __future__ import annotations

import logging

from output import table_name

log = logging.getLogger(__name__)

LEGACY_STATE_KEYS = ("activity_headers", "message_headers", "message_last_token")
TABLE_KEYS = "table_keys"  # state key: the primary key of each Storage table (see datasets.base.RunContext)
COLUMN_NAMES = "column_names"  # state key: the renamed columns of each Storage table (datasets.base.RunContext)
# The older component's primary keys (its activities, campaigns and segments were keyed by id, as now).
OLDER_PRIMARY_KEYS = {"messages": ["deduplicate_id"], "customers": ["id"]}


def upgrade_state(state: dict) -> dict:
    """``state`` with the older component's keys replaced by what they mean in this version (no-op otherwise)."""
    legacy = [key for key in LEGACY_STATE_KEYS if key in state]
    if not legacy:
        return state
    new = {key: value for key, value in state.items() if key not in LEGACY_STATE_KEYS}
    columns: dict[str, dict[str, list[str]]] = {"messages": {}, "activities": {}}
    headers = state.get("message_headers")
    if _names(headers):
        columns["messages"]["messages"] = _names(headers)
    activity_headers = state.get("activity_headers")
    if isinstance(activity_headers, dict):
        for activity_type, names in sorted(activity_headers.items()):
            if _names(names):
                columns["activities"][table_name(f"activity_{activity_type}")] = _names(names)
    for dataset, tables in columns.items():
        if not tables:
            continue
        section = dict(new.get(dataset) or {}) if isinstance(new.get(dataset), dict) else {}
        known = dict(section.get("columns") or {})
        for table, names in tables.items():
            known[table] = list(dict.fromkeys([*known.get(table, []), *names]))
        section["columns"] = known
        new[dataset] = section
    keys = dict(new.get(TABLE_KEYS) or {}) if isinstance(new.get(TABLE_KEYS), dict) else {}
    new[TABLE_KEYS] = {**OLDER_PRIMARY_KEYS, **keys}
    log.info("State of the older Customer.io component found (%s): its page tokens do not apply (this run reads the "
             "history again), its table headers are kept as the tables' columns.", ", ".join(legacy))
    return new


def _names(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [name for name in value if isinstance(name, str) and name]
