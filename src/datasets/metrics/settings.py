"""The metrics settings section."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from ..settings import Settings, checked_date_from, string_list
from .jobs import ENTITIES


class MetricsResolution(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


class MetricsSettings(Settings):
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
        names = string_list(value)
        for name in names:
            if name not in ENTITIES:
                raise ValueError(f"unknown entity '{name}'; allowed are {', '.join(ENTITIES)}")
        return list(dict.fromkeys(names))

    @field_validator("date_from")
    @classmethod
    def _date_from(cls, value: str) -> str:
        return checked_date_from(value)
