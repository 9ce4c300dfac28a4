"""Today's dashboard for admins: queue lengths, waits, consult times, no-shows, by hour."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from server.auth.principal import staff
from server.db import dashboard as db
from server.responses import JSONResponse
from server.routes import render


def _rate(no_show: int, completed: int) -> float | None:
    """No-shows among the tokens that were resolved (seen or not): None before any is."""
    resolved = no_show + completed
    return round(no_show / resolved, 3) if resolved else None


def _mean(rows: list[dict[str, Any]], field: str) -> float | None:
    """Mean of a per-doctor average, weighted by how many tokens it covers."""
    weight = "completed" if field == "avg_consult_min" else "called"
    pairs = [(float(r[field]), r[weight]) for r in rows if r[field] is not None and r[weight]]
    total = sum(w for _, w in pairs)
    return round(sum(v * w for v, w in pairs) / total, 1) if total else None


async def today(request: Request) -> JSONResponse:
    who = await staff(request, "admin")
    svc = render.service(request)
    day, tz = await svc.today(who.hospital_id)
    pool = render.state(request).pool
    doctors = await db.per_doctor(pool, who.hospital_id, day)
    for row in doctors:
        row["called"] = row["completed"] + row["no_show"] + row["with_doctor"]
        row["no_show_rate"] = _rate(row["no_show"], row["completed"])
    hours = await db.per_hour(pool, who.hospital_id, day, tz)
    totals = {
        key: sum(r[key] for r in doctors)
        for key in ("waiting", "booked", "with_doctor", "completed", "no_show", "total")
    }
    totals |= {
        "no_show_rate": _rate(totals["no_show"], totals["completed"]),
        "avg_wait_min": _mean(doctors, "avg_wait_min"),
        "avg_consult_min": _mean(doctors, "avg_consult_min"),
    }
    return JSONResponse(render.jsonable({
        "date": day, "timezone": tz, "generated_at": svc.now(),
        "totals": totals, "doctors": doctors, "hours": hours,
    }))


routes = [Route("/api/v1/dashboard/today", today, methods=["GET"])]
