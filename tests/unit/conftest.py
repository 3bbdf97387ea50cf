"""Fixtures shared by the unit tests."""

from __future__ import annotations

import json

import pytest
from keboola.component import CommonInterface


@pytest.fixture()
def component(tmp_path, monkeypatch):
    """A component on an empty data folder of its own; it writes the typed manifest format (no KBC_STACKID)."""
    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    (data / "out" / "tables").mkdir(parents=True)
    (data / "in" / "tables").mkdir(parents=True)
    (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
    return CommonInterface(data_folder_path=str(data))
