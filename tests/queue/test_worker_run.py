"""The real ARQ worker starts with WorkerSettings and runs its cron jobs."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio import Redis

from server.settings import get_settings
from tests.conftest import Services
from tests.queue.conftest import World, issue
from workers.main import WorkerSettings


async def test_worker_starts_and_its_reconciler_rebuilds_a_lost_queue(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, redis: Redis,
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    await issue(client, world, 0)
    await redis.flushdb()  # not FLUSHALL: a shared server's other databases stay
    monkeypatch.setenv("DATABASE_URL", services.database_url)
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-not-for-production")
    get_settings.cache_clear()
    try:
        worker = Worker(
            functions=WorkerSettings.functions,
            cron_jobs=[c for c in WorkerSettings.cron_jobs if c.name == "cron:reconcile_queues"],
            on_startup=WorkerSettings.on_startup, on_shutdown=WorkerSettings.on_shutdown,
            redis_settings=RedisSettings.from_dsn(services.redis_url), burst=True,
            poll_delay=0.05, handle_signals=False,
        )
        await worker.main()
        await worker.close()
    finally:
        get_settings.cache_clear()
    assert worker.jobs_complete >= 1 and worker.jobs_failed == 0
    assert await redis.exists(f"opd:{{h:{world.hospital_id}}}:ready")
