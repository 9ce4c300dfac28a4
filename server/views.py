"""What each subscriber is shown: the doctor console's queue, the waiting-room board, the
patient's page, and the queue.updated every action publishes.

Built from the queue service and ids (not from a Request), so the HTTP routes and the
websocket snapshots share them. A board's cabin has one shape, made by `board_cabin`, both in
the board snapshot and in the `queue.updated` a board receives (subscribers.board_queue_message),
so the page reads one shape and "the next N on a board" is defined here only.

A board shows masked names ("R. Sharma") or, when its department says so, none: a board's
cabin is then built with names=False, in the snapshot and in the events alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

from server.auth import token_rules
from server.auth.principal import Principal
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.domain import calendar
from server.domain import lifecycle as lc
from server.errors import NotFound
from server.presenters import eta_view, jsonable, live_token, token_view, waited_min

if TYPE_CHECKING:
    import asyncpg

    from server.domain.eta import Eta
    from server.queue.base import QueueState


class QueueReads(Protocol):
    """What the views read of the queue service (server.queue.QueueService), named here so
    that the queue, which publishes views.queue_event, and the views do not import each
    other."""

    pool: asyncpg.Pool

    def now(self) -> datetime: ...
    def link_for(self, row: dict[str, Any]) -> str: ...
    async def today(self, h: UUID) -> tuple[date, str]: ...
    async def doctor_queue(self, h: UUID, doctor_id: UUID, ctx: dict[str, Any] | None = None
                           ) -> tuple[QueueState, dict[UUID, dict[str, Any]]]: ...
    async def token_position(self, h: UUID, row: dict[str, Any]) -> tuple[int | None, Any]: ...


BOARD_NEXT = 5  # tokens a board shows per cabin, after the one being served

T = TypeVar("T")


def _same(x: Any) -> Any:
    return x


def board_languages(dep: dict[str, Any]) -> list[str]:
    """The board's languages in order: the department's setting, else the hospital's
    (settings), else its language and then English (a Hindi department's board is bilingual
    by default)."""
    langs = (list(dep.get("board_languages") or []) or list(dep.get("hospital_board_languages")
                                                            or [])
             or [dep.get("language") or "en", "en"])
    return list(dict.fromkeys(langs))


def board_token(tok: dict[str, Any], names: bool = True) -> dict[str, Any]:
    """A token as a board shows it, from the live token JSON (already masked)."""
    return {"id": tok.get("id"), "number": tok.get("number"), "status": tok.get("status"),
            "display_name": (tok.get("display_name") or "") if names else "",
            "recall_count": tok.get("recall_count") or 0}


def _board_eta(eta: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"p50_min": eta.get("p50_min"), "p90_min": eta.get("p90_min"),
            "p10_min": eta.get("p10_min")} if eta else None


def board_cabin(doctor: dict[str, Any], cabin: str | None, current: dict[str, Any] | None,
                waiting: Sequence[T], entry: Callable[[T], dict[str, Any]] = _same,
                names: bool = True) -> dict[str, Any]:
    """One cabin of a board: its doctor ({id, name, status, shift_start, pause_until}: the
    tile says "from 09:00" before the shift and "until 11:30" in a pause), the token being
    served, the next BOARD_NEXT waiting with positions and ETAs, and how many wait in all.
    `current` is live token JSON; `waiting` is the whole queue in order, each turned by
    `entry` into live token JSON with "position" and "eta" (only those shown are turned)."""
    return {
        "doctor": {"id": doctor.get("id"), "name": doctor.get("name"),
                   "status": doctor.get("status"), "shift_start": doctor.get("shift_start"),
                   "pause_until": doctor.get("pause_until") or None},
        "cabin": cabin,
        "current": board_token(current, names) if current else None,
        "next": [{**board_token(tok, names), "position": tok.get("position"),
                  "eta": _board_eta(tok.get("eta"))}
                 for tok in map(entry, waiting[:BOARD_NEXT])],
        "waiting_count": len(waiting),
    }


def board_cabin_of_event(data: dict[str, Any], names: bool = True) -> dict[str, Any]:
    """A board's cabin from a queue.updated's data (the doctor's whole live queue)."""
    waiting = data.get("waiting") or []  # cjson encodes an empty list as {}
    return board_cabin(data.get("doctor") or {"id": data.get("doctor_id")}, data.get("cabin"),
                       data.get("current") or None, waiting, names=names)


def queue_event(q: QueueState) -> dict[str, Any]:
    """A queue.updated's data: the doctor's whole live queue with positions and ETAs (what a
    console applies, a patient's phone picks its own entry from, and a board turns into its
    cabin with board_cabin_of_event)."""
    tokens = q.live.tokens
    doctor_id = str(q.ctx["id"])
    return {
        "doctor_id": doctor_id,
        "department_id": str(q.ctx["department_id"]),
        "cabin": q.ctx["cabin"],
        "doctor": {"id": doctor_id, "name": q.ctx["name"], "status": q.live.doctor.status,
                   "pause_until": q.live.doctor.pause_until,
                   "shift_start": calendar.shift_start_at(q.ctx, q.now)},
        "current": q.live.current,
        "waiting": [{**tokens.get(str(tid), {"id": str(tid)}), "position": pos,
                     "eta": {"p50_min": eta.p50_min, "p90_min": eta.p90_min,
                             "p10_min": eta.p10_min}}
                    for tid, pos, eta in q.waiting],
    }


def staff_token(row: dict[str, Any], who: Principal | None, today: date, now: datetime, *,
                position: int | None = None, eta: dict[str, Any] | None = None,
                risk: dict[str, Any] | None = None, link: str | None = None) -> dict[str, Any]:
    """A token as staff see it: with the wait so far and the buttons `who` may press."""
    return token_view(row, position=position, eta=eta, risk=risk, link=link,
                      waited=waited_min(row, now),
                      allowed=token_rules.staff_actions(who, row, today) if who else [])


async def queue_snapshot(svc: QueueReads, h: UUID, doctor_id: UUID,
                         who: Principal | None = None, *, ctx: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
    """The doctor console's queue (GET /doctors/{id}/queue and the console's snapshot);
    `ctx`: the doctor's context of today when the caller read it (for its access check)."""
    q, rows = await svc.doctor_queue(h, doctor_id, ctx)
    ctx, now = q.ctx, q.now
    today = calendar.local_day(now, ctx["timezone"])
    current = rows.get(q.current) if q.current else None
    return {
        "doctor": {"id": str(doctor_id), "name": ctx["name"],
                   "department_id": str(ctx["department_id"]), "cabin": ctx["cabin"],
                   "status": q.live.doctor.status, "pause_until": q.live.doctor.pause_until},
        "current": staff_token(current, who, today, now, risk=q.risks.get(current["id"]),
                               link=svc.link_for(current)) if current else None,
        "waiting": [staff_token(rows[tid], who, today, now, position=pos,
                                eta=eta_view(eta, now), risk=q.risks.get(tid),
                                link=svc.link_for(rows[tid]))
                    for tid, pos, eta in q.waiting if tid in rows],
    }


async def board_snapshot(svc: QueueReads, pool: asyncpg.Pool, h: UUID, department_id: UUID
                         ) -> dict[str, Any]:
    """What a waiting-room TV shows: per cabin the current token and the next few, masked
    (or without names), and the languages of its labels and announcements."""
    dep = await doctors_db.department(pool, h, department_id)
    if not dep:
        raise NotFound("no such department")
    names = board_shows_names(dep)
    today, _ = await svc.today(h)
    cabins = []
    for d in await doctors_db.department_doctors(pool, h, department_id, today):
        if d["shift_start"] is None:
            continue
        q, rows = await svc.doctor_queue(h, d["id"], d)
        cur = rows.get(q.current) if q.current else None
        now = q.now

        def entry(w: tuple[UUID, int, Eta], rows: dict[UUID, Any] = rows,
                  now: datetime = now) -> dict[str, Any]:
            tid, pos, eta = w
            return {**live_token(rows[tid]), "position": pos, "eta": eta_view(eta, now)}

        cabins.append(board_cabin(
            {"id": str(d["id"]), "name": d["name"], "status": q.live.doctor.status,
             "shift_start": calendar.shift_start_at(d, now),
             "pause_until": q.live.doctor.pause_until},
            d["cabin"], live_token(cur) if cur else None,
            [w for w in q.waiting if w[0] in rows], entry, names=names))
    return {"department": {"id": str(dep["id"]), "name": dep["name"], "code": dep["code"],
                           "language": dep["language"], "languages": board_languages(dep),
                           "names": dep.get("board_names") or "masked",
                           "timezone": dep["timezone"]},
            "cabins": cabins, "generated_at": svc.now().isoformat()}


async def patient_token(svc: QueueReads, row: dict[str, Any]) -> dict[str, Any]:
    """What the patient's page shows (GET /t/{code} and the phone's snapshot): their own
    token only, in their language. `row`: the token as routes.public.token_for_code found it
    (with the hospital's name and day)."""
    position, eta = await svc.token_position(row["hospital_id"], row)
    now = svc.now()
    iso = jsonable
    return {
        "number": row["number"], "status": row["status"], "position": position,
        "eta": eta_view(eta, now), "cabin": row["cabin_number"],
        "doctor_name": row["doctor_name"], "service_date": row["service_date"].isoformat(),
        "scheduled_time": iso(row["scheduled_time"]),
        "booking_type": row["booking_type"],
        "can_check_in": row["status"] == "BOOKED",
        "hospital_name": row.get("hospital_name"), "department_name": row["department_name"],
        "language": row["patient_language"], "waited_min": waited_min(row, now),
        "checked_in_at": iso(row["checked_in_at"]), "called_at": iso(row["called_at"]),
        "no_show_at": iso(row["no_show_at"]), "cancelled_at": iso(row["cancelled_at"]),
        "completed_at": iso(row["completed_at"]),
        "moved_from_doctor": await tokens_db.moved_from(svc.pool, row["id"]),
        "late_count": row["late_count"], "late_limit": lc.LATE_LIMIT,
        "allowed_actions": token_rules.patient_actions(row, row["today"]),
    }


def board_shows_names(dep: dict[str, Any]) -> bool:
    """Whether the department's boards show masked names (else none at all)."""
    return (dep.get("board_names") or "masked") != "hidden"
