"""Real PostgreSQL and Redis for the suite.

TEST_DATABASE_URL / TEST_REDIS_URL when set (CI machines that run the services), else
embedded servers started once per session in a temporary folder. Every test that asks for
`pool`, `redis` or `client` starts from empty tables and an empty Redis database.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from server import embedded
from server.app import create_app
from server.db.migrate import YOYO_TABLES
from server.db.pool import create_pool, init_db
from server.settings import Settings, load_settings
from server.store.client import create_redis
from tests.faults.services import PrivateRedis

warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str
    data_dir: Path


async def _ensure_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data_dir = tmp_path_factory.mktemp("opdq")
    db_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    started = None
    if not db_url or not redis_url:
        started = embedded.start(data_dir / "embedded", persist=False)
        db_url = db_url or started.database_url
        redis_url = redis_url or started.redis_url
    try:
        yield Services(db_url, redis_url, data_dir)
    finally:
        if started:
            started.stop()


@pytest.fixture(scope="session")
async def schema_ready(services: Services) -> str:
    await init_db(services.database_url)
    return services.database_url


@pytest.fixture(scope="session")
async def _session_pool(schema_ready: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(schema_ready, min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def _session_redis(services: Services) -> AsyncIterator[Redis]:
    r = create_redis(services.redis_url)
    yield r
    await r.aclose()


async def truncate_all(pool: asyncpg.Pool) -> None:
    tables = await pool.fetch(  # the schema's record of its migrations stays
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND NOT tablename = ANY($1)",
        list(YOYO_TABLES),
    )
    names = ", ".join(f'"{t["tablename"]}"' for t in tables)
    await pool.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
async def pool(_session_pool: asyncpg.Pool, _session_redis: Redis) -> asyncpg.Pool:
    await truncate_all(_session_pool)
    await _session_redis.flushdb()
    return _session_pool


@pytest.fixture
async def redis(pool: asyncpg.Pool, _session_redis: Redis) -> Redis:
    return _session_redis


@pytest.fixture
def settings(services: Services) -> Settings:
    return load_settings(
        database_url=services.database_url,
        redis_url=services.redis_url,
        secret_key="test-secret-key-not-for-production",
        data_dir=services.data_dir,
        environment="test",
        public_base_url="http://testserver",
    )


@pytest.fixture
async def app(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[object]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    # a crash answers 500 as it would to a real client, instead of raising into the test
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    r = PrivateRedis(tmp_path / "redis")
    yield r
    r.stop()
