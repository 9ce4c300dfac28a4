"""Integrations against real services: a local webhook receiver, real ARQ workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio import Redis

from server.settings import Settings, load_settings
from tests.conftest import Services
from tests.integrations.receiver import Receiver
from tests.queue.conftest import World, build_world
from workers import webhooks


def integration_settings(services: Services, **extra: Any) -> Settings:
    return load_settings(
        database_url=services.database_url, redis_url=services.redis_url,
        secret_key="test-secret-key-not-for-production", data_dir=services.data_dir,
        environment="test", public_base_url="http://testserver", **extra)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def arq_redis(services: Services) -> AsyncIterator[ArqRedis]:
    r = await create_pool(RedisSettings.from_dsn(services.redis_url))
    yield r
    await r.aclose()


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


async def worker_ctx(pool: asyncpg.Pool, redis: Redis, arq_redis: ArqRedis,
                     settings: Settings) -> dict[str, Any]:
    ctx: dict[str, Any] = {"pool": pool, "redis_app": redis, "redis": arq_redis,
                           "settings": settings}
    await webhooks.setup(ctx)
    return ctx
