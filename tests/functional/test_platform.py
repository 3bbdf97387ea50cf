"""The component as Keboola's job runner starts it: KBC_STACKID set (legacy manifests unless the project has native
types), a non-root user with the code read-only and no HOME, a fresh TMPDIR, and platform debug mode.

Runs as another user need root and setpriv (util-linux, essential in Debian); elsewhere those tests are skipped with
the reason, except that under CI=true (root in the pipeline's test image) a missing setpriv fails them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import COMPONENT, ROOT, SECRET, make_data_dir, run_component
from tests.storage_model import Storage

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
as_another_user = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or (SETPRIV is None and not CI),
    reason="running the component as another user needs root and setpriv")

PARAMETERS = {"#api_secret": SECRET, "incremental_output": True, "campaigns": True, "segments": True,
              "messages": {"incremental_output": True, "metrics_lookback_days": 0}}


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxSettings(scenario="test", messages=300, people=50, activities=50)) as srv:
        yield srv


def test_a_run_with_the_runners_environment_writes_legacy_manifests_storage_reads(server, tmp_path):
    data = make_data_dir(tmp_path / "data", PARAMETERS)
    result = run_component(data, server.url, extra_env={"KBC_STACKID": "connection.keboola.com",
                                                        "KBC_PROJECT_FEATURE_GATES": ""})
    assert result.code == 0, result.stderr[-3000:]
    assert "legacy queue" not in result.stderr
    manifest = json.loads((result.tables / "messages.csv.manifest").read_text())
    assert "schema" not in manifest and "write_always" not in manifest
    assert manifest["incremental"] is True and manifest["primary_key"] == ["id"]
    metadata = {column: {item["key"]: item["value"] for item in items}
                for column, items in manifest["column_metadata"].items()}
    with (result.tables / "messages.csv").open(encoding="utf-8") as fh:
        assert list(metadata) == fh.readline().rstrip("\n").split(",")  # every column of the file, in its order
    assert metadata["id"] == {"KBC.datatype.basetype": "STRING", "KBC.datatype.nullable": False}
    assert metadata["created"] == {"KBC.datatype.basetype": "INTEGER", "KBC.datatype.nullable": True,
                                   "KBC.description": "unix seconds (UTC)."}
    assert metadata["forgotten"]["KBC.datatype.basetype"] == "BOOLEAN"
    # Storage loads the legacy manifests (header from the file, key from primary_key).
    storage = Storage()
    storage.load(result.tables)
    assert storage["messages"].primary_key == ("id",)
    assert len(storage.rows("messages")) == len(result.csv("messages"))


def _as_nobody(data: Path, server_url: str, tmpdir: Path, code: tuple[Path, Path],
               timeout: float = 300) -> subprocess.CompletedProcess:
    """The component as the runner starts it: uid/gid 65534, no HOME, its own TMPDIR, the code owned by root."""
    env = {"PATH": "/usr/bin:/bin", "KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": server_url, "TMPDIR": str(tmpdir),
           "KBC_STACKID": "connection.keboola.com", "PYTHONUNBUFFERED": "1"}
    assert SETPRIV, "setpriv (util-linux) is missing: the runs as another user cannot run (CI=true)"
    python, component = code
    command = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", str(python), str(component)]
    return subprocess.run(command, cwd="/", env=env, capture_output=True, text=True, check=False, timeout=timeout)


@pytest.fixture(scope="module")
def readable_code():
    """The code (and the virtual environment it runs in) where the unprivileged user may read it, owned by root: the
    checkout may lie under a folder only root may enter (a clone in a 0700 temporary folder), while Keboola's image
    has the code world-readable. (python, component.py) of the copy."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        yield sys.executable, COMPONENT  # the tests that use it are skipped
        return
    base = Path(tempfile.mkdtemp(prefix="platform-code-", dir="/tmp"))
    base.chmod(0o755)
    shutil.copytree(ROOT / "src", base / "src", ignore=shutil.ignore_patterns("__pycache__"))
    python = Path(sys.executable)
    if sys.prefix != sys.base_prefix:  # a virtual environment inside the checkout: copy it too (about 1 s)
        shutil.copytree(sys.prefix, base / "venv", symlinks=True)
        python = base / "venv" / python.relative_to(sys.prefix)
    yield python, base / "src" / COMPONENT.name
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def nobody_dirs():
    """A data folder and a TMPDIR owned by the unprivileged user, where it can reach them (not under root's 0700
    pytest folder)."""
    base = Path(tempfile.mkdtemp(prefix="platform-nobody-", dir="/tmp"))
    base.chmod(0o755)
    data, tmpdir = base / "data", base / "tmp"
    tmpdir.mkdir()
    yield data, tmpdir
    shutil.rmtree(base, ignore_errors=True)


def _give_to_nobody(*paths: Path) -> None:
    for path in paths:
        for item in [path, *path.rglob("*")]:
            os.chown(item, NOBODY, NOBODY)


@as_another_user
def test_a_run_as_an_unprivileged_user_with_read_only_code_and_no_home(server, nobody_dirs, readable_code):
    data, tmpdir = nobody_dirs
    make_data_dir(data, {**PARAMETERS, "customers": {"mode": "export"}})
    _give_to_nobody(data, tmpdir)
    component = readable_code[1]
    assert os.stat(component).st_uid != NOBODY and not os.stat(component.parent).st_mode & 0o002  # read-only to nobody
    proc = _as_nobody(data, server.url, tmpdir, readable_code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(p.relative_to(data / "out").as_posix() for p in (data / "out").rglob("*") if p.is_file())
    assert written == ["state.json", *sorted(f"tables/{name}{suffix}" for name in
                                             ("campaigns", "customers", "message_link_clicks", "messages", "segments")
                                             for suffix in (".csv", ".csv.manifest"))]
    assert list(tmpdir.iterdir()) == []  # spools and the export file were in TMPDIR, and are gone


@as_another_user
@pytest.mark.parametrize("folder", ["out", "out/tables"])
def test_an_output_folder_the_user_cannot_write_is_one_sentence(server, nobody_dirs, readable_code, folder):
    data, tmpdir = nobody_dirs
    make_data_dir(data, PARAMETERS)
    _give_to_nobody(data, tmpdir)
    os.chown(data / folder, 0, 0)  # owned by root, 0755: nobody may not write there
    (data / folder).chmod(0o755)
    proc = _as_nobody(data, server.url, tmpdir, readable_code)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert f"The folder {data / folder} is not writable" in message and message.endswith("."), message


@pytest.fixture(scope="module")
def busy_server():
    with SandboxServer(SandboxSettings(scenario="test", people=1500, messages=300, activities=50)) as srv:
        yield srv


def test_a_debug_run_records_a_bounded_sample_and_real_durations(busy_server, tmp_path):
    from debug_recording import MAX_BODY_BYTES, PER_ENDPOINT, endpoint_of

    data = make_data_dir(tmp_path / "data", {**PARAMETERS, "debug": True, "campaign_actions": True,
                                             "customers": {"mode": "search"}, "segment_membership": {}})
    started = time.monotonic()
    result = run_component(data, busy_server.url, extra_env={"KBC_COMPONENT_RUN_MODE": "debug",
                                                             "CUSTOMERIO_MAX_RETRY_SECONDS": "60"})
    wall = time.monotonic() - started
    assert result.code == 0, result.stderr[-3000:]
    [recording] = (data / "out" / "files").iterdir()
    assert recording.name.startswith("vcr_debug_") and recording.suffix == ".json"
    cassette = json.loads(recording.read_text())
    metadata, interactions = cassette["_metadata"], cassette["interactions"]
    recorded: dict[str, int] = {}
    for interaction in interactions:
        endpoint = endpoint_of(interaction["request"]["method"], interaction["request"]["uri"])
        recorded[endpoint] = recorded.get(endpoint, 0) + 1
        assert len(interaction["response"]["body"]["string"].encode()) <= MAX_BODY_BYTES
    assert max(recorded.values()) <= PER_ENDPOINT
    seen = metadata["exchanges_by_endpoint"]
    assert set(recorded) == set(seen) and sum(seen.values()) == metadata["exchanges_seen"]
    assert max(seen.values()) > 10 * PER_ENDPOINT  # a run of many exchanges of one endpoint, sampled
    assert metadata["exchanges_recorded"] == len(interactions) < metadata["exchanges_seen"]
    assert recording.stat().st_size < 1_000_000
    assert SECRET not in recording.read_text() and "Bearer" not in recording.read_text()
    # Real time, not a frozen clock: the run (tens of requests at 10 a second) took seconds, and the log says so.
    [finished] = re.findall(r"Run finished in ([\d.]+) s", result.stderr + result.stdout)
    assert 1.0 <= float(finished) <= wall
    assert 1.0 <= metadata["run_seconds"] <= wall


def test_a_debug_sync_action_is_recorded_whole(busy_server, tmp_path):
    data = make_data_dir(tmp_path / "data", {"#api_secret": SECRET}, action="listSegments")
    result = run_component(data, busy_server.url, extra_env={"KBC_COMPONENT_RUN_MODE": "debug"})
    assert result.code == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)  # stdout is still exactly the action's JSON answer
    [recording] = (data / "out" / "files").iterdir()
    cassette = json.loads(recording.read_text())
    assert [i["request"]["uri"].rsplit("/", 2)[-2:] for i in cassette["interactions"]] == [["v1", "segments"]]
    assert cassette["_metadata"]["exchanges_seen"] == 1 and "per_endpoint" not in cassette["_metadata"]["sample"]
    assert SECRET not in recording.read_text()
