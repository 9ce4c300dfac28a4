"""The desk's call list: a day's bookings the outreach plan targets, highest risk first, with
the touches planned and sent and the patient's replies (API.md: GET /api/v1/risk/outreach).

Staff only. The phone number is shown to the desk roles (they make the calls); a doctor sees
it masked. `?format=csv` (or Accept: text/csv) for a spreadsheet.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth.principal import DESK, staff
from server.db import outreach as db
from server.db import teleconsult as teleconsult_db
from server.models.common import parse_query
from server.models.dates import PlanDate
from server.observability import mask_phone
from server.responses import JSONResponse
from server.risk import outreach, teleconsult
from server.routes import render
from server.routes.csv_out import csv_response

CSV_HEADER = ("token", "scheduled_time", "department", "doctor", "patient", "phone", "tier",
              "score", "call", "planned", "sent", "reply", "status", "teleconsult")


class OutreachQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: PlanDate | None = Field(default=None, alias="date")
    format: Literal["json", "csv"] = "json"


def item(row: dict[str, Any], pol: outreach.Policy, show_phone: bool,
         tele: teleconsult.Suggestion = teleconsult.NO) -> dict[str, Any]:
    sent = {(s["event"]): s for s in row["sent"]}
    planned = [{"event": t.event, "at": t.at, "standard": t.standard,
                "status": sent[t.event]["status"] if t.event in sent else None,
                "channel": sent[t.event]["channel"] if t.event in sent else None}
               for t in outreach.plan(row["tier"], row["scheduled_time"], pol)]
    replies = row["replies"]
    return render.jsonable({
        "token_id": row["id"], "number": row["number"], "status": row["status"],
        "scheduled_time": row["scheduled_time"], "department": row["department_name"],
        "doctor": row["doctor_name"],
        "patient": {"name": row["patient_name"],
                    "phone": row["phone"] if show_phone else mask_phone(row["phone"])},
        "risk": {"tier": row["tier"], "score": row["score"], "badge": row["badge"],
                 "model_version": row["model_version"],
                 "factors": [f.get("phrase") for f in row["factors"] or []]},
        "call": outreach.on_call_list(row["tier"], pol),
        "touches": planned, "sent": row["sent"], "replies": replies,
        "answer": replies[-1]["reply"] if replies else None,
        "teleconsult": tele.to_json(),
    })


async def outreach_list(request: Request) -> Response:
    who = await staff(request)
    q = parse_query(request, OutreachQuery)
    fmt = "csv" if q.format == "csv" or "text/csv" in request.headers.get("accept", "") \
        else "json"
    svc = render.service(request)
    day = q.day or (await svc.today(who.hospital_id))[0] + timedelta(days=1)
    pol = outreach.Policy.from_json(await db.policy(svc.pool, who.hospital_id))
    rows = await db.call_list(svc.pool, who.hospital_id, day, pol.confirm_tier)
    tele = await teleconsult_db.suggestions(svc.pool, who.hospital_id, rows)
    items = [item(r, pol, who.role in DESK, tele.get(r["id"], teleconsult.NO)) for r in rows]
    if fmt == "csv":
        return csv_response(f"outreach-{day.isoformat()}.csv", CSV_HEADER, (
            (i["number"], i["scheduled_time"], i["department"], i["doctor"],
             i["patient"]["name"], i["patient"]["phone"], i["risk"]["tier"], i["risk"]["score"],
             "yes" if i["call"] else "",
             " ".join(t["event"] for t in i["touches"] if not t["standard"]),
             " ".join(f"{s['event']}:{s['status']}" for s in i["sent"]),
             i["answer"] or "", i["status"], i["teleconsult"]["reason"] or "")
            for i in items))
    return JSONResponse({"date": day.isoformat(), "items": items})


routes = [Route("/api/v1/risk/outreach", outreach_list, methods=["GET"])]
