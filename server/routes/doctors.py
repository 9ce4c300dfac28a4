"""The doctor's queue: Next, pause/resume, leave, the queue read, and the department board."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.auth.principal import (
    STAFF,
    Principal,
    authenticate,
    can_act_on_queue,
    require_role,
    staff,
)
from server.db import doctors as doctors_db
from server.domain.masking import display_name
from server.errors import Forbidden, NotFound
from server.models.common import parse_body, path_uuid
from server.models.queue import LeaveBody, NextBody, PauseBody
from server.presenters import eta_view, token_view
from server.queue import Actor
from server.routes import render

BOARD_NEXT = 5  # tokens shown per cabin on a board


async def _doctor_for(request: Request, who: Principal, *, act: bool) -> dict[str, Any]:
    did = path_uuid(request, "doctor_id")
    today, _ = await render.service(request).today(who.hospital_id)
    ctx = await doctors_db.doctor_context(render.state(request).pool, who.hospital_id, did, today)
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


async def doctor_queue(request: Request) -> JSONResponse:
    who = await staff(request)
    ctx = await _doctor_for(request, who, act=False)
    return JSONResponse(await queue_snapshot(request, who.hospital_id, ctx["id"]))


async def queue_snapshot(request: Request, h: UUID, doctor_id: UUID) -> dict[str, Any]:
    svc = render.service(request)
    q, rows = await svc.doctor_queue(h, doctor_id)
    ctx, now = q.ctx, q.now
    current = rows.get(q.current) if q.current else None
    return {
        "doctor": {"id": str(doctor_id), "name": ctx["name"],
                   "department_id": str(ctx["department_id"]), "cabin": ctx["cabin"],
                   "status": q.live.doctor.status, "pause_until": q.live.doctor.pause_until},
        "current": token_view(current, risk=q.risks.get(current["id"]),
                              link=svc.link_for(current)) if current else None,
        "waiting": [token_view(rows[tid], position=pos, eta=eta_view(eta, now),
                               risk=q.risks.get(tid), link=svc.link_for(rows[tid]))
                    for tid, pos, eta in q.waiting if tid in rows],
    }


async def board(request: Request) -> JSONResponse:
    who = await authenticate(request)
    dep_id = path_uuid(request, "department_id")
    if who.kind == "display":
        if who.department_id != dep_id:
            raise NotFound("no such department")
    else:
        require_role(who, *STAFF)
    return JSONResponse(await board_snapshot(request, who.hospital_id, dep_id))


async def board_snapshot(request: Request, h: UUID, department_id: UUID) -> dict[str, Any]:
    """What a waiting-room TV shows: per cabin the current token and the next few, masked."""
    svc = render.service(request)
    pool = render.state(request).pool
    dep = await doctors_db.department(pool, h, department_id)
    if not dep:
        raise NotFound("no such department")
    today, _ = await svc.today(h)
    cabins = []
    for d in await doctors_db.department_doctors(pool, h, department_id, today):
        if d["shift_start"] is None:
            continue
        q, rows = await svc.doctor_queue(h, d["id"])
        cur = rows.get(q.current) if q.current else None
        cabins.append({
            "doctor": {"id": str(d["id"]), "name": d["name"],
                       "status": q.live.doctor.status},
            "cabin": d["cabin"],
            "current": ({"id": str(cur["id"]), "number": cur["number"], "status": cur["status"],
                         "display_name": display_name(cur["patient_name"])} if cur else None),
            "next": [{"id": str(tid), "number": rows[tid]["number"], "position": pos,
                      "display_name": display_name(rows[tid]["patient_name"]),
                      "eta": eta_view(eta, q.now)}
                     for tid, pos, eta in q.waiting[:BOARD_NEXT] if tid in rows],
            "waiting_count": len(q.waiting),
        })
    return {"department": {"id": str(dep["id"]), "name": dep["name"], "code": dep["code"],
                           "language": dep["language"]},
            "cabins": cabins, "generated_at": svc.now().isoformat()}


routes = [
    Route("/api/v1/doctors/{doctor_id}/next", next_token, methods=["POST"]),
    Route("/api/v1/doctors/{doctor_id}/pause", pause, methods=["POST"]),
    Route("/api/v1/doctors/{doctor_id}/resume", resume, methods=["POST"]),
    Route("/api/v1/doctors/{doctor_id}/leave", leave, methods=["POST"]),
    Route("/api/v1/doctors/{doctor_id}/queue", doctor_queue, methods=["GET"]),
    Route("/api/v1/departments/{department_id}/board", board, methods=["GET"]),
]
