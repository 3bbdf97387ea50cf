"""The CI workflow: valid for GitHub, and calling keboola/component-ci's pipeline the way this repository needs.

check-jsonschema carries GitHub's workflow schema inside the package (--builtin-schema vendor.github-workflows),
so this runs offline.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "push.yml"
# The inputs of keboola/component-ci/.github/workflows/component-pipeline.yml (workflow_call), master of 2026-12
PIPELINE_INPUTS = {"app_id", "vendor", "kbc_test_configs", "kbc_host", "test_command", "dockerfile",
                   "docker_build_target", "test_build_target", "context", "build_args", "update_properties_script",
                   "kbc_developerportal_username", "tag", "update_properties"}


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], check=False, capture_output=True, text=True, timeout=60)


def workflow() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def test_the_workflow_is_valid_for_github():
    result = validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "push.yml"
    broken.write_text(WORKFLOW.read_text().replace("    uses: keboola/component-ci", "    usses: keboola/component-ci"))
    assert validate(broken).returncode != 0


def test_it_calls_the_component_pipeline_with_the_two_docker_targets():
    job = workflow()["jobs"]["ci"]
    assert job["uses"] == "keboola/component-ci/.github/workflows/component-pipeline.yml@master"
    assert job["secrets"] == "inherit"
    inputs = job["with"]
    assert set(inputs) <= PIPELINE_INPUTS
    stages = re.findall(r"^FROM \S+ AS (\w+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert inputs["test_build_target"] == "test" and "test" in stages
    assert inputs["docker_build_target"] == "production" and "production" in stages
    assert stages[-1] == "production"  # a plain `docker build .` builds what Keboola runs
    # every tag runs the pipeline; component-ci deploys only a semantic one (1.2.3) on the default branch
    assert workflow()["on"]["push"]["tags"] == ["*"]


def test_the_test_command_lints_and_runs_the_whole_suite():
    # the pipeline runs `docker run <image> <test_command>` in bash: one shell command for the container
    words = shlex.split(workflow()["jobs"]["ci"]["with"]["test_command"])
    assert words[:2] == ["sh", "-c"] and len(words) == 3
    steps = [step.split() for step in words[2].split("&&")]
    assert steps[0] == ["python", "-m", "ruff", "check", "."]
    assert steps[1][:4] == ["python", "-m", "pytest", "tests"]
    assert not any(arg.startswith(("-k", "-m", "--ignore", "--deselect")) for arg in steps[1][4:])


def test_ci_runs_what_make_test_runs():
    # `make test` is the one test command (issue 20): the pipeline's test_command is its recipe, step for step.
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe
    make_steps = [line.strip().replace("$(PY)", "python").split() for line in recipe.group(1).splitlines()]
    ci_steps = [step.split() for step in shlex.split(workflow()["jobs"]["ci"]["with"]["test_command"])[2].split("&&")]
    assert all(ci[:len(make)] == make for ci, make in zip(ci_steps, make_steps, strict=True))  # CI may add -q
