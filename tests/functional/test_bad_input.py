"""Bad input answered with exit code 1 and one sentence that says what to fix; the API key never shown.

The component runs as a process (its real exit code, stdout and stderr). Configuration mistakes are found before
any request, so the sandbox's request log stays empty for them. The secret tests run the failure paths with a
recognisable key and search stdout, stderr, every file under out/ (tables, manifests, state, the platform's
debug-run HTTP recording) and the sandbox's request log for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import COMPONENT, ROOT, SECRET, RunResult, make_data_dir, run_component

ENV = {"CUSTOMERIO_READ_TIMEOUT": "0.5", "CUSTOMERIO_MAX_RETRY_SECONDS": "1"}


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxSettings(scenario="test", export_delay=0.3)) as srv:
        yield srv


def run(server, base: Path, parameters, *, action: str = "run", env: dict | None = None) -> RunResult:
    return run_component(make_data_dir(base, parameters, action=action), server.url, extra_env={**ENV, **(env or {})},
                         timeout=120)


def assert_one_sentence(result: RunResult, *needles: str) -> str:
    """Exit 1, no traceback, and the error is the last stderr line: one line, one sentence, naming what to fix."""
    assert result.code == 1, f"exit {result.code}:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.endswith((".", "?")), message
    for needle in needles:
        assert needle in message, message
    assert not (result.data_dir / "out" / "state.json").exists()
    return message


def with_key(**parameters) -> dict:
    return {"#api_secret": SECRET, **parameters}


# --------------------------------------------------------------------------------- configuration mistakes

CONFIGURATION_MISTAKES = {
    "missing_key": ({"campaigns": True}, "fill in '#api_secret'"),
    "empty_key": ({"#api_secret": "", "campaigns": True}, "'#api_secret': fill in the App API key"),
    "blank_key": ({"#api_secret": "   ", "campaigns": True}, "'#api_secret': fill in the App API key"),
    "key_not_text": ({"#api_secret": 12345, "campaigns": True}, "'#api_secret': fill in the App API key"),
    "key_with_a_line_break": ({"#api_secret": "abcd1234\nefgh5678", "campaigns": True}, "copy the App API key again"),
    "region_not_us_or_eu": (with_key(api_region="mars", campaigns=True), "'api_region': must be 'us' or 'eu'"),
    "region_is_a_url": (with_key(api_region="http://127.0.0.1:1", campaigns=True), "must be 'us' or 'eu'"),
    "unknown_message_type": (with_key(messages={"types": ["fax"]}), "unknown message type 'fax'"),
    "only_a_retired_message_type": (with_key(messages={"types": ["urban_airship"]}),
                                    "'messages.types': 'urban_airship' no longer exists in Customer.io"),
    "unknown_activity_type": (with_key(activities={"types": ["evnt"]}), "Did you mean 'event'?"),
    "activities_mode": (with_key(activities={"mode": "TABLE"}),
                        "'activities.mode': must be 'PARSED_DATA' or 'SINGLE_TABLE'"),
    "customers_mode": (with_key(customers={"mode": "scan"}), "'customers.mode': must be 'search' or 'export'"),
    "attributes_layout": (with_key(customers={"attributes_layout": "tall"}), "must be 'wide' or 'long'"),
    "filter_not_json": (with_key(customers={"filters": "{segment: 7}"}), "The customers filter is not valid JSON"),
    "filter_json_array": (with_key(customers={"filters": "[1]"}), "The customers filter at $ must be a JSON object"),
    "filter_wrong_shape": (with_key(customers={"filters": '{"segment": {"id": "7"}}'}),
                           "The customers filter at $.segment must be"),
    "filter_unknown_operator": (with_key(customers={"filters": '{"attribute": {"field": "a", "operator": "gt"}}'}),
                                "operator must be 'eq' or 'exists'"),
    "incremental_output_text": (with_key(incremental_output="yes", campaigns=True),
                                "'incremental_output': must be 0 (full load) or 1"),
    "incremental_output_2": (with_key(incremental_output=2, campaigns=True), "'incremental_output': must be 0"),
    "incremental_output_list": (with_key(incremental_output=[1], campaigns=True), "'incremental_output': must be 0"),
    "section_is_text": (with_key(messages="email"), "'messages': must be a settings object"),
    "section_two_objects": (with_key(messages=[{}, {}]), "'messages': must hold at most one settings object"),
    "types_is_an_object": (with_key(messages={"types": {"email": True}}), "'messages.types': must be a list"),
    "segment_ids_is_an_object": (with_key(segment_membership={"segment_ids": {"7": True}}),
                                 "'segment_membership.segment_ids': must be a list of segment ids"),
    "segment_id_not_a_number": (with_key(segment_membership={"segment_ids": ["seven"]}), "'seven' is not a segment id"),
    "attributes_is_an_object": (with_key(customers={"attributes": {"plan": True}}),
                                "'customers.attributes': must be a comma-separated list"),
    "flag_is_a_list": (with_key(campaigns=[True]), "'campaigns': must be true or false"),
    "date_from_not_a_date": (with_key(messages={"date_from": "last tuesday"}), "'last tuesday' is not a date"),
    "date_from_too_far_back": (with_key(messages={"date_from": "99999999999 days ago"}), "further back"),
    "lookback_negative": (with_key(messages={"metrics_lookback_days": -1}), "must be at least 0"),
    "timeout_not_a_number": (with_key(customers={"export_timeout_minutes": "soon"}), "must be a whole number"),
    "no_dataset": (with_key(), "No dataset is selected"),
    "empty_configuration": ({}, "The configuration is empty"),
    "parameters_empty_list": ([], "The configuration is empty"),
    "parameters_list": (["campaigns"], "parameters must be an object of settings, not a list"),
    "parameters_text": ("campaigns", "parameters must be an object of settings, not text"),
}


@pytest.mark.parametrize("case", list(CONFIGURATION_MISTAKES))
def test_a_configuration_mistake_is_one_sentence_before_any_request(case, server, tmp_path):
    parameters, expected = CONFIGURATION_MISTAKES[case]
    first = len(server.request_log)
    result = run(server, tmp_path, parameters)
    assert_one_sentence(result, expected)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert len(server.request_log) == first, "a request was sent despite the invalid configuration"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""], ids=["not_json", "a_list", "empty_file"])
def test_an_unreadable_config_file_is_one_sentence(text, server, tmp_path):
    data = make_data_dir(tmp_path, {})
    (data / "config.json").write_text(text)
    result = run_component(data, server.url, extra_env=ENV)
    assert_one_sentence(result, "config.json")


def test_a_syntax_error_in_config_json_says_line_and_column(server, tmp_path):
    data = make_data_dir(tmp_path, {})
    (data / "config.json").write_text('{\n  "parameters": {\n    "#api_secret": "sandbox-key",\n'
                                      '    "campaigns": true,\n  },\n  "action": "run"\n}\n')
    result = run_component(data, server.url, extra_env=ENV)
    message = assert_one_sentence(result, "config.json is not valid JSON at line 5, column 3", "trailing comma")
    assert "sandbox-key" not in result.stderr, message


def test_a_state_file_that_is_not_json_says_where(server, tmp_path):
    data = make_data_dir(tmp_path, with_key(campaigns=True))
    (data / "in" / "state.json").write_text('{"campaigns": {"columns": {}},}')
    result = run_component(data, server.url, extra_env=ENV)
    assert_one_sentence(result, "in/state.json is not valid JSON at line 1, column 31", "Reset state")


def test_a_missing_config_json_says_it_is_missing(server, tmp_path):
    data = make_data_dir(tmp_path, {})
    (data / "config.json").unlink()
    result = run_component(data, server.url, extra_env=ENV)
    assert_one_sentence(result, "has no config.json")


@pytest.mark.parametrize("folder", ["", "/no/such/folder"], ids=["unset", "wrong"])
def test_no_data_folder_is_one_sentence(folder, server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBC_")}
    if folder:
        env["KBC_DATADIR"] = folder
    proc = subprocess.run([sys.executable, str(COMPONENT)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "KBC_DATADIR" in lines[0], proc.stderr


def test_an_unknown_action_is_one_sentence(server, tmp_path):
    result = run(server, tmp_path, with_key(campaigns=True), action="syncEverything")
    message = assert_one_sentence(result, "'syncEverything'", "testConnection")
    assert len(result.stderr.strip().splitlines()) == 1, message


def test_an_api_url_without_a_scheme_is_one_sentence(server, tmp_path):
    host = server.url.removeprefix("http://")
    result = run_component(make_data_dir(tmp_path, with_key(campaigns=True)), host, extra_env=ENV)
    assert_one_sentence(result, "CUSTOMERIO_API_URL must be a URL starting with http://")


def test_an_api_url_ending_in_v1_works(server, tmp_path):
    result = run_component(make_data_dir(tmp_path, with_key(campaigns=True)), server.url + "/v1", extra_env=ENV)
    assert result.code == 0, result.stderr
    assert result.csv("campaigns")


def test_a_sandbox_that_is_not_running_is_one_sentence_naming_the_host(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    parameters = with_key(messages={"types": ["email"], "date_from": "400 days ago"}, campaigns=True)
    result = run_component(make_data_dir(tmp_path, parameters), f"http://127.0.0.1:{port}",
                           extra_env={"CUSTOMERIO_MAX_RETRY_SECONDS": "600"}, timeout=60)
    message = assert_one_sentence(result, f"127.0.0.1:{port}", "network", "DNS", "proxy", "CUSTOMERIO_API_URL")
    warnings = [line for line in result.stderr.splitlines() if "Cannot connect" in line]
    assert len(warnings) == 1, result.stderr  # not one per thread and attempt
    assert "retrying in" not in result.stderr, message


def test_a_timing_knob_with_a_bad_value_is_one_sentence(server, tmp_path):
    result = run(server, tmp_path, with_key(campaigns=True), env={"CUSTOMERIO_READ_TIMEOUT": "fast"})
    assert_one_sentence(result, "CUSTOMERIO_READ_TIMEOUT")


# ------------------------------------------------------------------------------------------- rejected keys


@pytest.mark.parametrize("action", ["run", "testConnection", "listSegments"])
def test_a_key_of_the_wrong_type_or_region_is_one_sentence(action, server, tmp_path):
    track_key = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # a Track API key, or a key of the other region: 401
    result = run(server, tmp_path, {"#api_secret": track_key, "campaigns": True}, action=action)
    assert_one_sentence(result, "rejected the API key (401)", "App API key", "region")
    if action != "run":  # a sync action answers on stderr only, with exactly the sentence
        assert result.stdout.strip() == ""
        assert len(result.stderr.strip().splitlines()) == 1
    assert track_key not in result.stdout + result.stderr


def test_a_key_without_scope_is_one_sentence_naming_the_endpoint(server, tmp_path):
    result = run(server, tmp_path, {"#api_secret": "sandbox-key-limited", "messages": {"types": ["email"]}})
    assert_one_sentence(result, "may not read deliveries (messages) (/v1/messages answered 403)",
                        "access to Messages (deliveries)", "switch 'messages' off")


# --------------------------------------------------------------------------------------------- the secret

KEY = "cio-KEY-do-not-print-3f9a7c1e"
LIMITED = "cio-LIMITED-do-not-print-5b2d"
WRONG = "cio-WRONG-do-not-print-8e61aa"


@pytest.fixture(scope="module")
def secret_server():
    settings = SandboxSettings(scenario="test", api_key=KEY, limited_api_key=LIMITED, export_delay=0.3)
    with SandboxServer(settings) as srv:
        yield srv


# A case that must succeed gets a real retry budget: consecutive cases share the sandbox's rate limit, so the one
# second the failure cases allow could end a successful run on a 429 (the flaky platform_debug_run_recording).
PATIENT = {"CUSTOMERIO_MAX_RETRY_SECONDS": "60"}
SMALL = {"campaigns": True, "segments": True, "messages": {"types": ["push"], "date_from": "10 days ago"},
         "activities": {"types": ["page"]}, "customers": {"attributes": "plan"},
         "segment_membership": {"segment_ids": [3]}}
SECRET_PATHS = {
    # name: (parameters, faults, action, extra environment, expected exit code)
    "success_with_debug_logging": ({**SMALL, "debug": True}, {}, "run", PATIENT, 0),
    "platform_debug_run_recording": (SMALL, {}, "run", {"KBC_COMPONENT_RUN_MODE": "debug", **PATIENT}, 0),
    "recording_of_a_failed_run": (SMALL, {"error_rate": 1.0, "paths": ["/v1/messages"]}, "run",
                                  {"KBC_COMPONENT_RUN_MODE": "debug"}, 1),
    "rejected_key_401": ({"#api_secret": WRONG, "campaigns": True, "debug": True}, {}, "run", {}, 1),
    "key_without_scope_403": ({"#api_secret": LIMITED, **SMALL, "debug": True}, {}, "run", {}, 1),
    "5xx_after_the_retries": ({**SMALL, "debug": True}, {"error_rate": 1.0}, "run", {}, 1),
    "connection_dropped": ({**SMALL, "debug": True}, {"drop_rate": 1.0}, "run", {}, 1),
    "read_timeouts": ({**SMALL, "debug": True}, {"slow_rate": 1.0, "slow_seconds": 0.8}, "run", {}, 1),
    "json_cut_off": ({**SMALL, "debug": True}, {"truncated_json_rate": 1.0}, "run", {}, 1),
    "not_json": ({**SMALL, "debug": True}, {"non_json_rate": 1.0}, "run", {}, 1),
    "429_beyond_the_budget": ({**SMALL, "debug": True}, {"long_429_seconds": 30}, "run", {}, 1),
    "repeated_cursor": ({"activities": {"types": ["page"]}, "debug": True}, {"repeat_cursor": True,
                                                                             "empty_first_page": True}, "run", {}, 1),
    "export_failed": ({"customers": {"mode": "export"}, "debug": True}, {"export_failed": True}, "run", {}, 1),
    "download_urls_expired": ({"customers": {"mode": "export"}, "debug": True}, {"expired_download_urls": 100}, "run",
                              {}, 1),
    "download_cut": ({"customers": {"mode": "export"}, "debug": True}, {"download_cut_rate": 1.0}, "run",
                     {"CUSTOMERIO_MAX_RETRY_SECONDS": "0.3"}, 1),
    "test_connection_401": ({"#api_secret": WRONG}, {}, "testConnection", {}, 1),
    "list_segments_401": ({"#api_secret": WRONG}, {}, "listSegments", {}, 1),
    "test_connection_5xx": ({}, {"error_rate": 1.0}, "testConnection", {}, 1),
    "list_segments_not_json": ({}, {"non_json_rate": 1.0}, "listSegments", {}, 1),
    "invalid_region": ({"api_region": "mars", "campaigns": True}, {}, "run", {}, 1),
    "key_pasted_into_types": ({"messages": {"types": [KEY]}}, {}, "run", {}, 1),
    "key_pasted_into_date_from": ({"messages": {"date_from": KEY}}, {}, "run", {}, 1),
    "key_pasted_into_the_filter": ({"customers": {"filters": KEY}}, {}, "run", {}, 1),
    "key_pasted_into_segment_ids": ({"segment_membership": {"segment_ids": [KEY]}}, {}, "run", {}, 1),
    "key_as_the_region": ({"api_region": KEY, "campaigns": True}, {}, "run", {}, 1),
    "key_in_an_object": ({"#api_secret": {"key": KEY}, "campaigns": True}, {}, "run", {}, 1),
    "key_with_a_space": ({"#api_secret": KEY + " " + KEY, "campaigns": True}, {}, "run", {}, 1),
    "unknown_action": ({"campaigns": True}, {}, "noSuchAction", {}, 1),
}


@pytest.mark.parametrize("case", list(SECRET_PATHS))
def test_the_key_never_appears_in_any_output(case, secret_server, tmp_path):
    parameters, faults, action, env, expected_code = SECRET_PATHS[case]
    parameters = {"#api_secret": KEY, **parameters}
    data = make_data_dir(tmp_path, parameters, action=action)
    first = len(secret_server.request_log)
    secret_server.set_faults(faults)
    try:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KBC_")}
        full_env.update({"KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": secret_server.url, **ENV, **env})
        proc = subprocess.run([sys.executable, str(COMPONENT)], cwd=ROOT, env=full_env, capture_output=True, text=True,
                              check=False, timeout=120)
    finally:
        secret_server.set_faults({})
    assert proc.returncode == expected_code, proc.stderr[-3000:]
    outputs = {"stdout": proc.stdout, "stderr": proc.stderr,
               "request log": json.dumps(list(secret_server.request_log)[first:])}
    for path in (data / "out").rglob("*"):
        if path.is_file():
            outputs[str(path.relative_to(data))] = path.read_text(encoding="utf-8", errors="replace")
    if "recording" in case:
        assert any(name.startswith("out/files/") for name in outputs), "no recording was written"
    secrets = [KEY, LIMITED, WRONG]
    raw = parameters["#api_secret"]
    if isinstance(raw, str):
        secrets += [part for part in raw.split() if len(part) >= 8]
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"the key appears in {name}"
    if expected_code == 1:
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip(), "no message"


# ----------------------------------------------------------------------------------------- the base URL


def test_the_base_url_comes_from_the_environment_never_from_the_configuration(server, tmp_path):
    with SandboxServer(SandboxSettings(scenario="test")) as rogue:
        parameters = {"#api_secret": SECRET, "campaigns": True, "api_url": rogue.url, "base_url": rogue.url,
                      "url": rogue.url, "#api_url": rogue.url, "CUSTOMERIO_API_URL": rogue.url, "host": rogue.url,
                      "customers": {"api_url": rogue.url, "base_url": rogue.url}}
        first = len(server.request_log)
        result = run(server, tmp_path, parameters)
        assert result.code == 0, result.stderr
        assert not rogue.request_log, "the configuration redirected the requests (and the key)"
        assert len(server.request_log) > first


def test_no_fixture_or_recording_in_the_repository_holds_a_key():
    """The datadirtest cases' expected outputs hold none of their keys, and no HTTP recording is checked in."""
    cases = ROOT / "tests" / "functional"
    for config in cases.glob("*/source/data/config.json"):
        key = json.loads(config.read_text())["parameters"].get("#api_secret")
        for path in (config.parents[2] / "expected").rglob("*"):
            if path.is_file() and key:
                assert key not in path.read_text(encoding="utf-8", errors="replace"), path
    recordings = [path for folder in ("tests", "component_config", "src") for path in (ROOT / folder).rglob("*")
                  if path.name.startswith("vcr_") or path.parent.name == "cassettes"]
    assert not recordings, recordings
