"""The component's configuration (the `parameters` object of config.json), validated with pydantic.

The older component's keys keep working: `#api_secret`, `api_region`, `incremental_output` (0/1),
`campaigns`, `segments`, and the optional sections `activities`, `messages`, `customers` written as a list of
at most one object (the UI's "optional section" form) or, now also, as a plain object.
Every invalid value becomes one readable sentence that names the key and what is allowed.
"""

from __future__ import annotations

import difflib
import logging
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, ValidationError, create_model, field_validator

from datasets import REGISTRY  # every dataset's key, run order and settings model
from datasets.settings import Settings

log = logging.getLogger(__name__)


class ConfigurationError(ValueError):
    """One sentence that tells the user which key to fix and how."""


class Region(StrEnum):
    US = "us"
    EU = "eu"


class _Configuration(Settings):
    """The settings every run has. Each dataset's field (a settings section or an on/off flag) is added from the
    registry below (``Configuration``)."""

    api_secret: str = Field(alias="#api_secret", repr=False)
    api_region: Region = Region.US
    incremental_output: bool = True
    # The run's time budget (src/budget.py): stop starting work then, load what is complete, continue next run.
    max_run_minutes: float = Field(default=50.0, gt=0, le=7 * 24 * 60, allow_inf_nan=False)
    debug: bool = False
    _not_a_boolean: ClassVar[dict[str, str]] = {"incremental_output": "must be 0 (full load) or 1 (incremental update)"}

    @field_validator("api_secret", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("fill in the App API key")
        return value.strip()

    @field_validator(*REGISTRY.sections(), mode="before", check_fields=False)
    @classmethod
    def _optional_section(cls, value: Any) -> Any:
        # The UI stores an optional section as a list of at most one object; an empty list means "off".
        # A plain object (even {}) means "on"; {"enabled": false} switches it off.
        if value is None or value == []:
            return None
        if isinstance(value, list):
            if len(value) > 1:
                raise ValueError("must hold at most one settings object")
            value = value[0]
        if not isinstance(value, dict):
            raise ValueError("must be a settings object (or a list with one settings object)")
        if value.get("enabled") is False:
            return None
        return value

    def enabled_datasets(self) -> list[str]:
        """The datasets switched on, in the registry's run order (a section whose settings select nothing is off)."""
        return REGISTRY.enabled(self)


# One field per dataset of the registry: a boolean per declared dataset (off unless set; read by Settings' one rule
# for booleans), an optional settings section (its dataset's own model) per dataset with code.
Configuration = create_model(
    "Configuration", __base__=_Configuration, __module__=__name__,
    **{key: (bool, REGISTRY[key].default) for key in REGISTRY.flags()},
    **{key: (REGISTRY[key].settings | None, None) for key in REGISTRY.sections()},
)


def load_configuration(parameters: Any, *, for_run: bool = True) -> Configuration:
    """Validate `parameters`; raise ConfigurationError with one sentence on the first problem.

    Sync actions (for_run=False) work on a half-filled form: they need the key and region, not a dataset.
    """
    if not isinstance(parameters, dict) or not parameters:
        raise ConfigurationError("The configuration is empty: fill in the App API key (#api_secret) and choose "
                                 "at least one dataset.")
    if "#api_secret" not in parameters:
        raise ConfigurationError("The configuration has no App API key: fill in '#api_secret'.")
    try:
        config = Configuration.model_validate(parameters)
    except ValidationError as exc:
        raise ConfigurationError(_hide_secret(_sentence(exc), parameters.get("#api_secret"))) from None
    if for_run:
        _warn_unknown_keys(parameters)
    for key in REGISTRY.sections():
        settings = getattr(config, key)
        if settings is not None:
            try:
                settings.loaded(alone=for_run and not config.enabled_datasets())
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None
    if for_run and not config.enabled_datasets():
        raise ConfigurationError(REGISTRY.no_dataset_sentence())
    return config


# Keys the older component's configurations may still hold (`site_id` and `api_client_id` of its 2020 versions,
# `users` before `customers`) and the form's button and heading: they mean nothing here and stay silent.
_SILENT_KEYS = frozenset({"site_id", "#site_id", "api_client_id", "#api_client_id", "users", "test_connection",
                          "catalogue_heading"})


def _warn_unknown_keys(parameters: dict) -> None:
    """A misspelled key (`"campaign": true`) would switch nothing on without a word: name it and the closest key."""
    known = sorted(field.alias or name for name, field in Configuration.model_fields.items())
    for key in parameters:
        if key in known or key in _SILENT_KEYS or not isinstance(key, str):
            continue
        close = difflib.get_close_matches(key.strip().lower(), known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "see the configuration keys in the documentation."
        log.warning(_hide_secret(f"The configuration key '{_one_line(key)[:60]}' is not one this component "
                                 f"reads, so it is ignored: {hint}", parameters.get("#api_secret")))


def _sentence(exc: ValidationError) -> str:
    # include_input=False: pydantic would otherwise echo the input, and the input may be the API key.
    error = exc.errors(include_input=False, include_url=False)[0]
    location = [str(part) for part in error["loc"] if not str(part).isdigit()]
    key = ".".join(location) or "configuration"
    if key == "api_secret":
        key = "#api_secret"
    message = error["msg"]
    message = message.removeprefix("Value error, ")
    if error["type"] == "enum":
        message = f"must be {error.get('ctx', {}).get('expected', message)}"  # the enum's values, from pydantic
    elif error["type"] in ("bool_type", "bool_parsing"):
        message = "must be true or false"
    elif error["type"] in ("int_type", "int_parsing", "int_from_float"):
        message = "must be a whole number"
    elif error["type"] == "greater_than_equal":
        message = f"must be at least {error.get('ctx', {}).get('ge')}"
    elif error["type"] == "less_than_equal":
        message = f"must be at most {error.get('ctx', {}).get('le')}"
    elif error["type"] == "model_type":
        message = "must be a settings object"
    elif error["type"] == "list_type":
        message = "must be a list"
    elif error["type"] in ("string_type",):
        message = "must be text"
    elif error["type"] == "missing":
        message = "is required"
    if message.startswith("The customers filter"):
        return _one_line(message)  # already names where and what to fix
    sentence = _one_line(f"Invalid configuration value '{key}': {message}")
    return sentence if sentence.endswith((".", "?")) else sentence + "."


def _one_line(text: str) -> str:
    """Messages may quote what the user typed; a line break in it must not split the log line."""
    return " ".join(text.split())


def _hide_secret(message: str, secret: Any) -> str:
    """A message may quote a value the user typed; if the key was pasted into the wrong field, hide it."""
    if isinstance(secret, str):
        for value in {secret, secret.strip()}:
            if len(value) >= 8:  # shorter "keys" are no real key and would mangle ordinary words
                message = message.replace(value, "(hidden)")
    return message
