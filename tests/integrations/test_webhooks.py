"""Outgoing webhooks end to end: the HTTP API, the dispatcher, real ARQ workers, a local
receiver. Every event reaches a receiver that fails and recovers, once per delivery id,
signed, in event order; a dead endpoint holds back only its own subscription, and one that
fails long enough is paused with an alert."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.asyncio import Redis

from server.integrations import signing
from server.settings import Settings
from server.store import keys
from tests.conftest import Services
from tests.integrations.conftest import integration_settings, worker_ctx
from tests.integrations.receiver import Receiver, dead_url
from tests.queue.conftest import World, issue, press_next
from workers import dispatch, webhooks
from workers.routing import webhook_jobs_for

EVENTS = ["token.created", "token.called"]


@pytest.fixture
def settings(services: Services) -> Settings:
    """The receiver listens on 127.0.0.1: private addresses allowed; retries fast."""
    return integration_settings(services, webhook_allow_private=True,
                                webhook_retry_base_s=0.05, webhook_retry_max_s=0.2,
                                webhook_timeout_s=2)


@contextlib.asynccontextmanager
async def running_workers(pool: asyncpg.Pool, redis: Redis, arq_redis: ArqRedis,
                          settings: Settings) -> AsyncIterator[dict[str, Any]]:
    """The dispatcher (webhook routing only) and an ARQ worker with the webhook jobs."""
    ctx = await worker_ctx(pool, redis, arq_redis, settings)
    dispatch.start(ctx, block_ms=50, refresh_s=0.2, routers=[webhook_jobs_for])
    worker = Worker(functions=webhooks.FUNCTIONS, redis_pool=arq_redis, burst=False,
                    poll_delay=0.01, handle_signals=False, ctx=dict(ctx))
    task = asyncio.create_task(worker.async_run())
    try:
        yield ctx
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.close()
        await dispatch.stop(ctx)
        await webhooks.teardown(ctx)


async def until(receiver: Receiver, done: Callable[[], bool], within_s: float = 15) -> None:
    async with asyncio.timeout(within_s):
        while True:
            receiver.changed.clear()
            if done():
                return
            await receiver.changed.wait()


async def delivered(pool: asyncpg.Pool, sub_id: str, n: int) -> None:
    """Until n deliveries of the subscription are recorded DELIVERED: the worker writes that
    after the receiver answered. Polled (15 s at most): no event tells the test."""
    for _ in range(750):
        if await pool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE subscription_id "
                               "= $1 AND status = 'DELIVERED'", UUID(sub_id)) >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{n} deliveries not recorded as delivered")


async def subscribe(client: httpx.AsyncClient, w: World, url: str,
                    events: list[str] = EVENTS) -> dict[str, Any]:
    r = await client.post("/api/v1/webhooks", json={"url": url, "events": events},
                          headers=w.h("admin"))
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json())


async def deliveries(client: httpx.AsyncClient, w: World, sub_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/webhooks/{sub_id}/deliveries", headers=w.h("admin"))
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["items"]))     # oldest first


async def test_a_failing_then_recovering_receiver_gets_every_event_once_signed_in_order(
        client: httpx.AsyncClient, pool: asyncpg.Pool, redis: Redis, arq_redis: ArqRedis,
        settings: Settings, world: World, receiver: Receiver) -> None:
    good = await subscribe(client, world, receiver.url)
    dead = await subscribe(client, world, dead_url())
    receiver.fail_next = 3          # down for the first three attempts, then back
    numbers = [(await issue(client, world, i))["number"] for i in range(3)]
    assert (await press_next(client, world)).status_code == 200
    async with running_workers(pool, redis, arq_redis, settings):
        await until(receiver, lambda: len(receiver.accepted()) == 4)
        await delivered(pool, good["id"], 4)
        # the dead endpoint keeps failing meanwhile: it slowed nobody else
        rows = await deliveries(client, world, dead["id"])
    accepted = receiver.accepted()
    payloads = [json.loads(r.body) for r in accepted]
    assert [p["type"] for p in payloads] == ["token.created"] * 3 + ["token.called"]
    assert [p["data"]["token"]["number"] for p in payloads] == [*numbers, numbers[0]]
    seqs = [p["seq"] for p in payloads]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert all(p["hospital_id"] == str(world.hospital_id) for p in payloads)
    for r in accepted:
        assert r.event == json.loads(r.body)["type"]
        assert signing.verify(good["secret"], r.signature, r.body, now=time.time())
        assert not signing.verify(dead["secret"], r.signature, r.body, now=time.time())
    # the first delivery was retried until it went; the later ones waited behind it
    assert [r.status for r in receiver.requests[:3]] == [503] * 3
    assert {r.delivery_id for r in receiver.requests[:4]} == {accepted[0].delivery_id}
    assert len(receiver.requests) == 7
    listed = await deliveries(client, world, good["id"])
    assert [d["id"] for d in listed] == [r.delivery_id for r in accepted]
    assert [(d["status"], d["response_code"]) for d in listed] == [("DELIVERED", 204)] * 4
    assert [d["attempts"] for d in listed] == [4, 1, 1, 1]
    # the dead subscription: its head retrying, the rest held back, nothing lost
    assert [d["event_type"] for d in rows] == ["token.created"] * 3 + ["token.called"]
    assert rows[0]["status"] == "RETRYING" and rows[0]["attempts"] >= 1
    assert rows[0]["error"].startswith("ConnectError")
    assert all(d["status"] == "PENDING" and d["attempts"] == 0 for d in rows[1:])
    # recording again (a replayed event, a second job) records nothing twice
    ctx = await worker_ctx(pool, redis, arq_redis, settings)
    assert await webhooks.record_webhook_events(ctx, str(world.hospital_id)) == 0
    await webhooks.teardown(ctx)


async def test_a_subscription_failing_too_long_is_paused_with_an_alert_and_resumes(
        client: httpx.AsyncClient, pool: asyncpg.Pool, redis: Redis, arq_redis: ArqRedis,
        settings: Settings, world: World, receiver: Receiver) -> None:
    sub = await subscribe(client, world, receiver.url, ["token.created"])
    receiver.fail_next = 1000
    await issue(client, world, 0)
    impatient = settings.model_copy(update={"webhook_pause_after_s": 0.3})
    async with running_workers(pool, redis, arq_redis, impatient):
        for _ in range(750):   # the pause commits after the last answer: poll, 15 s at most
            if (await pool.fetchval("SELECT status FROM webhook_subscriptions WHERE id = $1",
                                    sub["id"])) == "PAUSED":
                break
            await asyncio.sleep(0.02)
        r = await client.get(f"/api/v1/webhooks/{sub['id']}", headers=world.h("admin"))
        assert r.json()["status"] == "PAUSED" and r.json()["paused_reason"] == "FAILING"
        assert "secret" not in r.json()
        alert = await pool.fetchrow("SELECT * FROM system_alerts WHERE kind = 'WEBHOOK_FAILING'")
        assert alert["hospital_id"] == world.hospital_id and str(alert["entity_id"]) == sub["id"]
        assert "127.0.0.1" in alert["message"] and "/hooks/opdq" not in alert["message"]
        tried = len(receiver.requests)
        # paused: nothing more is tried, however long we wait for the sweeper
        ctx = await worker_ctx(pool, redis, arq_redis, impatient)
        assert await webhooks.sweep_webhooks(ctx) == 0
        # the receiver is fixed; the admin resumes: the kept delivery goes
        receiver.fail_next = 0
        r = await client.patch(f"/api/v1/webhooks/{sub['id']}", json={"status": "ACTIVE"},
                               headers=world.h("admin"))
        assert r.status_code == 200 and r.json()["failing_since"] is None, r.text
        assert await webhooks.sweep_webhooks(ctx) == 1
        await webhooks.teardown(ctx)
        await until(receiver, lambda: len(receiver.accepted()) == 1)
        await delivered(pool, sub["id"], 1)
    assert len(receiver.requests) > tried
    [row] = await deliveries(client, world, sub["id"])
    assert row["status"] == "DELIVERED"


async def test_events_before_a_subscription_are_not_sent(
        client: httpx.AsyncClient, pool: asyncpg.Pool, redis: Redis, arq_redis: ArqRedis,
        settings: Settings, world: World, receiver: Receiver) -> None:
    await issue(client, world, 0)
    await subscribe(client, world, receiver.url, ["token.created"])
    second = await issue(client, world, 1)
    assert await redis.xlen(keys.stream(world.hospital_id)) >= 2
    async with running_workers(pool, redis, arq_redis, settings):
        await until(receiver, lambda: len(receiver.accepted()) == 1)
    [only] = receiver.accepted()
    assert json.loads(only.body)["data"]["token"]["number"] == second["number"]
