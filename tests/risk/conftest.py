"""Risk tests: a world with booked tokens, and the context a worker job gets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from server.settings import Settings
from tests.queue.conftest import TZ, World, build_world


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


@pytest.fixture
async def job_ctx(pool: asyncpg.Pool, redis: Redis, settings: Settings
                  ) -> AsyncIterator[dict[str, Any]]:
    """What workers.main.startup puts in ctx (no "redis": jobs enqueue nothing)."""
    yield {"pool": pool, "redis_app": redis, "settings": settings}


def slot(days_ahead: int, at: time = time(11, 0)) -> datetime:
    today = datetime.now(ZoneInfo(TZ)).date()
    return datetime.combine(today + timedelta(days=days_ahead), at, ZoneInfo(TZ))


async def book(client: httpx.AsyncClient, w: World, patient: int, *, days_ahead: int = 1,
               doctor: int = 0, at: time = time(11, 0)) -> dict[str, Any]:
    r = await client.post("/api/v1/tokens", headers=w.h(), json={
        "patient_id": str(w.patients[patient]), "doctor_id": str(w.doctors[doctor]),
        "booking_type": "ONLINE", "scheduled_time": slot(days_ahead, at).isoformat()})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "BOOKED"
    return r.json()
