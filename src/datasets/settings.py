"""What every settings model shares: the base model, the one reading of enumerated values, and the helpers for
lists, flags and start dates. A leaf module: it imports no dataset, so every dataset and configuration.py can use
it without a cycle.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class Settings(BaseModel):
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

    @property
    def selects_nothing(self) -> bool:
        """True when these settings, though present, ask for nothing to read (the dataset is then not run)."""
        return False

    def loaded(self, *, alone: bool) -> None:
        """Called once the whole configuration is valid: warn about what is ignored; raise ValueError with one
        sentence when the run could do nothing (``alone``: a run, and no other dataset is selected)."""


def flag(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ValueError("must be true or false")


def string_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of type names")
    return [item.strip() for item in value if item.strip()]


def checked_date_from(value: str) -> str:
    if value.strip():
        parse_date_from(value, datetime.now(UTC))
    return value.strip()


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
