"""Shared by the functional tests: run the real component as a process against a sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "src" / "component.py"
SECRET = "sandbox-key"


@dataclass
class RunResult:
    code: int
    stdout: str
    stderr: str
    data_dir: Path

    @property
    def tables(self) -> Path:
        return self.data_dir / "out" / "tables"

    @property
    def state(self) -> dict:
        path = self.data_dir / "out" / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def csv(self, name: str) -> list[dict]:
        import csv

        with (self.tables / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))


def make_data_dir(base: Path, parameters: dict, state: dict | None = None, action: str = "run") -> Path:
    data = base
    (data / "in").mkdir(parents=True, exist_ok=True)
    (data / "out" / "tables").mkdir(parents=True, exist_ok=True)
    (data / "out" / "files").mkdir(parents=True, exist_ok=True)
    (data / "config.json").write_text(json.dumps({"parameters": parameters, "action": action}))
    (data / "in" / "state.json").write_text(json.dumps(state or {}))
    return data


def run_component(data_dir: Path, api_url: str, *, timeout: float = 300, extra_env: dict | None = None) -> RunResult:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBC_")}
    env.update({"KBC_DATADIR": str(data_dir), "CUSTOMERIO_API_URL": api_url, "PYTHONUNBUFFERED": "1"})
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, str(COMPONENT)], cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=timeout)
    return RunResult(proc.returncode, proc.stdout, proc.stderr, data_dir)


def assert_secret_absent(secret: str, result: RunResult) -> None:
    """The key must not appear in stdout, stderr or any file the run wrote."""
    assert secret not in result.stdout
    assert secret not in result.stderr
    for path in (result.data_dir / "out").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(encoding="utf-8", errors="replace"), path


def admin(server, path: str, body: dict | None = None) -> dict:
    """A change to the sandbox between runs, through its admin API (POST /_sandbox/<path>)."""
    response = requests.post(f"{server.url}/_sandbox/{path}", json=body or {}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()
