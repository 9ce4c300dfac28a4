"""ARQ does not run on a Redis Cluster (its job keys share no hash tag, and it uses MULTI
across them): with REDIS_CLUSTER the jobs live on JOBS_REDIS_URL, a plain Redis. The
dispatcher reads each hospital's stream in the cluster and enqueues into the jobs' Redis; a
worker started with the cluster settings runs its jobs against the cluster."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from server.settings import SettingsError, get_settings, load_settings
from tests.cluster.local import LocalCluster
from tests.conftest import Services
from tests.queue.conftest import World, issue
from tests.workers.conftest import arq_redis  # noqa: F401  (the jobs' Redis)
from tests.workers.test_dispatch import (  # noqa: F401  (the streams are the cluster's)
    test_dispatcher_enqueues_once_and_acks,
    test_entries_of_a_dead_worker_are_taken_over,
    test_new_hospitals_are_picked_up,
)
from workers import main as worker_main
from workers.main import WorkerSettings

pytestmark = pytest.mark.cluster


async def test_a_worker_on_the_cluster_keeps_its_jobs_on_the_jobs_redis(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, redis: RedisCluster,
        _session_redis: Redis, services: Services, redis_cluster: LocalCluster,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await issue(client, world, 0)
    await redis.flushall()                                 # the live view is lost
    monkeypatch.setenv("DATABASE_URL", services.database_url)
    monkeypatch.setenv("REDIS_URL", redis_cluster.url)
    monkeypatch.setenv("REDIS_CLUSTER", "true")
    monkeypatch.setenv("JOBS_REDIS_URL", services.redis_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-not-for-production")
    get_settings.cache_clear()
    try:
        assert worker_main.redis_settings().port == RedisSettings.from_dsn(
            services.redis_url).port
        worker = Worker(
            functions=WorkerSettings.functions,
            cron_jobs=[c for c in WorkerSettings.cron_jobs if c.name == "cron:reconcile_queues"],
            on_startup=WorkerSettings.on_startup, on_shutdown=WorkerSettings.on_shutdown,
            redis_settings=worker_main.redis_settings(), burst=True, poll_delay=0.05,
            handle_signals=False,
        )
        await worker.main()
        await worker.close()
    finally:
        get_settings.cache_clear()
    assert worker.jobs_complete >= 1 and worker.jobs_failed == 0
    # the reconciler rebuilt the hospital's live view in the cluster...
    assert await redis.exists(f"opd:{{h:{world.hospital_id}}}:ready")
    # ...and ARQ's own keys are on the jobs' Redis, none in the cluster
    assert [k async for k in _session_redis.scan_iter("arq:*")]
    assert not [k async for k in redis.scan_iter("arq:*")]


def test_a_cluster_without_a_jobs_redis_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="JOBS_REDIS_URL"):
        load_settings(redis_url="redis://10.0.0.5:7000", redis_cluster=True)
    with pytest.raises(SettingsError, match="database 0"):
        load_settings(redis_url="redis://10.0.0.5:7000/3", redis_cluster=True,
                      jobs_redis_url="redis://10.0.0.9:6379/0")
    s = load_settings(redis_url="redis://10.0.0.5:7000", redis_cluster=True,
                      jobs_redis_url="redis://10.0.0.9:6379/0")
    assert s.jobs_url == "redis://10.0.0.9:6379/0"
    assert load_settings(redis_url="redis://r:6379/0").jobs_url == "redis://r:6379/0"
