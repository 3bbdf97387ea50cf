"""`make demo`: start the local Customer.io sandbox, run the component on the sample configuration, list the tables.

The data folder is ./data: `config.json` from component_config/sample-config (every dataset it switches on), and
`in/state.json` from the previous demo run's `out/state.json`. Run it again and the second run continues from that
state: the sandbox holds the same records under the same ids (its clock starts again at "now", so they shift in time
by the pause between the runs) plus a few new messages and activities, and the component reads only what lies after
its marks (minus the documented overlaps); a re-read record keeps its id, so Storage upserts it, never doubles it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import SandboxServer, SandboxSettings

SAMPLE = ROOT / "component_config" / "sample-config"
NEW_RECORDS = {"messages": 25, "activities": 40}  # what "happens" in the workspace between two demo runs


def prepare(data: Path) -> dict:
    """A fresh data folder from the sample configuration; returns the previous run's state."""
    state_out = data / "out" / "state.json"
    previous_state = json.loads(state_out.read_text()) if state_out.exists() else {}
    if data.exists():
        shutil.rmtree(data)
    shutil.copytree(SAMPLE, data)
    (data / "in").mkdir(exist_ok=True)
    (data / "in" / "state.json").write_text(json.dumps(previous_state))
    (data / "out" / "tables").mkdir(parents=True, exist_ok=True)
    return previous_state


def describe_tables(tables_dir: Path) -> list[tuple[str, int, str]]:
    """(file name, rows, description from the manifest) per table, in name order."""
    rows = []
    for table in sorted(tables_dir.glob("*.csv")):
        manifest_path = table.with_name(table.name + ".manifest")
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        description = (manifest.get("table_metadata") or {}).get("KBC.description") or manifest.get("description")
        rows.append((table.name, count_records(table), description or ""))
    return rows


def count_records(table: Path) -> int:
    import csv

    with table.open(encoding="utf-8", newline="") as fh:
        return max(0, sum(1 for _ in csv.reader(fh)) - 1)  # values may hold newlines: count records, not lines


def main() -> int:
    data = ROOT / "data"
    previous_state = prepare(data)
    parameters = json.loads((data / "config.json").read_text())["parameters"]
    with SandboxServer(SandboxSettings(scenario="demo")) as server:
        if previous_state:
            for dataset, count in NEW_RECORDS.items():  # the workspace has lived on since the last run
                server.append(dataset, count)
        env = {key: value for key, value in os.environ.items() if not key.startswith("KBC_")}
        env.update({"KBC_DATADIR": str(data), "CUSTOMERIO_API_URL": server.url})
        switched_on = [key for key, value in parameters.items() if not key.startswith("#") and value not in
                       (False, 0, None, [], "") and key not in ("api_region", "incremental_output", "debug")]
        print(f"Sandbox Customer.io API at {server.url}. Datasets switched on in {SAMPLE.relative_to(ROOT)}: "
              f"{', '.join(switched_on)}.")
        if previous_state:
            print(f"Second run: state from the previous run (data/in/state.json); the sandbox has "
                  f"{NEW_RECORDS['messages']} new messages and {NEW_RECORDS['activities']} new activities since.")
        else:
            print("First run: empty state, so every dataset is read in full (a backfill).")
        print(flush=True)
        code = subprocess.call([sys.executable, str(ROOT / "src" / "component.py")], env=env, cwd=ROOT)
    if code:
        print(f"\nThe component exited with {code}.")
        return code
    tables_dir = data / "out" / "tables"
    print(f"\nTables in {tables_dir.relative_to(ROOT)}/ (each with a .manifest beside it):")
    for name, rows, description in describe_tables(tables_dir):
        print(f"  {name:32} {rows:>7,} {'row ' if rows == 1 else 'rows'}  {description}")
    print("\nLook at the output:")
    print("  head -5 data/out/tables/campaigns.csv            # a table (CSV with a header)")
    print("  python -m json.tool data/out/tables/campaigns.csv.manifest   # its columns, types and primary key")
    print("  cat data/out/state.json                           # the marks the next run continues from")
    print("Run `make demo` again: the next run starts from this state and reads only what is new.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
