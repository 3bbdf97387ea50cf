"""Keboola's debug mode (``KBC_COMPONENT_RUN_MODE=debug``): a bounded sample of the HTTP exchanges, in real time.

keboola.component 1.11 records a debug run itself (``ComponentBase.execute_action`` ->
``_execute_with_vcr_recording`` -> ``keboola.vcr.VCRRecorder.record_debug_run``): vcrpy keeps every exchange of the
run, each response body whole in memory (a customers export file too), and writes them all to ``out/files/``, which
the platform uploads to Storage Files (200,000 deliveries made a 137 MB recording); and it runs the component under
freezegun's frozen clock, so every ``time.monotonic()`` read through the ``time`` module stands still (the run's
log said "Run finished in 0.0 s" after 25 s).

``record_debug_run`` replaces it (the component overrides ``_execute_with_vcr_recording``): it wraps
``requests.Session.send`` for the action's duration and keeps

- a sync action whole (it makes a request or two);
- a run: the first ``PER_ENDPOINT`` exchanges of each endpoint (method, host and path with ids as ``{id}``), at most
  ``MAX_EXCHANGES`` in all; streamed downloads (export files) with their status and headers only;
- every body cut at ``MAX_BODY_BYTES``.

Nothing else is kept in memory: each exchange goes to a file in the temporary directory as it happens, and the
recording (``out/files/vcr_debug_<component>_<config>_<time>.json``, keboola.vcr's cassette shape with a
``_metadata`` that says what was left out) is written from it at the end, also when the action fails. The clock is
never frozen. The API key and every ``#`` value of config.json are replaced by ``***`` everywhere; Authorization,
cookies and the signature parts of pre-signed URLs are dropped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

__all__ = ["MAX_BODY_BYTES", "MAX_EXCHANGES", "PER_ENDPOINT", "Recorder", "endpoint_of", "record_debug_run"]

log = logging.getLogger("component")
T = TypeVar("T")

PER_ENDPOINT = 3
MAX_EXCHANGES = 100
MAX_BODY_BYTES = 256 * 1024
REDACTED = "***"
_SECRET_HEADERS = re.compile(r"authorization|cookie|token|secret|api[-_]?key", re.IGNORECASE)
# Query parameters that make a pre-signed URL a credential (S3 and the like), in URLs and in JSON bodies.
_SIGNED_PARAMS = re.compile(r"(?i)\b((?:x-amz-(?:signature|credential|security-token)|signature|sig|token|"
                            r"googleaccessid|key-pair-id|policy)=)[^&\"'\s]+")
# A path segment that names one record: has a digit (not an API version like v1), or is long.
_ID_SEGMENT = re.compile(r"^(?!v\d+$).*\d|^.{25,}$")


def endpoint_of(method: str, url: str) -> str:
    """``GET api.customer.io/v1/campaigns/{id}/actions``: the unit a run's sample is counted in."""
    parts = urlsplit(url)
    path = "/".join("{id}" if _ID_SEGMENT.search(segment) else segment for segment in parts.path.split("/"))
    return f"{method.upper()} {parts.netloc}{path}"


def _secrets(value: Any, found: set[str]) -> set[str]:
    """Every value under a ``#`` key of the configuration (Keboola's encrypted values), recursively."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("#") and isinstance(item, str) and item.strip():
                found.add(item.strip())
            _secrets(item, found)
    elif isinstance(value, list):
        for item in value:
            _secrets(item, found)
    return found


class Recorder:
    """Keeps a bounded sample of exchanges in a temporary file; ``write`` turns it into the recording."""

    def __init__(self, secrets: Iterable[str], *, sampled: bool, per_endpoint: int = PER_ENDPOINT,
                 max_exchanges: int = MAX_EXCHANGES, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self.sampled = sampled
        self.per_endpoint = per_endpoint
        self.max_exchanges = max_exchanges
        self.max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        self.seen: dict[str, int] = {}
        self.recorded = 0
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by write()

    @property
    def exchanges_seen(self) -> int:
        return sum(self.seen.values())

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _SIGNED_PARAMS.sub(lambda m: m.group(1) + REDACTED, text)

    def _headers(self, headers: Any) -> dict[str, list[str]]:
        return {name: [self._clean(str(value))] for name, value in headers.items() if not _SECRET_HEADERS.search(name)}

    def _body(self, body: bytes | str | None) -> dict[str, Any]:
        if body is None:
            return {"string": ""}
        raw = body.encode("utf-8", "replace") if isinstance(body, str) else bytes(body)
        entry: dict[str, Any] = {"string": self._clean(raw[: self.max_body_bytes].decode("utf-8", "replace"))}
        if len(raw) > self.max_body_bytes:
            entry["truncated_from_bytes"] = len(raw)
        return entry

    def observe(self, request: requests.PreparedRequest, response: requests.Response, *, streamed: bool) -> None:
        endpoint = endpoint_of(request.method or "GET", request.url or "")
        with self._lock:
            count = self.seen.get(endpoint, 0)
            self.seen[endpoint] = count + 1
            if self.sampled and (count >= self.per_endpoint or self.recorded >= self.max_exchanges):
                return
            self.recorded += 1
        body = request.body
        response_body = ({"string": "", "not_recorded": "a streamed download"} if streamed
                         else self._body(response.content))
        interaction = {
            "request": {"method": request.method, "uri": self._clean(request.url or ""),
                        "headers": self._headers(request.headers), "body": self._body(body)["string"] or None},
            "response": {"status": {"code": response.status_code, "message": response.reason},
                         "headers": self._headers(response.headers), "body": response_body},
        }
        line = json.dumps(interaction, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._file.write(line + "\n")

    def write(self, path: Path, metadata: dict) -> None:
        """The recording, streamed from the temporary file; the temporary file is then gone."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, path.open("w", encoding="utf-8") as out:
            out.write('{\n  "_metadata": ' + json.dumps(metadata, sort_keys=True) + ',\n  "interactions": [\n')
            self._file.seek(0)
            for index, line in enumerate(self._file):
                out.write(("" if index == 0 else ",\n") + "    " + line.rstrip("\n"))
            out.write('\n  ],\n  "version": 1\n}\n')
            self._file.close()


def record_debug_run(action: Callable[[], T], data_dir: Path, action_name: str) -> T:
    """Run ``action`` with a bounded recording of its HTTP exchanges into ``<data_dir>/out/files/``."""
    try:
        config = json.loads((data_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    recorder = Recorder(_secrets(config, set()), sampled=action_name in ("", "run"))
    original = requests.Session.send

    def send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = original(session, request, **kwargs)
        try:
            recorder.observe(request, response, streamed=bool(kwargs.get("stream")))
        except Exception:  # a recording never fails the run it records
            log.debug("Debug mode: an HTTP exchange could not be recorded.", exc_info=True)
        return response

    component_id = os.environ.get("KBC_COMPONENTID", "component").replace(".", "-")
    config_id = os.environ.get("KBC_CONFIGID", "unknown")
    started_at = datetime.now(UTC)
    name = f"vcr_debug_{component_id}_{config_id}_{started_at:%Y%m%d_%H%M%S}.json"
    started = time.monotonic()
    requests.Session.send = send  # type: ignore[method-assign]
    try:
        return action()
    finally:
        requests.Session.send = original  # type: ignore[method-assign]
        seconds = time.monotonic() - started
        metadata = {
            "recorded_at": datetime.now(UTC).isoformat(), "started_at": started_at.isoformat(),
            "run_seconds": round(seconds, 3), "action": action_name or "run",
            "sample": ({"per_endpoint": recorder.per_endpoint, "max_exchanges": recorder.max_exchanges,
                        "max_body_bytes": recorder.max_body_bytes} if recorder.sampled
                       else {"max_body_bytes": recorder.max_body_bytes}),
            "exchanges_seen": recorder.exchanges_seen, "exchanges_recorded": recorder.recorded,
            "exchanges_by_endpoint": dict(sorted(recorder.seen.items())),
        }
        try:
            recorder.write(data_dir / "out" / "files" / name, metadata)
            log.info("Debug mode: %s of %s HTTP exchanges recorded to out/files/%s (%s s).", recorder.recorded,
                     recorder.exchanges_seen, name, f"{seconds:.1f}")
        except OSError as exc:
            log.warning("Debug mode: the recording could not be written (%s).", exc.strerror or type(exc).__name__)
