"""The worker's queue jobs: the reconciler and the end-of-day close."""

from __future__ import annotations

import asyncpg
import httpx
from redis.asyncio import Redis

from server.settings import Settings
from tests.queue.conftest import World, issue, queue
from workers import queue_jobs


def ctx(pool: asyncpg.Pool, redis: Redis, settings: Settings) -> dict:
    return {"pool": pool, "redis_app": redis, "settings": settings}


async def test_reconciler_rebuilds_a_lost_live_view(client: httpx.AsyncClient, world: World,
                                                   pool: asyncpg.Pool, redis: Redis,
                                                   settings: Settings) -> None:
    a = await issue(client, world, 0)
    await redis.flushdb()  # not FLUSHALL: a shared server's other databases stay
    assert await queue_jobs.reconcile_queues(ctx(pool, redis, settings)) == 0
    assert await redis.exists(f"opd:{{h:{world.hospital_id}}}:ready")
    q = await queue(client, world)
    assert [t["id"] for t in q["waiting"]] == [a["id"]]


async def test_close_days_ends_what_yesterday_left_open(client: httpx.AsyncClient,
                                                       world: World, pool: asyncpg.Pool,
                                                       redis: Redis, settings: Settings) -> None:
    waiting = await issue(client, world, 0)
    started = await issue(client, world, 1)
    today_token = await issue(client, world, 2, doctor=1)
    await pool.execute("UPDATE tokens SET status = 'IN_CONSULTATION' WHERE id = $1",
                       started["id"])
    # yesterday's day, still open: shift the two tokens back a day
    await pool.execute(
        "UPDATE tokens SET service_date = service_date - 1, seq = seq + 100, "
        "number = number || 'Y' WHERE id = ANY($1::uuid[])", [waiting["id"], started["id"]])
    c = ctx(pool, redis, settings)
    assert await queue_jobs.close_days(c) == 2
    status = dict(await pool.fetch("SELECT id::text, status FROM tokens"))
    assert status[waiting["id"]] == "NO_SHOW"
    assert status[started["id"]] == "COMPLETED"
    assert status[today_token["id"]] == "WAITING"
    hist = await pool.fetch("SELECT action, actor_kind FROM token_history WHERE reason = "
                            "'closed at the end of the day' ORDER BY action")
    assert [(h["action"], h["actor_kind"]) for h in hist] == [("complete", "system"),
                                                              ("no-show", "system")]
    # yesterday's waiting token has left today's live queue
    assert (await queue(client, world))["waiting"] == []
    assert await queue_jobs.close_days(c) == 0                   # idempotent
