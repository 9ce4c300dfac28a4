"""A change answered while Redis hangs and cannot take the views' revision in time
(server/view_cache.py): the change is committed, so it is answered within the revision's
timeout, not held by Redis, and the next read shows it."""

from __future__ import annotations

import asyncio
import signal
import time

import asyncpg
import httpx

from server.view_cache import REVISION_TIMEOUT_S
from tests.faults.services import PrivateRedis
from tests.queue.conftest import build_world, issue


async def test_a_name_edited_while_redis_hangs_is_answered_and_shows_in_the_next_read(
        private_redis_client: httpx.AsyncClient, private_redis: PrivateRedis,
        pool: asyncpg.Pool) -> None:
    c = private_redis_client
    w = await build_world(pool)
    await issue(c, w, 0)
    url = f"/api/v1/doctors/{w.doctors[0]}/queue"
    assert (await c.get(url, headers=w.h())).json()["waiting"][0]["patient"]["name"] \
        == "Patient0 Kumar"                                        # read, and kept
    assert private_redis.proc
    private_redis.proc.send_signal(signal.SIGSTOP)                  # Redis hangs, data kept
    try:
        started = time.monotonic()
        async with asyncio.timeout(REVISION_TIMEOUT_S + 5):        # not held by Redis
            r = await c.patch(f"/api/v1/patients/{w.patients[0]}",
                              json={"name": "Priya Kumar"}, headers=w.h())
        assert r.status_code == 200, r.text
        assert time.monotonic() - started < REVISION_TIMEOUT_S + 2
    finally:
        private_redis.proc.send_signal(signal.SIGCONT)
    assert await pool.fetchval("SELECT name FROM patients WHERE id = $1", w.patients[0]) \
        == "Priya Kumar"
    # Redis is back with its data: the revision it took late (or, had it never arrived, this
    # process's forgotten answers) makes this read fresh
    assert (await c.get(url, headers=w.h())).json()["waiting"][0]["patient"]["name"] \
        == "Priya Kumar"
