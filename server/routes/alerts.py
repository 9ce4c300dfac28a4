"""Live alerts for the people running the OPD: list and resolve (API.md "Insight").

Who: admins (every alert of the hospital) and nurses (their department's and the
hospital-wide ones, never the security events). Receptionists and doctors are refused: the
desk and the tablets have their own screens, and an alert names colleagues' idle time.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.routing import Route

from server import alert_events
from server.auth.principal import Principal, staff
from server.db import admin as admin_db
from server.db import alerts as db
from server.errors import Conflict, NotFound
from server.models import cursors
from server.models.common import parse_query, path_uuid
from server.responses import JSONResponse
from server.routes import render

ALERT_ROLES = ("admin", "nurse")
OPEN_SNAPSHOT = 200


class AlertQuery(BaseModel):
    status: Literal["open", "resolved"] = "open"
    kind: Annotated[str | None, Field(default=None, pattern=r"^[A-Z_]{2,64}$")] = None
    limit: int = Field(default=100, ge=1, le=500)
    cursor: Annotated[str | None, Field(
        default=None, pattern=cursors.PATTERN,
        description="`next_cursor` of the page before")] = None


def _scope(who: Principal) -> UUID | None:
    return who.department_id if who.role == "nurse" else None


def _visible(who: Principal, row: dict[str, Any]) -> bool:
    if who.role == "admin":
        return True
    return (row["kind"] not in db.ADMIN_ONLY_KINDS
            and row["department_id"] in (None, who.department_id))


async def open_alerts(pool: asyncpg.Pool, who: Principal) -> list[dict[str, Any]]:
    rows = await db.list_alerts(pool, who.hospital_id, resolved=False,
                                department_id=_scope(who), admin=who.role == "admin",
                                kind=None, after=None, limit=OPEN_SNAPSHOT)
    return [alert_events.alert_view(r) for r in rows]


async def list_alerts(request: Request) -> JSONResponse:
    who = await staff(request, *ALERT_ROLES)
    q = parse_query(request, AlertQuery)
    rows = await db.list_alerts(render.state(request).pool, who.hospital_id,
                                resolved=q.status == "resolved", department_id=_scope(who),
                                admin=who.role == "admin", kind=q.kind,
                                after=cursors.decode(q.cursor), limit=q.limit + 1)
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    return JSONResponse({
        "items": [alert_events.alert_view(r) for r in rows],
        "next_cursor": cursors.encode((rows[-1]["created_at"], rows[-1]["id"])) if more
        else None})


async def resolve(request: Request) -> JSONResponse:
    who = await staff(request, *ALERT_ROLES)
    alert_id = path_uuid(request, "alert_id")
    pool = render.state(request).pool
    row = await db.get(pool, who.hospital_id, alert_id)
    if row is None or not _visible(who, row):
        raise NotFound("no such alert")
    async with pool.acquire() as conn, conn.transaction():
        done = await db.resolve_by(conn, who.hospital_id, alert_id, who.user_id)
        if done is None:
            raise Conflict("the alert is already resolved")
        await admin_db.write_audit(
            conn, hospital_id=who.hospital_id, actor_id=who.user_id, entity="alert",
            entity_id=alert_id, action="update",
            changes={"resolved": True, "kind": done["kind"], "message": done["message"]})
    svc = render.service(request)
    try:
        await alert_events.announce(svc.live, who.hospital_id, alert_events.RESOLVED, done,
                                    svc.rebuild_hospital)
    except Exception:  # committed: pages re-read the list when they reconnect
        alert_events.log.warning("alert resolve not announced", alert_id=str(alert_id))
    return JSONResponse(alert_events.alert_view(done))


routes = [
    Route("/api/v1/alerts", list_alerts, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}/resolve", resolve, methods=["POST"]),
]
