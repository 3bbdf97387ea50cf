"""Debug mode's recording: bounded per endpoint and in all, bodies cut, secrets and signed URLs never written."""

from __future__ import annotations

import json

import pytest
import requests

from debug_recording import Recorder, endpoint_of, record_debug_run

KEY = "secret-app-api-key-123"


def exchange(url: str, body: bytes = b'{"ok": true}', method: str = "GET", request_body: str | None = None):
    request = requests.Request(method, url, headers={"Authorization": f"Bearer {KEY}", "Accept": "application/json"},
                               data=request_body).prepare()
    response = requests.Response()
    response.status_code, response.reason, response._content = 200, "OK", body
    response.headers["Content-Type"] = "application/json"
    return request, response


def written(recorder: Recorder, tmp_path) -> dict:
    path = tmp_path / "recording.json"
    recorder.write(path, {"note": 1})
    return json.loads(path.read_text())


@pytest.mark.parametrize(("url", "expected"), [
    ("https://api.customer.io/v1/campaigns", "GET api.customer.io/v1/campaigns"),
    ("https://api.customer.io/v1/campaigns/12/actions?start=abc", "GET api.customer.io/v1/campaigns/{id}/actions"),
    ("https://bucket.s3.amazonaws.com/exports/a1b2c3.json.gz?X-Amz-Signature=x",
     "GET bucket.s3.amazonaws.com/exports/{id}"),
])
def test_endpoint_of(url, expected):
    assert endpoint_of("get", url) == expected


def test_a_run_keeps_the_first_exchanges_of_each_endpoint_and_a_total_bound(tmp_path):
    recorder = Recorder([KEY], sampled=True, per_endpoint=2, max_exchanges=5)
    for n in range(10):
        recorder.observe(*exchange(f"https://api.customer.io/v1/campaigns/{n}/actions"), streamed=False)
    for n in range(10):
        recorder.observe(*exchange(f"https://api.customer.io/v1/segments/{n}/membership"), streamed=False)
    for _ in range(10):
        recorder.observe(*exchange("https://api.customer.io/v1/messages"), streamed=False)
    uris = [i["request"]["uri"] for i in written(recorder, tmp_path)["interactions"]]
    assert uris == ["https://api.customer.io/v1/campaigns/0/actions", "https://api.customer.io/v1/campaigns/1/actions",
                    "https://api.customer.io/v1/segments/0/membership",
                    "https://api.customer.io/v1/segments/1/membership", "https://api.customer.io/v1/messages"]
    assert recorder.exchanges_seen == 30 and recorder.recorded == 5


def test_a_sync_action_is_kept_whole(tmp_path):
    recorder = Recorder([KEY], sampled=False, per_endpoint=1, max_exchanges=1)
    for _ in range(3):
        recorder.observe(*exchange("https://api.customer.io/v1/segments"), streamed=False)
    assert len(written(recorder, tmp_path)["interactions"]) == 3


def test_secrets_signed_urls_and_large_bodies_never_reach_the_recording(tmp_path):
    recorder = Recorder([KEY], sampled=True, max_body_bytes=100)
    signed = "https://bucket.s3.amazonaws.com/x.json?X-Amz-Credential=AKIA&X-Amz-Signature=abcdef&X-Amz-Expires=900"
    recorder.observe(*exchange(f"https://api.customer.io/v1/exports/1/download?k={KEY}",
                               body=json.dumps({"url": signed}).encode()), streamed=False)
    recorder.observe(*exchange(signed), streamed=True)
    recorder.observe(*exchange("https://api.customer.io/v1/customers", method="POST",
                               request_body=json.dumps({"filter": KEY}), body=b"x" * 1000), streamed=False)
    cassette = written(recorder, tmp_path)
    text = (tmp_path / "recording.json").read_text()
    assert KEY not in text and "Bearer" not in text and "abcdef" not in text and "AKIA" not in text
    assert "X-Amz-Expires=900" in text  # only the credential parts go
    first, download, search = cassette["interactions"]
    assert "Authorization" not in first["request"]["headers"] and first["request"]["headers"]["Accept"]
    assert download["response"]["body"] == {"string": "", "not_recorded": "a streamed download"}
    assert search["response"]["body"] == {"string": "x" * 100, "truncated_from_bytes": 1000}


def test_a_failed_action_still_leaves_its_recording(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"parameters": {"#api_secret": KEY}}))
    monkeypatch.setattr(requests.Session, "send", lambda session, request, **kw: exchange(request.url)[1])
    fake_send = requests.Session.send

    def action():
        requests.Session().get(f"https://api.customer.io/v1/campaigns?key={KEY}")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        record_debug_run(action, tmp_path, "run")
    [recording] = (tmp_path / "out" / "files").iterdir()
    cassette = json.loads(recording.read_text())
    assert cassette["_metadata"]["exchanges_recorded"] == 1 and KEY not in recording.read_text()
    assert requests.Session.send is fake_send  # the wrapper is gone after the action
