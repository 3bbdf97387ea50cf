"""Rewrite the expected output of datadirtest cases from a run against the same sandbox as tests/test_functional.py.

    .venv/bin/python tests/functional/save_expected.py 05_messages 13_chained_continue

Review the diff before committing it: the expected output is what the tests hold the component to.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from sandbox import SandboxServer
from tests.test_functional import COMPONENT, FUNCTIONAL_DIR, SANDBOX, case_environment


def run_step(step: Path, url: str, state: dict | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(step / "source" / "data", data)
        for sub in ("in", "out/tables", "out/files"):
            (data / sub).mkdir(parents=True, exist_ok=True)
        if state is not None:
            (data / "in" / "state.json").write_text(json.dumps(state))
        env = {k: v for k, v in os.environ.items() if not k.startswith("KBC_")}
        env.update({"KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": url})
        env.update(case_environment(step / "source"))
        proc = subprocess.run([sys.executable, str(COMPONENT)], env=env, capture_output=True, text=True, check=False,
                              cwd=ROOT, timeout=300)
        print(f"{step.relative_to(FUNCTIONAL_DIR)}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
        post_run = step / "source" / "post_run.py"
        if post_run.exists():  # as datadirtest does before comparing
            spec = importlib.util.spec_from_file_location("post_run", post_run)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.run(type("Context", (), {"source_data_dir": str(data)}))
        out = step / "expected" / "data" / "out"
        for sub in ("tables", "files"):
            shutil.rmtree(out / sub, ignore_errors=True)
            shutil.copytree(data / "out" / sub, out / sub)
            (out / sub / ".gitkeep").touch()
        if (step / "source" / "expected_stdout").exists():
            (step / "source" / "expected_stdout").write_text(proc.stdout.replace(url, "{api_url}"))
        state_file = data / "out" / "state.json"
        return json.loads(state_file.read_text()) if state_file.exists() else {}


def main(names: list[str]) -> None:
    with SandboxServer(SANDBOX) as server:
        for name in names:
            case = FUNCTIONAL_DIR / name
            steps = [case] if (case / "source").is_dir() else sorted(p for p in case.iterdir() if (p / "source").is_dir())
            state = None
            for step in steps:
                state = run_step(step, server.url, state if len(steps) > 1 else None)


if __name__ == "__main__":
    main(sys.argv[1:])
