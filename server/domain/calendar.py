"""The hospital's day: tokens are numbered and queued per hospital-local date."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo


def local_day(at: datetime, tz: str) -> date:
    if at.tzinfo is None:
        raise ValueError("timezone-aware datetime required")
    return at.astimezone(ZoneInfo(tz)).date()


def local_datetime(day: date, at: time, tz: str) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(tz))


def shift_start_dt(ctx: dict[str, Any], now: datetime) -> datetime | None:
    """Today's shift start of a doctor context (shift_start, timezone) as an instant."""
    if ctx.get("shift_start") is None:
        return None
    day = local_day(now, ctx["timezone"])
    return local_datetime(day, ctx["shift_start"], ctx["timezone"])


def shift_start_at(ctx: dict[str, Any], now: datetime) -> str | None:
    """Today's shift start of a doctor context (shift_start, timezone) as an ISO instant."""
    at = shift_start_dt(ctx, now)
    return at.isoformat() if at else None
