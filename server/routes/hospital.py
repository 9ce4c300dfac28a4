"""Hospital settings (API.md "Insight", docs/settings.md): every staff role reads them (the
consoles need the timezone and languages); only admins change them, audited.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from server.auth.principal import STAFF, staff
from server.db import hospital as db
from server.errors import NotFound
from server.models.common import parse_body
from server.models.hospital import HospitalPatch
from server.responses import JSONResponse
from server.routes import render


async def hospital(request: Request) -> JSONResponse:
    pool = render.state(request).pool
    if request.method == "GET":
        who = await staff(request, *STAFF)
        view = await db.read(pool, who.hospital_id)
    else:
        who = await staff(request, "admin")
        body = await parse_body(request, HospitalPatch)
        view = await db.patch(pool, who.hospital_id, who.user_id, body)
    if view is None:
        raise NotFound("no such hospital")
    return JSONResponse(view)


routes = [Route("/api/v1/hospital", hospital, methods=["GET", "PATCH"])]
