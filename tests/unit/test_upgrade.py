"""The older component's state turned into this version's (datasets.upgrade)."""

from __future__ import annotations

from datasets.upgrade import upgrade_state


def test_headers_become_known_columns_tokens_are_dropped_and_older_keys_remembered():
    older = {"message_headers": ["id", "deduplicate_id", "old_col"], "message_last_token": {"email": "tok"},
             "activity_headers": {"event": ["id", "data_project"], "secondary:delivered_email": ["id"], "x": "bad"}}
    state = upgrade_state(older)
    assert state == {
        "messages": {"columns": {"messages": ["id", "deduplicate_id", "old_col"]}},
        "activities": {"columns": {"activity_event": ["id", "data_project"],
                                   "activity_secondary_delivered_email": ["id"]}},
        "table_keys": {"messages": ["deduplicate_id"], "customers": ["id"]},
    }


def test_this_versions_state_is_kept_and_merged():
    state = upgrade_state({"message_headers": ["id", "extra"],
                           "messages": {"marks": {"*": 5}, "columns": {"messages": ["id", "created"]}},
                           "table_keys": {"messages": ["id"]}})
    assert state["messages"] == {"marks": {"*": 5}, "columns": {"messages": ["id", "created", "extra"]}}
    assert state["table_keys"]["messages"] == ["id"]  # what this version recorded wins


def test_a_state_without_older_keys_is_untouched():
    state = {"messages": {"marks": {"*": 5}}}
    assert upgrade_state(state) is state
