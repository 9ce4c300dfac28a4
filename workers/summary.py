"""The admins' daily summary, each evening at each hospital's own hour (hospitals.summary_hour,
local time): an hourly cron writes the summary of every hospital whose hour has come today and
that has none yet (server/daily_summary.py; one row per hospital and day, so a second run, or
a second worker, writes nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from server import daily_summary
from server.db import daily_summary as db

log = structlog.get_logger("worker.summary")


async def write_daily_summaries(ctx: dict[str, Any], now: datetime | None = None) -> int:
    """How many summaries were written now."""
    pool = ctx["pool"]
    now = now or datetime.now(UTC)
    written = 0
    for h in await db.due_hospitals(pool):
        day = daily_summary.due_day(now, h["timezone"], h["summary_hour"])
        if day is None:
            continue
        try:
            written += await daily_summary.write(pool, ctx["settings"], h["id"], day)
        except Exception:  # one hospital's failure must not keep the others' summaries back
            log.exception("daily summary failed", hospital_id=str(h["id"]))
    return written
