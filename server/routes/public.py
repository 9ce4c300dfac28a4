"""The patient's own token, by the signed code in their link: no login, one token only."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.auth import ratelimit
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.domain import calendar
from server.domain.lifecycle import Action
from server.errors import NotFound
from server.models.common import parse_body
from server.models.queue import GeoBody
from server.presenters import eta_view
from server.queue import Actor
from server.routes import render
from server.security import links

INVALID = "this link is not valid (it may have expired or the token was cancelled)"
WINDOW_S = 60


async def _limit(request: Request) -> None:
    st = render.state(request)
    addr = request.client.host if request.client else "unknown"
    await ratelimit.enforce(st.redis, ratelimit.public_key("addr", addr),
                            st.settings.public_rate_per_minute, WINDOW_S)


async def token_for_code(request: Request, code: str) -> dict[str, Any]:
    """The token a patient link names, if the link is genuine, of today or later, and live."""
    parts = links.split(code)
    if not parts:
        raise NotFound(INVALID)
    public_code, mac = parts
    st = render.state(request)
    row = await tokens_db.get_token_by_code(st.pool, public_code)
    if not row or not links.verify(st.settings.secret(), public_code, mac, row["service_date"]):
        raise NotFound(INVALID)
    hosp = await doctors_db.hospital(st.pool, row["hospital_id"])
    assert hosp
    if row["service_date"] < calendar.local_day(render.service(request).now(), hosp["timezone"]):
        raise NotFound(INVALID)
    if row["status"] == "CANCELLED":
        raise NotFound(INVALID)
    return row


async def patient_view(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    svc = render.service(request)
    position, eta = await svc.token_position(row["hospital_id"], row)
    return {
        "number": row["number"], "status": row["status"], "position": position,
        "eta": eta_view(eta, svc.now()), "cabin": row["cabin_number"],
        "doctor_name": row["doctor_name"], "service_date": row["service_date"].isoformat(),
        "scheduled_time": row["scheduled_time"].isoformat() if row["scheduled_time"] else None,
        "booking_type": row["booking_type"],
        "can_check_in": row["status"] == "BOOKED",
    }


async def public_token(request: Request) -> JSONResponse:
    await _limit(request)
    row = await token_for_code(request, request.path_params["code"])
    return JSONResponse(await patient_view(request, row))


async def public_check_in(request: Request) -> JSONResponse:
    await _limit(request)
    row = await token_for_code(request, request.path_params["code"])
    body = await parse_body(request, GeoBody)
    updated = await render.service(request).act(
        row["hospital_id"], Actor("patient"), row["id"], Action.CHECK_IN,
        geo_point=(body.lat, body.lon), reason="self check-in")
    return JSONResponse(await patient_view(request, updated))


routes = [
    Route("/api/v1/public/tokens/{code}", public_token, methods=["GET"]),
    Route("/api/v1/public/tokens/{code}/check-in", public_check_in, methods=["POST"]),
]
