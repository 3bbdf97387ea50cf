"""The configuration form as Keboola's UI shows it: configSchema.json rendered by RJSF in headless Chromium.

form.jsx renders the schema with @rjsf/core and @rjsf/validator-ajv8. Keboola's own extensions (the
test-connection and sync-action buttons, options.async, options.dependencies, creatable/tags selects) are not
in stock RJSF: form.jsx has small stand-ins of the same contract, so this test checks our schema against that
contract, not Keboola's own widgets. The sync actions answer with the component's real stdout (run against the
sandbox). Needs node, npm and chromium: skipped with the reason when they are missing, failed under CI=true.
Set UPDATE_FORM_SCREENSHOT=1 to write docs/form.png.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import jsonschema
import pytest

from configuration import load_configuration
from datasets import REGISTRY
from sandbox import SandboxServer, SandboxSettings
from tests.keboola_schema import (
    OLDER_CONFIGURATION,
    ROOT,
    dataset_cases,
    dependency_met,
    is_button,
    load_schema,
    sample_parameters,
    validation_view,
)
from tests.sandbox_harness import SECRET, make_data_dir, run_component

HERE = Path(__file__).resolve().parent
SCHEMA = load_schema()
TYPED_TYPE = "_o:7:create"  # an activity type the list does not offer, typed in as a user would
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--virtual-time-budget=10000"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    missing = [tool for tool, path in (("node", shutil.which("node")), ("npm", shutil.which("npm")),
                                       ("chromium", _chromium())) if not path]
    if missing:
        reason = f"the form test needs {', '.join(missing)} (apt-get install -y nodejs npm chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason + "; .ci/run installs them")
        pytest.skip(reason)
    stamp = HERE / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < (HERE / "package-lock.json").stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True)
    out = tmp_path_factory.mktemp("form")
    subprocess.run([str(HERE / "node_modules" / ".bin" / "esbuild"), "form.jsx", "--bundle", "--minify",
                    "--jsx=automatic", "--log-level=warning", f"--outfile={out / 'form.js'}"], cwd=HERE, check=True)
    shutil.copy(HERE / "page.html", out / "page.html")
    return out


@pytest.fixture(scope="module")
def sync_actions(tmp_path_factory) -> dict:
    """What the component's sync actions print, as the Keboola UI receives it."""
    answers = {}
    with SandboxServer(SandboxSettings(scenario="test", rate_limit=0)) as server:
        for action in ("testConnection", "listSegments"):
            data = make_data_dir(tmp_path_factory.mktemp(action), {"#api_secret": SECRET}, action=action)
            result = run_component(data, server.url)
            assert result.code == 0, result.stderr
            answers[action] = json.loads(result.stdout)
    return answers


def _cases(sync_actions: dict) -> list[dict]:
    segment = sync_actions["listSegments"][0]["value"]
    with_segment = {**sample_parameters(), "segment_membership": [{"segment_ids": [segment]}]}
    cases = [{"name": "sample", "formData": sample_parameters(), "interact": {"typed": TYPED_TYPE}},
             {"name": "older configuration", "formData": OLDER_CONFIGURATION},
             {"name": "saved segment", "formData": with_segment, "interact": {"typed": TYPED_TYPE}}]
    return cases + [{"name": name, "formData": parameters} for name, parameters in dataset_cases(SCHEMA, list(REGISTRY))]


def _render(page: Path, payload: dict, screenshot: Path | None = None, height: int = 0) -> list[dict]:
    (page / "input.js").write_text(f"window.FORM_INPUT = {json.dumps(payload)};", encoding="utf-8")
    profile = page / f"profile-{os.getpid()}-{bool(screenshot)}"
    # One width for both: the height measured in the DOM run is the screenshot's (a narrower default window wraps
    # more text and left a blank band under the form).
    args = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size=900,{height or 2000}"]
    if screenshot:
        args += [f"--screenshot={screenshot}"]
    else:
        args += ["--dump-dom"]
    proc = subprocess.run([*args, (page / "page.html").as_uri()], capture_output=True, text=True, timeout=120,
                          check=False)
    if screenshot:
        assert screenshot.exists(), proc.stderr[-2000:]
        return []
    found = re.search(r'<pre id="form-results">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert found and found.group(1), f"the page rendered no result: {proc.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def rendered(page, sync_actions) -> dict[str, dict]:
    payload = {"schema": SCHEMA, "cases": _cases(sync_actions), "syncActions": sync_actions}
    return {result["name"]: result for result in _render(page, payload)}


def _title(prop: dict, value) -> str:
    holder = prop.get("items", prop)
    titles = prop.get("options", {}).get("enum_titles")
    if titles and value in holder.get("enum", []):
        return titles[holder["enum"].index(value)]
    return str(value)


def _check_shown(prop: dict, value, shown: dict, where: str) -> None:
    if prop.get("format") == "info":
        assert shown["text"] == prop["title"], where
    elif is_button(prop):
        assert shown["text"] == prop["options"]["async"]["label"], where
    elif "checked" in shown:
        assert shown["checked"] == bool(value), where
    elif "selected" in shown:
        values = value if isinstance(value, list) else [value]
        assert sorted(shown["selected"]) == sorted(_title(prop, v) for v in values), where
    elif "value" in shown:
        assert shown["value"] == ("" if value is None else str(value)), where


def _visible_paths(schema: dict, data: dict, fields: dict, prefix: str, path: tuple) -> set[tuple]:
    """Check each field of an object on the page against the form's data; return the schema paths shown."""
    seen = set()
    for name, prop in schema.get("properties", {}).items():
        field_id = f"{prefix}_{name}"
        where = f"{field_id} ({'.'.join((*path, name))})"
        if not dependency_met(prop.get("options", {}).get("dependencies", {}), data):
            assert not [key for key in fields if key == field_id], f"{where} is shown, its dependencies are not met"
            continue
        assert field_id in fields, f"{where} is not on the page"
        seen.add((*path, name))
        value = data.get(name, prop.get("default"))
        if prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
            for index, item in enumerate(value or []):
                seen |= _visible_paths(prop["items"], item, fields, f"{field_id}_{index}", (*path, name))
        elif prop.get("type") == "object":
            seen |= _visible_paths(prop, value or {}, fields, field_id, (*path, name))
        else:
            _check_shown(prop, value, fields[field_id], where)
    return seen


def _all_paths(schema: dict, path: tuple = ()) -> set[tuple]:
    paths = set()
    for name, prop in schema.get("properties", {}).items():
        paths.add((*path, name))
        if prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
            paths |= _all_paths(prop["items"], (*path, name))
        elif prop.get("type") == "object":
            paths |= _all_paths(prop, (*path, name))
    return paths


def test_every_case_renders_without_validation_errors(rendered):
    assert {name: result["errors"] for name, result in rendered.items() if result["errors"]} == {}


def test_every_field_is_on_the_page_with_its_value_or_hidden_by_its_dependencies(rendered):
    seen = set()
    for result in rendered.values():
        seen |= _visible_paths(SCHEMA, result["formData"], result["fields"], "root", ())
    assert _all_paths(SCHEMA) - seen == set(), "fields that no configuration shows"


def test_what_the_form_saves_validates_and_the_component_runs(rendered):
    validator = jsonschema.Draft7Validator(validation_view(SCHEMA))
    for name, result in rendered.items():
        for data in (result["formData"], result.get("afterInteraction", {}).get("formData")):
            if data is None:
                continue
            assert [e.message for e in validator.iter_errors(data)] == [], name
            assert load_configuration(data).enabled_datasets(), name


def test_an_older_configuration_displays_as_saved(rendered):
    result = rendered["older configuration"]
    assert set(result["fields"]["root_activities_0_types"]["selected"]) == {
        "page", "stripe_event", "secondary:delivered_email"}
    assert set(result["fields"]["root_messages_0_types"]["selected"]) == {"email", "urban_airship"}
    assert result["formData"]["messages"][0]["date_from"] == ""  # the form fills what the older one lacked


def test_sync_action_buttons_show_the_component_answers(rendered, sync_actions):
    after = rendered["saved segment"]["afterInteraction"]
    assert after["fields"]["root_test_connection__result"]["text"] == sync_actions["testConnection"]["message"]
    segments = after["fields"]["root_segment_membership_0_segment_ids"]
    assert segments["options"] == [item["label"] for item in sync_actions["listSegments"]]
    assert segments["selected"] == [sync_actions["listSegments"][0]["label"]]  # the saved id, now with its name
    # Before loading, the saved id displays as it is.
    before = rendered["saved segment"]["fields"]["root_segment_membership_0_segment_ids"]
    assert before["selected"] == [sync_actions["listSegments"][0]["value"]]


def test_a_typed_activity_type_is_accepted(rendered):
    after = rendered["sample"]["afterInteraction"]
    assert after["errors"] == []
    assert TYPED_TYPE in after["formData"]["activities"][0]["types"]
    assert TYPED_TYPE in after["fields"]["root_activities_0_types"]["selected"]


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_screenshot_of_the_sample_form(page, sync_actions, rendered):
    height = int(rendered["sample"]["height"]) + 140
    payload = {"schema": SCHEMA, "cases": _cases(sync_actions), "syncActions": sync_actions, "only": "saved segment"}
    shot = page / "form.png"
    _render(page, payload, screenshot=shot, height=height)
    width, shot_height = _png_size(shot)
    assert (width, shot_height) == (900, height)
    assert shot.stat().st_size > 20_000  # a rendered form, not a blank page
    if os.environ.get("UPDATE_FORM_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs" / "form.png")
