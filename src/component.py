"""Keboola entry point: Customer.io App API -> CSV tables with manifests.

Exit codes: 0 success, 1 user error (one readable sentence), 2 unexpected failure.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path

from keboola.component.base import _SYNC_ACTION_MAPPING, ComponentBase, sync_action
from keboola.component.exceptions import UserException
from keboola.component.sync_actions import MessageType, SelectElement, ValidationResult

from budget import Budget, Estimate
from configuration import Configuration, ConfigurationError, load_configuration
from customerio import CustomerIoClient, RateLimiter, resolve_base_url
from customerio.errors import CustomerIoError
from customerio.regions import API_URL_ENV
from datasets import REGISTRY, RunContext, run_datasets
from datasets.catalogue import SEGMENTS
from datasets.declared import read_rows
from datasets.runner import refusal_together, together
from datasets.upgrade import COLUMN_NAMES, TABLE_KEYS, upgrade_state
from debug_recording import record_debug_run
from memory import freeze_startup_objects, pin_mmap_threshold

log = logging.getLogger("component")

# Test and operations knobs, read from the environment only (never from the configuration): the read timeout of one
# request and the retry budget of one call, in seconds. Unset = the client's defaults (60 s and 600 s).
READ_TIMEOUT_ENV = "CUSTOMERIO_READ_TIMEOUT"
MAX_RETRY_SECONDS_ENV = "CUSTOMERIO_MAX_RETRY_SECONDS"
CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_MAX_RETRY_SECONDS = 600.0
# Keboola ends a sync action after 30 seconds: its requests get their own short budget (retries, then one read),
# so that even under a storm of 429s the user reads a sentence instead of a platform timeout.
SYNC_ACTION_RETRY_SECONDS = 15.0
SYNC_ACTION_READ_TIMEOUT = 8.0
# Customer.io's App API allows 10 requests per second per workspace (https://docs.customer.io/api/app/, "Rate
# limits"); one limiter shared by every thread of the run keeps to it. The workers keep enough requests in flight
# to reach that rate despite each request's round trip; every dataset gets both through the RunContext.
REQUESTS_PER_SECOND = 10.0
WORKERS = 8


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
        if not configuration.action:
            configuration.action = "run"  # the platform's default; the library would log a warning about it
        elif configuration.action not in _SYNC_ACTION_MAPPING:
            known = ", ".join(sorted(_SYNC_ACTION_MAPPING))
            raise UserException(f"The action '{_one_line(str(configuration.action))[:60]}' in config.json is not one "
                                f"this component has: use one of {known}.")
        parameters = configuration.parameters
        if parameters is None or parameters == []:  # the platform may store empty parameters as [] (or null)
            configuration.parameters = {}
        elif not isinstance(parameters, dict):
            raise UserException(f"The configuration's parameters must be an object of settings, not "
                                f"{_json_kind(parameters)}: fill in the App API key and choose the datasets in the "
                                "configuration form.")
        return configuration

    def _execute_with_vcr_recording(self):
        # Keboola's debug mode: a bounded sample in real time instead of the library's full recording under a frozen
        # clock (see debug_recording).
        return record_debug_run(self._do_execute_action, Path(self.data_folder_path), self.configuration.action)

    def run(self) -> None:
        config = self._config(for_run=True)
        state = self._previous_state()
        new_state = dict(state)  # datasets that do not run keep their marks
        started = time.monotonic()
        budget = Budget.of_minutes(config.max_run_minutes)
        with self._client(config) as client:
            ctx = RunContext(client=client, component=self, tables_dir=Path(self.tables_out_path),
                             incremental_load=config.incremental_output, now=int(time.time()), max_workers=WORKERS,
                             table_keys=_table_keys(state.get(TABLE_KEYS)),
                             column_names=_column_names(state.get(COLUMN_NAMES)), budget=budget)
            datasets = {key: REGISTRY[key](config) for key in config.enabled_datasets()}
            estimates = _plan(ctx, datasets, state)
            new_state.update(run_datasets(ctx, datasets, estimates, state))
            # Sorted: datasets side by side open their tables in any order, and the same run saves the same state.
            new_state[TABLE_KEYS] = dict(sorted(ctx.table_keys.items()))
            new_state[COLUMN_NAMES] = dict(sorted(ctx.column_names.items()))
        if config.incremental_output and not _any_known_columns(state):
            _note_unknown_columns(state)
        # Only now, with every table complete, do the marks advance.
        self.write_state_file(new_state)
        left = budget.left_for_next_run()
        if left:
            log.warning("%s", left)
        log.debug("Run finished in %.1f s.", time.monotonic() - started)

    def _previous_state(self) -> dict:
        # Read here rather than through get_state_file(), which logs "Loading state file.." on every run and
        # ends a run with a traceback on a file that is not JSON.
        path = Path(self.data_folder_path) / "in" / "state.json"
        try:
            state = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except ValueError as exc:
            where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise UserException(f"The state file in/state.json is not valid JSON{where}: fix or delete it (Reset "
                                "state in Keboola) to start as on a first run.") from None
        state = state or {}
        if not isinstance(state, dict):
            log.warning("The saved state is not an object; starting as on a first run.")
            return {}
        return upgrade_state(state)

    @sync_action("testConnection")
    def test_connection(self) -> ValidationResult:
        config = self._config()
        segments = self._segments(config)
        custom = (os.environ.get(API_URL_ENV) or "").strip()
        where = (f"the Customer.io API at {resolve_base_url(config.api_region.value)} (set by {API_URL_ENV}, e.g. "
                 "the local sandbox)" if custom else f"Customer.io ({config.api_region.value.upper()} region)")
        return ValidationResult(f"Connected to {where}; the key can read {len(segments)} segments.",
                                MessageType.SUCCESS)

    @sync_action("listSegments")
    def list_segments(self) -> list[SelectElement]:
        segments = self._segments(self._config())
        ordered = sorted(segments, key=lambda s: (str(s.get("name") or "").lower(), s.get("id") or 0))
        return [SelectElement(value=str(s["id"]), label=f"{s.get('name') or 'Unnamed'} ({s['id']})")
                for s in ordered if "id" in s]

    def _segments(self, config: Configuration) -> list[dict]:
        """One cheap request shared by the sync actions; errors become the sentence a run would print."""
        with self._client(config, sync_action=True) as client:
            try:
                return list(read_rows(client, SEGMENTS, {}))  # the segments declaration, as a run reads it
            except CustomerIoError as exc:
                raise UserException(str(exc)) from None

    def _config(self, for_run: bool = False) -> Configuration:
        try:
            config = load_configuration(self.configuration.parameters, for_run=for_run)
        except ConfigurationError as exc:
            raise UserException(str(exc)) from None
        # A sync action's stdout is its JSON answer: the library mutes logging for it, and DEBUG would bring the
        # log lines back onto stdout (the platform then reports an application error).
        if config.debug and self.configuration.action in ("", "run"):
            logging.getLogger().setLevel(logging.DEBUG)
        return config

    @staticmethod
    def _client(config: Configuration, *, sync_action: bool = False) -> CustomerIoClient:
        read_timeout = _seconds_from_env(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT)
        retry_seconds = _seconds_from_env(MAX_RETRY_SECONDS_ENV, DEFAULT_MAX_RETRY_SECONDS)
        if sync_action:
            read_timeout = min(read_timeout, SYNC_ACTION_READ_TIMEOUT)
            retry_seconds = min(retry_seconds, SYNC_ACTION_RETRY_SECONDS)
        return CustomerIoClient(config.api_secret, resolve_base_url(config.api_region.value),
                                rate_limiter=RateLimiter(REQUESTS_PER_SECOND), timeout=(min(CONNECT_TIMEOUT, read_timeout), read_timeout),
                                max_retry_seconds=retry_seconds)


def _plan(ctx: RunContext, datasets: dict, state: dict) -> dict[str, Estimate]:
    """One plan line per dataset that can be estimated; a snapshot that cannot fit the budget is refused (exit 1)
    here, before any time is spent: it would be skipped or killed on every run, and nothing would ever load."""
    estimates = {}
    for key, dataset in datasets.items():
        previous = state.get(key)
        estimate = dataset.estimate(ctx, previous if isinstance(previous, dict) else {})
        if estimate is None:
            continue
        log.info("%s", estimate.plan_line())
        if estimate.snapshot and estimate.certain and estimate.seconds > ctx.budget.seconds:
            raise UserException(estimate.refusal(ctx.budget))
        estimates[key] = estimate
    if together(estimates) > ctx.budget.seconds:  # each fits alone, but they share the one 10 requests/s
        raise UserException(refusal_together(estimates, ctx.budget))
    return estimates



def _any_known_columns(state: dict) -> bool:
    return any(isinstance(part, dict) and part.get("columns") for part in state.values())


def _note_unknown_columns(state: dict) -> None:
    """Storage refuses a load whose CSV lacks a column its table has; an incremental run that knew no columns says
    so where its tables may already be in Storage, and in words that fit how likely that is."""
    if state:  # an earlier run left state but no columns (a state kept from an older version): the tables exist
        log.warning("The saved state names no table columns, so the tables hold only the columns this run saw: if "
                    "a Storage table has more, Storage refuses the load ('Some columns are missing in the csv "
                    "file'); see 'Load types and state' in the documentation.")
    elif os.environ.get("KBC_STACKID"):  # on Keboola (the runner always sets it): after Reset state, tables may exist
        log.info("No earlier run is in the state (the first run of this configuration, or after Reset state), so "
                 "the tables hold the columns this run saw; should Storage refuse a load for missing columns, see "
                 "'Load types and state' in the documentation.")


def _table_keys(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    return {str(table): [str(k) for k in key] for table, key in value.items() if isinstance(key, list)}


def _column_names(value: object) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        return {}
    return {str(table): {str(k): str(v) for k, v in names.items()} for table, names in value.items()
            if isinstance(names, dict)}


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


def _one_line(text: str) -> str:
    return " ".join(text.split())


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


def check_data_folder(environ=os.environ, argv: list[str] | None = None) -> None:
    """The data folder and its config.json, checked before keboola.component reads them (it would end in a traceback).

    The library takes the folder from ``-d``/``--data``, else KBC_DATADIR, else /data.
    """
    argv = sys.argv[1:] if argv is None else argv
    if any(arg in ("-d", "--data") or arg.startswith("--data=") for arg in argv):
        return  # the library reads that argument itself
    folder = (environ.get("KBC_DATADIR") or "").strip() or "/data"
    where = "KBC_DATADIR" if (environ.get("KBC_DATADIR") or "").strip() else "KBC_DATADIR is not set, so"
    if not os.path.isdir(folder):
        raise UserException(f"The data folder {folder} does not exist ({where} points there): set KBC_DATADIR to a "
                            "folder holding config.json (see the README, Running it yourself).")
    config = Path(folder) / "config.json"
    if not config.is_file():
        raise UserException(f"The data folder {folder} has no config.json: put the configuration there (see "
                            "component_config/sample-config/config.json).")
    try:
        document = json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        # Position and the parser's own short reason only: never the text around it (it may hold the key).
        raise UserException(f"The configuration file {config} is not valid JSON at line {exc.lineno}, column "
                            f"{exc.colno} ({exc.msg.lower()}): fix it there; a trailing comma is a common "
                            "cause.") from None
    except (OSError, ValueError):
        raise UserException(f"The configuration file {config} cannot be read as UTF-8 text: save it again.") from None
    if not isinstance(document, dict) or document.get("action") in (None, "", "run"):  # sync actions write no file
        check_output_folders(Path(folder))


def check_output_folders(data: Path) -> None:
    """out/ and out/tables/ must be writable by the user the process runs as (Keboola runs images as a non-root
    ``--user uid:gid``): say so in one sentence rather than fail on the first table with a PermissionError."""
    for folder in (data / "out", data / "out" / "tables"):
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent  # a missing folder is created in its first existing parent
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UserException(f"The folder {existing} is not writable by the user this component runs as (uid "
                                f"{os.getuid()}): make {folder} writable for that user.")


def main() -> int:
    pin_mmap_threshold()
    freeze_startup_objects()  # after the imports: see memory.py
    try:
        check_data_folder()
        Component().execute_action()
    except (UserException, CustomerIoError) as exc:
        # A user error: one sentence, no traceback.
        logging.getLogger("component").error("%s", exc)
        return 1
    except PermissionError as exc:
        if not exc.filename:
            logging.getLogger("component").exception("Unexpected error; please report it with the job id.")
            return 2
        # A file or folder the job's user may not write (the data folder, TMPDIR): the environment, not a bug.
        logging.getLogger("component").error("The component may not write %s (permission denied for uid %s): make it "
                                             "writable for the user the component runs as.", exc.filename, os.getuid())
        return 1
    except Exception:
        logging.getLogger("component").exception("Unexpected error; please report it with the job id.")
        return 2
    return 0


if __name__ == "__main__":
    code = main()
    if code:  # datadirtest runs this module in-process: a success must not call exit()
        sys.exit(code)
