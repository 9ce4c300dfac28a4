"""The messages view (API.md "Insight"): what was sent to whom, whether it arrived, why not;
and a failed message sent again, once, by staff.

Who: the desk's roles (admin, receptionist, nurse): they answer "did my text come?". The
message body (it holds the patient's name and link) is shown to admins only; the number is
masked for everyone. A resend is audited and goes through the workers' usual send path
(workers/notify.py, one attempt at a time per row) by an event on the hospital's stream.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

import structlog
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.routing import Route

from server.auth.principal import DESK, Principal, staff
from server.db import admin as admin_db
from server.db import messages as db
from server.errors import Conflict, Forbidden, NotFound
from server.models import cursors
from server.models.common import parse_query, path_uuid
from server.models.dates import PlanDate
from server.notifications.errors import in_words
from server.presenters import jsonable
from server.responses import JSONResponse
from server.routes import render
from server.store.live import NotReady

log = structlog.get_logger("messages")

Status = Literal["PENDING", "SENT", "DELIVERED", "READ", "FAILED", "SKIPPED"]
# the record's statuses behind each of the API's (READ is not recorded yet: Twilio's "read"
# is stored as DELIVERED; UNDELIVERED is a failure reported after Twilio accepted it)
RECORDED: dict[str, list[str]] = {"PENDING": ["PENDING"], "SENT": ["SENT"],
                                  "DELIVERED": ["DELIVERED"], "READ": [],
                                  "FAILED": ["FAILED", "UNDELIVERED"], "SKIPPED": ["SKIPPED"]}
SHOWN = {"UNDELIVERED": "FAILED"}
# the events the send job knows how to send again (a waitlist offer has its own path)
RESENDABLE = frozenset({"TOKEN_CREATED", "AHEAD", "CALL_NOW", "DELAY", "CANCELLED",
                        "RESCHEDULED", "REMINDER_DAY_BEFORE", "REMINDER_2H",
                        "RESUMED"})


class MessageQuery(BaseModel):
    token_id: UUID | None = None
    patient_id: UUID | None = None
    status: Status | None = None
    date: PlanDate | None = Field(
        default=None, description="Messages created that day (the hospital's calendar); "
                                  "today when neither token_id nor patient_id is given.")
    limit: int = Field(default=100, ge=1, le=500)
    cursor: Annotated[str | None, Field(
        default=None, pattern=cursors.PATTERN,
        description="`next_cursor` of the page before")] = None


def _refusal(row: dict[str, Any]) -> str | None:
    """Why this message cannot be resent now, or None."""
    if row["status"] not in ("FAILED", "UNDELIVERED"):
        return f"only a failed message can be resent; this one is {row['status']}"
    if row["resent_at"] is not None:
        return "this message was resent once already"
    if row["token_id"] is None or row["event"] not in RESENDABLE:
        return "this kind of message cannot be resent"
    if row["reached_otherwise"]:
        return "the patient already got this message on another channel"
    return None


def message_view(row: dict[str, Any], who: Principal) -> dict[str, Any]:
    out = {
        "id": row["id"], "token_id": row["token_id"], "token_number": row["token_number"],
        "patient_id": row["patient_id"], "channel": row["channel"], "event": row["event"],
        "status": SHOWN.get(row["status"], row["status"]), "provider_status": row["status"],
        "error_code": row["error_code"], "error": in_words(row["error_code"]),
        "error_message": row["error_message"], "to": row["to_masked"],
        "language": row["language"], "attempts": row["attempts"],
        "created_at": row["created_at"], "sent_at": row["sent_at"],
        "delivered_at": row["delivered_at"], "updated_at": row["updated_at"],
        "resent_at": row["resent_at"],
        "resent_by": ({"id": row["resent_by"], "username": row["resent_by_username"]}
                      if row["resent_by"] else None),
        "can_resend": _refusal(row) is None,
    }
    if who.role == "admin":
        out["body"] = row["body"]
    return jsonable(out)  # type: ignore[no-any-return]


async def list_messages(request: Request) -> JSONResponse:
    who = await staff(request, *DESK)
    q = parse_query(request, MessageQuery)
    svc = render.service(request)
    today, tz = await svc.today(who.hospital_id)
    day: date | None = q.date
    if day is None and q.token_id is None and q.patient_id is None:
        day = today
    rows = await db.list_messages(
        svc.pool, who.hospital_id, token_id=q.token_id, patient_id=q.patient_id,
        statuses=RECORDED[q.status] if q.status else None, day=day, timezone=tz,
        after=cursors.decode(q.cursor), limit=q.limit + 1)
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    return JSONResponse({
        "items": [message_view(r, who) for r in rows],
        "next_cursor": cursors.encode((rows[-1]["created_at"], rows[-1]["id"])) if more
        else None})


async def resend(request: Request) -> JSONResponse:
    who = await staff(request, *DESK)
    row_id = path_uuid(request, "notification_id")
    svc = render.service(request)
    row = await db.get(svc.pool, who.hospital_id, row_id)
    if row is None:
        raise NotFound("no such notification")
    if who.role == "nurse" and row["department_id"] != who.department_id:
        raise Forbidden("a nurse resends messages of their own department only")
    if (why := _refusal(row)) is not None:
        raise Conflict(why)
    async with svc.pool.acquire() as conn, conn.transaction():
        if not await db.mark_resend(conn, who.hospital_id, row_id, who.user_id):
            raise Conflict("this message was resent once already")
        await admin_db.write_audit(
            conn, hospital_id=who.hospital_id, actor_id=who.user_id, entity="notification",
            entity_id=row_id, action="update",
            changes={"resend": True, "event": row["event"], "channel": row["channel"],
                     "status": {"from": row["status"], "to": "PENDING"},
                     "error_code": row["error_code"]})
    event = {"notification_id": str(row_id), "token_id": str(row["token_id"]),
             "event": row["event"], "channel": row["channel"], "once_key": row["once_key"]}
    try:
        try:
            await svc.live.announce(who.hospital_id, "notification.resend", event)
        except NotReady:
            await svc.rebuild_hospital(who.hospital_id)
            await svc.live.announce(who.hospital_id, "notification.resend", event)
    except Exception:  # committed: the workers' sweeper sends a PENDING row within minutes
        log.warning("resend not announced; left to the sweeper", row_id=str(row_id))
    fresh = await db.get(svc.pool, who.hospital_id, row_id)
    assert fresh is not None
    return JSONResponse(message_view(fresh, who), status_code=202)


routes = [
    Route("/api/v1/notifications", list_messages, methods=["GET"]),
    Route("/api/v1/notifications/{notification_id}/resend", resend, methods=["POST"]),
]
