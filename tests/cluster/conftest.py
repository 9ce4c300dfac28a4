"""The suite's fixtures on a real Redis Cluster (three masters, tests/cluster/local.py).

Here `redis`, `settings` (so `app` and `client`), `server_a` and `server_b` talk to the
cluster: a test of another module imported here runs unchanged against it. The jobs' Redis
(JOBS_REDIS_URL: ARQ does not run on a cluster) is the suite's plain Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from server.settings import Settings, load_settings
from server.store.client import create_redis
from tests.cluster.local import LocalCluster, running_cluster
from tests.conftest import Services, truncate_all
from tests.livesrv import LiveServer, running
from tests.queue.conftest import clock, world  # noqa: F401  (for the imported queue tests)
from tests.ws.conftest import METRICS_TOKEN


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
async def _cluster_client(redis_cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    client = create_redis(redis_cluster.url, cluster=True)
    yield client
    await client.aclose()


def cluster_env(services: Services) -> dict[str, str]:
    return {"REDIS_CLUSTER": "true", "JOBS_REDIS_URL": services.redis_url}


@pytest.fixture
async def pool(_session_pool: asyncpg.Pool, _session_redis: Redis,
               _cluster_client: RedisCluster) -> asyncpg.Pool:
    await truncate_all(_session_pool)
    await _session_redis.flushdb()      # the jobs' Redis
    await _cluster_client.flushall()    # every master
    return _session_pool


@pytest.fixture
async def redis(pool: asyncpg.Pool, _cluster_client: RedisCluster) -> RedisCluster:
    return _cluster_client


@pytest.fixture
def settings(services: Services, redis_cluster: LocalCluster) -> Settings:
    return load_settings(
        database_url=services.database_url, redis_url=redis_cluster.url, redis_cluster=True,
        jobs_redis_url=services.redis_url, secret_key="test-secret-key-not-for-production",
        data_dir=services.data_dir, environment="test", public_base_url="http://testserver",
    )


@pytest.fixture(scope="session")
def server_a(services: Services, schema_ready: str, redis_cluster: LocalCluster
             ) -> Iterator[LiveServer]:
    with running(services.database_url, redis_cluster.url, WS_HEARTBEAT_S="1",
                 METRICS_TOKEN=METRICS_TOKEN, **cluster_env(services)) as srv:
        yield srv


@pytest.fixture(scope="session")
def server_b(services: Services, schema_ready: str, redis_cluster: LocalCluster
             ) -> Iterator[LiveServer]:
    with running(services.database_url, redis_cluster.url, **cluster_env(services)) as srv:
        yield srv
