"""Metrics answers (the reference's example bodies) -> rows; the request across a bucket boundary; deleted
entities; the settings section."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from configuration import ConfigurationError, load_configuration
from customerio.errors import InvalidResponseError, NotFoundError
from datasets.metrics import readers

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
EASTERN = ZoneInfo("America/New_York")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def eastern(*args: int) -> int:
    return int(datetime(*args, tzinfo=EASTERN).timestamp())


class FakeClient:
    def __init__(self, *bodies: dict | Exception):
        self.bodies = list(bodies)
        self.calls: list[tuple[str, dict]] = []

    def request_json(self, method: str, path: str, params=None, json_body=None) -> dict:
        self.calls.append((path, dict(params or {})))
        body = self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]
        if isinstance(body, Exception):
            raise body
        return body


def test_v2_action_metrics_give_one_row_per_language_variant():
    client = FakeClient(fixture("campaign_action_metrics_v2.json"))
    rows = list(readers.v2_rows(client, "/v1/campaigns/1/actions/312/metrics", {"campaign_id": "1", "action_id": "312"},
                                "days", 1735689600, 1735862400, variants=True))
    assert client.calls == [("/v1/campaigns/1/actions/312/metrics",
                             {"version": 2, "res": "days", "start": 1735689600, "end": 1735862400, "tz": "UTC"})]
    assert [(r["language"], r["period_start"], r["sent"], r["delivered"]) for r in rows] == [
        ("", "1735689600", "8", "8"), ("", "1735776000", "6", "6"),
        ("es", "1735689600", "4", "3"), ("es", "1735776000", "3", "3")]
    assert {r["resolution"] for r in rows} == {"days"}
    assert len(rows[0]) == 5 + 26  # keys, resolution, period_start and the 26 series


def test_v2_without_variants_is_the_default_language():
    body = fixture("campaign_action_metrics_v2.json")
    del body["language_variants"]
    body["metric"]["series"]["2xx"] = [5, 7]  # a series the spec does not list becomes a column too
    rows = list(readers.v2_rows(FakeClient(body), "/p", {"campaign_id": "1", "action_id": "2"}, "days", 0, 1,
                                variants=True))
    assert [(r["language"], r["sent"], r["2xx"]) for r in rows] == [("", "12", "5"), ("", "9", "7")]


def test_v1_buckets_end_with_the_running_eastern_day():
    now = eastern(2026, 3, 8, 18, 30)  # the 23-hour day
    client = FakeClient(fixture("newsletter_metrics_v1.json"))
    rows = list(readers.v1_rows(client, "/v1/newsletters/9/metrics", {"newsletter_id": "9"}, "days", 2,
                                lambda: now))
    assert client.calls == [("/v1/newsletters/9/metrics", {"period": "days", "steps": 2})]
    assert [(r["period_start"], r["sent"], r["opened"]) for r in rows] == [
        (str(eastern(2026, 3, 7)), "0", "0"), (str(eastern(2026, 3, 8)), "340", "120")]
    assert "type" not in rows[0]


def test_a_request_across_midnight_eastern_is_sent_again():
    times = iter([eastern(2026, 3, 9, 23, 59, 59), eastern(2026, 3, 10, 0, 0, 1),
                  eastern(2026, 3, 10, 0, 0, 2), eastern(2026, 3, 10, 0, 0, 3)])
    client = FakeClient(fixture("broadcast_metrics_v1.json"))
    rows = list(readers.v1_rows(client, "/v1/broadcasts/2/metrics", {"broadcast_id": "2"}, "days", 2,
                                lambda: next(times)))
    assert len(client.calls) == 2
    assert rows[-1]["period_start"] == str(eastern(2026, 3, 10))


def test_link_metrics_one_row_per_link_and_bucket():
    now = eastern(2026, 3, 11, 10)
    rows = list(readers.link_rows(FakeClient(fixture("metrics_links_list.json")), "/v1/campaigns/4/metrics/links",
                                  {"campaign_id": "4"}, "days", 4, lambda: now))
    assert [(r["link_id"], r["href"], r["period_start"], r["clicked"], r["machine_clicked"]) for r in rows] == [
        ("1234", "https://docs.customer.io", str(eastern(2026, 3, d)), str(c), str(m))
        for d, c, m in ((8, 1, 0), (9, 3, 1), (10, 5, 1), (11, 7, 2))]


def test_journey_buckets_from_the_requested_start():
    body = {"journey_metric": {"started": [3, 4], "finished": [1, 2]}}
    client = FakeClient(body)
    rows = list(readers.journey_rows(client, "/v1/campaigns/7/journey_metrics", {"campaign_id": "7"}, "days",
                                     1735689600, 1735862400))
    assert client.calls == [("/v1/campaigns/7/journey_metrics",
                             {"start": 1735689600, "end": 1735862400, "resolution": "days"})]
    assert [(r["period_start"], r["started"], r["finished"]) for r in rows] == [
        ("1735689600", "3", "1"), ("1735776000", "4", "2")]


@pytest.mark.parametrize("body", [{}, {"metric": {"series": {"sent": 3}}}, {"metric": []},
                                  {"start": "soon", "metric": {"series": {}}}])
def test_an_answer_without_series_is_one_sentence(body):
    with pytest.raises(InvalidResponseError) as raised:
        list(readers.v2_rows(FakeClient(body), "/v1/campaigns/1/metrics", {"campaign_id": "1"}, "days", 0, 1))
    assert str(raised.value).startswith("Customer.io answered GET /v1/campaigns/1/metrics without")


def run_metrics(tmp_path, monkeypatch, client, entities: list[str], now: int) -> tuple[dict, Path]:
    """One run of the metrics dataset with a fake client; returns its new state and the tables folder."""
    from keboola.component import CommonInterface

    from datasets import RunContext
    from datasets.metrics import Metrics
    from tests.sandbox_harness import make_data_dir

    for name in ("KBC_STACKID", "KBC_DATA_TYPE_SUPPORT", "KBC_PROJECT_FEATURE_GATES"):
        monkeypatch.delenv(name, raising=False)
    make_data_dir(tmp_path, {})
    component = CommonInterface(data_folder_path=str(tmp_path))
    config = load_configuration({"#api_secret": "k", "metrics": {"entities": entities}})
    ctx = RunContext(client=client, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=False, now=now)
    return Metrics(config, clock=lambda: now).run(ctx, {}), Path(component.tables_out_path)


def test_a_deleted_entity_is_skipped_and_the_others_written(tmp_path, monkeypatch, caplog):
    now = eastern(2026, 3, 11, 10)
    series = fixture("broadcast_metrics_v1.json")

    class Client:
        def request_json(self, method, path, params=None, json_body=None):
            if path == "/v1/transactional":
                return {"messages": [{"id": 1, "created_at": 1}, {"id": 2, "created_at": 1}]}
            if path == "/v1/transactional/1/metrics":
                raise NotFoundError.for_request("GET", path)
            return series

    state, tables = run_metrics(tmp_path, monkeypatch, Client(), ["transactional_messages"], now)
    lines = (tables / "transactional_metrics.csv").read_text().splitlines()
    assert len(lines) == 3 and all(line.startswith("2,") for line in lines[1:])
    assert "transactional 1 was deleted during the run" in caplog.text
    assert state["marks"] == {"transactional_metrics:days": now}


# ------------------------------------------------------------------------------------------ settings
def parameters(section) -> dict:
    return {"#api_secret": "k", "metrics": section}


@pytest.mark.parametrize("section", [{}, [{}], {"resolution": "weeks", "links": True}])
def test_metrics_section_as_object_or_list(section):
    config = load_configuration(parameters(section))
    assert config.enabled_datasets() == ["metrics"]
    assert config.metrics.lookback_days == 7
    assert config.metrics.resolution.value in ("days", "weeks")


def test_metrics_section_switched_off():
    for section in ([], None, {"enabled": False}):
        assert load_configuration({**parameters(section), "campaigns": True}).metrics is None


@pytest.mark.parametrize(("section", "needle"), [
    ({"entities": ["campaign"]}, "'metrics.entities': unknown entity 'campaign'; allowed are campaigns,"),
    ({"resolution": "minute"}, "'metrics.resolution': must be 'hours', 'days', 'weeks' or 'months'."),
    ({"date_from": "2025-02-30"}, "'metrics.date_from': '2025-02-30' is not a date"),
    ({"lookback_days": -1}, "'metrics.lookback_days': must be at least 0."),
])
def test_metrics_mistakes_are_one_sentence(section, needle):
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(parameters(section))
    assert needle in str(raised.value)
    assert "\n" not in str(raised.value) and str(raised.value).endswith(".")


def test_date_from_is_read_against_the_run_clock():
    from datasets.settings import parse_date_from

    run_clock = datetime(2026, 3, 10, 16, tzinfo=UTC)
    assert parse_date_from("3 days ago", run_clock) == int(datetime(2026, 3, 7, tzinfo=UTC).timestamp())


def test_a_broadcast_deleted_before_its_actions_are_listed_is_a_warning_not_a_failed_run(tmp_path, monkeypatch,
                                                                                          caplog):
    now = eastern(2026, 3, 11, 10)
    series = fixture("broadcast_metrics_v1.json")

    class Client:
        def request_json(self, method, path, params=None, json_body=None):
            if path == "/v1/broadcasts":  # actions without ids: their listing is asked for
                return {"broadcasts": [{"id": 1, "created": 1, "actions": [{}]},
                                       {"id": 2, "created": 1, "actions": [{"id": 5}]}]}
            if path.startswith("/v1/broadcasts/1/"):
                raise NotFoundError.for_request("GET", path)
            return series

    state, tables = run_metrics(tmp_path, monkeypatch, Client(), ["broadcast_actions"], now)
    lines = (tables / "broadcast_action_metrics.csv").read_text().splitlines()
    assert len(lines) > 1 and all(line.startswith("2,5,") for line in lines[1:])
    assert caplog.text.count("broadcast 1 was deleted during the run") == 1
    assert state["marks"] == {"broadcast_action_metrics:days": now}
