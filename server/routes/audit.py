"""The audit viewer (GET /api/v1/audit): who did what and when, setup changes and token
history, filtered; JSON pages with a keyset cursor, or every matching row as CSV.

`source` defaults to `setup` (admin_audit alone), which is what this endpoint answered before
token history joined it, so existing readers see the same rows.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth.principal import staff
from server.db import audit as db
from server.models import cursors
from server.models.common import parse_query
from server.models.dates import PlanDate
from server.responses import JSONResponse
from server.routes import render
from server.routes.csv_out import csv_response

CSV_MAX = 10_000
SOURCES = {"setup": ("setup",), "tokens": ("tokens",), "all": ("setup", "tokens")}
CSV_HEADER = ("at", "source", "actor", "actor_role", "entity", "entity_id", "token_number",
              "action", "changes")


class AuditQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    source: Literal["setup", "tokens", "all"] = Field(
        default="setup", description="`setup`: admin changes (admin_audit); `tokens`: token "
                                     "history; `all`: both.")
    from_: PlanDate | None = Field(default=None, alias="from",
                                   description="First day (the hospital's calendar).")
    to: PlanDate | None = Field(default=None, description="Last day, included.")
    actor_id: UUID | None = None
    entity: Annotated[str | None, Field(default=None, pattern=r"^[a-z_]{1,32}$",
                                        description="e.g. hospital, department, user, token")]
    action: Annotated[str | None, Field(default=None, pattern=r"^[a-z_-]{1,32}$",
                                        description="e.g. create, update, revoke, call")]
    limit: int = Field(default=100, ge=1, le=500)
    cursor: Annotated[str | None, Field(
        default=None, pattern=cursors.PATTERN,
        description="`next_cursor` of the page before")] = None
    format: Literal["json", "csv"] = "json"


def _actor(row: dict[str, Any]) -> dict[str, Any]:
    return {"kind": row["actor_kind"], "id": row["actor_id"],
            "username": row["actor_username"], "role": row["actor_role"],
            "api_key": ({"id": row["api_key_id"], "name": row["api_key_name"]}
                        if row["api_key_id"] else None)}


def item(row: dict[str, Any]) -> dict[str, Any]:
    return render.jsonable({   # type: ignore[no-any-return]
        "id": row["id"], "source": row["source"], "at": row["at"],
        "actor_id": row["actor_id"], "api_key_id": row["api_key_id"], "actor": _actor(row),
        "entity": row["entity"], "entity_id": row["entity_id"],
        "token_number": row["token_number"], "action": row["action"],
        "changes": row["changes"] if isinstance(row["changes"], dict)
        else json.loads(row["changes"] or "{}")})


def _csv_row(row: dict[str, Any]) -> list[Any]:
    v = item(row)
    who = v["actor"]["username"] or (v["actor"]["api_key"] or {}).get("name") or v["actor"]["kind"]
    return [v["at"], v["source"], who, v["actor"]["role"], v["entity"], v["entity_id"],
            v["token_number"], v["action"], json.dumps(v["changes"], ensure_ascii=False,
                                                       sort_keys=True)]


async def audit(request: Request) -> Response:
    who = await staff(request, "admin")
    q = parse_query(request, AuditQuery)
    svc = render.service(request)
    today, tz = await svc.today(who.hospital_id)
    csv = q.format == "csv"
    limit = CSV_MAX if csv else q.limit
    rows = await db.list_trail(
        svc.pool, who.hospital_id, timezone=tz, sources=SOURCES[q.source], day_from=q.from_,
        day_to=q.to, actor_id=q.actor_id, entity=q.entity, action=q.action,
        after=cursors.decode(q.cursor), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    if csv:
        return csv_response(f"audit-{today.isoformat()}.csv", CSV_HEADER, map(_csv_row, rows))
    return JSONResponse({
        "items": [item(r) for r in rows],
        "next_cursor": cursors.encode((rows[-1]["at"], db.position_key(rows[-1]))) if more
        else None})


routes = [Route("/api/v1/audit", audit, methods=["GET"])]
