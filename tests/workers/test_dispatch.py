"""The dispatcher: pure routing of events to jobs, and the consumer group over real Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis, RedisSettings
from arq.connections import create_pool as create_arq_pool
from redis.asyncio import Redis

from server.store import keys
from server.store.client import create_redis
from tests.faults.services import PrivateRedis, redis_binaries
from workers import dispatch, job_ids
from workers.dispatch import GROUP
from workers.routing import ROUTERS, JobSpec, notify_jobs_for, resend_jobs_for, route

H = "0f6b3c1e-0000-4000-8000-000000000001"
T1, T2, T3 = (f"0f6b3c1e-0000-4000-8000-00000000001{i}" for i in range(3))
D, DEP = "0f6b3c1e-0000-4000-8000-000000000021", "0f6b3c1e-0000-4000-8000-000000000031"
TS = "2025-11-25T10:00:00+00:00"
ONLY = [notify_jobs_for]   # other routers (risk) have their own tests


def ev(etype: str, data: dict[str, Any], seq: int = 7) -> dict[str, Any]:
    return {"type": etype, "seq": seq, "ts": TS, "data": data, "hospital_id": H}


def tok(tid: str, status: str) -> dict[str, Any]:
    return {"id": tid, "number": "CARD-001", "status": status}


def send(tid: str, event: str) -> JobSpec:
    return JobSpec("send_notification", (H, tid, event), job_ids.send_notification(tid, event))


@pytest.mark.parametrize(("event", "jobs"), [
    (ev("token.created", {"token": tok(T1, "WAITING")}), [send(T1, "TOKEN_CREATED")]),
    (ev("token.created", {"token": tok(T1, "BOOKED")}), [send(T1, "TOKEN_CREATED")]),
    (ev("token.called", {"token": tok(T1, "CALLED"), "cabin": "C-101"}), [send(T1, "CALL_NOW")]),
    (ev("token.called", {"token": tok(T1, "CALLED"), "recall": True}), []),
    (ev("token.updated", {"token": tok(T1, "CANCELLED")}), [send(T1, "CANCELLED")]),
    (ev("token.updated", {"token": tok(T1, "RESCHEDULED")}), [send(T1, "RESCHEDULED")]),
    (ev("token.updated", {"token": tok(T1, "IN_CONSULTATION")}), []),
    (ev("token.updated", {"token": tok(T1, "NO_SHOW")}), []),
    (ev("queue.updated", {"department_id": DEP, "waiting": [
        {"id": T2, "position": 2}, {"id": T1, "position": 1}, {"id": T3, "position": 3}]}, 9),
     [JobSpec("notify_ahead", (H, DEP, (T1, T2, T3)), job_ids.notify_ahead(H, 9))]),
    (ev("queue.updated", {"department_id": DEP, "waiting": {}}), []),   # cjson's empty list
    # the pause's job applies the delay rule itself (the hospital's threshold, the pause's
    # length so far): the router sends every pause and every resume to it
    (ev("doctor.status", {"doctor_id": D, "status": "PAUSED", "pause_until": None}, 11),
     [JobSpec("notify_pause_delay", (H, D), job_ids.doctor_delay(D, 11))]),
    (ev("doctor.status", {"doctor_id": D, "status": "PAUSED",
                          "pause_until": "2025-11-25T10:05:00+00:00"}, 12),
     [JobSpec("notify_pause_delay", (H, D), job_ids.doctor_delay(D, 12))]),
    (ev("doctor.status", {"doctor_id": D, "status": "AVAILABLE"}, 13),
     [JobSpec("notify_pause_over", (H, D), job_ids.pause_over(D, 13))]),
    (ev("announcement", {}), []),
])
def test_router(event: dict[str, Any], jobs: list[JobSpec]) -> None:
    assert notify_jobs_for(event) == jobs


def test_a_resend_keeps_the_rows_once_key() -> None:
    """Staff resending a pause's failed DELAY resend that pause's row (its once-key), not
    a new once-ever row; other rows resend under ''."""
    row = "0f6b3c1e-0000-4000-8000-000000000041"
    pause_id = "0f6b3c1e-0000-4000-8000-000000000051"
    data = {"notification_id": row, "token_id": T1, "event": "DELAY", "channel": "SMS"}
    assert resend_jobs_for(ev("notification.resend", {**data, "once_key": pause_id})) == [
        JobSpec("send_notification", (H, T1, "DELAY", "SMS", pause_id), job_ids.resend(row))]
    assert resend_jobs_for(ev("notification.resend", data)) == [
        JobSpec("send_notification", (H, T1, "DELAY", "SMS", ""), job_ids.resend(row))]


def test_routers_are_a_plain_list_starting_with_notifications() -> None:
    assert ROUTERS[0] is notify_jobs_for
    extra = JobSpec("score_token", (H, T1), f"risk:{T1}")
    event = ev("token.created", {"token": tok(T1, "WAITING")})
    assert route(event, [notify_jobs_for, lambda e: [extra]]) == [
        send(T1, "TOKEN_CREATED"), extra]


async def _hospital(pool: asyncpg.Pool) -> str:
    return str(await pool.fetchval(
        "INSERT INTO hospitals (name, code) VALUES ('Disp', 'DISP') RETURNING id"))


async def _add(redis: Redis, h: str, seq: int, etype: str, data: dict[str, Any]) -> None:
    event = {"type": etype, "seq": seq, "ts": TS, "data": data}
    await redis.xadd(keys.stream(h), {"e": json.dumps(event)}, id=f"{seq}-0")


async def _queued(arq: ArqRedis) -> list[str]:
    return sorted(j.job_id for j in await arq.queued_jobs())


async def test_dispatcher_enqueues_once_and_acks(pool: asyncpg.Pool, redis: Redis,
                                                 arq_redis: ArqRedis) -> None:
    h = await _hospital(pool)
    await _add(redis, h, 1, "token.created", {"token": tok(T1, "WAITING")})
    await _add(redis, h, 2, "token.called", {"token": tok(T1, "CALLED")})
    await _add(redis, h, 3, "token.created", {"token": tok(T1, "WAITING")})  # replayed
    await redis.xadd(keys.stream(h), {"e": "not json"}, id="4-0")           # poison
    ctx = {"pool": pool, "redis_app": redis, "redis": arq_redis}
    d = dispatch.start(ctx, block_ms=50, refresh_s=60, routers=ONLY)
    try:
        await d.wait_for(lambda x: x.handled >= 4)
    finally:
        await dispatch.stop(ctx)
    assert await _queued(arq_redis) == [job_ids.send_notification(T1, "CALL_NOW"),
                                        job_ids.send_notification(T1, "TOKEN_CREATED")]
    assert d.enqueued == 2
    pending = await redis.xpending(keys.stream(h), GROUP)
    assert pending["pending"] == 0


async def test_entries_of_a_dead_worker_are_taken_over(pool: asyncpg.Pool, redis: Redis,
                                                       arq_redis: ArqRedis) -> None:
    h = await _hospital(pool)
    stream = keys.stream(h)
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    await _add(redis, h, 1, "token.created", {"token": tok(T2, "BOOKED")})
    # a worker read it, then died before enqueueing or acknowledging
    got = await redis.xreadgroup(GROUP, "dead-worker", {stream: ">"}, count=10)
    assert len(got[0][1]) == 1
    ctx = {"pool": pool, "redis_app": redis, "redis": arq_redis}
    d = dispatch.start(ctx, block_ms=50, refresh_s=60, claim_idle_ms=0,
                        routers=ONLY)
    try:
        await d.wait_for(lambda x: x.handled >= 1)
    finally:
        await dispatch.stop(ctx)
    assert await _queued(arq_redis) == [job_ids.send_notification(T2, "TOKEN_CREATED")]
    assert (await redis.xpending(stream, GROUP))["pending"] == 0


async def test_new_hospitals_are_picked_up(pool: asyncpg.Pool, redis: Redis,
                                           arq_redis: ArqRedis) -> None:
    ctx = {"pool": pool, "redis_app": redis, "redis": arq_redis}
    d = dispatch.start(ctx, block_ms=50, refresh_s=0.05, routers=ONLY)
    try:
        h = await _hospital(pool)
        await _add(redis, h, 1, "token.updated", {"token": tok(T3, "CANCELLED")})
        await d.wait_for(lambda x: x.handled >= 1)
    finally:
        await dispatch.stop(ctx)
    assert await _queued(arq_redis) == [job_ids.send_notification(T3, "CANCELLED")]


# ------------------------------------------------------------------ faults
REDIS_BUILDS = redis_binaries()


@pytest.mark.parametrize("build", sorted(REDIS_BUILDS))
async def test_a_flushall_loses_no_event(build: str, tmp_path: Path, pool: asyncpg.Pool) -> None:
    """Redis 7 answers the reader's blocked XREADGROUP with "UNBLOCKED the stream key no
    longer exists"; 6.2 with NOGROUP at the next entry. Either way the reader recreates the
    group from "0" at once and routes what the new stream holds."""
    private = PrivateRedis(tmp_path / build, REDIS_BUILDS[build])
    client = create_redis(private.url)
    arq = await create_arq_pool(RedisSettings.from_dsn(private.url))
    ctx = {"pool": pool, "redis_app": client, "redis": arq}
    try:
        h = await _hospital(pool)
        d = dispatch.start(ctx, refresh_s=60, routers=ONLY)   # reads block 2 s at a time
        await _add(client, h, 1, "token.created", {"token": tok(T1, "WAITING")})
        await d.wait_for(lambda x: x.handled >= 1)
        await client.flushall()
        await _add(client, h, 2, "token.created", {"token": tok(T2, "WAITING")})
        await d.wait_for(lambda x: x.handled >= 2, within_s=1.0)
        assert await _queued(arq) == [job_ids.send_notification(T2, "TOKEN_CREATED")]
        assert d.failures == 0
    finally:
        await dispatch.stop(ctx)
        await arq.aclose()
        await client.aclose()
        private.stop()


async def test_a_failing_reader_recovers_in_place(pool: asyncpg.Pool, redis: Redis,
                                                  arq_redis: ArqRedis) -> None:
    h = await _hospital(pool)
    ctx = {"pool": pool, "redis_app": redis, "redis": arq_redis}
    d = dispatch.start(ctx, block_ms=100, refresh_s=60, retry_max_s=0.2, routers=ONLY)
    try:
        await _add(redis, h, 1, "token.created", {"token": tok(T1, "WAITING")})
        await d.wait_for(lambda x: x.handled >= 1)
        reader = d.tasks[h]
        await redis.delete(keys.stream(h))
        await redis.set(keys.stream(h), "not a stream")          # WRONGTYPE from now on
        await d.wait_for(lambda x: x.failures >= 1)
        await redis.delete(keys.stream(h))
        await _add(redis, h, 2, "token.created", {"token": tok(T2, "WAITING")})
        await d.wait_for(lambda x: x.handled >= 2, within_s=2.0)
    finally:
        await dispatch.stop(ctx)
    assert d.tasks == {} and reader.done()
    assert job_ids.send_notification(T2, "TOKEN_CREATED") in await _queued(arq_redis)


async def test_a_dead_reader_is_restarted_at_once(pool: asyncpg.Pool, redis: Redis,
                                                  arq_redis: ArqRedis) -> None:
    h = await _hospital(pool)
    ctx = {"pool": pool, "redis_app": redis, "redis": arq_redis}
    d = dispatch.start(ctx, block_ms=100, refresh_s=60, routers=ONLY)
    try:
        await _add(redis, h, 1, "token.created", {"token": tok(T1, "WAITING")})
        await d.wait_for(lambda x: x.handled >= 1)
        reader = d.tasks[h]
        reader.cancel()                      # dies, whatever the reason: not at the refresh
        await _add(redis, h, 2, "token.created", {"token": tok(T2, "WAITING")})
        await d.wait_for(lambda x: x.handled >= 2, within_s=2.0)
        assert d.tasks[h] is not reader
    finally:
        await dispatch.stop(ctx)
    assert job_ids.send_notification(T2, "TOKEN_CREATED") in await _queued(arq_redis)
