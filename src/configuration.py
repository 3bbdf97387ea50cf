"""The component's configuration (the `parameters` object of config.json), validated with pydantic.

The older component's keys keep working: `#api_secret`, `api_region`, `incremental_output` (0/1),
`campaigns`, `segments`, and the optional sections `activities`, `messages`, `customers` written as a list of
at most one object (the UI's "optional section" form) or, now also, as a plain object.
Every invalid value becomes one readable sentence that names the key and what is allowed.
"""

from __future__ import annotations

import difflib
import logging
import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from customerio.catalog import MESSAGE_TYPES, RETIRED_MESSAGE_TYPES, api_activity_type, is_activity_type
from customerio.filters import FilterError, parse_filter
from datasets import REGISTRY  # keys, run order and kinds; the registry never imports this module

log = logging.getLogger(__name__)


class ConfigurationError(ValueError):
    """One sentence that tells the user which key to fix and how."""


class Region(StrEnum):
    US = "us"
    EU = "eu"


class ActivityMode(StrEnum):
    PARSED_DATA = "PARSED_DATA"
    SINGLE_TABLE = "SINGLE_TABLE"


class CustomersMode(StrEnum):
    SEARCH = "search"
    EXPORT = "export"


class AttributesLayout(StrEnum):
    WIDE = "wide"
    LONG = "long"


class _Settings(BaseModel):
    """Every settings model: unknown keys ignored, and every enumerated field read alike."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _enumerated(cls, value: Any, info: ValidationInfo) -> Any:
        """Enumerated values are matched ignoring case and surrounding spaces (`single_table`, ` EU `, `Search`)."""
        enum = cls.model_fields[info.field_name].annotation
        if isinstance(value, str) and isinstance(enum, type) and issubclass(enum, StrEnum):
            text = value.strip().lower()
            for member in enum:
                if member.value.lower() == text:
                    return member.value
        return value


def _checked_date_from(value: str) -> str:
    if value.strip():
        parse_date_from(value, datetime.now(UTC))
    return value.strip()


class MessagesSettings(_Settings):
    types: list[str] = Field(default_factory=list)
    # Types asked for that Customer.io no longer has (urban_airship). When they are all that was asked for, the
    # messages dataset is skipped with a warning: an empty `types` means "every type", and a user who asked for one
    # type must never get all of them.
    retired_types: list[str] = Field(default_factory=list)
    incremental_output: bool = False  # "Continue since last run"
    date_from: str = ""
    metrics_lookback_days: int = Field(default=30, ge=0, le=3650)
    drafts: bool = False  # also read drafts (drafts=true) into message_drafts

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        if isinstance(data, dict) and "retired_types" not in data:
            try:
                asked = _string_list(data.get("types"), "messages.types")
            except ValueError:
                return data  # the types validator reports it
            retired = [name for name in dict.fromkeys(asked) if name.lower() in RETIRED_MESSAGE_TYPES]
            data = {**data, "retired_types": retired}
        return data

    @field_validator("types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> list[str]:
        types = _string_list(value, "messages.types")
        kept = []
        for name in types:
            name = name.lower() if name.lower() in (*MESSAGE_TYPES, *RETIRED_MESSAGE_TYPES) else name
            if name in RETIRED_MESSAGE_TYPES:
                continue
            if name not in MESSAGE_TYPES:
                raise ValueError(f"unknown message type '{name}'; allowed are {', '.join(MESSAGE_TYPES)}")
            if name not in kept:
                kept.append(name)
        return kept

    @property
    def selects_nothing(self) -> bool:
        """Only retired types were asked for: nothing to read (never widened to every type)."""
        return bool(self.retired_types) and not self.types

    @field_validator("date_from")
    @classmethod
    def _date_from(cls, value: str) -> str:
        return _checked_date_from(value)


class ActivitiesSettings(_Settings):
    types: list[str] = Field(default_factory=list)
    mode: ActivityMode = ActivityMode.PARSED_DATA
    # The UI has always saved `delete`; the older code read `deleted` (and so never honoured it). Both work.
    delete: bool = Field(default=False, validation_alias="delete")
    incremental_output: bool = False
    # "Continue since last run" re-reads this much before the last run's mark: activities that reach Customer.io
    # late (devices send their events when back online) are read if they are at most this much older than the mark.
    overlap_minutes: int = Field(default=60, ge=0, le=30 * 24 * 60)

    @model_validator(mode="before")
    @classmethod
    def _deleted_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "delete" not in data and "deleted" in data:
            data = {**data, "delete": data["deleted"]}
        return data

    @field_validator("types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> list[str]:
        types = _string_list(value, "activities.types")
        for name in types:
            if not is_activity_type(name):
                from customerio.catalog import ACTIVITY_TYPES

                close = difflib.get_close_matches(name, ACTIVITY_TYPES, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise ValueError(f"unknown activity type '{name}'; use a type from the list in the configuration "
                                 f"form or an object form such as '_o:1:create'.{hint}")
        # Compared as the type the API is asked for: `secondary:delivered_email` is `delivered_email`, and both would
        # read the same activities twice.
        kept: dict[str, str] = {}
        for name in types:
            first = kept.setdefault(api_activity_type(name), name)
            if first != name:
                log.warning("Activity type '%s' is the same type as '%s'; it is read once, as '%s'.", name, first,
                            first)
        return list(kept.values())


class CustomersSettings(_Settings):
    filters: str = ""
    attributes: list[str] = Field(default_factory=list)
    mode: CustomersMode = CustomersMode.SEARCH
    attributes_layout: AttributesLayout = AttributesLayout.WIDE
    export_timeout_minutes: int = Field(default=120, ge=1, le=24 * 60)
    # "Continue since last run": after a full read, read only the people the activity log names (search mode).
    incremental_output: bool = False
    full_refresh_days: int = Field(default=7, ge=1, le=365)  # a full read at least this often, as a safety net

    @field_validator("filters", mode="before")
    @classmethod
    def _filters(cls, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, dict):
            import json

            value = json.dumps(value)
        if not isinstance(value, str):
            raise ValueError("must be the filter as JSON text")
        try:
            parse_filter(value)
        except FilterError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes(cls, value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",")]
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            items = [item.strip() for item in value]
        else:
            raise ValueError("must be a comma-separated list of attribute names")
        names: list[str] = []
        for item in items:
            if not item:
                continue
            if item in names:
                log.warning("Customer attribute '%s' is listed twice; it is read once.", item)
                continue
            names.append(item)
        return names

    @property
    def filter(self) -> dict | None:
        return parse_filter(self.filters)


class MetricsResolution(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


METRICS_ENTITIES = ("campaigns", "campaign_actions", "newsletters", "newsletter_contents", "broadcasts",
                    "broadcast_actions", "transactional_messages")


class MetricsSettings(_Settings):
    """Metrics as time series (datasets/metrics)."""

    entities: list[str] = Field(default_factory=list)  # empty = all
    resolution: MetricsResolution = MetricsResolution.DAYS
    links: bool = False
    journey: bool = False
    incremental_output: bool = False  # "Continue since last run"
    date_from: str = ""  # first read of the version=2 entities (campaigns, campaign actions)
    # Continue since last run re-reads the buckets of the last `lookback_days` before the previous run: opens and
    # clicks keep arriving for days after a send.
    lookback_days: int = Field(default=7, ge=0, le=3650)

    @field_validator("entities", mode="before")
    @classmethod
    def _entities(cls, value: Any) -> list[str]:
        names = _string_list(value, "metrics.entities")
        for name in names:
            if name not in METRICS_ENTITIES:
                raise ValueError(f"unknown entity '{name}'; allowed are {', '.join(METRICS_ENTITIES)}")
        return list(dict.fromkeys(names))

    @field_validator("date_from")
    @classmethod
    def _date_from(cls, value: str) -> str:
        return _checked_date_from(value)


class SegmentMembershipSettings(_Settings):
    segment_ids: list[int] = Field(default_factory=list)

    @field_validator("segment_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> list[int]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("must be a list of segment ids")
        ids = []
        for item in value:
            if isinstance(item, bool) or not re.fullmatch(r"\d+", str(item).strip()):
                raise ValueError(f"'{item}' is not a segment id (a whole number)")
            ids.append(int(str(item).strip()))
        return list(dict.fromkeys(ids))


class _Configuration(_Settings):
    """The settings every run has, and the settings section of each dataset with real logic (one field per
    registry Section). The datasets' on/off flags are added from the registry below (``Configuration``)."""

    api_secret: str = Field(alias="#api_secret", repr=False)
    api_region: Region = Region.US
    incremental_output: bool = True
    # The run's time budget (src/budget.py): stop starting work then, load what is complete, continue next run.
    max_run_minutes: float = Field(default=50.0, gt=0, le=7 * 24 * 60, allow_inf_nan=False)
    activities: ActivitiesSettings | None = None
    messages: MessagesSettings | None = None
    customers: CustomersSettings | None = None
    segment_membership: SegmentMembershipSettings | None = None
    metrics: MetricsSettings | None = None
    debug: bool = False

    @field_validator("api_secret", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("fill in the App API key")
        return value.strip()

    @field_validator("incremental_output", mode="before")
    @classmethod
    def _load_type(cls, value: Any) -> bool:
        if value is None:
            return True
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError("must be 0 (full load) or 1 (incremental update)")

    @field_validator("debug", mode="before")
    @classmethod
    def _debug(cls, value: Any) -> bool:
        return _flag(value)

    @field_validator(*REGISTRY.sections(), mode="before")
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

    @property
    def load_type(self) -> str:
        return "incremental" if self.incremental_output else "full"

    def enabled_datasets(self) -> list[str]:
        """The datasets switched on, in the registry's run order (messages that select nothing are not on)."""
        keys = REGISTRY.enabled(self)
        if self.messages is not None and self.messages.selects_nothing:
            keys.remove("messages")
        return keys


def _flag(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ValueError("must be true or false")


# One boolean per declared dataset of the registry, off unless set.
Configuration = create_model(
    "Configuration", __base__=_Configuration, __module__=__name__,
    __validators__={"_flags": field_validator(*REGISTRY.flags(), mode="before")(lambda cls, value: _flag(value))},
    **{key: (bool, REGISTRY[key].default) for key in REGISTRY.flags()},
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
    retired = config.messages.retired_types if config.messages is not None else []
    if retired:
        names = ", ".join(f"'{name}'" for name in retired)
        if config.messages.selects_nothing and for_run and not config.enabled_datasets():
            raise ConfigurationError(f"Invalid configuration value 'messages.types': {names} no longer exists in "
                                     "Customer.io and no other dataset is selected: choose other message types "
                                     "(or none, for every type).")
        if config.messages.selects_nothing:
            log.warning("Messages are skipped: the message type %s no longer exists in Customer.io and no other type "
                        "is selected (choose other types, or none for every type).", names)
        else:
            log.warning("Message type %s is ignored: Customer.io no longer has it.", names)
    if for_run and not config.enabled_datasets():
        raise ConfigurationError(REGISTRY.no_dataset_sentence())
    return config


_ALLOWED = {
    "api_region": "'us' or 'eu'",
    "activities.mode": "'PARSED_DATA' or 'SINGLE_TABLE'",
    "customers.mode": "'search' or 'export'",
    "customers.attributes_layout": "'wide' or 'long'",
    "metrics.resolution": "'hours', 'days', 'weeks' or 'months'",
}


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
        message = f"must be {_ALLOWED.get(key, message)}"
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


def _string_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of type names")
    return [item.strip() for item in value if item.strip()]


_DAYS_AGO = re.compile(r"^\s*(\d+)\s+days?\s+ago\s*$", re.IGNORECASE)


def parse_date_from(value: str, now: datetime) -> int:
    """`YYYY-MM-DD`, `today`, `yesterday` or `N days ago` -> unix seconds (UTC midnight)."""
    text = value.strip().lower()
    if text in ("today", "yesterday"):
        day = now.date() - timedelta(days=1 if text == "yesterday" else 0)
    elif match := _DAYS_AGO.match(text):
        try:
            day = now.date() - timedelta(days=int(match.group(1)))
        except (OverflowError, ValueError):  # more days than a date can go back
            raise ValueError(f"'{value}' is further back than a date can go; use a date after 0001-01-01") from None
    else:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{value}' is not a date; use YYYY-MM-DD or 'N days ago'") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
