"""Idempotency-Key: a retried request answers the same and changes nothing twice."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from tests.queue.conftest import World, issue


async def test_a_retried_next_answers_the_same_and_calls_once(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool) -> None:
    await issue(client, world, 0)
    await issue(client, world, 1)
    url = f"/api/v1/doctors/{world.doctors[0]}/next"
    h = {**world.h("doctor"), "Idempotency-Key": "tap-1"}
    first = await client.post(url, json={"current_token_id": None}, headers=h)
    again = await client.post(url, json={"current_token_id": None}, headers=h)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await pool.fetchval("SELECT count(*) FROM tokens WHERE status = 'CALLED'") == 1


async def test_concurrent_retries_share_one_answer(client: httpx.AsyncClient, world: World,
                                                   pool: asyncpg.Pool) -> None:
    body = {"patient_id": str(world.patients[0]), "booking_type": "WALK_IN",
            "doctor_id": str(world.doctors[0])}
    h = {**world.h(), "Idempotency-Key": "issue-42"}
    rs = await asyncio.gather(*[client.post("/api/v1/tokens", json=body, headers=h)
                                for _ in range(5)])
    assert {r.status_code for r in rs} == {201}
    assert len({r.json()["id"] for r in rs}) == 1
    assert await pool.fetchval("SELECT count(*) FROM tokens") == 1


async def test_a_key_reused_for_another_request_is_refused(client: httpx.AsyncClient,
                                                            world: World) -> None:
    h = {**world.h(), "Idempotency-Key": "k"}
    body = {"patient_id": str(world.patients[0]), "booking_type": "WALK_IN",
            "doctor_id": str(world.doctors[0])}
    assert (await client.post("/api/v1/tokens", json=body, headers=h)).status_code == 201
    other = {**body, "patient_id": str(world.patients[1])}
    r = await client.post("/api/v1/tokens", json=other, headers=h)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_keys_are_per_caller(client: httpx.AsyncClient, world: World,
                                   pool: asyncpg.Pool) -> None:
    body = {"patient_id": str(world.patients[0]), "booking_type": "WALK_IN",
            "doctor_id": str(world.doctors[0])}
    r1 = await client.post("/api/v1/tokens", json=body,
                           headers={**world.h("receptionist"), "Idempotency-Key": "same"})
    r2 = await client.post("/api/v1/tokens", json=body,
                           headers={**world.h("nurse"), "Idempotency-Key": "same"})
    assert r1.status_code == r2.status_code == 201
    assert r1.json()["id"] != r2.json()["id"]


async def test_a_refusal_is_kept_but_a_server_error_is_not(client: httpx.AsyncClient,
                                                           world: World) -> None:
    a = await issue(client, world, 0)
    h = {**world.h("doctor"), "Idempotency-Key": "start-early"}
    r1 = await client.post(f"/api/v1/tokens/{a['id']}/start", headers=h)
    r2 = await client.post(f"/api/v1/tokens/{a['id']}/start", headers=h)
    assert r1.status_code == r2.status_code == 409
    assert r2.headers.get("idempotent-replayed") == "true"


async def test_an_oversized_keyed_body_is_refused_as_problem_json(
        client: httpx.AsyncClient, world: World, settings) -> None:
    async def chunks():
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024   # streamed: no Content-Length to refuse up front

    r = await client.post("/api/v1/tokens", content=chunks(),
                          headers={**world.h(), "Idempotency-Key": "big"})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
