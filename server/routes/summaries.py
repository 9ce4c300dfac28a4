"""The admins' daily summaries (GET /api/v1/daily-summaries): written each evening by the
workers (workers/summary.py), newest first."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from server.auth.principal import staff
from server.db import daily_summary as db
from server.models.common import parse_query
from server.models.dates import PlanDate
from server.responses import JSONResponse
from server.routes import render


class SummaryQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: PlanDate | None = Field(default=None, alias="from", description="First day.")
    to: PlanDate | None = Field(default=None, description="Last day, included.")
    limit: int = Field(default=14, ge=1, le=366)


async def list_summaries(request: Request) -> JSONResponse:
    who = await staff(request, "admin")
    q = parse_query(request, SummaryQuery)
    rows = await db.list_summaries(render.state(request).pool, who.hospital_id,
                                   day_from=q.from_, day_to=q.to, limit=q.limit)
    return JSONResponse({"items": [render.jsonable({
        "date": r["summary_date"], "text": r["text"], "template_text": r["template_text"],
        "written_by": r["written_by"], "figures": r["figures"], "created_at": r["created_at"],
    }) for r in rows]})


routes = [Route("/api/v1/daily-summaries", list_summaries, methods=["GET"])]
