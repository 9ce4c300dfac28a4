"""Tokens: issue, read, check in, and the single-token actions of API.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth import token_rules
from server.auth.principal import DESK, Principal, staff
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.domain.lifecycle import Action
from server.domain.names import parse_search
from server.errors import DuplicateToken, Forbidden, InvalidInput, NotFound
from server.models import cursors
from server.models.common import parse_body, parse_query, path_uuid
from server.models.queue import (
    ActionBody,
    PriorityBody,
    TokenCreate,
    TokenListQuery,
    TransferBody,
)
from server.queue import Actor
from server.responses import JSONResponse
from server.routes import render
from server.routes.csv_out import csv_response

BODIES: dict[Action, type[ActionBody]] = {Action.TRANSFER: TransferBody,
                                          Action.PRIORITY: PriorityBody}


def actor(p: Principal) -> Actor:
    return Actor("user", p.user_id)


def access_check(p: Principal, action: Action) -> Callable[[dict[str, Any]], None]:
    """The rule for one action on one token, checked on the locked row."""
    def check(row: dict[str, Any]) -> None:
        if (why := token_rules.refusal(p, action, row)) is not None:
            raise Forbidden(why)
    return check


async def create_token(request: Request) -> JSONResponse:
    who = await staff(request, *DESK)
    body = await parse_body(request, TokenCreate)
    department_id = body.department_id
    if body.doctor_id is not None:
        svc = render.service(request)
        doctor = await doctors_db.doctor_context_at(svc.pool, who.hospital_id, body.doctor_id,
                                                    svc.now())
        if doctor is None:
            raise InvalidInput.field("doctor_id", "no such doctor")
        department_id = department_id or doctor["department_id"]
    if who.role == "nurse" and department_id != who.department_id:
        raise Forbidden("a nurse issues tokens of their own department only")
    try:
        row = await render.service(request).issue(
            who.hospital_id, actor(who), patient_id=body.patient_id,
            booking_type=body.booking_type, priority=body.effective_priority,
            doctor_id=body.doctor_id, department_id=body.department_id,
            scheduled_time=body.scheduled_time, visit_reason=body.visit_reason,
            allow_duplicate=body.allow_duplicate)
    except DuplicateToken as dup:
        # the desk shows the token the patient already holds before it asks to confirm
        existing = await tokens_db.get_token(render.state(request).pool, who.hospital_id,
                                             dup.existing_token_id)
        if existing:
            dup.extra["existing_token"] = await render.token(request, existing)
        raise
    return JSONResponse(await render.token(request, row), status_code=201)


async def list_tokens(request: Request) -> Response:
    """The desk's day (API.md "The desk's day"): newest first, filtered, paged by cursor."""
    who = await staff(request)
    q = parse_query(request, TokenListQuery)
    if q.format == "json" and "text/csv" in request.headers.get("accept", ""):
        q = q.model_copy(update={"format": "csv"})
    svc = render.service(request)
    day = q.date or (await svc.today(who.hospital_id))[0]
    terms = parse_search(q.q) if q.q else None
    rows = await tokens_db.day_list(
        svc.pool, who.hospital_id, day, department_id=q.department_id, doctor_id=q.doctor_id,
        statuses=q.statuses(), name_patterns=terms.name_patterns if terms else None,
        phone_digits=terms.phone_digits if terms else None,
        number=terms.number if terms else None, seq=terms.seq if terms else None,
        before=cursors.decode(q.cursor), limit=q.limit + 1)
    page, more = rows[:q.limit], len(rows) > q.limit
    items = [v for v in await render.tokens(request, list(page)) if v is not None]
    if q.format == "csv":
        return csv_response(f"tokens-{day.isoformat()}.csv", TOKEN_CSV, map(token_csv_row, items))
    last = page[-1] if more else None
    return JSONResponse({"items": items, "next_cursor": cursors.encode(
        (last["created_at"], last["id"])) if last else None})


TOKEN_CSV = ["number", "status", "priority", "booking_type", "patient_name", "patient_phone",
             "doctor_name", "cabin", "position", "eta_p50_min", "eta_p90_min", "waited_min",
             "created_at", "checked_in_at", "called_at", "completed_at"]


def token_csv_row(t: dict[str, Any]) -> list[Any]:
    eta = t.get("eta") or {}
    return [t["number"], t["status"], t["priority"], t["booking_type"], t["patient"]["name"],
            t["patient"]["phone"], t.get("doctor_name"), t.get("cabin"), t.get("position"),
            eta.get("p50_min"), eta.get("p90_min"), t.get("waited_min"), t["created_at"],
            t.get("checked_in_at"), t.get("called_at"), t.get("completed_at")]


async def tokens_root(request: Request) -> Response:
    # one route for the path, so a 405 answers Allow: GET, POST
    return await (list_tokens if request.method in ("GET", "HEAD") else create_token)(request)


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
    if action is Action.CALL:
        raise NotFound("call tokens with POST /api/v1/doctors/{id}/next")
    if action is Action.RUNNING_LATE:
        raise NotFound("a patient says this from their own page "
                       "(POST /api/v1/public/tokens/{code}/running-late)")
    who = await staff(request)
    body = await parse_body(request, BODIES.get(action, ActionBody))
    row = await render.service(request).act(
        who.hospital_id, actor(who), path_uuid(request, "token_id"), action,
        reason=body.reason, to_doctor=getattr(body, "doctor_id", None),
        priority=getattr(body, "priority", None), check=access_check(who, action))
    return JSONResponse(await render.token(request, row))


routes = [
    Route("/api/v1/tokens", tokens_root, methods=["GET", "POST"]),
    Route("/api/v1/tokens/{token_id}", get_token, methods=["GET"]),
    Route("/api/v1/tokens/{token_id}/history", token_history, methods=["GET"]),
    Route("/api/v1/tokens/{token_id}/{action}", token_action, methods=["POST"]),
]
