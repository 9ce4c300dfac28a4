"""Fault injection: what boards and workers were told, against what the record holds.

`Announced` listens on the hospital's channel exactly as a web process does, so it sees
every event any board, console, phone or worker could be told. `barrier()` announces a
marker and waits for it: everything published before it has then arrived (pub/sub keeps
order per connection), so a test can assert that something was *not* announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from server.app import create_app
from server.settings import Settings
from server.store import keys
from server.store.live import LiveStore
from tests.faults.services import PrivateRedis
from tests.queue.conftest import World

APP_NAME = "opdq-faults"   # the app under test's connections, and only those, get killed


class Announced:
    def __init__(self, redis: Redis, hospital_id: UUID) -> None:
        self.redis, self.h = redis, hospital_id
        self.events: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Announced:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(keys.channel(self.h))
        self._task = asyncio.create_task(self._listen(pubsub))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _listen(self, pubsub: Any) -> None:
        try:
            async for message in pubsub.listen():
                async with self._arrived:
                    self.events.append(json.loads(message["data"]))
                    self._arrived.notify_all()
        finally:
            await pubsub.aclose()

    async def barrier(self, within_s: float = 10.0) -> None:
        seq = await LiveStore(self.redis).announce(self.h, "announcement", {"text": "barrier"})
        async with asyncio.timeout(within_s), self._arrived:
            await self._arrived.wait_for(lambda: any(e["seq"] == seq for e in self.events))

    def of(self, etype: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == etype]

    def calls(self) -> Counter[str]:
        """token.called announcements per token id (recalls excluded)."""
        return Counter(e["data"]["token"]["id"] for e in self.of("token.called")
                       if not e["data"].get("recall"))


@pytest.fixture
async def private_redis_client(settings: Settings, pool: asyncpg.Pool,
                               private_redis: PrivateRedis) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a Redis of its own (tests/faults/services.PrivateRedis), which a test may
    kill, restart or hang without touching the suite's."""
    app = create_app(settings.model_copy(update={"redis_url": private_redis.url}))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture
async def fault_app(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Any]:
    """The app under test with its own PostgreSQL application name and no double-tap guard
    (bursts of Next are what we want)."""
    app = create_app(settings.model_copy(update={"db_application_name": APP_NAME,
                                                 "next_guard_ms": 0, "db_pool_max": 6}))
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def fault_client(fault_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fault_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def record_order(pool: asyncpg.Pool, doctor_id: UUID) -> tuple[str | None, list[str]]:
    """(current token, waiting tokens in queue order) as PostgreSQL holds them."""
    rows = await pool.fetch(
        """SELECT id::text, status FROM tokens WHERE doctor_id = $1
           AND status IN ('WAITING', 'CALLED', 'IN_CONSULTATION')
           ORDER BY queue_score, id""", doctor_id)
    current = [r["id"] for r in rows if r["status"] != "WAITING"]
    assert len(current) <= 1, "the record holds two current tokens for one doctor"
    return (current[0] if current else None), [r["id"] for r in rows if r["status"] == "WAITING"]


async def live_order(client: httpx.AsyncClient, w: World, doctor: int
                     ) -> tuple[str | None, list[str]]:
    r = await client.get(f"/api/v1/doctors/{w.doctors[doctor]}/queue", headers=w.h())
    assert r.status_code == 200, r.text
    q = r.json()
    return (q["current"] and q["current"]["id"]), [t["id"] for t in q["waiting"]]
