"""The daily metrics job: each doctor's day computed from the record into
`doctor_performance_metrics` (figures defined in server/domain/daily_metrics.py and
docs/reports.md).

Idempotent: a day is recomputed from its tokens, history, shifts and pauses and its rows are
replaced in one transaction, so running a day twice gives the same rows. The worker runs it
after each close of day (workers/queue_jobs.py) for the recent days whose record changed;
`opdq metrics compute --from --to` runs it for any range; the demo loader runs it over the
demo's history.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from server.db import reports as db
from server.db.pool import create_pool
from server.domain import daily_metrics as dm
from server.models.dates import utcnow

log = structlog.get_logger("reports")

LOOKBACK_DAYS = 14   # how far back the cron notices a late correction to a day's record


def _inputs(facts: dict[str, Any], doctor: dict[str, Any], day: date, tz: str,
            now: datetime) -> dm.DayInput:
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    did = doctor["id"]
    tokens = [t for t in facts["tokens"] if t["doctor_id"] == did]
    ids = {t["id"] for t in tokens}
    return dm.DayInput(
        day_start=start, day_end=end,
        shifts=[(s["start_at"], s["end_at"]) for s in facts["shifts"] if s["doctor_id"] == did],
        pauses=[(p["started_at"], p["ended_at"]) for p in facts["pauses"]
                if p["doctor_id"] == did],
        tokens=[dm.TokenFacts(**{k: t[k] for k in (
            "id", "status", "booking_type", "created_at", "checked_in_at", "called_at",
            "started_at", "completed_at", "no_show_at")}) for t in tokens],
        history=[dm.Step(h["token_id"], h["from_status"], h["to_status"], h["at"])
                 for h in facts["history"] if h["token_id"] in ids],
        late_start_min=doctor["late_start_alert_min"], now=now)


async def compute_day_in(conn: asyncpg.Connection, hospital_id: UUID, day: date, tz: str,
                         now: datetime) -> int:
    """Compute and store one hospital-local day in the caller's transaction; returns the
    doctors written."""
    facts = await db.day_facts(conn, hospital_id, day, tz)
    rows = {d["id"]: asdict(dm.compute(_inputs(facts, d, day, tz, now)))
            for d in facts["doctors"]}
    await db.upsert_day(conn, hospital_id, day, rows)
    return len(rows)


async def compute_day(pool: asyncpg.Pool, hospital_id: UUID, day: date, *,
                      now: datetime | None = None, tz: str | None = None) -> int:
    """Compute and store one hospital-local day (one consistent snapshot of its record)."""
    tz = tz or await db.hospital_tz(pool, hospital_id)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        return await compute_day_in(conn, hospital_id, day, tz, now or utcnow())


async def compute_range(pool: asyncpg.Pool, hospital_id: UUID, first: date, last: date, *,
                        now: datetime | None = None) -> dict[date, int]:
    """Every day in [first, last] that has a token or a shift; {day: doctors written}."""
    tz = await db.hospital_tz(pool, hospital_id)
    return {day: await compute_day(pool, hospital_id, day, now=now, tz=tz)
            for day in await db.hospital_days(pool, hospital_id, first, last)}


async def compute_closed_days(pool: asyncpg.Pool, hospital_id: UUID, today: date, *,
                              now: datetime | None = None) -> list[date]:
    """After the close of day: the recent closed days with no metrics yet, or whose record
    changed after their metrics were written. Returns the days computed."""
    days = await db.stale_days(pool, hospital_id, today - timedelta(days=LOOKBACK_DAYS), today)
    tz = await db.hospital_tz(pool, hospital_id)
    for day in days:
        await compute_day(pool, hospital_id, day, now=now, tz=tz)
    if days:
        log.info("daily metrics computed", hospital_id=str(hospital_id),
                 days=[d.isoformat() for d in days])
    return days


async def compute_hospitals(dsn: str, first: date, last: date, code: str | None
                            ) -> dict[str, int]:
    """`opdq metrics compute`: every hospital (or the one with `code`) over [first, last]."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        if code is None:
            ids = [r["id"] for r in await pool.fetch("SELECT id FROM hospitals ORDER BY code")]
        else:
            row = await db.hospital_by_code(pool, code)
            if row is None:
                raise SystemExit(f"no hospital with code {code}")
            ids = [row["id"]]
        days = rows = 0
        for h in ids:
            done = await compute_range(pool, h, first, last)
            days, rows = days + len(done), rows + sum(done.values())
        return {"days": days, "rows": rows}
    finally:
        await pool.close()
