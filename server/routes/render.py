"""Turning token records into API answers (shared by the token, doctor and public routes)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from server.db import tokens as tokens_db
from server.presenters import eta_view, jsonable, token_view
from server.queue import QueueService
from server.state import AppState

# jsonable is re-exported for routes: one way to render record values
__all__ = ["jsonable", "service", "state", "token"]


def state(request: Request) -> AppState:
    return request.app.state.opdq  # type: ignore[no-any-return]


def service(request: Request) -> QueueService:
    return state(request).queue


async def token(request: Request, row: dict[str, Any], *, staff: bool = True) -> dict[str, Any]:
    """One token with its live position, ETA and latest risk."""
    svc = service(request)
    h = row["hospital_id"]
    position, eta = await svc.token_position(h, row)
    risks = await tokens_db.latest_risk(svc.pool, [row["id"]])
    return token_view(row, position=position, eta=eta_view(eta, svc.now()),
                      risk=risks.get(row["id"]), link=svc.link_for(row) if staff else None,
                      staff=staff)

