"""Redis loses everything, or the record fails mid-action: the queue comes back exactly."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from server.db import tokens as tokens_db
from tests.queue.conftest import World, issue, press_next, queue


async def _order(client: httpx.AsyncClient, w: World, doctor: int = 0) -> tuple:
    q = await queue(client, w, doctor)
    return (q["current"] and q["current"]["id"], [t["id"] for t in q["waiting"]],
            [t["position"] for t in q["waiting"]])


async def test_flushall_mid_day_rebuilds_every_queue_in_the_same_order(
        client: httpx.AsyncClient, world: World, redis: Redis) -> None:
    for i in range(6):
        await issue(client, world, i, doctor=i % 2,
                    **({"priority": 2} if i == 4 else {}))
    await issue(client, world, 6, doctor=0, booking_type="EMERGENCY")
    await press_next(client, world, 0)
    # a skipped token has a score no rule derives from its times: it must survive too
    q = await queue(client, world, 0)
    r = await client.post(f"/api/v1/tokens/{q['waiting'][0]['id']}/skip",
                          headers=world.h("doctor"))
    assert r.status_code == 200, r.text
    before = [await _order(client, world, d) for d in range(2)]

    await redis.flushdb()  # not FLUSHALL: a shared server's other databases stay

    after = [await _order(client, world, d) for d in range(2)]    # no manual step
    assert after == before
    # and the queue keeps working: Next calls the head of the rebuilt queue
    current, waiting, _ = after[0]
    r = await press_next(client, world, 0, current_token_id=current)
    assert r.status_code == 200, r.text
    assert r.json()["called"]["id"] == waiting[0]


async def test_an_action_after_flushall_rebuilds_first(client: httpx.AsyncClient,
                                                        world: World, redis: Redis) -> None:
    a = await issue(client, world, 0)
    await redis.flushdb()  # not FLUSHALL: a shared server's other databases stay
    r = await press_next(client, world, 0, current_token_id=None)
    assert r.status_code == 200, r.text
    assert r.json()["called"]["id"] == a["id"]


async def test_a_record_failure_after_the_live_change_is_repaired(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    a = await issue(client, world, 0)
    b = await issue(client, world, 1)
    real = tokens_db.next_press  # a press writes its record in one statement

    async def failing(*args, **kwargs):  # the database refuses mid-action
        raise asyncpg.exceptions.SerializationError("injected failure")

    monkeypatch.setattr(tokens_db, "next_press", failing)
    r = await press_next(client, world, 0, current_token_id=None)
    assert r.status_code == 503  # transient: the tablet retries
    assert r.headers["retry-after"]
    monkeypatch.setattr(tokens_db, "next_press", real)

    # Redis had popped a; the record never called it: the live view is back to the record
    q = await queue(client, world, 0)
    assert q["current"] is None
    assert [t["id"] for t in q["waiting"]] == [a["id"], b["id"]]
    assert await pool.fetchval("SELECT status FROM tokens WHERE id = $1", a["id"]) == "WAITING"
    r = await press_next(client, world, 0, current_token_id=None)
    assert r.json()["called"]["id"] == a["id"]


async def test_the_reconciler_repairs_a_diverged_queue(client: httpx.AsyncClient, world: World,
                                                       redis: Redis, app) -> None:
    a = await issue(client, world, 0)
    b = await issue(client, world, 0 + 1)
    from server.store import keys

    # something outside the rules drops a token from the live queue
    await redis.zrem(keys.queue(world.hospital_id, world.doctors[0]), a["id"])
    repaired = await app.state.opdq.queue.reconcile(world.hospital_id)
    assert repaired == [world.doctors[0]]
    q = await queue(client, world, 0)
    assert [t["id"] for t in q["waiting"]] == [a["id"], b["id"]]
    assert await app.state.opdq.queue.reconcile(world.hospital_id) == []


async def test_a_diverged_live_view_is_repaired_on_the_next_action(
        client: httpx.AsyncClient, world: World, redis: Redis) -> None:
    a = await issue(client, world, 0)
    from server.store import keys

    await redis.zrem(keys.queue(world.hospital_id, world.doctors[0]), a["id"])
    r = await client.post(f"/api/v1/tokens/{a['id']}/cancel", headers=world.h())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELLED"


# A press of Next checks the live view's choice against the record (in the statement that
# writes it): where they disagree, nothing is written, the doctor is repaired from the record
# and the press is tried again on the repaired queue.
async def test_next_skips_a_token_the_record_cancelled_behind_the_live_view(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, clock) -> None:
    a = await issue(client, world, 0)
    clock.advance(minutes=1)
    b = await issue(client, world, 1)
    await pool.execute("UPDATE tokens SET status = 'CANCELLED' WHERE id = $1", UUID(a["id"]))
    r = await press_next(client, world, 0)
    assert r.status_code == 200, r.text
    assert r.json()["completed"] is None and r.json()["called"]["id"] == b["id"]
    assert await pool.fetchval("SELECT status FROM tokens WHERE id = $1",
                               UUID(a["id"])) == "CANCELLED"
    assert await pool.fetchval("SELECT count(*) FROM token_history WHERE token_id = $1 "
                               "AND action = 'call'", UUID(a["id"])) == 0
    q = await queue(client, world, 0)
    assert q["current"]["id"] == b["id"] and q["waiting"] == []


async def test_next_does_not_complete_twice_a_consult_the_record_closed(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, clock) -> None:
    a = await issue(client, world, 0)
    clock.advance(minutes=1)
    b = await issue(client, world, 1)
    assert (await press_next(client, world, 0)).json()["called"]["id"] == a["id"]
    await pool.execute("UPDATE tokens SET status = 'COMPLETED', completed_at = now() "
                       "WHERE id = $1", UUID(a["id"]))
    clock.advance(minutes=5)
    r = await press_next(client, world, 0)
    assert r.status_code == 200, r.text
    assert r.json()["completed"] is None and r.json()["called"]["id"] == b["id"]
    assert await pool.fetchval("SELECT count(*) FROM token_history WHERE token_id = $1 "
                               "AND action = 'complete'", UUID(a["id"])) == 0


async def test_next_completes_the_consult_the_live_view_lost(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, redis: Redis,
        clock) -> None:
    from server.store import keys

    a = await issue(client, world, 0)
    clock.advance(minutes=1)
    b = await issue(client, world, 1)
    assert (await press_next(client, world, 0)).json()["called"]["id"] == a["id"]
    await redis.hset(keys.doctor(world.hospital_id, world.doctors[0]), "cur", "")
    clock.advance(minutes=5)
    r = await press_next(client, world, 0)
    assert r.status_code == 200, r.text
    assert r.json()["completed"]["id"] == a["id"] and r.json()["called"]["id"] == b["id"]
    assert await pool.fetchval("SELECT status FROM tokens WHERE id = $1",
                               UUID(a["id"])) == "COMPLETED"
