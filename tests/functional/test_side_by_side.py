"""Datasets run side by side (datasets.runner) write the same bytes as each dataset run alone."""

from __future__ import annotations

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import SECRET, make_data_dir, run_component

# More datasets than run at once (datasets.runner.DATASETS_AT_ONCE), sharing parents (campaigns, segments).
DATASETS = {
    "campaigns": True,
    "segments": True,
    "campaign_actions": True,
    "newsletters": True,
    "messages": {"incremental_output": True},
    "activities": {"types": ["event", "page"]},
    "customers": {"mode": "search"},
    "segment_membership": {},
}


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxSettings(scenario="test", latency_ms=20)) as srv:
        yield srv


def output(result) -> dict[str, bytes]:
    assert result.code == 0, result.stderr[-3000:]
    return {path.name: path.read_bytes() for path in sorted(result.tables.iterdir())}


def test_datasets_side_by_side_write_the_tables_and_state_of_each_run_alone(server, tmp_path):
    base = {"#api_secret": SECRET, "incremental_output": 1}
    together = run_component(make_data_dir(tmp_path / "together", {**base, **DATASETS}), server.url)
    files = output(together)
    alone: dict[str, bytes] = {}
    for key, value in DATASETS.items():
        result = run_component(make_data_dir(tmp_path / key, {**base, key: value}), server.url)
        for name, data in output(result).items():
            assert name not in alone, f"{name} written by two datasets"
            alone[name] = data
        for part in ("table_keys", "column_names"):
            for table, value_ in result.state[part].items():
                assert together.state[part][table] == value_, (part, table)
        assert together.state[key]["columns"] == result.state[key]["columns"], key
    assert len(files) > 2 * len(DATASETS)  # tables and manifests of every dataset
    assert sorted(files) == sorted(alone)
    for name, data in files.items():
        assert data == alone[name], f"{name} differs from the run of its dataset alone"
