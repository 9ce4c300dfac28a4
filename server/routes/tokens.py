"""Tokens: issue, read, check in, and the single-token actions of API.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.auth.principal import DESK, Principal, can_act_on_queue, staff
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.domain.lifecycle import Action
from server.errors import Forbidden, InvalidInput, NotFound
from server.models.common import parse_body, path_uuid
from server.models.queue import ActionBody, PriorityBody, TokenCreate, TransferBody
from server.queue import Actor
from server.routes import render

# who may take each action, beyond admins and the queue's own doctor/nurse
DESK_ACTIONS = {Action.CHECK_IN, Action.CANCEL, Action.TRANSFER, Action.PRIORITY,
                Action.RESCHEDULE}
# of those, what the doctor's tablet does too (DESIGN.md), in the doctor's own queue
DOCTOR_DESK_ACTIONS = {Action.TRANSFER}
BODIES: dict[Action, type[ActionBody]] = {Action.TRANSFER: TransferBody,
                                          Action.PRIORITY: PriorityBody}


def actor(p: Principal) -> Actor:
    return Actor("user", p.user_id)


def access_check(p: Principal, action: Action) -> Callable[[dict[str, Any]], None]:
    """The rule for one action on one token, checked on the locked row."""
    def check(row: dict[str, Any]) -> None:
        if p.role == "receptionist" and action in DESK_ACTIONS:
            return
        if p.role == "doctor" and action in DESK_ACTIONS - DOCTOR_DESK_ACTIONS:
            raise Forbidden(f"the desk or the nurse may {action.value} tokens, not a doctor")
        if row["doctor_id"] and can_act_on_queue(p, doctor_id=row["doctor_id"],
                                                 department_id=row["department_id"]):
            return
        if p.role == "admin" or (p.role == "nurse" and p.department_id == row["department_id"]):
            return
        raise Forbidden(f"you may not {action.value} tokens of this queue")
    return check


async def create_token(request: Request) -> JSONResponse:
    who = await staff(request, *DESK)
    body = await parse_body(request, TokenCreate)
    department_id = body.department_id
    if body.doctor_id is not None:
        svc = render.service(request)
        today, _ = await svc.today(who.hospital_id)
        doctor = await doctors_db.doctor_context(svc.pool, who.hospital_id, body.doctor_id, today)
        if doctor is None:
            raise InvalidInput.field("doctor_id", "no such doctor")
        department_id = department_id or doctor["department_id"]
    if who.role == "nurse" and department_id != who.department_id:
        raise Forbidden("a nurse issues tokens of their own department only")
    row = await render.service(request).issue(
        who.hospital_id, actor(who), patient_id=body.patient_id, booking_type=body.booking_type,
        priority=body.effective_priority, doctor_id=body.doctor_id,
        department_id=body.department_id, scheduled_time=body.scheduled_time,
        visit_reason=body.visit_reason)
    return JSONResponse(await render.token(request, row), status_code=201)


async def get_token(request: Request) -> JSONResponse:
    who = await staff(request)
    row = await tokens_db.get_token(render.state(request).pool, who.hospital_id,
                                    path_uuid(request, "token_id"))
    if not row:
        raise NotFound("no such token")
    return JSONResponse(await render.token(request, row))


async def token_history(request: Request) -> JSONResponse:
    who = await staff(request)
    pool = render.state(request).pool
    tid = path_uuid(request, "token_id")
    if not await tokens_db.get_token(pool, who.hospital_id, tid):
        raise NotFound("no such token")
    return JSONResponse({"history": render.jsonable(await tokens_db.history(pool, tid))})


async def token_action(request: Request) -> JSONResponse:
    try:
        action = Action(request.path_params["action"])
    except ValueError:
        raise NotFound(f"no action {request.path_params['action']!r}") from None
    if action in (Action.CALL,):
        raise NotFound("call tokens with POST /api/v1/doctors/{id}/next")
    who = await staff(request)
    body = await parse_body(request, BODIES.get(action, ActionBody))
    row = await render.service(request).act(
        who.hospital_id, actor(who), path_uuid(request, "token_id"), action,
        reason=body.reason, to_doctor=getattr(body, "doctor_id", None),
        priority=getattr(body, "priority", None), check=access_check(who, action))
    return JSONResponse(await render.token(request, row))


routes = [
    Route("/api/v1/tokens", create_token, methods=["POST"]),
    Route("/api/v1/tokens/{token_id}", get_token, methods=["GET"]),
    Route("/api/v1/tokens/{token_id}/history", token_history, methods=["GET"]),
    Route("/api/v1/tokens/{token_id}/{action}", token_action, methods=["POST"]),
]
