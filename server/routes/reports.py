"""Reports of past days (API.md "Insight"): rows per day x doctor from the daily metrics
job's table, JSON paged by cursor or CSV, and the same rows summed per day for the charts.

Admins only: the figures are per-doctor performance (late starts, idle time), which a
hospital treats as personnel data; nurses get the live alerts instead (docs/reports.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth.principal import staff
from server.db import reports as db
from server.models import cursors
from server.models.common import parse_query
from server.models.reports import ReportQuery, SummaryQuery
from server.responses import JSONResponse
from server.routes import render
from server.routes.csv_out import csv_response

DEFAULT_DAYS = 30


def _num(v: Any, places: int = 1) -> float | None:
    return None if v is None else round(float(v), places)


def _rate(no_show: int, seen: int) -> float | None:
    return round(no_show / (no_show + seen), 3) if no_show + seen else None


def row_view(r: dict[str, Any]) -> dict[str, Any]:
    return render.jsonable({
        "date": r["metric_date"], "doctor_id": r["doctor_id"], "doctor_name": r["doctor_name"],
        "department_id": r["department_id"], "department_name": r["department_name"],
        "issued": r["tokens_total"], "seen": r["tokens_completed"],
        "no_show": r["tokens_no_show"], "cancelled": r["tokens_cancelled"],
        "no_show_rate": _rate(r["tokens_no_show"], r["tokens_completed"]),
        "wait_mean_min": _num(r["avg_wait_min"]), "wait_p50_min": _num(r["wait_p50_min"]),
        "wait_p90_min": _num(r["wait_p90_min"]),
        "consult_mean_min": _num(r["avg_consultation_min"]),
        "first_call_delay_min": r["first_call_delay_min"], "late_start": r["late_start"],
        "last_patient_at": r["last_patient_at"], "overtime_min": r["overtime_min"],
        "shift_min": r["shift_min"], "busy_min": r["busy_min"], "pause_min": r["pause_min"],
        "idle_min": r["idle_min"], "utilisation": _num(r["utilisation"], 3),
        "computed_at": r["updated_at"],
    })


CSV_HEADER = ["date", "doctor_id", "doctor_name", "department_id", "department_name", "issued",
              "seen", "no_show", "cancelled", "no_show_rate", "wait_mean_min", "wait_p50_min",
              "wait_p90_min", "consult_mean_min", "first_call_delay_min", "late_start",
              "last_patient_at", "overtime_min", "shift_min", "busy_min", "pause_min",
              "idle_min", "utilisation", "computed_at"]


async def _range(request: Request, hospital_id: UUID, first: date | None, last: date | None
                 ) -> tuple[date, date]:
    if last is None:
        today, _ = await render.service(request).today(hospital_id)
        last = today - timedelta(days=1)
    return first or last - timedelta(days=DEFAULT_DAYS - 1), last


def _cursor(row: dict[str, Any]) -> str:
    return cursors.encode((datetime.combine(row["metric_date"], time(), UTC), row["doctor_id"]))


async def daily(request: Request) -> Response:
    who = await staff(request, "admin")
    q = parse_query(request, ReportQuery)
    if q.format == "json" and "text/csv" in request.headers.get("accept", ""):
        q = q.model_copy(update={"format": "csv"})
    first, last = await _range(request, who.hospital_id, q.first, q.last)
    pool = render.state(request).pool
    scope = {"department_id": q.department_id, "doctor_id": q.doctor_id}
    if q.format == "csv":  # a spreadsheet gets the whole range at once
        rows = await db.report_rows(pool, who.hospital_id, first, last, **scope)
        return csv_response(f"opd-daily-{first.isoformat()}-{last.isoformat()}.csv", CSV_HEADER,
                            ([v[k] for k in CSV_HEADER] for v in map(row_view, rows)))
    after = cursors.decode(q.cursor)
    rows = await db.report_rows(
        pool, who.hospital_id, first, last, **scope, limit=q.limit + 1,
        after=(after[0].date(), after[1]) if after else None)
    page, more = rows[:q.limit], len(rows) > q.limit
    return JSONResponse({"items": [row_view(r) for r in page],
                         "next_cursor": _cursor(page[-1]) if more else None})


async def summary(request: Request) -> JSONResponse:
    who = await staff(request, "admin")
    q = parse_query(request, SummaryQuery)
    first, last = await _range(request, who.hospital_id, q.first, q.last)
    rows = await db.day_totals(render.state(request).pool, who.hospital_id, first, last,
                               department_id=q.department_id, doctor_id=q.doctor_id)
    items = []
    for r in rows:
        available = r["shift_min"] - r["pause_min"]
        items.append(render.jsonable({
            "date": r["metric_date"], "doctors": r["doctors"], "issued": r["tokens_total"],
            "seen": r["tokens_completed"], "no_show": r["tokens_no_show"],
            "cancelled": r["tokens_cancelled"],
            "no_show_rate": _rate(r["tokens_no_show"], r["tokens_completed"]),
            "wait_p50_min": _num(r["wait_p50_min"]), "wait_p90_min": _num(r["wait_p90_min"]),
            "consult_mean_min": _num(r["consult_mean_min"]),
            "utilisation": (round(min(1.0, r["busy_in_shift_min"] / available), 3)
                            if available > 0 else None),
            "late_starts": r["late_starts"], "overtime_min": r["overtime_min"] or 0,
            "idle_min": r["idle_min"], "pause_min": r["pause_min"],
        }))
    return JSONResponse({"items": items})


routes = [
    Route("/api/v1/reports/daily", daily, methods=["GET"]),
    Route("/api/v1/reports/daily/summary", summary, methods=["GET"]),
]
