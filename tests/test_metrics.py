"""GET /metrics: off without METRICS_TOKEN, behind it otherwise, and the figures of the whole
installation it reads at scrape time (queue lengths per department, job lag)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from redis.asyncio import Redis

from server.app import create_app
from server.settings import Settings
from tests.queue.conftest import World, add_department, build_world, issue


async def test_metrics_are_off_without_a_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 404
    assert "opdq_" not in r.text


METRICS_TOKEN = "scrape-me-please"


@pytest.fixture
async def metrics_app(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Any]:
    token = SecretStr(METRICS_TOKEN)
    application = create_app(settings.model_copy(update={"metrics_token": token}))
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def metrics_client(metrics_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=metrics_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_metrics_need_the_bearer_token(metrics_client: httpx.AsyncClient) -> None:
    await metrics_client.get("/healthz")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
        r = await metrics_client.get("/metrics", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = await metrics_client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert 'opdq_http_requests_total{method="GET",route="healthz",status="200"}' in r.text


def sample(text: str, name: str, labels: str = "") -> float | None:
    """The value of one sample in Prometheus text, e.g. sample(t, "x", 'a="1"')."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)"
    m = re.search(r"(?m)^" + pattern + "$", text)
    return float(m.group(1)) if m else None


async def scrape(c: httpx.AsyncClient) -> str:
    r = await c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200
    return r.text


async def test_waiting_patients_per_department(metrics_client: httpx.AsyncClient,
                                               pool: asyncpg.Pool) -> None:
    w: World = await build_world(pool)
    _, ent_doctors = await add_department(pool, w, code="ENT")
    for patient, doctor in ((0, 0), (1, 0), (2, 1)):
        await issue(metrics_client, w, patient, doctor=doctor)
    await issue(metrics_client, w, 3, doctor=None, doctor_id=str(ent_doctors[0]))
    text = await scrape(metrics_client)
    assert sample(text, "opdq_ready") == 1
    assert sample(text, "opdq_queue_waiting", 'department="CARD",hospital="CITY"') == 3
    assert sample(text, "opdq_queue_waiting", 'department="ENT",hospital="CITY"') == 1


async def test_job_lag_is_the_oldest_job_no_worker_has_started(
        metrics_client: httpx.AsyncClient, redis: Redis, services) -> None:
    arq = ArqRedis.from_url(services.redis_url)
    try:
        text = await scrape(metrics_client)
        assert sample(text, "opdq_job_lag_seconds") == 0
        assert sample(text, "opdq_jobs_due") == 0
        now = datetime.now(UTC)
        running = await arq.enqueue_job("purge_idempotency", _job_id="running",
                                        _defer_until=now - timedelta(seconds=300))
        waiting = await arq.enqueue_job("purge_idempotency", _job_id="waiting",
                                        _defer_until=now - timedelta(seconds=90))
        await arq.enqueue_job("purge_idempotency", _job_id="later",
                              _defer_until=now + timedelta(hours=1))
        assert running and waiting
        await redis.set(in_progress_key_prefix + "running", b"1")  # a worker has it
        started = time.time()
        text = await scrape(metrics_client)
        lag = sample(text, "opdq_job_lag_seconds")
        assert lag is not None and 90 <= lag <= 90 + (time.time() - started) + 2
        assert sample(text, "opdq_jobs_due") == 2
    finally:
        await arq.aclose()


async def test_ready_is_zero_while_redis_is_unreachable(metrics_client: httpx.AsyncClient,
                                                        metrics_app: Any) -> None:
    from server.store.client import create_redis

    state = metrics_app.state.opdq
    real = state.redis
    state.redis = create_redis("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        text = await scrape(metrics_client)
    finally:
        await state.redis.aclose()
        state.redis = real
    assert sample(text, "opdq_ready") == 0
    assert "opdq_queue_waiting{" not in text and "opdq_job_lag_seconds " not in text
    assert sample(await scrape(metrics_client), "opdq_ready") == 1
