"""keboola.datadirtest cases in tests/functional/NN_*: the real component, run as a process against the sandbox.

A case is a folder with `source/` and `expected/` (compared byte for byte: out/tables and out/files), or a folder
of such steps run in order (a chained case: each step starts from the state the previous one wrote). Each case may
hold `source/expected_exit_code` (default 0), `source/expected_stderr` (a text that must appear in stderr),
`source/environment.json` (variables Keboola's runner sets, such as KBC_STACKID),
`source/expected_stdout` (a sync action's answer: the JSON stdout must equal it, `{api_url}` standing for
the sandbox's address) and `source/post_run.py` (run
before the comparison). Every case checks that the API key appears nowhere in the output.

The sandbox is small and anchored at a fixed time, so that messages and activities (dated relative to the
sandbox's "now") give the same bytes on any day. `python tests/functional/save_expected.py NN_case` rewrites a
case's expected output from a run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from keboola.datadirtest import DataDirTester, TestDataDir

from sandbox import SandboxServer, SandboxSettings

FUNCTIONAL_DIR = Path(__file__).parent / "functional"
COMPONENT = Path(__file__).resolve().parent.parent / "src" / "component.py"
# 2026-09-21 14:13:20 UTC: the sandbox's "server start"; its messages and activities lie before it
SANDBOX = SandboxSettings(scenario="test", anchor=1_790_000_000, people=25, messages=60, activities=40,
                          membership=40, export_delay=0.5)


def is_case(folder: Path) -> bool:
    return folder.is_dir() and not folder.name.startswith("_") and (
        (folder / "source").is_dir() or any((step / "source").is_dir() for step in folder.iterdir()))


CASES = sorted(p.name for p in FUNCTIONAL_DIR.iterdir() if is_case(p))


def case_environment(source: Path) -> dict[str, str]:
    """`source/environment.json`: variables the job runner sets (e.g. KBC_STACKID), for a case in its environment."""
    path = source / "environment.json"
    return json.loads(path.read_text()) if path.exists() else {}


class SandboxDataDirTest(TestDataDir):
    """Runs the component in a subprocess (so its real exit code and output are checked) against the sandbox."""

    def run_component(self):
        source = Path(self.orig_dir) / "source"
        expected_code = int((source / "expected_exit_code").read_text()) if (source / "expected_exit_code").exists() \
            else 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("KBC_")}
        env.update({"KBC_DATADIR": self.source_data_dir, "CUSTOMERIO_API_URL": self.context_parameters["api_url"]})
        env.update(case_environment(source))
        proc = subprocess.run([sys.executable, str(COMPONENT)], env=env, capture_output=True, text=True, check=False, timeout=300,
                              cwd=COMPONENT.parent.parent)
        assert proc.returncode == expected_code, f"exit {proc.returncode}, expected {expected_code}:\n{proc.stderr}"
        if (source / "expected_stderr").exists():
            assert (source / "expected_stderr").read_text().strip() in proc.stderr
        if (source / "expected_stdout").exists():
            expected = (source / "expected_stdout").read_text().replace("{api_url}", self.context_parameters["api_url"])
            assert json.loads(proc.stdout) == json.loads(expected), proc.stdout
        secret = json.loads(Path(self.source_config_path).read_text())["parameters"].get("#api_secret", "")
        outputs = [proc.stdout, proc.stderr] + [p.read_text(errors="replace") for p in
                                                Path(self.source_data_dir, "out").rglob("*") if p.is_file()]
        assert not secret or all(secret not in text for text in outputs), "the API key leaked into the output"


@pytest.fixture(scope="module")
def sandbox_url():
    with SandboxServer(SANDBOX) as server:
        yield server.url


@pytest.mark.parametrize("case", CASES)
def test_functional(case, sandbox_url):
    DataDirTester(data_dir=str(FUNCTIONAL_DIR), component_script=str(COMPONENT), test_data_dir_class=SandboxDataDirTest,
                  context_parameters={"api_url": sandbox_url}, selected_tests=[case]).run()
