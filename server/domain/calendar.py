"""The hospital's day: tokens are numbered and queued per hospital-local date."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo


def local_day(at: datetime, tz: str) -> date:
    if at.tzinfo is None:
        raise ValueError("timezone-aware datetime required")
    return at.astimezone(ZoneInfo(tz)).date()


def local_datetime(day: date, at: time, tz: str) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(tz))
