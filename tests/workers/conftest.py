"""Notification workers against a local fake Twilio, real PostgreSQL and Redis, real ARQ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker
from redis.asyncio import Redis

from server.queue import SYSTEM
from server.settings import Settings, load_settings
from tests.conftest import Services
from tests.queue.conftest import World, build_world
from tests.workers.fake_twilio import FakeTwilio
from workers import notify, notify_fanout
from workers.twilio_sender import TwilioSender

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token"
SMS_FROM = "+15005550006"
WHATSAPP_FROM = "+14155238886"
PUBLIC_BASE = "https://opd.example.org"     # what Twilio sees; the test client is elsewhere
HTTP_TIMEOUT_S = 0.5                        # the hang test waits this long, no more


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


def twilio_settings(services: Services, fake: FakeTwilio, **extra: Any) -> Settings:
    return load_settings(
        database_url=services.database_url, redis_url=services.redis_url,
        secret_key="test-secret-key-not-for-production", data_dir=services.data_dir,
        environment="test", public_base_url=PUBLIC_BASE,
        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
        twilio_sms_from=SMS_FROM, twilio_whatsapp_from=WHATSAPP_FROM,
        twilio_base_url=fake.url, **extra,
    )


@pytest.fixture
def settings(services: Services, fake_twilio: FakeTwilio) -> Settings:
    """Overrides the suite's settings: Twilio configured and pointed at the fake."""
    return twilio_settings(services, fake_twilio)


@pytest.fixture
async def arq_redis(services: Services) -> AsyncIterator[ArqRedis]:
    r = await create_pool(RedisSettings.from_dsn(services.redis_url))
    yield r
    await r.aclose()


async def make_ctx(pool: asyncpg.Pool, redis: Redis, settings: Settings,
                   arq_redis: ArqRedis) -> dict[str, Any]:
    """What WorkerSettings.on_startup builds, with a fast backoff and a short HTTP timeout."""
    ctx: dict[str, Any] = {
        "pool": pool, "redis_app": redis, "settings": settings, "redis": arq_redis,
        "job_try": 1, "notify_backoff_base_s": 0.01,
        "notify_sender": TwilioSender(settings, timeout=HTTP_TIMEOUT_S),
    }
    await notify.setup(ctx)
    return ctx


@pytest.fixture
async def ctx(pool: asyncpg.Pool, redis: Redis, settings: Settings,
              arq_redis: ArqRedis) -> AsyncIterator[dict[str, Any]]:
    c = await make_ctx(pool, redis, settings, arq_redis)
    yield c
    await notify.teardown(c)


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


async def issue_token(ctx: dict[str, Any], w: World, patient: int, *, doctor: int = 0,
                      **extra: Any) -> dict[str, Any]:
    """A token through the queue use-case (the same path as the HTTP API, minus HTTP)."""
    args: dict[str, Any] = {"booking_type": "WALK_IN", "priority": 1, "department_id": None,
                            "scheduled_time": None, "visit_reason": None} | extra
    return await ctx["notify_queue"].issue(
        w.hospital_id, SYSTEM, patient_id=w.patients[patient], doctor_id=w.doctors[doctor],
        **args)


async def set_opt_ins(pool: asyncpg.Pool, patient_id: UUID, *, sms: bool = True,
                      whatsapp: bool = False) -> None:
    await pool.execute("UPDATE patients SET sms_opt_in = $2, whatsapp_opt_in = $3 WHERE id = $1",
                       patient_id, sms, whatsapp)


async def run_burst(ctx: dict[str, Any], **options: Any) -> Worker:
    """A real ARQ worker over the test Redis until its queue (deferred retries included) is
    empty. Its pool is the shared fixture's, closed by that fixture."""
    base = {k: v for k, v in ctx.items() if k not in ("job_try", "job_id")}
    worker = Worker(functions=[*notify.FUNCTIONS, *notify_fanout.FUNCTIONS],
                    redis_pool=ctx["redis"], burst=True, poll_delay=0.01, handle_signals=False,
                    ctx=base, **options)
    await worker.main()
    return worker
