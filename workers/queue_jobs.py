"""Cron jobs that keep the live queues honest: the reconciler and the end-of-day close."""

from __future__ import annotations

from typing import Any

import structlog

from server.db import doctors as doctors_db
from server.queue import QueueService, close_day
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
    """Every 10 minutes (idempotent): close tokens that earlier days left open."""
    svc = _service(ctx)
    return sum([await close_day(svc, h) for h in await doctors_db.all_hospital_ids(svc.pool)])
