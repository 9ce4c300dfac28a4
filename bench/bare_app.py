"""A bare Starlette app: one route answering a constant JSON, served with our uvicorn flags.

bench/throughput.py loads it exactly as it loads GET /api/v1/doctors/{id}/queue (same path,
same process flags, same core, same load), so the ratio between the two is what our route
costs over the framework and server alone.

    python -m uvicorn bench.bare_app:create_app --factory ...   (see server.runner)
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"doctor": {"id": "00000000-0000-0000-0000-000000000000", "status": "AVAILABLE"},
        "current": None, "waiting": []}


async def constant(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


def create_app() -> Starlette:
    return Starlette(routes=[Route("/api/v1/doctors/{doctor_id}/queue", constant)])
