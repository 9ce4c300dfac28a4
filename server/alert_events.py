"""Live alerts: the rules' plan applied to the record, then announced (the one entry for the
worker's cron job and the staff's resolve).

Each alert raised or resolved is announced as `alert.raised` / `alert.resolved` on the
hospital's event stream after its transaction committed; only /ws/admin subscribers take
those events (subscribers.AdminSubscriber). An announcement lost (Redis down between COMMIT and
publish) is not retried: the row is the record, and the page reads the list again when it
reconnects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog

from server.db import alerts as db
from server.domain import alerts as rules
from server.presenters import jsonable
from server.store.live import LiveStore, NotReady

log = structlog.get_logger("alerts")

RAISED, RESOLVED = "alert.raised", "alert.resolved"
Rebuild = Callable[[UUID], Awaitable[None]]

def alert_view(row: dict[str, Any]) -> dict[str, Any]:
    """The API's shape of one alert (GET /api/v1/alerts, the websocket events)."""
    details = db.as_dict(row.get("details"))
    suggestion = details.get("suggestion")
    resolved = row.get("resolved_at") is not None
    return jsonable({
        "id": row["id"], "kind": row["kind"], "severity": row["severity"],
        "message": row["message"], "entity_type": row.get("entity_type"),
        "entity_id": row.get("entity_id"), "department_id": row.get("department_id"),
        "details": details, "created_at": row["created_at"], "resolved_at": row["resolved_at"],
        "status": "resolved" if resolved else "open",
        "resolved_by": ({"id": row["resolved_by"], "username": row.get("resolved_by_username")}
                        if row.get("resolved_by") else None),
        "resolution": (None if not resolved else "manual" if row.get("resolved_by")
                       else "auto" if row.get("alert_key") else "manual"),
        "live": row.get("alert_key") is not None,
        "action": ({"kind": "transfer", "label": suggestion["label"],
                    "to_doctor_id": suggestion["to_doctor_id"],
                    "to_doctor_name": suggestion["to_doctor_name"],
                    "token_ids": suggestion["token_ids"],
                    "path": "/api/v1/tokens/{token_id}/transfer"}
                   if suggestion and not resolved else None),
    })


async def announce(live: LiveStore, h: UUID, etype: str, row: dict[str, Any],
                   rebuild: Rebuild | None = None) -> None:
    """One event, nothing that routes it to boards, consoles or patients (no department or
    doctor at the top of `data`): only /ws/admin subscribers take alert events."""
    data = {"alert": alert_view(row)}
    try:
        await live.announce(h, etype, data)
    except NotReady:
        if rebuild is None:
            raise
        await rebuild(h)  # the live view was lost: rebuilt from the record, then announced
        await live.announce(h, etype, data)


async def check_hospital(pool: Any, live: LiveStore, h: UUID, now: datetime,
                         rebuild: Rebuild | None = None) -> rules.Plan:
    snap = await db.snapshot(pool, h, now)
    if snap is None:
        return rules.Plan()
    conditions = rules.evaluate(snap)
    async with pool.acquire() as conn, conn.transaction():
        open_, held = await db.live_alerts(conn, h)
        plan = rules.plan(conditions, open_, held)
        if not plan:
            return plan
        raised, resolved = await db.apply(conn, h, plan, now)
    for row in raised:
        log.info("alert raised", hospital_id=str(h), kind=row["kind"], alert_id=str(row["id"]))
    for etype, rows in ((RAISED, raised), (RESOLVED, resolved)):
        for row in rows:
            try:
                await announce(live, h, etype, row, rebuild)
            except Exception as exc:  # the record stands; the page re-reads on reconnect
                log.warning("alert not announced", error=type(exc).__name__,
                            alert_id=str(row["id"]))
    return plan
