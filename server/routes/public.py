"""The patient's own token, by the signed code in their link: no login, one token only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from server import views
from server.auth import ratelimit, token_rules
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.domain import calendar
from server.domain.lifecycle import Action
from server.errors import Conflict, NotFound
from server.models.common import parse_body
from server.models.queue import GeoBody, RunningLate
from server.queue import Actor
from server.responses import JSONResponse
from server.routes import render
from server.security import links

INVALID = "this link is not valid (it may have expired)"
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
    # a cancelled visit's page still says so for the rest of the day (its actions are refused)
    return {**row, "hospital_name": hosp["name"], "today": calendar.local_day(
        render.service(request).now(), hosp["timezone"])}


async def patient_view(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    """What the patient's page shows (views.patient_token)."""
    return await views.patient_token(render.service(request), row)


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
    return JSONResponse(await patient_view(request, {**row, **updated}))


def patient_may(action: Action, today: date) -> Callable[[dict[str, Any]], None]:
    """The patient's rule, checked on the locked row: what their page offers, nothing more."""
    def check(row: dict[str, Any]) -> None:
        # the daily limit of "running late" is the action's own rule, with its own words
        if action.value not in token_rules.patient_actions({**row, "late_count": 0}, today):
            raise Conflict(f"this visit is {row['status']}: you cannot {action.value} it now",
                           extra={"current_status": row["status"]})
    return check


async def public_running_late(request: Request) -> JSONResponse:
    await _limit(request)
    row = await token_for_code(request, request.path_params["code"])
    body = await parse_body(request, RunningLate)
    updated = await render.service(request).act(
        row["hospital_id"], Actor("patient"), row["id"], Action.RUNNING_LATE,
        minutes=body.minutes, reason=f"running late {body.minutes} min",
        note=f"running late {body.minutes} min",
        check=patient_may(Action.RUNNING_LATE, row["today"]))
    return JSONResponse(await patient_view(request, {**row, **updated}))


async def public_cancel(request: Request) -> JSONResponse:
    await _limit(request)
    row = await token_for_code(request, request.path_params["code"])
    updated = await render.service(request).act(
        row["hospital_id"], Actor("patient"), row["id"], Action.CANCEL,
        reason="cancelled by the patient", note="cancelled by the patient",
        check=patient_may(Action.CANCEL, row["today"]))
    return JSONResponse(await patient_view(request, {**row, **updated}))


routes = [
    Route("/api/v1/public/tokens/{code}", public_token, methods=["GET"]),
    Route("/api/v1/public/tokens/{code}/check-in", public_check_in, methods=["POST"]),
    Route("/api/v1/public/tokens/{code}/running-late", public_running_late, methods=["POST"]),
    Route("/api/v1/public/tokens/{code}/cancel", public_cancel, methods=["POST"]),
]
