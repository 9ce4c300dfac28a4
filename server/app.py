"""create_app(): routes, lifespan (pools, scripts), error handlers, static pages."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from server import errors, openapi
from server.auth.attribution import Attribution
from server.db.pool import create_pool, init_db
from server.idempotency import Idempotency
from server.observability import RequestLog, configure_logging
from server.queue import QueueService
from server.realtime import Hub
from server.routes import (
    abdm,
    admin,
    alerts,
    audit,
    auth,
    dashboard,
    doctors,
    fhir,
    health,
    hospital,
    integrations,
    notifications,
    pages,
    patients,
    public,
    push,
    reports,
    risk_insight,
    risk_models,
    risk_outreach,
    summaries,
    tokens,
    twilio_inbound,
    waitlist,
    webhooks,
    ws,
)
from server.security.body_limit import BodyLimit
from server.security.headers import SecurityHeaders
from server.settings import Settings, get_settings
from server.state import AppState
from server.store.client import JOBS_REDIS, create_redis
from server.store.live import LiveStore
from server.view_cache import ViewCache, ViewsRevision

log = structlog.get_logger("app")
T = TypeVar("T")


async def when_up(service: str, connect: Callable[[], Awaitable[T]]) -> T:
    """Start even while a backing service is down: wait for it, with backoff. A process
    runner must never turn a dependency's outage into a web process that exits."""
    delay = 0.5
    while True:
        try:
            return await connect()
        except errors.SERVICE_DOWN as exc:
            log.warning("waiting for a backing service", service=service,
                        error=type(exc).__name__, retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class App(Starlette):
    """The app, with websockets sent straight to their routes (routes.ws.websocket_app)
    rather than through the HTTP middleware."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope["app"] = self
            await ws.websocket_app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if not settings.database_url or not settings.redis_url:
        raise SystemExit(
            "DATABASE_URL and REDIS_URL must be set for the web server "
            "(`opdq dev` starts embedded ones when they are not)"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        assert settings.database_url and settings.redis_url
        dsn = settings.database_url
        await when_up("postgresql", lambda: init_db(dsn))
        pool = await when_up("postgresql", lambda: create_pool(
            dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
            application_name=settings.db_application_name))
        cluster = settings.redis_cluster
        redis = create_redis(settings.redis_url, cluster=cluster)
        live = LiveStore(redis, settings.event_stream_maxlen)
        state = AppState(settings=settings, pool=pool, redis=redis,
                         queue=QueueService(pool, live, settings),
                         views=ViewCache(settings.view_cache_s))
        hub = Hub(create_redis(settings.redis_url, subscriber=True, cluster=cluster),
                  settings.ws_heartbeat_s)
        state.extras["hub"] = hub
        if settings.jobs_url != settings.redis_url:  # /metrics reads the job queue's lag there
            state.extras[JOBS_REDIS] = create_redis(settings.jobs_url or "")
        await hub.start()
        with contextlib.suppress(TimeoutError):  # serve anyway; clients resync when it comes
            await asyncio.wait_for(hub.connected.wait(), timeout=5)
        app.state.opdq = state
        # what startup built lives as long as the process: out of the collector's way, so a
        # full collection (thousands of sockets open) does not walk it again each time
        gc.freeze()
        # and collections far apart (GC_THRESHOLDS, default 50000,20,10: a young collection
        # every 50,000 net allocations of containers, an older one every 20 of those, a full
        # one every 10 older ones and only when the objects promoted since the last exceed a
        # quarter of the long-lived). With CPython's 700,10,10 a process holding 2,500 sockets
        # ran a full collection every ~4 s at 10 Nexts/s, each holding its event loop
        # 25-135 ms, a press's p99 (docs/benchmarks.md, run D). Garbage in cycles waits
        # longer: a few MiB more after a reconnect storm.
        gc.set_threshold(*(int(x) for x in settings.gc_thresholds.split(",")))
        try:
            yield
        finally:
            await hub.stop()
            await hub.redis.aclose()
            await redis.aclose()
            if JOBS_REDIS in state.extras:
                await state.extras[JOBS_REDIS].aclose()
            await pool.close()

    app = App(
        routes=[*health.routes, *auth.routes, *admin.routes, *patients.routes, *tokens.routes,
                *doctors.routes, *public.routes, *waitlist.routes, *ws.routes, *dashboard.routes,
                *pages.routes, *webhooks.routes, *alerts.routes, *notifications.routes,
                *integrations.routes, *fhir.routes, *reports.routes, *risk_models.routes,
                *hospital.routes, *audit.routes, *summaries.routes, *risk_outreach.routes,
                *twilio_inbound.routes, *push.routes, *risk_insight.routes, *abdm.routes,
                *openapi.routes],
        middleware=[
            Middleware(Attribution), Middleware(SecurityHeaders), Middleware(RequestLog),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes), Middleware(Idempotency),
            Middleware(ViewsRevision),
        ],
        lifespan=lifespan,
    )
    errors.install(app)
    return app
