"""A real Redis restart (process killed, started again empty): no token lost, doubled or
reordered, and the app carries on without a manual step."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager

from server.app import create_app
from server.queue import recovery
from server.settings import Settings
from tests import logcapture
from tests.faults.services import PrivateRedis
from tests.queue.conftest import World, build_world


@pytest.fixture
async def restart_client(settings: Settings, pool: asyncpg.Pool,
                         private_redis: PrivateRedis) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"redis_url": private_redis.url}))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def _queue(c: httpx.AsyncClient, w: World) -> tuple:
    r = await c.get(f"/api/v1/doctors/{w.doctors[0]}/queue", headers=w.h())
    assert r.status_code == 200, r.text
    q = r.json()
    return q["current"] and q["current"]["id"], [t["id"] for t in q["waiting"]]


async def test_queues_survive_a_redis_restart(restart_client: httpx.AsyncClient,
                                              private_redis: PrivateRedis,
                                              pool: asyncpg.Pool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    c = restart_client
    buf, saved = io.StringIO(), structlog.get_config()
    logcapture.into(buf)
    monkeypatch.setattr(recovery, "log", structlog.get_logger("queue"))
    w = await build_world(pool)
    ids = []
    for i, extra in enumerate([{}, {}, {"priority": 2}, {"booking_type": "EMERGENCY"}, {}]):
        body = {"patient_id": str(w.patients[i]), "booking_type": "WALK_IN",
                "doctor_id": str(w.doctors[0]), **extra}
        r = await c.post("/api/v1/tokens", json=body, headers=w.h())
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await c.post(f"/api/v1/doctors/{w.doctors[0]}/next", json={"current_token_id": None},
                     headers=w.h("doctor"))
    assert r.status_code == 200
    before = await _queue(c, w)

    private_redis.kill()
    r = await c.get(f"/api/v1/doctors/{w.doctors[0]}/queue", headers=w.h())
    assert r.status_code == 503              # Redis is down: a clear refusal, not a guess
    private_redis.start()                    # back, with nothing in it

    assert await _queue(c, w) == before     # rebuilt from PostgreSQL, same order
    structlog.configure(**saved)
    [rebuilt] = [e for e in map(json.loads, buf.getvalue().splitlines())
                 if e["event"].startswith("live view") and e["hospital_id"] == str(w.hospital_id)
                 and e["event"] != "live view loaded from PostgreSQL"]
    assert rebuilt["level"] == "warning"     # lost under a running process: an incident
    assert "Redis lost it" in rebuilt["event"]
    current, waiting = before
    r = await c.post(f"/api/v1/doctors/{w.doctors[0]}/next",
                     json={"current_token_id": current}, headers=w.h("doctor"))
    assert r.status_code == 200, r.text
    assert r.json()["called"]["id"] == waiting[0]
    # every token exactly once: one completed, one called, the rest waiting in order
    rows = dict(await pool.fetch("SELECT id::text, status FROM tokens"))
    assert sorted(rows.values()) == ["CALLED", "COMPLETED", "WAITING", "WAITING", "WAITING"]
    assert (await _queue(c, w))[1] == waiting[1:]
    assert set(rows) == set(ids)
