"""The doctor console's queue read, reused by each web process while nothing changed
(server/view_cache.py): two app instances stand for two processes sharing PostgreSQL and
Redis, each with its own cache, so a change made through one must show at once in the other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from server.app import create_app
from server.settings import Settings
from tests.queue.conftest import Clock, World, build_world, issue, press_next


@pytest.fixture
async def other(settings: Settings, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """A second web process: its own app, cache and clock (the same time as the first)."""
    second = create_app(settings)
    async with LifespanManager(second):
        second.state.opdq.queue.now = clock
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def read(client: httpx.AsyncClient, w: World, role: str = "doctor") -> dict[str, Any]:
    r = await client.get(f"/api/v1/doctors/{w.doctors[0]}/queue", headers=w.h(role))
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_next_pressed_in_one_process_shows_at_once_in_the_others_read(
        client: httpx.AsyncClient, other: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    w = await build_world(pool)
    for i in range(3):
        await issue(client, w, i)
    before = await read(other, w)
    assert before == await read(other, w)                 # kept, and reused
    assert before["current"] is None
    first, *rest = [t["id"] for t in before["waiting"]]
    assert (await press_next(client, w)).status_code == 200
    after = await read(other, w)
    assert after["current"]["id"] == first
    assert [t["id"] for t in after["waiting"]] == rest
    assert [t["position"] for t in after["waiting"]] == [1, 2]


async def test_a_patients_name_edited_in_one_process_shows_at_once_in_the_others_read(
        client: httpx.AsyncClient, other: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    """A change that announces no event (the nurse corrects a misspelt name) still voids the
    answers every process kept."""
    w = await build_world(pool)
    await issue(client, w, 0)
    assert (await read(other, w))["waiting"][0]["patient"]["name"] == "Patient0 Kumar"
    r = await client.patch(f"/api/v1/patients/{w.patients[0]}", json={"name": "Priya Kumar"},
                           headers=w.h())
    assert r.status_code == 200, r.text
    assert (await read(other, w))["waiting"][0]["patient"]["name"] == "Priya Kumar"


async def test_who_reads_decides_the_buttons_of_a_kept_answer(
        client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    """The queue's own doctor may call its patients; a doctor of another queue reading it
    right after must not get the first reader's buttons."""
    w = await build_world(pool)
    await issue(client, w, 0)
    own = (await read(client, w, "doctor"))["waiting"][0]["allowed_actions"]
    others = (await read(client, w, "doctor2"))["waiting"][0]["allowed_actions"]
    assert own and own != others
    assert (await read(client, w, "doctor"))["waiting"][0]["allowed_actions"] == own


async def test_a_kept_answer_is_not_older_than_its_time_to_live(
        client: httpx.AsyncClient, pool: asyncpg.Pool, clock: Clock) -> None:
    """What an answer shows relative to its moment (the minutes waited) moves on after
    view_cache_s, with nothing else changed."""
    w = await build_world(pool)
    await issue(client, w, 0)
    first = (await read(client, w))["waiting"][0]["waited_min"]
    clock.advance(minutes=5)
    assert (await read(client, w))["waiting"][0]["waited_min"] == first + 5
