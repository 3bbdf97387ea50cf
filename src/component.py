"""Keboola entry point: Customer.io App API -> CSV tables with manifests.

Exit codes: 0 success, 1 user error (one readable sentence), 2 unexpected failure.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path

from keboola.component.base import ComponentBase, sync_action
from keboola.component.exceptions import UserException
from keboola.component.sync_actions import MessageType, SelectElement, ValidationResult

from configuration import Configuration, ConfigurationError, load_configuration
from customerio import CustomerIoClient, RateLimiter, resolve_base_url, response_part
from customerio.errors import CustomerIoError
from datasets import REGISTRY, RunContext
from memory import freeze_startup_objects, pin_mmap_threshold

log = logging.getLogger("component")

# Test and operations knobs, read from the environment only (never from the configuration): the read timeout of one
# request and the retry budget of one call, in seconds. Unset = the client's defaults (60 s and 600 s).
READ_TIMEOUT_ENV = "CUSTOMERIO_READ_TIMEOUT"
MAX_RETRY_SECONDS_ENV = "CUSTOMERIO_MAX_RETRY_SECONDS"
CONNECT_TIMEOUT = 10.0
LEGACY_STATE_KEYS = ("activity_headers", "message_headers", "message_last_token")
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_MAX_RETRY_SECONDS = 600.0


class Component(ComponentBase):
    @property
    def configuration(self):
        # keboola.component reads config.json on every access and assumes `parameters` is an object: without this
        # guard a config.json that is not JSON, or parameters that are a list or text, end in a traceback (exit 2).
        try:
            configuration = super().configuration
        except (ValueError, RecursionError, AttributeError):
            raise UserException("The configuration file config.json is missing or is not a JSON object: save the "
                                "configuration again.") from None
        parameters = configuration.parameters
        if parameters is None or parameters == []:  # the platform may store empty parameters as [] (or null)
            configuration.parameters = {}
        elif not isinstance(parameters, dict):
            raise UserException(f"The configuration's parameters must be an object of settings, not "
                                f"{_json_kind(parameters)}: fill in the App API key and choose the datasets in the "
                                "configuration form.")
        return configuration

    def run(self) -> None:
        config = self._config(for_run=True)
        state = self._previous_state()
        new_state = dict(state)  # datasets that do not run keep their marks
        started = time.monotonic()
        with self._client(config) as client:
            ctx = RunContext(client=client, component=self, tables_dir=Path(self.tables_out_path),
                             incremental_load=config.incremental_output, now=int(time.time()))
            for key in config.enabled_datasets():
                log.info("Extracting %s.", key)
                dataset = REGISTRY[key](config)
                previous = state.get(key)
                new_state[key] = dataset.run(ctx, previous if isinstance(previous, dict) else {})
        # Only now, with every table complete, do the marks advance.
        self.write_state_file(new_state)
        log.debug("Run finished in %.1f s.", time.monotonic() - started)

    def _previous_state(self) -> dict:
        state = self.get_state_file() or {}
        if not isinstance(state, dict):
            log.warning("The saved state is not an object; starting as on a first run.")
            return {}
        legacy = [key for key in LEGACY_STATE_KEYS if key in state]
        if legacy:
            # The older component's page tokens and headers do not apply to this version: drop them once.
            log.info("State of the older Customer.io component found (%s); it does not apply and is dropped.",
                     ", ".join(legacy))
        return {key: value for key, value in state.items() if key not in LEGACY_STATE_KEYS}

    @sync_action("testConnection")
    def test_connection(self) -> ValidationResult:
        config = self._config()
        segments = self._segments(config)
        return ValidationResult(f"Connected to Customer.io ({config.api_region.value.upper()} region); the key can "
                                f"read {len(segments)} segments.", MessageType.SUCCESS)

    @sync_action("listSegments")
    def list_segments(self) -> list[SelectElement]:
        segments = self._segments(self._config())
        ordered = sorted(segments, key=lambda s: (str(s.get("name") or "").lower(), s.get("id") or 0))
        return [SelectElement(value=str(s["id"]), label=f"{s.get('name') or 'Unnamed'} ({s['id']})")
                for s in ordered if "id" in s]

    def _segments(self, config: Configuration) -> list[dict]:
        """One cheap request shared by the sync actions; errors become the sentence a run would print."""
        with self._client(config) as client:
            try:
                return response_part(client.request_json("GET", "/v1/segments"), "segments", "GET /v1/segments")
            except CustomerIoError as exc:
                raise UserException(str(exc)) from None

    def _config(self, for_run: bool = False) -> Configuration:
        try:
            config = load_configuration(self.configuration.parameters, for_run=for_run)
        except ConfigurationError as exc:
            raise UserException(str(exc)) from None
        if config.debug:
            logging.getLogger().setLevel(logging.DEBUG)
        return config

    @staticmethod
    def _client(config: Configuration) -> CustomerIoClient:
        read_timeout = _seconds_from_env(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT)
        return CustomerIoClient(config.api_secret, resolve_base_url(config.api_region.value),
                                rate_limiter=RateLimiter(10.0), timeout=(min(CONNECT_TIMEOUT, read_timeout), read_timeout),
                                max_retry_seconds=_seconds_from_env(MAX_RETRY_SECONDS_ENV, DEFAULT_MAX_RETRY_SECONDS))


def _seconds_from_env(name: str, default: float) -> float:
    text = (os.environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UserException(f"The environment variable {name} must be a positive number of seconds, not '{text}': "
                            "fix or unset it.")
    return value


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def main() -> int:
    pin_mmap_threshold()
    freeze_startup_objects()  # after the imports: see memory.py
    try:
        Component().execute_action()
    except (UserException, CustomerIoError) as exc:
        # A user error: one sentence, no traceback.
        logging.getLogger("component").error("%s", exc)
        return 1
    except Exception:
        logging.getLogger("component").exception("Unexpected error; please report it with the job id.")
        return 2
    return 0


if __name__ == "__main__":
    code = main()
    if code:  # datadirtest runs this module in-process: a success must not call exit()
        sys.exit(code)
