"""The worker process (`python -m workers.run`, the Procfile's `worker`) outlives its
dependencies: Redis SIGKILLed and started again empty, PostgreSQL and Redis both down at
start-up, PostgreSQL cutting every connection mid-run. Each time the process stays up, says
it is not ready, and comes back by itself: jobs, cron jobs, the dispatcher's readers, the
reconciler. SIGTERM stops it cleanly.

The worker is a real subprocess against a Redis of the test's own and the suite's
PostgreSQL (through a relay that can refuse and cut connections); messages go to the fake
Twilio through the real client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool

from server.settings import Settings
from server.store.client import create_redis
from tests.conftest import Services
from tests.faults.services import PgRelay, PrivateRedis, read_text, until
from tests.queue.conftest import World
from tests.workers.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_BASE,
    SMS_FROM,
    issue_token,
    make_ctx,
)
from tests.workers.fake_twilio import FakeTwilio
from workers import job_ids, notify

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """`python -m workers.run` with a ready file and fast probes; its log in a file."""

    def __init__(self, folder: Path, database_url: str, redis_url: str, fake: FakeTwilio
                 ) -> None:
        self.ready_file = folder / "worker.ready"
        self.log_file = folder / "worker.log"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_", "REDIS_", "TWILIO_", "WORKER_"))}
        env.update(
            DATABASE_URL=database_url, REDIS_URL=redis_url, ENVIRONMENT="test",
            SECRET_KEY="test-secret-key-not-for-production", DATA_DIR=str(folder),
            PUBLIC_BASE_URL=PUBLIC_BASE, LOG_LEVEL="INFO", TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_SMS_FROM=SMS_FROM, TWILIO_BASE_URL=fake.url)
        with self.log_file.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers.run", "--ready-file", str(self.ready_file),
                 "--probe-interval", "0.2"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def ready(self) -> bool:
        return self.ready_file.exists()

    @property
    def log(self) -> str:
        return read_text(self.log_file)

    async def until_ready(self, ready: bool = True, within_s: float = 20.0) -> None:
        await until(lambda: self.ready == ready or not self.alive, within_s,
                    f"worker {'ready' if ready else 'not ready'}")
        assert self.alive, self.log

    async def terminate(self) -> int:
        """SIGTERM; waited for off the event loop, which serves the PostgreSQL relay."""
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, 20)

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    r = PrivateRedis(tmp_path / "redis", start=False)
    yield r
    r.stop()


@pytest.fixture
async def private_ctx(pool: asyncpg.Pool, settings: Settings, private_redis: PrivateRedis
                      ) -> AsyncIterator[dict[str, Any]]:
    """A queue service (and ARQ pool) on the private Redis: the test's stand-in for the web."""
    if private_redis.proc is None:
        private_redis.start()
    redis = create_redis(private_redis.url)
    arq = await create_pool(RedisSettings.from_dsn(private_redis.url))
    ctx = await make_ctx(pool, redis, settings.model_copy(update={"redis_url":
                                                                  private_redis.url}), arq)
    yield ctx
    await notify.teardown(ctx)
    await arq.aclose()
    await redis.aclose()


async def cron_ran(arq: ArqRedis, name: str) -> bool:
    """A cron job ran to its end in this Redis: ARQ keeps no result for cron jobs, but keeps
    the job's in-progress key a minute after it left the queue."""
    async for key in arq.scan_iter(match=f"arq:in-progress:cron:{name}:*"):
        if await arq.zscore("arq:queue", key.decode().removeprefix("arq:in-progress:")) is None:
            return True
    return False


async def test_the_worker_outlives_a_redis_kill(
        tmp_path: Path, services: Services, world: World, fake_twilio: FakeTwilio,
        private_redis: PrivateRedis, private_ctx: dict[str, Any]) -> None:
    worker = WorkerProcess(tmp_path, services.database_url, private_redis.url, fake_twilio)
    try:
        await worker.until_ready()
        await issue_token(private_ctx, world, 0)
        await fake_twilio.wait_for(lambda f: len(f.messages) == 1, 15)

        private_redis.kill()                       # kill -9: Redis and all it held are gone
        await worker.until_ready(False, 5)
        await asyncio.sleep(2.0)                   # the outage itself: Redis down for 2 s
        assert worker.alive
        private_redis.start()                      # back, empty
        await worker.until_ready(True, 15)

        # the dispatcher reads the new stream, the new job loop runs what it enqueues
        await issue_token(private_ctx, world, 1)
        await fake_twilio.wait_for(lambda f: len(f.messages) == 2, 15)
        assert fake_twilio.messages[1].to == "+919876500001"
        # the cron jobs started over: the reconciler ran again, on the empty Redis
        await until(lambda: cron_ran(private_ctx["redis"], "reconcile_queues"), 10,
                    "the reconciler run by the new job loop")
    finally:
        log = worker.log
        code = await worker.terminate() if worker.alive else worker.proc.returncode
        worker.kill()
    assert code == 0, log
    assert log.count("worker not ready") == 1, log           # once per outage
    assert log.count("worker ready") == 2, log
    assert "job loop lost Redis" in log and "never retrieved" not in log, log



@pytest.fixture
async def pg_relay(services: Services) -> AsyncIterator[PgRelay]:
    relay = PgRelay(services.database_url)   # not listening yet: PostgreSQL is "down"
    yield relay
    await relay.stop()


async def test_the_worker_waits_for_both_at_start_and_outlives_postgres(
        tmp_path: Path, world: World, fake_twilio: FakeTwilio, private_redis: PrivateRedis,
        pg_relay: PgRelay) -> None:
    worker = WorkerProcess(tmp_path, pg_relay.url, private_redis.url, fake_twilio)
    arq: ArqRedis | None = None
    try:
        # neither PostgreSQL nor Redis answers: the worker waits, says so once for each
        await until(lambda: ("dependency=postgres" in worker.log
                    and "dependency=redis" in worker.log) or not worker.alive, 20,
                    "the worker saying what it waits for")
        assert worker.alive and not worker.ready, worker.log
        private_redis.start()
        await pg_relay.start()
        await worker.until_ready()
        arq = await create_pool(RedisSettings.from_dsn(private_redis.url))
        job = await arq.enqueue_job("reconcile_queues", _job_id="after-start")
        assert job and await job.result(timeout=15) == 0

        await pg_relay.stop()                       # every connection cut, new ones refused
        await worker.until_ready(False, 5)
        assert "dependency=postgres error=" in worker.log.split("worker ready")[-1]
        await pg_relay.start()
        await worker.until_ready(True, 10)
        # back: the live queues are compared with the record at once
        await until(lambda: job_done(arq, job_ids.reconcile_resume("*")), 10,
                    "the reconciler run when PostgreSQL came back")
    finally:
        log = worker.log
        code = await worker.terminate() if worker.alive else worker.proc.returncode
        worker.kill()
        if arq:
            await arq.aclose()
    assert code == 0, log
    assert log.count("worker not ready") == 3, log   # postgres and redis at start, postgres
    assert "never retrieved" not in log, log


async def job_done(arq: ArqRedis, pattern: str) -> bool:
    return bool([k async for k in arq.scan_iter(match=f"arq:result:{pattern}")])
