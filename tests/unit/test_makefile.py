"""The Makefile's first checks: the Python version in one sentence, and a venv made by another Python is rebuilt.

Fake interpreters (shell scripts) stand in for Python 3.10 and for the venv's Python, so nothing is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def fake_python(path: Path, version: str) -> Path:
    """An interpreter that answers the Makefile's version questions as Python ``version`` and does nothing else."""
    major, minor = version.split(".")[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""#!/bin/sh
case "$1" in
  --version) echo "Python {version}" ;;
  -c) case "$2" in
        *sys.exit*) [ {major}{minor:0>2} -ge 311 ] ;;
        *) echo "{major}.{minor}" ;;
      esac ;;
  -m) if [ "$2" = venv ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi ;;
esac
""")
    path.chmod(0o755)
    return path


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=False, timeout=60)


def test_a_python_that_is_too_old_is_one_sentence_before_pip(tmp_path):
    old = fake_python(tmp_path / "python3.10", "3.10.13")
    result = make(f"PYTHON={old}", f"VENV={tmp_path / 'venv'}", "demo")
    assert result.returncode != 0
    assert "needs Python 3.11 or newer" in result.stdout and "is Python 3.10.13" in result.stdout
    assert "pip" not in result.stdout + result.stderr
    assert not (tmp_path / "venv").exists()


def test_a_venv_made_by_another_python_is_rebuilt(tmp_path):
    venv = tmp_path / "venv"
    fake_python(venv / "bin" / "python", "3.10.13")
    (venv / ".installed").write_text("")  # newer than the requirements: make alone would keep the stale venv
    new = fake_python(tmp_path / "python3.12", "3.12.1")
    result = make(f"PYTHON={new}", f"VENV={venv}", "venv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rebuilding" in result.stdout and "Python 3.10" in result.stdout
    assert "echo \"3.12\"" in (venv / "bin" / "python").read_text()  # made again, by the new Python
    again = make(f"PYTHON={new}", f"VENV={venv}", "venv")
    assert "Rebuilding" not in again.stdout
