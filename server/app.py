"""create_app(): routes, lifespan (pools, scripts), error handlers, static pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from server import errors
from server.db.pool import create_pool, init_db
from server.observability import RequestLog, configure_logging
from server.routes import health
from server.settings import Settings, get_settings
from server.state import AppState
from server.store.client import create_redis


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
        state = AppState(settings=settings, pool=pool, redis=redis)
        app.state.opdq = state
        try:
            yield
        finally:
            await redis.aclose()
            await pool.close()

    app = Starlette(
        routes=[*health.routes],
        middleware=[Middleware(RequestLog)],
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    errors.install(app)
    return app
