"""Sync actions as the Keboola UI calls them: a process whose stdout is the JSON answer."""

from __future__ import annotations

import json
import time

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import SECRET, make_data_dir, run_component


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxSettings(scenario="test")) as srv:
        yield srv


def test_test_connection_succeeds_with_one_request(server, tmp_path):
    server.request_log.clear()
    data = make_data_dir(tmp_path, {"#api_secret": SECRET, "api_region": "eu"}, action="testConnection")
    result = run_component(data, server.url)
    assert result.code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == "success"
    assert "EU region" in answer["message"]
    assert len(server.request_log) == 1


def test_list_segments_returns_select_elements(server, tmp_path):
    data = make_data_dir(tmp_path, {"#api_secret": SECRET}, action="listSegments")
    result = run_component(data, server.url)
    assert result.code == 0, result.stderr
    answer = json.loads(result.stdout)
    expected = {str(segment["id"]) for segment in server.workspace.segments()}
    assert {item["value"] for item in answer} == expected
    assert all(item["label"].endswith(f"({item['value']})") for item in answer)
    assert [item["label"].lower() for item in answer] == sorted(item["label"].lower() for item in answer)


def test_test_connection_with_a_bad_key_prints_one_sentence(server, tmp_path):
    data = make_data_dir(tmp_path, {"#api_secret": "bad-key-XYZ-991"}, action="testConnection")
    result = run_component(data, server.url)
    assert result.code == 1
    assert "Customer.io rejected the API key" in result.stderr
    assert "bad-key-XYZ-991" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("action", ["testConnection", "listSegments"])
def test_with_debug_the_stdout_of_a_sync_action_is_exactly_one_json_document(server, tmp_path, action):
    data = make_data_dir(tmp_path, {"#api_secret": SECRET, "debug": True}, action=action)
    result = run_component(data, server.url)
    assert result.code == 0, result.stderr
    json.loads(result.stdout)  # raises on any debug line before or after the answer


def test_a_sync_action_under_a_429_storm_ends_within_keboolas_30_seconds_with_a_sentence(tmp_path):
    with SandboxServer(SandboxSettings(scenario="test", faults={"long_429_seconds": 300})) as storm:
        started = time.monotonic()
        result = run_component(make_data_dir(tmp_path, {"#api_secret": SECRET}, action="testConnection"), storm.url,
                               timeout=60)
        elapsed = time.monotonic() - started
    assert result.code == 1
    assert elapsed < 25, f"the sync action took {elapsed:.0f} s"
    assert "rate limited" in result.stderr and "Traceback" not in result.stderr
