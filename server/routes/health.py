"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.errors import problem
from server.state import AppState


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state: AppState = request.app.state.opdq
    failed: list[str] = []

    async def check_pg() -> None:
        async with state.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    async def check_redis() -> None:
        await state.redis.ping()

    for name, check in (("postgresql", check_pg), ("redis", check_redis)):
        try:
            await asyncio.wait_for(check(), timeout=2)
        except Exception:
            failed.append(name)
    if failed:
        return problem(503, "Not ready", f"unreachable: {', '.join(failed)}",
                       type_="/problems/unavailable", extra={"unreachable": failed})
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
]
