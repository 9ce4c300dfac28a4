"""Liveness, readiness and Prometheus metrics.

/metrics is for the operator's Prometheus only: it answers 404 unless METRICS_TOKEN is set,
then 401 without `Authorization: Bearer <METRICS_TOKEN>` (docs/operations.md "Metrics").
"""

from __future__ import annotations

import asyncio
import hmac

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.errors import problem
from server.live_figures import LiveFigures
from server.state import AppState
from server.store.client import JOBS_REDIS

LIVE = LiveFigures()
REGISTRY.register(LIVE)


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
    state: AppState = request.app.state.opdq
    token = state.settings.metrics_token
    if token is None:
        return problem(404, "Not found", "metrics are off: set METRICS_TOKEN to turn them on",
                       type_="/problems/not-found")
    expected = f"Bearer {token.get_secret_value()}".encode()
    given = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        return problem(401, "Unauthorized", "send Authorization: Bearer <METRICS_TOKEN>",
                       type_="/problems/unauthorized",
                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    await LIVE.refresh(state.pool, state.redis, state.extras.get(JOBS_REDIS, state.redis))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
]
