"""Fixtures of the customers tests."""

from __future__ import annotations

import json

import pytest
from keboola.component import CommonInterface


@pytest.fixture()
def component(tmp_path, monkeypatch):
    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    (data / "out" / "tables").mkdir(parents=True)
    (data / "in").mkdir(parents=True)
    (data / "config.json").write_text(json.dumps({"parameters": {}, "action": "run"}))
    return CommonInterface(data_folder_path=str(data))
