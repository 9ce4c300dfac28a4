"""Notification jobs never drop a message the record will hold: a record behind its event is
waited for (and a record that never catches up raises an alert), transient database errors
are retried, and the sweeper takes up rows left PENDING and calls left without any message.
Real PostgreSQL, Redis, ARQ worker and (fake) Twilio; the faults are real ones: an
uncommitted transaction, a record written after the job's first try, backends terminated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from arq import Retry
from arq.connections import ArqRedis
from redis.asyncio import Redis

from server.db import notifications as db
from server.db.pool import _init_connection
from server.domain.lifecycle import Action
from server.queue import SYSTEM
from server.settings import Settings
from tests.conftest import Services
from tests.faults.services import until
from tests.queue.conftest import World
from tests.workers.conftest import issue_token, make_ctx, run_burst
from tests.workers.fake_twilio import FakeTwilio
from workers import job_ids, notify
from workers.notify import NOTIFY_MAX_TRIES, send_notification
from workers.notify_cron import sweep_notifications
from workers.outages import is_outage


async def call(ctx: dict[str, Any], w: World) -> dict[str, Any]:
    _, called = await ctx["notify_queue"].call_next(w.hospital_id, SYSTEM, w.doctors[0],
                                                    current_token_id=None, expect_given=False)
    return called  # type: ignore[return-value]


def worker_until_first_try(ctx: dict[str, Any]) -> tuple[asyncio.Task[Any], asyncio.Event]:
    """A burst ARQ worker as a task, and an event set when its first job run has ended."""
    first = asyncio.Event()

    async def on_job_end(_: dict[str, Any]) -> None:
        first.set()

    return asyncio.create_task(run_burst(ctx, on_job_end=on_job_end)), first


async def rewind(pool: asyncpg.Pool, row_id: UUID, seconds: int) -> None:
    """Age a notifications_log row (its trigger would stamp now())."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE notifications_log DISABLE TRIGGER "
                           "notifications_log_updated_at")
        await conn.execute("UPDATE notifications_log SET updated_at = now() - make_interval("
                           "secs => $2) WHERE id = $1", row_id, seconds)
        await conn.execute("ALTER TABLE notifications_log ENABLE TRIGGER "
                           "notifications_log_updated_at")


# ------------------------------------------------------------------ the record behind
async def test_call_now_waits_for_the_call_to_commit(ctx: dict[str, Any], world: World,
                                                     fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    h, t = str(world.hospital_id), str(tok["id"])
    ctx["notify_behind_base_s"] = 0.2       # retries after 0.1-0.2, 0.2-0.4, 0.4-0.8 s...
    await ctx["redis"].enqueue_job("send_notification", h, t, "CALL_NOW",
                                   _job_id=job_ids.send_notification(t, "CALL_NOW"))
    worker_task, first_try = worker_until_first_try(ctx)
    await asyncio.wait_for(first_try.wait(), 10)   # it ran, found the token WAITING
    assert fake_twilio.requests == [] and await db.log_rows(ctx["pool"], tok["id"]) == []
    assert str((await call(ctx, world))["id"]) == t     # the record catches up
    worker = await asyncio.wait_for(worker_task, 15)
    assert worker.jobs_retried >= 1 and worker.jobs_complete == 1 and worker.jobs_failed == 0
    [msg] = fake_twilio.messages
    assert f"{tok['number']}: please go to cabin" in msg.body
    [row] = await db.log_rows(ctx["pool"], tok["id"])
    assert (row["event"], row["status"], row["attempts"]) == ("CALL_NOW", "SENT", 1)
    assert await ctx["pool"].fetchval("SELECT count(*) FROM system_alerts") == 0


async def test_token_created_waits_for_its_row_to_commit(ctx: dict[str, Any], world: World,
                                                         fake_twilio: FakeTwilio) -> None:
    first = await issue_token(ctx, world, 0)
    new_id = uuid4()
    ctx["notify_behind_base_s"] = 0.2
    async with ctx["pool"].acquire() as conn:
        tx = conn.transaction()
        await tx.start()                          # the token's row, not committed yet
        await conn.execute(
            """INSERT INTO tokens (id, hospital_id, department_id, doctor_id, patient_id,
                   service_date, seq, number, booking_type, status, public_code)
               SELECT $2, hospital_id, department_id, doctor_id, $3, service_date, seq + 100,
                      'CARD-901', 'WALK_IN', 'WAITING', md5(random()::text)
               FROM tokens WHERE id = $1""", first["id"], new_id, world.patients[1])
        await ctx["redis"].enqueue_job("send_notification", str(world.hospital_id),
                                       str(new_id), "TOKEN_CREATED", _job_id="created")
        worker_task, first_try = worker_until_first_try(ctx)
        await asyncio.wait_for(first_try.wait(), 10)   # it found no row
        assert fake_twilio.requests == []
        await tx.commit()
    worker = await asyncio.wait_for(worker_task, 15)
    assert worker.jobs_retried >= 1 and worker.jobs_complete == 1
    [msg] = fake_twilio.messages
    assert msg.to == "+919876500001" and "CARD-901" in msg.body


async def test_a_record_that_never_catches_up_is_an_alert(ctx: dict[str, Any], world: World,
                                                          fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    args = (str(world.hospital_id), str(tok["id"]), "CALL_NOW")
    with pytest.raises(Retry):
        await send_notification({**ctx, "job_try": NOTIFY_MAX_TRIES - 1}, *args)
    out = await send_notification({**ctx, "job_try": NOTIFY_MAX_TRIES}, *args)
    assert out == "behind"
    assert fake_twilio.requests == [] and await db.log_rows(ctx["pool"], tok["id"]) == []
    alert = await ctx["pool"].fetchrow("SELECT * FROM system_alerts")
    assert (alert["kind"], alert["entity_type"], alert["entity_id"]) == (
        "NOTIFICATION_UNCONFIRMED", "TOKEN", tok["id"])
    assert "WAITING" in alert["message"] and alert["details"]["event"] == "CALL_NOW"


async def test_a_call_put_back_is_stale_and_closes_its_row(ctx: dict[str, Any], world: World,
                                                           fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    await call(ctx, world)
    # a CALL_NOW job claimed its row, then died before its attempt
    row_id = await db.claim(ctx["pool"], hospital_id=world.hospital_id,
                            patient_id=world.patients[0], token_id=tok["id"], channel="SMS",
                            event="CALL_NOW", language="en", body="go now", to_masked="x")
    await ctx["notify_queue"].act(world.hospital_id, SYSTEM, tok["id"], Action.SKIP)
    # WAITING again, but its history shows the call: past the event, not behind it
    out = await send_notification(ctx, str(world.hospital_id), str(tok["id"]), "CALL_NOW")
    assert out == "stale" and fake_twilio.requests == []
    [row] = await db.log_rows(ctx["pool"], tok["id"])
    assert (row["id"], row["status"]) == (row_id, "SKIPPED")
    assert "the token is WAITING" in row["error_message"]


# ------------------------------------------------------------------ database faults
@pytest.fixture
async def doomed_pool(services: Services) -> AsyncIterator[asyncpg.Pool]:
    """A pool whose backends the test terminates (pg_terminate_backend: what an admin, a
    failover or a crash recovery does to a worker's connections)."""
    p = await asyncpg.create_pool(services.database_url, min_size=2, max_size=2,
                                  init=_init_connection,
                                  server_settings={"application_name": "notify-doomed"})
    assert p is not None
    yield p
    p.terminate()


async def test_a_backend_terminated_mid_job_is_an_outage_that_is_retried(
        ctx: dict[str, Any], world: World, fake_twilio: FakeTwilio, doomed_pool: asyncpg.Pool,
        redis: Redis, settings: Settings, arq_redis: ArqRedis) -> None:
    tok = await issue_token(ctx, world, 0)
    dctx = await make_ctx(doomed_pool, redis, settings, arq_redis)
    args = (str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")
    pool = ctx["pool"]
    try:
        async with pool.acquire() as other:
            # another claimer's uncommitted row holds the job's claim on the unique index
            tx = other.transaction()
            await tx.start()
            await db.claim(other, hospital_id=world.hospital_id, patient_id=world.patients[0],
                           token_id=tok["id"], channel="SMS", event="TOKEN_CREATED",
                           language="en", body="x", to_masked="x")
            job = asyncio.create_task(send_notification(dctx, *args))
            await until(lambda: pool.fetchval(
                """SELECT count(*) FROM pg_stat_activity WHERE application_name =
                   'notify-doomed' AND wait_event_type = 'Lock'"""), 10, "the job blocked")
            # terminated mid-statement ("terminating connection due to administrator
            # command", 57P01; asyncpg reports the connection as gone)
            await pool.execute("""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                  WHERE application_name = 'notify-doomed'""")
            with pytest.raises(Retry) as exc:
                await job
            assert is_outage(exc.value.__cause__)
            await tx.rollback()
        assert fake_twilio.requests == []
        # ARQ tries again; under load the pool may first hand out a connection the outage
        # broke, which is one more outage retry, never a lost or doubled message
        for job_try in (2, 3, 4):
            try:
                assert await send_notification({**dctx, "job_try": job_try}, *args) == "sent"
                break
            except Retry as again:
                assert is_outage(again.__cause__)
        else:
            pytest.fail("the message was never sent after the outage")
    finally:
        await notify.teardown(dctx)
    assert len(fake_twilio.messages) == 1


# ------------------------------------------------------------------ the sweeper
async def test_a_row_left_pending_without_an_attempt_is_sent_once(
        ctx: dict[str, Any], world: World, fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    h, t = str(world.hospital_id), str(tok["id"])
    ctx["notify_sweep_grace_s"] = 0
    # the job claimed the row, then failed for good before its attempt
    row_id = await db.claim(ctx["pool"], hospital_id=world.hospital_id,
                            patient_id=world.patients[0], token_id=tok["id"], channel="SMS",
                            event="TOKEN_CREATED", language="en", body="your token",
                            to_masked="+91******0000")
    assert await sweep_notifications(ctx) == 1
    assert await sweep_notifications(ctx) == 0          # the same row state: the same job
    # and the original job comes back too (say, its ARQ retry): both race, one sends
    await ctx["redis"].enqueue_job("send_notification", h, t, "TOKEN_CREATED",
                                   _job_id=job_ids.send_notification(t, "TOKEN_CREATED"))
    fake_twilio.latency_s = 0.05
    w1, w2 = await asyncio.gather(run_burst(ctx, max_jobs=1), run_burst(ctx, max_jobs=1))
    assert w1.jobs_complete + w2.jobs_complete == 2
    [msg] = fake_twilio.messages
    assert msg.body == "your token"                      # the body claimed with the row
    [row] = await db.log_rows(ctx["pool"], tok["id"])
    assert (row["id"], row["status"], row["attempts"]) == (row_id, "SENT", 1)
    assert await sweep_notifications(ctx) == 0


async def test_an_attempt_whose_lease_ran_out_is_swept(ctx: dict[str, Any], world: World,
                                                       fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    ctx["notify_sweep_grace_s"] = 0
    row_id = await db.claim(ctx["pool"], hospital_id=world.hospital_id,
                            patient_id=world.patients[0], token_id=tok["id"], channel="SMS",
                            event="TOKEN_CREATED", language="en", body="hello", to_masked="x")
    assert row_id and await db.begin_attempt(ctx["pool"], row_id, notify.LEASE_S) == 1
    assert await sweep_notifications(ctx) == 0          # its attempt may still be in flight
    await rewind(ctx["pool"], row_id, int(notify.LEASE_S) + 1)
    assert await sweep_notifications(ctx) == 1
    await run_burst(ctx)
    [msg] = fake_twilio.messages
    [row] = await db.log_rows(ctx["pool"], tok["id"])
    assert (row["status"], row["attempts"], row["provider_id"]) == ("SENT", 2, msg.sid)


async def test_an_overdue_retry_is_swept(ctx: dict[str, Any], world: World,
                                         fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    ctx["notify_sweep_grace_s"] = 0
    fake_twilio.fail_next("500")
    args = (str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")
    with pytest.raises(Retry):          # its retry was deferred... and Redis lost it
        await send_notification(ctx, *args)
    [row] = await db.log_rows(ctx["pool"], tok["id"])
    assert await sweep_notifications(ctx) == 0          # the retry may still come
    await rewind(ctx["pool"], row["id"], int(notify.BACKOFF_CAP_S) + 1)
    assert await sweep_notifications(ctx) == 1
    await run_burst(ctx)
    assert len(fake_twilio.messages) == 1
    [row] = await db.log_rows(ctx["pool"], tok["id"])
    assert (row["status"], row["attempts"]) == ("SENT", 2)


async def test_a_call_with_no_message_at_all_is_swept(ctx: dict[str, Any], world: World,
                                                      fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    assert await send_notification(ctx, str(world.hospital_id), str(tok["id"]),
                                   "TOKEN_CREATED") == "sent"
    await call(ctx, world)              # its event (or its job) was lost: no CALL_NOW row
    assert await sweep_notifications(ctx) == 0          # the normal path's head start
    ctx["notify_sweep_grace_s"] = 0
    assert await sweep_notifications(ctx) == 1
    assert await sweep_notifications(ctx) == 0
    await run_burst(ctx)
    assert f"{tok['number']}: please go to cabin" in fake_twilio.messages[1].body
    assert {r["event"]: r["status"] for r in await db.log_rows(ctx["pool"], tok["id"])} == {
        "TOKEN_CREATED": "SENT", "CALL_NOW": "SENT"}
