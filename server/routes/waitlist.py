"""Waitlist: staff add, list and manage entries; a patient sees an offered slot by its code
(the /w/<code> page) and accepts or declines it."""

from __future__ import annotations

import re
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from server.auth import ratelimit
from server.auth.principal import DESK, staff
from server.errors import NotFound
from server.models.common import Body, parse_body, parse_query, path_uuid
from server.models.dates import BookingDate, PlanDate
from server.responses import JSONResponse
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
    urgency: int = Field(default=0, ge=0, le=2)


class WaitlistPatch(Body):
    status: Literal["WAITING", "CANCELLED"] | None = None
    urgency: int | None = Field(default=None, ge=0, le=2)
    preferred_doctor_id: UUID | None = None
    desired_date: BookingDate | None = None


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
        "created_at": row["created_at"], "urgency": row["urgency"],
        "offers": [{"token_id": o["token_id"], "scheduled_time": o["scheduled_time"],
                    "status": o["status"], "offered_at": o["offered_at"],
                    "expires_at": o["expires_at"], "answered_at": o["answered_at"]}
                   for o in row.get("offers", [])],
    })


async def add_entry(request: Request) -> JSONResponse:
    who = await staff(request, *DESK)
    body = await parse_body(request, WaitlistCreate)
    svc = render.service(request)
    today, _ = await svc.today(who.hospital_id)
    row = await waitlist.add(
        svc.pool, who.hospital_id, patient_id=body.patient_id, department_id=body.department_id,
        preferred_doctor_id=body.preferred_doctor_id, desired_date=body.desired_date,
        today=today, urgency=body.urgency)
    return JSONResponse(entry_view(row), status_code=201)


async def patch_entry(request: Request) -> JSONResponse:
    who = await staff(request, *DESK)
    body = await parse_body(request, WaitlistPatch)
    svc = render.service(request)
    today, _ = await svc.today(who.hospital_id)
    row = await waitlist.update(svc.pool, who.hospital_id, path_uuid(request, "entry_id"),
                                body.model_dump(exclude_unset=True), today)
    offers = await waitlist.wl_db.entry_offers(svc.pool, [row["id"]])
    return JSONResponse(entry_view({**row, "offers": offers.get(row["id"], [])}))


async def list_entries(request: Request) -> JSONResponse:
    who = await staff(request)
    q = parse_query(request, WaitlistQuery)
    pool = render.state(request).pool
    rows = await waitlist.wl_db.entries(pool, who.hospital_id, q.department_id, q.day)
    offers = await waitlist.wl_db.entry_offers(pool, [r["id"] for r in rows])
    return JSONResponse({"entries": [entry_view({**r, "offers": offers.get(r["id"], [])})
                                     for r in rows]})


async def _offer_code(request: Request) -> str:
    st = render.state(request)
    addr = request.client.host if request.client else "unknown"
    await ratelimit.enforce(st.redis, ratelimit.public_key("addr", addr),
                            st.settings.public_rate_per_minute, WINDOW_S)
    code: str = request.path_params["offer_code"]
    if not _OFFER_CODE.fullmatch(code):
        raise NotFound(waitlist.OFFER_INVALID)
    return code


async def view_offer(request: Request) -> JSONResponse:
    """What the /w/<code> page shows; no name, no phone (the link may be forwarded)."""
    code = await _offer_code(request)
    st = render.state(request)
    info = await waitlist.offer_view(st.pool, st.settings.secret(), code)
    open_ = info["offer_status"] == "OFFERED" and info["expires_at"] > render.service(
        request).now()
    return JSONResponse(render.jsonable({
        "status": "OPEN" if open_ else ("EXPIRED" if info["offer_status"] == "OFFERED"
                                        else info["offer_status"]),
        "department": info["department_name"], "scheduled_time": info["scheduled_time"],
        "timezone": info["timezone"], "expires_at": info["expires_at"],
        "language": info["patient_language"] or info["default_language"],
    }))


async def decline_offer(request: Request) -> JSONResponse:
    code = await _offer_code(request)
    st = render.state(request)
    await waitlist.decline(st.pool, st.settings.secret(), code, render.service(request).now())
    return JSONResponse({"status": "DECLINED"})


async def accept_offer(request: Request) -> JSONResponse:
    code = await _offer_code(request)
    st = render.state(request)
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
    Route("/api/v1/waitlist/{entry_id}", patch_entry, methods=["PATCH"]),
    Route("/api/v1/public/waitlist/{offer_code}", view_offer, methods=["GET"]),
    Route("/api/v1/public/waitlist/{offer_code}/accept", accept_offer, methods=["POST"]),
    Route("/api/v1/public/waitlist/{offer_code}/decline", decline_offer, methods=["POST"]),
]
