"""create_app(): routes, lifespan (pools, scripts), error handlers, static pages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from server import errors, openapi
from server.db.pool import create_pool, init_db
from server.idempotency import Idempotency
from server.observability import RequestLog, configure_logging
from server.queue import QueueService
from server.realtime import Hub
from server.routes import (
    admin,
    auth,
    dashboard,
    doctors,
    health,
    pages,
    patients,
    public,
    tokens,
    waitlist,
    webhooks,
    ws,
)
from server.security.body_limit import BodyLimit
from server.security.headers import SecurityHeaders
from server.settings import Settings, get_settings
from server.state import AppState
from server.store.client import create_redis
from server.store.live import LiveStore


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
        await init_db(settings.database_url)
        pool = await create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        redis = create_redis(settings.redis_url)
        live = LiveStore(redis, settings.event_stream_maxlen)
        state = AppState(settings=settings, pool=pool, redis=redis,
                         queue=QueueService(pool, live, settings))
        hub = Hub(create_redis(settings.redis_url, subscriber=True), settings.ws_heartbeat_s)
        state.extras["hub"] = hub
        await hub.start()
        with contextlib.suppress(TimeoutError):  # serve anyway; clients resync when it comes
            await asyncio.wait_for(hub.connected.wait(), timeout=5)
        app.state.opdq = state
        try:
            yield
        finally:
            await hub.stop()
            await hub.redis.aclose()
            await redis.aclose()
            await pool.close()

    app = Starlette(
        routes=[*health.routes, *auth.routes, *admin.routes, *patients.routes, *tokens.routes,
                *doctors.routes, *public.routes, *waitlist.routes, *ws.routes, *dashboard.routes,
                *pages.routes, *webhooks.routes, *openapi.routes],
        middleware=[
            Middleware(SecurityHeaders), Middleware(RequestLog),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes), Middleware(Idempotency),
        ],
        lifespan=lifespan,
    )
    errors.install(app)
    return app
