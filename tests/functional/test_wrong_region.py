"""The wrong region: Customer.io does not redirect App API requests between regions, and a key of the other region
gets a 401 that reads like a bad key. On a 401 the component asks the other region once with the same key.

Two sandboxes stand in for the two regions (CUSTOMERIO_REGION_URLS, a test-only mapping; CUSTOMERIO_API_URL unset),
each accepting its own key.
"""

from __future__ import annotations

import json

import pytest

from sandbox import SandboxServer, SandboxSettings
from tests.sandbox_harness import SECRET, assert_secret_absent, make_data_dir, run_component

EU_KEY = SECRET  # the key of the workspace, which is in the EU region


@pytest.fixture()
def regions():
    with SandboxServer(SandboxSettings(api_key="us-workspace-key")) as us, \
            SandboxServer(SandboxSettings(api_key=EU_KEY)) as eu:
        yield us, eu


def run(tmp_path, regions, key: str, region: str = "us", api_url: str = ""):
    us, eu = regions
    config = {"#api_secret": key, "api_region": region, "campaigns": True}
    env = {"CUSTOMERIO_API_URL": api_url, "CUSTOMERIO_REGION_URLS": json.dumps({"us": us.url, "eu": eu.url})}
    return run_component(make_data_dir(tmp_path, config), us.url, extra_env=env)


def test_a_key_of_the_other_region_says_which_region_and_what_to_set(tmp_path, regions):
    _us, eu = regions
    result = run(tmp_path, regions, EU_KEY)
    assert result.code == 1, result.stderr
    assert "but the EU region accepts it" in result.stderr and "set api_region (Region) to eu" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(eu.request_log) == 1, "the other region is asked once"
    assert_secret_absent(EU_KEY, result)


def test_a_key_no_region_accepts_keeps_the_usual_sentence(tmp_path, regions):
    _us, eu = regions
    result = run(tmp_path, regions, "revoked-key")
    assert result.code == 1, result.stderr
    assert "Customer.io rejected the API key (401)" in result.stderr and "accepts it" not in result.stderr
    assert len(eu.request_log) == 1


def test_the_right_region_asks_nothing_of_the_other(tmp_path, regions):
    us, _eu = regions
    result = run(tmp_path, regions, EU_KEY, region="eu")
    assert result.code == 0, result.stderr
    assert not us.request_log


def test_no_other_region_with_a_custom_api_url(tmp_path, regions):
    us, eu = regions
    result = run(tmp_path, regions, EU_KEY, api_url=us.url)
    assert result.code == 1, result.stderr
    assert "accepts it" not in result.stderr
    assert not eu.request_log
