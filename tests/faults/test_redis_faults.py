"""Redis comes back older than the record, or empty: the sequence never goes back, the live
view is rebuilt from the record before anyone uses it, and the double-tap guard survives."""

from __future__ import annotations

import asyncpg
import httpx
from redis.asyncio import Redis

from server.store import keys
from server.store.live import LiveStore
from tests.faults.conftest import live_order, record_order
from tests.faults.services import PrivateRedis
from tests.queue.conftest import World, build_world, issue, press_next


async def test_a_redis_back_from_an_older_snapshot_is_rebuilt_and_numbers_move_on(
        private_redis_client: httpx.AsyncClient, private_redis: PrivateRedis,
        pool: asyncpg.Pool) -> None:
    c = private_redis_client
    w = await build_world(pool)
    tokens = [await issue(c, w, i) for i in range(6)]
    await press_next(c, w, current_token_id=None)                 # calls tokens[0]
    r = Redis.from_url(private_redis.url, decode_responses=True)
    live = LiveStore(r)
    try:
        await r.save()                      # the snapshot Redis will come back from ...
        for current in (tokens[0], tokens[1]):                    # ... 2 calls and more later
            assert (await press_next(c, w, current_token_id=current["id"])).status_code == 200
        await issue(c, w, 6)
        seen = await live.current_seq(w.hospital_id)              # what boards have seen
        record = await record_order(pool, w.doctors[0])
        assert record[0] == tokens[2]["id"]

        private_redis.kill()
        private_redis.start()               # loads the older snapshot: older seq, old queue
        await r.aclose()
        r = Redis.from_url(private_redis.url, decode_responses=True)
        live = LiveStore(r)
        assert await live.current_seq(w.hospital_id) < seen

        assert await live_order(c, w, 0) == record                # rebuilt, not the snapshot
        assert await live.events_since(w.hospital_id, seen, 100) is None   # -> snapshot
        nxt = await press_next(c, w, current_token_id=record[0])  # the true current: no 409
        assert nxt.status_code == 200, nxt.text
        assert nxt.json()["called"]["id"] == tokens[3]["id"]
        last = await r.xrevrange(keys.stream(w.hospital_id), count=1)
        assert int(last[0][0].split("-")[0]) > seen               # numbers never reused
    finally:
        await r.aclose()


async def test_a_since_ahead_of_the_server_is_not_replayed(client: httpx.AsyncClient,
                                                           pool: asyncpg.Pool,
                                                           redis: Redis) -> None:
    w: World = await build_world(pool)
    await issue(client, w, 0)               # the live view is loaded
    live = LiveStore(redis)
    seq = await live.announce(w.hospital_id, "announcement", {"text": "x"})
    assert await live.events_since(w.hospital_id, seq - 1, 10) is not None
    assert await live.events_since(w.hospital_id, seq, 10) == []
    assert await live.events_since(w.hospital_id, seq + 5, 10) is None
    assert await live.events_since(w.hospital_id, 10**23, 10) is None


async def test_the_double_tap_guard_outlives_a_flush(client: httpx.AsyncClient,
                                                     pool: asyncpg.Pool, redis: Redis) -> None:
    w = await build_world(pool)
    await issue(c := client, w, 0)
    await issue(c, w, 1)
    assert (await press_next(c, w)).status_code == 200
    await redis.flushdb()  # not FLUSHALL: a shared server's other databases stay
    r = await press_next(c, w)              # a second tap, after the live view was lost
    assert r.status_code == 409, r.text
    assert "double tap" in r.json()["detail"]
