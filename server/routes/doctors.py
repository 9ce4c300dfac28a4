"""The doctor's queue: Next, pause/resume, leave, the queue read, and the department board."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import views
from server.auth.principal import (
    STAFF,
    Principal,
    authenticate,
    can_act_on_queue,
    require_role,
    staff,
)
from server.db import doctors as doctors_db
from server.errors import Forbidden, NotFound
from server.models.common import parse_body, path_uuid
from server.models.queue import LeaveBody, NextBody, PauseBody
from server.queue import Actor
from server.responses import JSONResponse
from server.routes import render


async def _doctor_for(request: Request, who: Principal, *, act: bool) -> dict[str, Any]:
    did = path_uuid(request, "doctor_id")
    ctx = await doctors_db.doctor_context_at(render.state(request).pool, who.hospital_id, did,
                                             render.service(request).now())
    if not ctx:
        raise NotFound("no such doctor")
    if act and not can_act_on_queue(who, doctor_id=did, department_id=ctx["department_id"]):
        raise Forbidden("you may not act on this doctor's queue")
    return ctx


async def next_token(request: Request) -> JSONResponse:
    who = await staff(request)
    ctx = await _doctor_for(request, who, act=True)
    body = await parse_body(request, NextBody)
    completed, called = await render.service(request).call_next(
        who.hospital_id, Actor("user", who.user_id), ctx["id"],
        current_token_id=body.current_token_id,
        expect_given="current_token_id" in body.model_fields_set, ctx=ctx)
    completed_view, called_view = await render.tokens(request, [completed, called])
    return JSONResponse({"completed": completed_view, "called": called_view})


async def pause(request: Request) -> JSONResponse:
    who = await staff(request)
    ctx = await _doctor_for(request, who, act=True)
    body = await parse_body(request, PauseBody)
    out = await render.service(request).set_paused(
        who.hospital_id, Actor("user", who.user_id), ctx["id"], True, minutes=body.minutes,
        reason=body.reason)
    return JSONResponse(out)


async def resume(request: Request) -> JSONResponse:
    who = await staff(request)
    ctx = await _doctor_for(request, who, act=True)
    await parse_body(request, PauseBody)
    out = await render.service(request).set_paused(
        who.hospital_id, Actor("user", who.user_id), ctx["id"], False)
    return JSONResponse(out)


async def leave(request: Request) -> JSONResponse:
    who = await staff(request, "admin")
    ctx = await _doctor_for(request, who, act=False)
    body = await parse_body(request, LeaveBody)
    out = await render.service(request).leave(
        who.hospital_id, Actor("user", who.user_id), ctx["id"], start=body.start, end=body.end,
        reason=body.reason, kind=body.kind)
    return JSONResponse(out, status_code=201)


async def doctor_queue(request: Request) -> Response:
    """Reused from this process's view cache while the hospital's views are unchanged (what a
    principal may press depends on who they are to the queue: part of the key)."""
    who = await staff(request)
    did = path_uuid(request, "doctor_id")
    svc, cache = render.service(request), render.state(request).views
    version = await svc.live.views_version(who.hospital_id)
    key = (who.hospital_id, did, who.kind, who.role, who.doctor_id, who.department_id)
    now = svc.now().timestamp()
    body = cache.get(key, version, now)
    if body is not None:
        return Response(body, media_type="application/json")
    ctx = await _doctor_for(request, who, act=False)
    answer = JSONResponse(await views.queue_snapshot(svc, who.hospital_id, ctx["id"], who,
                                                     ctx=ctx))
    cache.put(key, version, answer.body, now)
    return answer


async def board(request: Request) -> JSONResponse:
    who = await authenticate(request)
    dep_id = path_uuid(request, "department_id")
    if who.kind == "display":
        if who.department_id != dep_id:
            raise NotFound("no such department")
    else:
        require_role(who, *STAFF)
    return JSONResponse(await views.board_snapshot(render.service(request),
                                                   render.state(request).pool,
                                                   who.hospital_id, dep_id))


routes = [
    Route("/api/v1/doctors/{doctor_id}/next", next_token, methods=["POST"]),
    Route("/api/v1/doctors/{doctor_id}/pause", pause, methods=["POST"]),
    Route("/api/v1/doctors/{doctor_id}/resume", resume, methods=["POST"]),
    Route("/api/v1/doctors/{doctor_id}/leave", leave, methods=["POST"]),
    Route("/api/v1/doctors/{doctor_id}/queue", doctor_queue, methods=["GET"]),
    Route("/api/v1/departments/{department_id}/board", board, methods=["GET"]),
]
