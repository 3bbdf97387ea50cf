"""Each dataset's typed state (datasets/state.py) reads the state earlier versions saved and writes it back byte for
byte; the older component's state, once upgraded, too; a part of the wrong JSON type is read as absent."""

from __future__ import annotations

import json

import pytest

from datasets.activities import ActivitiesState
from datasets.customers.dataset import CustomersState
from datasets.messages import MessagesState
from datasets.metrics.dataset import MetricsState
from datasets.state import DatasetState
from datasets.upgrade import upgrade_state

# Sections as this version and the ones before it saved them (columns first, then the parts in this order).
SAVED = {
    "campaigns": (DatasetState, {"columns": {"campaigns": ["id", "name", "actions"]}}),
    "messages": (MessagesState, {
        "columns": {"messages": ["id", "created", "metrics_sent"], "message_link_clicks": ["delivery_id", "href"]},
        "marks": {"*": 1_760_000_000, "email": 1_759_000_000},
        "backfill": {"*": {"spans": [[1_300_000_000, 1_600_000_000, 2_592_000]], "newest": 1_760_000_100}}}),
    "activities": (ActivitiesState, {
        "columns": {"activity_event": ["id", "timestamp", "data_x"]},
        "marks": {"event": 1_760_000_000}, "last_run": 1_760_000_100,
        "resume": {"event": [{"cursor": "abc", "floor": 1_759_000_000}]}}),
    "customers": (CustomersState, {
        "columns": {"customers": ["cio_id", "id", "email"]},
        "changes": {"mark": 1_760_000_100, "full_read_at": 1_759_000_000, "shape": {"attributes": ["plan"]}}}),
    "metrics": (MetricsState, {
        "columns": {"campaign_metrics": ["campaign_id", "period_start", "sent"]},
        "marks": {"campaign_metrics:days": 1_760_000_100}, "never_started": {"campaigns": [3, 9]},
        "left": {"newsletters": [[4, None], [6, 1_759_000_000]]}}),
    "segment_membership": (DatasetState, {"columns": {"segment_membership": ["segment_id", "cio_id"]}}),
}


@pytest.mark.parametrize("key", sorted(SAVED))
def test_a_saved_state_round_trips_byte_for_byte(key):
    kind, section = SAVED[key]
    text = json.dumps(section)
    typed = kind.from_json(json.loads(text))
    assert json.dumps(typed.to_json()) == text


@pytest.mark.parametrize("key", sorted(SAVED))
def test_parts_not_saved_stay_out_and_columns_always_there(key):
    kind, _ = SAVED[key]
    assert kind.from_json({}).to_json() == {"columns": {}}
    assert kind.from_json(None).to_json() == {"columns": {}}


def test_the_older_components_state_upgraded_round_trips():
    older = {"message_headers": ["id", "deduplicate_id", "old_col"], "message_last_token": {"email": "tok"},
             "activity_headers": {"event": ["id", "data_project"]}}
    state = upgrade_state(older)
    for key, kind in (("messages", MessagesState), ("activities", ActivitiesState)):
        assert json.dumps(kind.from_json(state[key]).to_json()) == json.dumps(state[key])
    merged = upgrade_state({"message_headers": ["id", "extra"], "messages": {"marks": {"*": 5}}})
    assert MessagesState.from_json(merged["messages"]) == MessagesState(columns={"messages": ["id", "extra"]},
                                                                        marks={"*": 5})


def test_a_part_of_the_wrong_json_type_is_read_as_absent():
    typed = ActivitiesState.from_json({"columns": ["x"], "marks": [1], "last_run": True, "resume": "cursor"})
    assert typed == ActivitiesState()
    assert MetricsState.from_json({"left": {"campaigns": [[1, None]]}, "never_started": 5}).never_started is None
    assert ActivitiesState.from_json({"last_run": 7}).last_run == 7
