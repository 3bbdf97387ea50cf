"""State as the platform keeps it: merged per dataset, the older component's keys upgraded, nothing written on
failure."""

from __future__ import annotations

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import SECRET, make_data_dir, run_component


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxSettings(scenario="test")) as srv:
        yield srv


def test_marks_of_datasets_that_did_not_run_are_kept_and_legacy_keys_become_known_columns(server, tmp_path):
    previous = {
        "messages": {"marks": {"email": 1700000000}, "columns": {"messages": ["id"]}},
        "message_last_token": {"email": "old-page-token"},
        "message_headers": ["id", "type"],
        "activity_headers": {"event": ["id"]},
    }
    result = run_component(make_data_dir(tmp_path, {"#api_secret": SECRET, "campaigns": True}, state=previous),
                           server.url)
    assert result.code == 0, result.stderr
    # The older component's headers are the columns of its Storage tables: kept as known columns (Storage refuses
    # a load that lacks one); its page tokens are dropped; its primary keys are remembered.
    assert result.state["messages"] == {"marks": {"email": 1700000000}, "columns": {"messages": ["id", "type"]}}
    assert result.state["activities"] == {"columns": {"activity_event": ["id"]}}
    assert set(result.state) == {"messages", "activities", "campaigns", "table_keys", "column_names"}
    assert result.state["column_names"] == {"campaigns": {}}  # every column of campaigns has its source key's name
    assert result.state["table_keys"] == {"messages": ["deduplicate_id"], "customers": ["id"], "campaigns": ["id"]}
    assert result.state["campaigns"]["columns"]["campaigns"][0] == "id"
    assert "older Customer.io component" in result.stdout


def test_a_corrupt_dataset_state_starts_that_dataset_afresh(server, tmp_path):
    result = run_component(make_data_dir(tmp_path, {"#api_secret": SECRET, "segments": True},
                                         state={"segments": ["not", "an", "object"]}), server.url)
    assert result.code == 0, result.stderr
    assert isinstance(result.state["segments"], dict)
    assert len(result.csv("segments")) == len(server.workspace.segments())


def test_a_run_without_known_columns_warns_once_and_the_next_run_does_not(server, tmp_path):
    parameters = {"#api_secret": SECRET, "campaigns": True, "segments": True}
    first = run_component(make_data_dir(tmp_path / "first", parameters), server.url)
    assert first.code == 0, first.stderr
    assert first.stderr.count("This run knew no table columns from an earlier run") == 1  # once, not once per table
    second = run_component(make_data_dir(tmp_path / "second", parameters, state=first.state), server.url)
    assert second.code == 0, second.stderr
    assert "This run knew no table columns" not in second.stderr
