"""Idempotency-Key: a retried request answers the same and changes nothing twice."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from server.auth.sessions import COOKIE_NAME
from server.routes import patients as patients_routes
from server.routes import render
from server.security.passwords import hash_password
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
            "doctor_id": str(world.doctors[0]), "allow_duplicate": True}
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


async def test_a_retry_after_a_5xx_whose_effect_committed_returns_that_effect(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The token is committed, then the answer fails (Redis drops as the answer is built):
    the retry with the same key gets that token, and no second one is issued."""
    real = render.token
    failures = iter([RedisConnectionError("Redis went away after the commit")])

    async def answer_fails_once(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if (exc := next(failures, None)) is not None:
            raise exc
        return await real(*args, **kwargs)

    monkeypatch.setattr(render, "token", answer_fails_once)
    body = {"patient_id": str(world.patients[0]), "booking_type": "WALK_IN",
            "doctor_id": str(world.doctors[0])}
    h = {**world.h(), "Idempotency-Key": "desk-7"}
    first = await client.post("/api/v1/tokens", json=body, headers=h)
    assert first.status_code == 503 and first.headers["retry-after"]
    assert await pool.fetchval("SELECT count(*) FROM tokens") == 1     # it did commit

    again = await client.post("/api/v1/tokens", json=body, headers=h)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == await pool.fetchval("SELECT id::text FROM tokens")
    assert again.json()["position"] == 1
    assert await pool.fetchval("SELECT count(*) FROM tokens") == 1     # still one
    third = await client.post("/api/v1/tokens", json=body, headers=h)  # the kept answer now
    assert third.json() == again.json()


async def test_a_replayed_next_answers_the_call_it_made(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    a = await issue(client, world, 0)
    await issue(client, world, 1)
    real = render.tokens
    failures = iter([RedisConnectionError("lost")])

    async def answer_fails_once(*args: Any, **kwargs: Any) -> list[dict[str, Any] | None]:
        if (exc := next(failures, None)) is not None:
            raise exc
        return await real(*args, **kwargs)

    monkeypatch.setattr(render, "tokens", answer_fails_once)
    url = f"/api/v1/doctors/{world.doctors[0]}/next"
    h = {**world.h("doctor"), "Idempotency-Key": "tap-9"}
    assert (await client.post(url, json={}, headers=h)).status_code == 503
    again = await client.post(url, json={}, headers=h)
    assert again.status_code == 200, again.text
    assert again.json()["called"]["id"] == a["id"] and again.json()["completed"] is None
    assert await pool.fetchval("SELECT count(*) FROM tokens WHERE status = 'CALLED'") == 1


async def test_one_session_is_one_caller_as_bearer_or_cookie(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool) -> None:
    body = {"patient_id": str(world.patients[0]), "booking_type": "WALK_IN",
            "doctor_id": str(world.doctors[0])}
    bearer = await client.post("/api/v1/tokens", json=body,
                               headers={**world.h(), "Idempotency-Key": "one"})
    cookie = await client.post("/api/v1/tokens", json=body,
                               headers={"Idempotency-Key": "one",
                                        "Cookie": f"{COOKIE_NAME}={world.tokens['receptionist']}"})
    assert bearer.status_code == cookie.status_code == 201
    assert cookie.json()["id"] == bearer.json()["id"]
    assert cookie.headers["idempotent-replayed"] == "true"
    assert await pool.fetchval("SELECT count(*) FROM tokens") == 1


async def test_answers_that_hold_secrets_are_never_kept(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool) -> None:
    user = await pool.fetchval("SELECT username FROM users WHERE role = 'admin' LIMIT 1")
    await pool.execute("UPDATE users SET password_hash = $1 WHERE username = $2",
                       hash_password("a long enough password"), user)
    login = await client.post("/api/v1/auth/login", headers={"Idempotency-Key": "login-1"},
                              json={"username": user, "password": "a long enough password"})
    assert login.status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM idempotency_records") == 0

    h = {**world.h("admin"), "Idempotency-Key": "display-1"}
    body = {"department_id": str(world.department_id), "name": "Waiting hall"}
    first = await client.post("/api/v1/displays", json=body, headers=h)
    assert first.status_code == 201 and first.json()["key"]
    again = await client.post("/api/v1/displays", json=body, headers=h)
    assert again.status_code == 409 and "key" not in again.json()
    stored = await pool.fetchval("SELECT response_body FROM idempotency_records")
    assert first.json()["key"].encode() not in stored
    assert await pool.fetchval("SELECT count(*) FROM display_keys") == 1


async def test_a_registration_retried_after_a_5xx_registers_one_patient(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = patients_routes.jsonable
    failures = iter([ConnectionResetError("the connection dropped as the answer was sent")])

    def answer_fails_once(value: Any) -> Any:
        if (exc := next(failures, None)) is not None:
            raise exc
        return real(value)

    monkeypatch.setattr(patients_routes, "jsonable", answer_fails_once)
    before = await pool.fetchval("SELECT count(*) FROM patients")
    h = {**world.h(), "Idempotency-Key": "register-1"}
    body = {"name": "Asha Verma", "phone": "+919812345678"}
    first = await client.post("/api/v1/patients", json=body, headers=h)
    assert first.status_code == 503
    assert await pool.fetchval("SELECT count(*) FROM patients") == before + 1   # committed
    again = await client.post("/api/v1/patients", json=body, headers=h)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["name"] == "Asha Verma"
    assert await pool.fetchval("SELECT count(*) FROM patients") == before + 1   # still one
