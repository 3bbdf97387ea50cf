"""The customers settings section."""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from customerio.filters import FilterError, parse_filter

from ..settings import Settings

log = logging.getLogger(__name__)


class CustomersMode(StrEnum):
    SEARCH = "search"
    EXPORT = "export"


class AttributesLayout(StrEnum):
    WIDE = "wide"
    LONG = "long"


class CustomersSettings(Settings):
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
