"""What a new user meets first, against the sandbox: the README's examples work as written, the demo shows every
table and continues from state, and the everyday log says each thing once, in order, without library noise."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import ROOT, SECRET, make_data_dir, run_component

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxSettings(scenario="test")) as srv:
        yield srv


def readme_filter_examples() -> list[str]:
    """The JSON filters quoted in the README's "Examples of filters" paragraph."""
    paragraph = README.split("Examples of filters", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"`(\{.*?\})`", paragraph.replace("\n", " "))


def test_the_readme_has_filter_examples():
    assert len(readme_filter_examples()) >= 2


@pytest.mark.parametrize("example", readme_filter_examples())
def test_every_readme_filter_example_finds_the_people_the_sandbox_holds(example, server, tmp_path):
    expected = {person["identifiers"]["cio_id"] for person in server.workspace.iter_people()
                if server.workspace.match_filter(json.loads(example), person)}
    assert expected, f"the README example {example} matches nobody in the sandbox"
    parameters = {"#api_secret": SECRET, "customers": {"filters": example, "attributes": "plan"}}
    result = run_component(make_data_dir(tmp_path, parameters), server.url)
    assert result.code == 0, result.stderr
    assert {row["cio_id"] for row in result.csv("customers")} == expected


def test_the_readme_points_to_the_sample_configuration_and_explains_the_data_folder():
    section = README.split("## Running it yourself", 1)[1].split("\n## ", 1)[0]
    for needle in ("component_config/sample-config/config.json", "in/state.json", "out/state.json", "config.json"):
        assert needle in section
    assert (ROOT / "component_config" / "sample-config" / "config.json").is_file()


# ------------------------------------------------------------------------------------------------- the log

EVERYTHING = {"#api_secret": SECRET, "campaigns": True, "segments": True,
              "messages": {"types": ["email", "push"], "date_from": "60 days ago"},
              "activities": {"types": ["event", "page"], "mode": "SINGLE_TABLE"},
              "customers": {"attributes": ""}, "segment_membership": {"segment_ids": [3, 7]}}


def log_lines(result) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def test_a_plain_run_says_each_total_once_in_order_without_library_noise(server, tmp_path):
    first = run_component(make_data_dir(tmp_path / "a", EVERYTHING), server.url)
    second = run_component(make_data_dir(tmp_path / "b", EVERYTHING), server.url)
    assert first.code == 0 and second.code == 0, first.stderr + second.stderr
    lines = log_lines(first)
    # The same work, the same lines (datasets run side by side, so lines of different datasets may interleave in
    # another order; the plan lines come first, in registry order). A 429 now and then depends on the machine's
    # load, not on the work: its retry line is left out of the comparison.
    def steady(result) -> list[str]:
        return sorted(line for line in log_lines(result) if " answered 429 " not in line)

    assert steady(first) == steady(second)
    assert [line for line in lines if line.startswith('Plan: ')] == [
        line for line in log_lines(second) if line.startswith('Plan: ')]
    for noise in ("No action defined", "Loading state file", "State file not found"):
        assert not any(noise in line for line in lines), noise
    tables = [line for line in lines if re.fullmatch(r"Table \w+: [\d,]+ rows?\.", line)]
    assert sorted(tables) == sorted(set(tables)) and len(tables) == len(list(first.tables.glob("*.csv")))
    for line in lines:  # no other line repeats a table's total
        if line not in tables:
            assert not re.search(r"\b(people read|rows from \d+ segments|read\.)$", line), line
    prefixes = {line.split(":", 1)[0] for line in lines if re.match(r"^[a-z_]+( \(|:)", line)}
    assert prefixes <= {"messages", "messages (email)", "messages (push)", "activities", "customers",
                        "segment_membership"}, prefixes


def test_renames_and_clashes_are_logged_in_the_first_run_only(server, tmp_path):
    parameters = {"#api_secret": SECRET, "customers": {"attributes": ""}}
    first = run_component(make_data_dir(tmp_path / "first", parameters), server.url)
    assert first.code == 0, first.stderr
    text = "\n".join(log_lines(first))
    assert "Columns 'First Name' and 'first_name' of table customers clash in Storage" in text
    assert "'名前' as MingQian" in text
    manifest = json.loads((first.tables / "customers.csv.manifest").read_text())
    described = {column["name"]: column.get("description") for column in manifest["schema"]}
    assert described["MingQian"] == "Customer.io field '名前'."
    second = run_component(make_data_dir(tmp_path / "second", parameters, state=first.state), server.url)
    assert second.code == 0, second.stderr
    again = "\n".join(log_lines(second))
    assert "clash in Storage" not in again and "renamed for Storage" not in again
    assert json.loads((second.tables / "customers.csv.manifest").read_text()) == manifest  # still described


def test_flat_and_nested_keys_that_meet_keep_both_values_and_null_objects_make_no_column(server, tmp_path):
    parameters = {"#api_secret": SECRET, "activities": {"types": ["event", "_o:1:create"]}}
    result = run_component(make_data_dir(tmp_path, parameters), server.url)
    assert result.code == 0, result.stderr
    truth = {a["id"]: a for a in server.workspace.iter_activities("event")}
    both = [a for a in truth.values() if "product" in a["data"] and "product_id" in a["data"]]
    assert both, "the sandbox should send events with both product_id and product.id"
    rows = {row["id"]: row for row in result.csv("activity_event")}
    header = list(next(iter(rows.values())))
    names = dict(zip(result.state["activities"]["columns"]["activity_event"], header, strict=True))  # key -> column
    flat, nested = names["data_product_id"], names["data.product.id"]
    assert flat != nested
    for activity in both:
        assert rows[activity["id"]][flat] == str(activity["data"]["product_id"])
        assert rows[activity["id"]][nested] == str(activity["data"]["product"]["id"])
    assert "data_variant" not in names  # always null in the sandbox: no always-empty column
    object_header = list(result.csv("activity_o_1_create")[0])
    assert "customer_identifiers" not in object_header  # customer_identifiers: null on every object activity
    assert "clash in Storage" in "\n".join(log_lines(result))


# ------------------------------------------------------------------------------------------------- the demo


def test_the_demo_shows_every_table_and_its_second_run_continues_from_state(tmp_path):
    """Runs scripts/demo.py in a copy of the repository's demo inputs (its data folder is ROOT/data)."""
    workdir = tmp_path / "repo"
    (workdir / "scripts").mkdir(parents=True)
    (workdir / "scripts" / "demo.py").write_text((ROOT / "scripts" / "demo.py").read_text())  # its ROOT: workdir
    for folder in ("src", "sandbox", "component_config"):
        _link(ROOT / folder, workdir / folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KBC_", "CUSTOMERIO_"))}
    first = subprocess.run([sys.executable, str(workdir / "scripts" / "demo.py")], cwd=workdir, env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    tables = sorted(p.name for p in (workdir / "data" / "out" / "tables").glob("*.csv"))
    sample = json.loads((ROOT / "component_config" / "sample-config" / "config.json").read_text())["parameters"]
    for table in tables:
        line = next((line for line in first.stdout.splitlines() if line.strip().startswith(table + " ")), None)
        manifest = json.loads((workdir / "data" / "out" / "tables" / f"{table}.manifest").read_text())
        description = manifest["table_metadata"]["KBC.description"]
        assert line is not None and re.search(r" rows? ", line) and line.endswith(description), (table, line)
    for dataset in ("campaigns", "segments", "messages", "activities", "customers", "segment_membership"):
        if sample.get(dataset):
            assert dataset in first.stdout.split("Datasets switched on", 1)[1].splitlines()[0]
    assert "Look at the output" in first.stdout and "First run" in first.stdout
    state = json.loads((workdir / "data" / "out" / "state.json").read_text())
    second = subprocess.run([sys.executable, str(workdir / "scripts" / "demo.py")], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert "Second run" in second.stdout
    assert json.loads((workdir / "data" / "in" / "state.json").read_text()) == state
    rows_first = _rows(first.stdout, "messages.csv")
    rows_second = _rows(second.stdout, "messages.csv")
    assert 0 < rows_second < rows_first  # continued from the mark, not a second backfill


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=True)


def _rows(stdout: str, table: str) -> int:
    line = next(line for line in stdout.splitlines() if line.strip().startswith(table + " "))
    return int(line.split()[1].replace(",", ""))


def test_the_sample_configuration_switches_on_every_dataset_the_component_has():
    """`make demo` runs the sample configuration, so the demo shows every dataset only if it switches them on."""
    from configuration import load_configuration
    from datasets import REGISTRY

    sample = json.loads((ROOT / "component_config" / "sample-config" / "config.json").read_text())["parameters"]
    assert set(load_configuration(sample).enabled_datasets()) == set(REGISTRY)


def test_the_running_it_yourself_commands_work_as_written(tmp_path):
    """The README's commands after the install line, run by bash in a scratch folder (a free port for 8080)."""
    import socket

    block = README.split("## Running it yourself", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("python -m venv")]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    script = "\n".join(line.replace(".venv/bin/python", sys.executable).replace("8080", port) for line in commands)
    for folder in ("src", "sandbox", "component_config"):
        _link(ROOT / folder, tmp_path / folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KBC_", "CUSTOMERIO_"))}
    env["PYTHONPATH"] = str(tmp_path)
    proc = subprocess.run(["bash", "-ec", "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Cannot connect" not in proc.stdout + proc.stderr  # the sandbox was up before the component asked
    assert json.loads((tmp_path / "data" / "in" / "state.json").read_text())
    assert sorted(p.name for p in (tmp_path / "data" / "out" / "tables").glob("*.csv"))
