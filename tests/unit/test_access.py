"""One policy for a 403: whatever dataset meets it, on whichever of its requests, the run ends with one sentence that
names the dataset, the path and the access to grant (datasets.base.run_dataset)."""

from __future__ import annotations

from pathlib import Path

import pytest

from configuration import load_configuration
from customerio.errors import PermissionDeniedError
from datasets import REGISTRY, RunContext, run_dataset


class Forbidden:
    """A client every request of which Customer.io answers 403."""

    def __init__(self):
        self.paths: list[str] = []

    def _deny(self, method, path, *args, **kwargs):
        self.paths.append(path)
        raise PermissionDeniedError.for_request(method, path)

    request_json = _deny

    def paginate(self, method, path, *args, **kwargs):
        yield from ()
        self._deny(method, path)


def forbidden_run(tmp_path, key: str, switch: object):
    """Run dataset ``key`` (switched on by ``switch``) against an API that answers 403: (dataset, client, sentence)."""
    (tmp_path / "tables").mkdir()
    config = load_configuration({"#api_secret": "k", key: switch})
    client = Forbidden()
    ctx = RunContext(client=client, component=None, tables_dir=tmp_path / "tables", incremental_load=True,
                     now=1_700_000_000, max_workers=2, progress_interval=3600)
    dataset = REGISTRY[key](config)
    with pytest.raises(PermissionDeniedError) as info:
        run_dataset(dataset, ctx, {})
    return dataset, client, str(info.value)


@pytest.mark.parametrize("key", REGISTRY.sections())
def test_a_403_in_a_dataset_with_code_is_the_dataset_sentence(key, tmp_path):
    dataset, client, message = forbidden_run(tmp_path, key, {})
    assert any(f"({path} answered 403)" in message for path in client.paths)
    assert message.startswith(f"The App API key may not read {dataset.title}")
    assert dataset.access in message and dataset.access != "access to this data"
    assert f"switch '{key}' off" in message
    assert not list(Path(tmp_path / "tables").glob("*.csv"))


@pytest.mark.parametrize("key", REGISTRY.flags())
def test_a_403_in_a_declared_dataset_is_its_sentence_with_its_own_access(key, tmp_path):
    """Every declared dataset (the drafts' and Design Studio's too) names what to grant, not the default."""
    dataset, client, message = forbidden_run(tmp_path, key, True)
    assert message.startswith(f"The App API key may not read {dataset.title} (")
    assert any(f"({path} answered 403)" in message for path in client.paths)
    assert dataset.access != "access to this data" and dataset.access in message
    assert f"switch '{key}' off" in message


def test_a_403_on_the_activity_read_of_customers_changes_is_the_customers_sentence(tmp_path):
    """Continue since last run reads who changed from the activity log first: a 403 there names customers too."""
    from datasets.customers import changes

    (tmp_path / "tables").mkdir()
    now = 1_700_000_000
    config = load_configuration({"#api_secret": "k", "customers": {"incremental_output": True}})
    previous = {"mark": now - 3600, "full_read_at": now - 3600, "shape": changes.shape_of(config.customers)}
    client = Forbidden()
    ctx = RunContext(client=client, component=None, tables_dir=tmp_path / "tables", incremental_load=True, now=now,
                     max_workers=2, progress_interval=3600, table_keys={"customers": ["cio_id"]})
    with pytest.raises(PermissionDeniedError) as info:
        run_dataset(REGISTRY["customers"](config), ctx, {"columns": {"customers": ["cio_id"]}, "changes": previous})
    assert client.paths and all(path == "/v1/activities" for path in client.paths)
    message = str(info.value)
    assert message.startswith("The App API key may not read customers (/v1/activities answered 403)")
    assert "switch 'customers' off" in message
