"""Cron jobs that keep the live queues honest: the reconciler and the end-of-day close (with
the daily metrics of the days it closed)."""

from __future__ import annotations

from typing import Any

import structlog

from server.db import doctors as doctors_db
from server.queue import QueueService, close_day
from server.reports import compute_closed_days
from server.store.live import LiveStore

log = structlog.get_logger("queue-jobs")


def _service(ctx: dict[str, Any]) -> QueueService:
    if "queue" not in ctx:
        settings = ctx["settings"]
        ctx["queue"] = QueueService(ctx["pool"], LiveStore(ctx["redis_app"],
                                                           settings.event_stream_maxlen), settings)
    return ctx["queue"]  # type: ignore[no-any-return]


async def reconcile_queues(ctx: dict[str, Any]) -> int:
    """Every minute: rebuild a lost live view, repair any doctor's queue that differs from the
    record (a crash between Redis and PostgreSQL, a manual edit). Returns doctors repaired."""
    svc = _service(ctx)
    repaired = 0
    for h in await doctors_db.all_hospital_ids(svc.pool):
        repaired += len(await svc.reconcile(h))
    return repaired


async def close_days(ctx: dict[str, Any]) -> int:
    """Every 10 minutes (idempotent): close tokens that earlier days left open, then compute
    the daily metrics of the closed days that lack them or changed since (server/reports.py).
    """
    svc = _service(ctx)
    closed = 0
    for h in await doctors_db.all_hospital_ids(svc.pool):
        closed += await close_day(svc, h)
        today, _ = await svc.today(h)
        await compute_closed_days(svc.pool, h, today, now=svc.now())
    return closed
