"""The hospital's day: tokens are numbered and queued per hospital-local date."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_day(at: datetime, tz: str) -> date:
    if at.tzinfo is None:
        raise ValueError("timezone-aware datetime required")
    return at.astimezone(ZoneInfo(tz)).date()


def end_of_day(day: date, tz: str) -> datetime:
    """The first instant of the next local day: when a day's patient links expire."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZoneInfo(tz))


def local_datetime(day: date, at: time, tz: str) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(tz))


def minutes_until(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60.0
