"""`make demo`: start the local Customer.io sandbox, run the component on the sample configuration, list the tables.

The data folder is ./data (config from component_config/sample-config). Run it again to see an incremental run
continue from the state the first run wrote.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import SandboxServer, SandboxSettings


def main() -> int:
    data = ROOT / "data"
    sample = ROOT / "component_config" / "sample-config"
    state_out = data / "out" / "state.json"
    previous_state = json.loads(state_out.read_text()) if state_out.exists() else {}
    if data.exists():
        shutil.rmtree(data)
    shutil.copytree(sample, data)
    (data / "in" / "state.json").write_text(json.dumps(previous_state))
    (data / "out" / "tables").mkdir(parents=True, exist_ok=True)
    with SandboxServer(SandboxSettings(scenario="demo")) as server:
        env = {**os.environ, "KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": server.url}
        print(f"Sandbox Customer.io API at {server.url}; running the component (state: "
              f"{'from the previous demo run' if previous_state else 'empty, full backfill'})...", flush=True)
        code = subprocess.call([sys.executable, str(ROOT / "src" / "component.py")], env=env, cwd=ROOT)
    if code:
        print(f"The component exited with {code}.")
        return code
    tables = sorted((data / "out" / "tables").glob("*.csv"))
    print(f"\nTables in {data / 'out' / 'tables'}:")
    for table in tables:
        with table.open(encoding="utf-8", newline="") as fh:
            rows = sum(1 for _ in csv.reader(fh)) - 1  # values may hold newlines: count records, not lines
        print(f"  {table.name:40} {rows:>8} rows")
    print(f"State for the next run: {state_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
