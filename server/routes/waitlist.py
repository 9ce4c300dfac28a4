"""Waitlist: staff add patients and see the list; a patient accepts an offered slot by code."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.auth import ratelimit
from server.auth.principal import DESK, staff
from server.errors import NotFound
from server.models.common import Body, parse_body, parse_query
from server.models.dates import BookingDate, PlanDate
from server.risk import waitlist
from server.routes import render

WINDOW_S = 60
# an offer code: base64url of two UUIDs (43 characters), ".", the MAC (risk/waitlist.py)
OFFER_CODE_PATTERN = rf"^[A-Za-z0-9_-]{{43}}\.[A-Za-z0-9_-]{{{waitlist.MAC_CHARS}}}$"
_OFFER_CODE = re.compile(OFFER_CODE_PATTERN, re.ASCII)


class WaitlistCreate(Body):
    patient_id: UUID
    department_id: UUID
    preferred_doctor_id: UUID | None = None
    desired_date: BookingDate


class WaitlistQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    department_id: UUID | None = None
    day: PlanDate | None = Field(default=None, alias="date")  # a field named date would shadow


def entry_view(row: dict[str, Any]) -> dict[str, Any]:
    return render.jsonable({
        "id": row["id"], "patient": {"id": row["patient_id"], "name": row["patient_name"]},
        "department_id": row["department_id"], "preferred_doctor_id": row["preferred_doctor_id"],
        "desired_date": row["desired_date"], "status": row["status"],
        "offered_token_id": row["offered_token_id"], "offered_at": row["offered_at"],
        "offer_expires_at": row["offer_expires_at"], "accepted_at": row["accepted_at"],
        "created_at": row["created_at"],
    })


async def add_entry(request: Request) -> JSONResponse:
    who = await staff(request, *DESK)
    body = await parse_body(request, WaitlistCreate)
    svc = render.service(request)
    today, _ = await svc.today(who.hospital_id)
    row = await waitlist.add(
        svc.pool, who.hospital_id, patient_id=body.patient_id, department_id=body.department_id,
        preferred_doctor_id=body.preferred_doctor_id, desired_date=body.desired_date,
        today=today)
    return JSONResponse(entry_view(row), status_code=201)


async def list_entries(request: Request) -> JSONResponse:
    who = await staff(request)
    q = parse_query(request, WaitlistQuery)
    rows = await waitlist.wl_db.entries(render.state(request).pool, who.hospital_id,
                                        q.department_id, q.day)
    return JSONResponse({"entries": [entry_view(r) for r in rows]})


async def accept_offer(request: Request) -> JSONResponse:
    st = render.state(request)
    addr = request.client.host if request.client else "unknown"
    await ratelimit.enforce(st.redis, ratelimit.public_key("addr", addr),
                            st.settings.public_rate_per_minute, WINDOW_S)
    code = request.path_params["offer_code"]
    if not _OFFER_CODE.fullmatch(code):
        raise NotFound(waitlist.OFFER_INVALID)
    svc = render.service(request)
    row = await waitlist.accept(svc, st.settings.secret(), code)
    return JSONResponse({
        "number": row["number"], "status": row["status"],
        "service_date": row["service_date"].isoformat(),
        "scheduled_time": row["scheduled_time"].isoformat() if row["scheduled_time"] else None,
        "doctor_name": row["doctor_name"], "cabin": row["cabin_number"],
        "patient_link": svc.link_for(row),
    }, status_code=201)


async def waitlist_entries(request: Request) -> JSONResponse:
    # one route for the path, so a 405 answers Allow: GET, POST (two would name one each)
    return await (list_entries if request.method in ("GET", "HEAD") else add_entry)(request)


routes = [
    Route("/api/v1/waitlist", waitlist_entries, methods=["GET", "POST"]),
    Route("/api/v1/public/waitlist/{offer_code}/accept", accept_offer, methods=["POST"]),
]
