"""No-show insight (API.md "No-show prevention"): a day's risk per tier and department, and
the return on prevention over a period.

- `GET /api/v1/risk/summary?date=` (any staff: the desk plans its calls, a doctor sees their
  day): the day's scored tokens per tier, per department and in all, cancelled and
  rescheduled ones left out.
- `GET /api/v1/risk/roi?from=&to=` (admins: costs and money): prevention messages sent and
  their cost, expected vs observed no-shows by tier, slots refilled from the waitlist and the
  value recovered, with the hospital's costs (docs/settings.md). `format=csv` too.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth.principal import staff
from server.db import risk_insight as db
from server.models.common import parse_query
from server.models.dates import PlanDate
from server.responses import JSONResponse
from server.routes import render
from server.routes.csv_out import csv_response

TIERS = (1, 2, 3, 4, 5)
DEFAULT_DAYS = 30
MAX_DAYS = 366
CSV_HEADER = ("section", "item", "channel", "count", "expected", "observed", "amount",
              "currency")


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: PlanDate | None = Field(default=None, alias="date",
                                 description="The hospital-local day, default today.")


class RoiQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    first: PlanDate | None = Field(default=None, alias="from",
                                   description="First day, default 29 days before `to`.")
    last: PlanDate | None = Field(default=None, alias="to",
                                  description="Last day (included), default today.")
    format: Literal["json", "csv"] = "json"


def _tiers() -> dict[str, int]:
    return {str(t): 0 for t in TIERS}


async def risk_summary(request: Request) -> JSONResponse:
    who = await staff(request)
    q = parse_query(request, SummaryQuery)
    svc = render.service(request)
    day = q.day or (await svc.today(who.hospital_id))[0]
    rows = await db.summary(svc.pool, who.hospital_id, day)
    total, deps = _tiers(), {}
    score_sum = 0
    for r in rows:
        dep = deps.setdefault(r["department_id"], {
            "department_id": str(r["department_id"]), "name": r["department"], "total": 0,
            "tiers": _tiers(), "score_sum": 0})
        dep["tiers"][str(r["tier"])] += r["n"]
        dep["total"] += r["n"]
        dep["score_sum"] += r["score_sum"]
        total[str(r["tier"])] += r["n"]
        score_sum += r["score_sum"]
    n = sum(total.values())
    departments = []
    for dep in deps.values():
        s = dep.pop("score_sum")
        departments.append({**dep, "mean_score": round(s / dep["total"], 1),
                            "high": dep["tiers"]["4"] + dep["tiers"]["5"]})
    return JSONResponse({
        "date": day.isoformat(), "total": n, "tiers": total,
        "high": total["4"] + total["5"],
        "mean_score": round(score_sum / n, 1) if n else None,
        "departments": departments})


def _money(x: float) -> float:
    return round(x, 2)


async def roi(request: Request) -> Response:
    who = await staff(request, "admin")
    q = parse_query(request, RoiQuery)
    svc = render.service(request)
    last = q.last or max((await svc.today(who.hospital_id))[0], q.first or date.min)
    first = q.first or last - timedelta(days=DEFAULT_DAYS - 1)
    # a longer period is cut to its last MAX_DAYS (the answer's `from` says so); a reversed
    # one is empty, as the daily reports answer it
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    out = await roi_figures(svc.pool, who.hospital_id, first, last)
    if q.format == "csv" or "text/csv" in request.headers.get("accept", ""):
        return csv_response(f"risk-roi-{first.isoformat()}-{last.isoformat()}.csv", CSV_HEADER,
                            roi_rows(out))
    return JSONResponse(out)


async def roi_figures(pool: Any, hospital_id: Any, first: date, last: date) -> dict[str, Any]:
    h = await db.costs(pool, hospital_id)
    price = {"SMS": float(h["sms_cost"]), "WHATSAPP": float(h["whatsapp_cost"])}
    slot_value = float(h["slot_value"])
    msgs = await db.messages(pool, hospital_id, first, last)
    by_event: dict[str, dict[str, int]] = {}
    for m in msgs:
        by_event.setdefault(m["event"], {"SMS": 0, "WHATSAPP": 0})[m["channel"]] = m["n"]
    per_channel = {c: sum(e[c] for e in by_event.values()) for c in ("SMS", "WHATSAPP")}
    cost = sum(per_channel[c] * price[c] for c in per_channel)
    seen = {r["tier"]: r for r in await db.outcomes(pool, hospital_id, first, last)}
    tiers = []
    for t in TIERS:
        r = seen.get(t)
        tiers.append({"tier": t, "bookings": r["bookings"] if r else 0,
                      "expected": round(float(r["expected"]), 2) if r else 0.0,
                      "observed": r["observed"] if r else 0})
    refilled = await db.refilled(pool, hospital_id, first, last)
    value = refilled * slot_value
    return {
        "from": first.isoformat(), "to": last.isoformat(), "currency": h["currency"],
        "costs": {"sms": price["SMS"], "whatsapp": price["WHATSAPP"], "slot_value": slot_value},
        "messages": {"sent": sum(per_channel.values()), "by_channel": per_channel,
                     "by_event": by_event, "cost": _money(cost)},
        "no_shows": {"bookings": sum(x["bookings"] for x in tiers),
                     "expected": round(sum(x["expected"] for x in tiers), 2),
                     "observed": sum(x["observed"] for x in tiers), "by_tier": tiers},
        "waitlist": {"refilled": refilled, "value": _money(value)},
        "net": _money(value - cost),
    }


def roi_rows(out: dict[str, Any]) -> list[tuple[Any, ...]]:
    cur, price = out["currency"], out["costs"]
    rows: list[tuple[Any, ...]] = []
    for event, chans in sorted(out["messages"]["by_event"].items()):
        for chan, n in chans.items():
            if n:
                rows.append(("messages", event, chan, n, "", "",
                             _money(n * price["sms" if chan == "SMS" else "whatsapp"]), cur))
    rows.append(("messages", "total", "", out["messages"]["sent"], "", "",
                 out["messages"]["cost"], cur))
    for t in out["no_shows"]["by_tier"]:
        rows.append(("no_shows", f"tier {t['tier']}", "", t["bookings"], t["expected"],
                     t["observed"], "", ""))
    ns = out["no_shows"]
    rows.append(("no_shows", "total", "", ns["bookings"], ns["expected"], ns["observed"], "", ""))
    rows.append(("waitlist", "refilled", "", out["waitlist"]["refilled"], "", "",
                 out["waitlist"]["value"], cur))
    rows.append(("net", "value - cost", "", "", "", "", out["net"], cur))
    return rows


routes = [
    Route("/api/v1/risk/summary", risk_summary, methods=["GET"]),
    Route("/api/v1/risk/roi", roi, methods=["GET"]),
]
