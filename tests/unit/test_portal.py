"""The Developer Portal properties kept in component_config/ and the script that pushes them.

The pipeline (keboola/component-ci) runs scripts/developer_portal/update_properties.sh after a deploy; here it runs
with DRY_RUN=1 and a `docker` on PATH that fails, so a call to the Portal would fail the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from keboola.component.base import _SYNC_ACTION_MAPPING

import component  # noqa: F401  (registers the sync actions)
from datasets.customers.settings import CustomersSettings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "component_config"
SCRIPTS = ROOT / "scripts" / "developer_portal"


def prop(name: str) -> str:
    return (CONFIG / name).read_text().strip()


def dry_run(tmp_path: Path) -> subprocess.CompletedProcess:
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "docker").write_text("#!/bin/sh\necho docker was called >&2\nexit 97\n")
    (fake / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "DRY_RUN": "1",
           "KBC_DEVELOPERPORTAL_APP": "kds-team.ex-customer-io", "KBC_DEVELOPERPORTAL_VENDOR": "kds-team"}
    return subprocess.run(["bash", str(ROOT / "scripts/developer_portal/update_properties.sh")], check=False, env=env,
                          capture_output=True, text=True, timeout=60)


def pushed(output: str) -> dict[str, str]:
    """Property name -> the value the script would push (it prints 'Updating <name> for <app>' then the value)."""
    found, lines = {}, output.splitlines()
    for i, line in enumerate(lines):
        match = re.fullmatch(r"Updating (\w+) for kds-team\.ex-customer-io", line)
        if match:
            found[match.group(1)] = lines[i + 1]
    return found


def test_the_listed_sync_actions_are_the_ones_the_component_registers():
    registered = sorted(name for name in _SYNC_ACTION_MAPPING if name != "run")
    assert registered == ["listSegments", "testConnection"]
    assert json.loads(prop("actions.md")) == registered


def test_the_actions_generator_rewrites_the_committed_file(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "component_config").mkdir()
    (copy / "component_config" / "actions.md").write_text("stale\n")  # the template's version stops here
    result = subprocess.run(["bash", str(SCRIPTS / "fn_actions_md_update.sh")], cwd=copy, check=False,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert (copy / "component_config" / "actions.md").read_text() == (CONFIG / "actions.md").read_text()


def test_the_dry_run_pushes_every_property_without_docker(tmp_path):
    result = dry_run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "docker was called" not in result.stderr
    values = pushed(result.stdout)
    assert set(values) == {
        "longDescription", "configurationSchema", "configurationDescription", "shortDescription", "logger",
        "loggerConfiguration", "licenseUrl", "documentationUrl", "sourceCodeUrl", "uiOptions", "defaultBucket",
        "defaultBucketStage", "requiredMemory", "processTimeout", "dataTypesConfiguration", "actions"}
    assert values["logger"] == "gelf"
    assert json.loads(values["actions"]) == ["listSegments", "testConnection"]
    assert json.loads(values["dataTypesConfiguration"]) == {"dataTypesSupport": "hints"}
    assert (values["defaultBucket"], values["defaultBucketStage"]) == ("true", "in")


def test_the_script_refuses_to_run_without_the_app_id(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KBC_DEVELOPERPORTAL_APP"}
    result = subprocess.run(["bash", str(SCRIPTS / "update_properties.sh")], env={**env, "DRY_RUN": "1"},
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "KBC_DEVELOPERPORTAL_APP" in result.stdout


@pytest.mark.parametrize("name", ["uiOptions.md", "loggerConfiguration.json", "dataTypesConfiguration.json",
                                  "actions.md", "configSchema.json"])
def test_object_properties_are_json(name):
    json.loads(prop(name))


def test_the_ui_options_make_a_generic_form_of_an_extractor_with_reset_state():
    assert json.loads(prop("uiOptions.md")) == ["genericDockerUI", "genericDockerUI-resetState", "appInfo.dataIn"]


def test_memory_leaves_headroom_over_the_measured_peak():
    # docs/benchmark.json: peak RSS of each benchmarked run (bench/run.py); 256m is the Portal's default
    peak_mb = max(run["peak_rss_mb"] for run in json.loads((ROOT / "docs/benchmark.json").read_text()))
    memory = prop("requiredMemory.md")
    assert re.fullmatch(r"\d+m", memory)
    assert int(memory[:-1]) >= 4 * peak_mb
    assert int(memory[:-1]) > 256


def test_the_process_timeout_outlasts_the_longest_wait_the_configuration_allows_by_default():
    # an export (customers.mode export) may be waited for export_timeout_minutes; the other datasets run after it
    timeout = int(prop("processTimeout.md"))
    export_wait = CustomersSettings().export_timeout_minutes * 60
    assert timeout >= export_wait + 3600
    assert timeout > 3600  # the Portal's default, one hour


def test_the_readme_lists_each_property_with_its_value():
    readme = (ROOT / "README.md").read_text()
    for name, value in [("requiredMemory", prop("requiredMemory.md")), ("processTimeout", prop("processTimeout.md")),
                        ("dataTypesConfiguration", "hints"), ("defaultBucket", "true"), ("logger", "gelf"),
                        ("uiOptions", "appInfo.dataIn"), ("actions", "listSegments")]:
        assert re.search(rf"^\| `{name}`[^\n]*{re.escape(value)}", readme, re.MULTILINE), name
