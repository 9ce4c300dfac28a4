"""ARQ WorkerSettings: what the worker runs. The process is `python -m workers.run`
(workers/run.py), which runs these settings under a supervisor that outlives Redis and
PostgreSQL outages; `arq workers.main.WorkerSettings` still works, without that.

Jobs take ids only and are idempotent ("jobs may be called more than once").
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import structlog
from arq import cron, func
from arq.connections import RedisSettings

from server.db.pool import create_pool, init_db
from server.observability import configure_logging
from server.settings import get_settings
from server.store.client import create_redis
from workers import (
    alerts,
    dispatch,
    notify,
    notify_cron,
    notify_fanout,
    outreach,
    push,
    queue_jobs,
    risk,
    summary,
    webhooks,
)
from workers.outages import OUTAGES

log = structlog.get_logger("worker")

IDEMPOTENCY_TTL_HOURS = 24
POOL_CLOSE_S = 10.0


async def open_postgres(ctx: dict[str, Any]) -> None:
    """The schema (idempotent) and the worker's pool; raises while PostgreSQL is down."""
    settings = ctx["settings"]
    assert settings.database_url
    await init_db(settings.database_url)
    ctx["pool"] = await create_pool(settings.database_url, min_size=1, max_size=5)


async def open_redis(ctx: dict[str, Any]) -> None:
    """The jobs' own Redis client (live queues, SID stash); raises while Redis is down."""
    settings = ctx["settings"]
    assert settings.redis_url
    client = create_redis(settings.redis_url, cluster=settings.redis_cluster)
    try:
        await client.ping()
    except BaseException:
        await client.aclose()
        raise
    ctx["redis_app"] = client


async def start_services(ctx: dict[str, Any]) -> None:
    """Once PostgreSQL, Redis and the ARQ pool (ctx["redis"]) are there."""
    await notify.setup(ctx)
    await webhooks.setup(ctx)
    await push.setup(ctx)
    dispatch.start(ctx)  # queue events -> notification jobs, in every worker process


async def startup(ctx: dict[str, Any]) -> None:
    """on_startup for a plain `arq workers.main.WorkerSettings` (workers/run.py does these
    steps itself, each retried until its dependency answers)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    assert settings.database_url and settings.redis_url
    ctx["settings"] = settings
    await open_postgres(ctx)
    await open_redis(ctx)
    await start_services(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    """Closes what startup opened, however far it got."""
    await dispatch.stop(ctx)
    await notify.teardown(ctx)
    await webhooks.teardown(ctx)
    await push.teardown(ctx)
    redis_app = ctx.pop("redis_app", None)
    if redis_app is not None:
        await redis_app.aclose()
    pool = ctx.pop("pool", None)
    if pool is not None:
        try:
            await asyncio.wait_for(pool.close(), POOL_CLOSE_S)
        except OUTAGES:  # PostgreSQL gone: don't wait for goodbyes
            pool.terminate()


async def on_job_start(ctx: dict[str, Any]) -> None:
    ctx["job_started"] = time.perf_counter()
    structlog.contextvars.bind_contextvars(job_id=ctx.get("job_id"))


async def on_job_end(ctx: dict[str, Any]) -> None:
    took = (time.perf_counter() - ctx.get("job_started", time.perf_counter())) * 1000
    log.info("job", job_id=ctx.get("job_id"), tries=ctx.get("job_try"), duration_ms=round(took, 1))
    structlog.contextvars.unbind_contextvars("job_id")


async def purge_idempotency(ctx: dict[str, Any]) -> int:
    """Forget Idempotency-Key answers older than 24 h (API.md: the key holds for 24 h)."""
    status = await ctx["pool"].execute(
        "DELETE FROM idempotency_records WHERE created_at < now() - make_interval(hours => $1)",
        IDEMPOTENCY_TTL_HOURS,
    )
    return int(status.split()[-1])


def redis_settings() -> RedisSettings:
    """ARQ's Redis: JOBS_REDIS_URL, else REDIS_URL (ARQ does not run on a Redis Cluster)."""
    url = get_settings().jobs_url
    return RedisSettings.from_dsn(url) if url else RedisSettings()


class WorkerSettings:
    functions: ClassVar[list[Any]] = [
        purge_idempotency, queue_jobs.reconcile_queues, queue_jobs.close_days,
        risk.score_token, risk.offer_freed_slot, risk.explain_risk, alerts.check_alerts,
        summary.write_daily_summaries,
        func(risk.train_risk_models, timeout=1800), func(risk.rescore_booked, timeout=1800),
        func(risk.ensure_risk_models, timeout=1800),
        *notify.FUNCTIONS, *notify_fanout.FUNCTIONS, *webhooks.FUNCTIONS, *outreach.FUNCTIONS,
        *push.FUNCTIONS,
    ]
    cron_jobs: ClassVar[list[Any]] = [
        cron(purge_idempotency, minute=7, run_at_startup=False),
        # the live view against the record: every minute, and the day's close every 10
        cron(queue_jobs.reconcile_queues, run_at_startup=True, unique=True, timeout=50),
        cron(queue_jobs.close_days, minute=set(range(0, 60, 10)), run_at_startup=True,
             unique=True, timeout=300),
        # risk: train nightly, then re-score future bookings with the fresh model; hospitals
        # without any model get one at start-up and within the hour after they are created
        cron(risk.train_risk_models, hour=2, minute=30, timeout=1800, unique=True),
        cron(risk.rescore_booked, hour=3, minute=15, timeout=1800, unique=True),
        cron(risk.ensure_risk_models, minute=41, run_at_startup=True, timeout=1800, unique=True),
        # live alerts for the staff (long waits, bottlenecks, idle or late doctors, failing
        # messages): raised and resolved every minute
        cron(alerts.check_alerts, second=20, unique=True, timeout=50),
        # the admins' daily summary, at each hospital's evening hour (local): checked hourly
        cron(summary.write_daily_summaries, minute=2, unique=True, timeout=300),
        # notifications: reminders, late-starting doctors, WhatsApp failures reported late
        *notify_cron.CRON_JOBS,
        *outreach.CRON_JOBS,
        # outgoing webhooks: restart subscriptions with a due delivery and no sender
        *webhooks.CRON_JOBS,
        # web push: subscriptions whose day is over
        *push.CRON_JOBS,
    ]
    on_startup = startup
    on_shutdown = shutdown
    on_job_start = on_job_start
    on_job_end = on_job_end
    redis_settings = redis_settings()
    max_tries = 5
    job_timeout = 60
    keep_result = 3600
