"""Turning token records into API answers (shared by the token, doctor and public routes)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from server import views
from server.auth.principal import optional_principal
from server.db import teleconsult as teleconsult_db
from server.db import tokens as tokens_db
from server.domain import lifecycle as lc
from server.presenters import eta_view, jsonable, token_view, waited_min
from server.queue import QueueService
from server.queue.base import PLACE_KEY, RISK_KEY
from server.risk import teleconsult
from server.state import AppState

# jsonable is re-exported for routes: one way to render record values
__all__ = ["jsonable", "service", "state", "token", "tokens"]


def state(request: Request) -> AppState:
    return request.app.state.opdq  # type: ignore[no-any-return]


def service(request: Request) -> QueueService:
    return state(request).queue


async def token(request: Request, row: dict[str, Any], *, staff: bool = True) -> dict[str, Any]:
    """One token with its live position, ETA and latest risk."""
    view = (await tokens(request, [row], staff=staff))[0]
    assert view is not None
    return view


async def tokens(request: Request, rows: list[dict[str, Any] | None], *, staff: bool = True
                 ) -> list[dict[str, Any] | None]:
    """Tokens (None stays None) with their positions and ETAs (a queue read only for those
    waiting) and their latest risks, in one query for all of them."""
    svc = service(request)
    present = [r for r in rows if r is not None]
    # a row an action answers with carries its risk already (queue.base.RISK_KEY)
    risks = {r["id"]: r[RISK_KEY] for r in present if r.get(RISK_KEY) is not None}
    unknown = [r["id"] for r in present if RISK_KEY not in r]
    if unknown:
        risks.update(await tokens_db.latest_risk(svc.pool, unknown))
    who = await optional_principal(request) if staff else None
    now = svc.now()
    # the hospital's day matters only to a same-day action (a hospital read saved on Next)
    today = (await svc.today(present[0]["hospital_id"]))[0] \
        if any(r["status"] in lc.SAME_DAY_FROM for r in present) else now.date()
    # ... and its place in the queue as the action published it (queue.base.PLACE_KEY)
    places = {r["id"]: r[PLACE_KEY] for r in present if r.get(PLACE_KEY) is not None}
    unplaced = [r for r in present if PLACE_KEY not in r]
    if unplaced:
        places.update(await svc.token_positions(present[0]["hospital_id"], unplaced))
    tele = await teleconsult_db.suggestions(svc.pool, present[0]["hospital_id"], present) \
        if staff and present else {}
    out: list[dict[str, Any] | None] = []
    for row in rows:
        if row is None:
            out.append(None)
            continue
        position, eta = places.get(row["id"], (None, None))
        if staff:
            assert today is not None
            view = views.staff_token(row, who, today, now, position=position,
                                     eta=eta_view(eta, now), risk=risks.get(row["id"]),
                                     link=svc.link_for(row))
            view["teleconsult"] = tele.get(row["id"], teleconsult.NO).to_json()
            out.append(view)
        else:
            out.append(token_view(row, position=position, eta=eta_view(eta, now), staff=False,
                                  waited=waited_min(row, now)))
    return out

