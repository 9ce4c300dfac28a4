"""Login, sessions, logout, /me, login throttling, security headers and the body size cap."""

from __future__ import annotations

import hashlib

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from starlette.responses import Response

from server.auth import ratelimit, sessions
from server.errors import RateLimited
from server.settings import Settings
from tests.api.helpers import (
    PASSWORD,
    auth,
    create_hospital,
    create_hospital_with_admin,
    login,
    make_department,
    make_doctor,
    make_user,
    session_token,
)

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/me"


async def test_login_returns_token_user_and_cookie(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    hospital_id = await create_hospital(pool, "H1")
    user_id = await make_user(pool, hospital_id, "receptionist", username="asha")
    r = await client.post(LOGIN, json={"username": "Asha", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == {"id": str(user_id), "username": "asha", "role": "receptionist",
                            "hospital_id": str(hospital_id), "doctor_id": None,
                            "department_id": None}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE_NAME}={body['token']};")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie

    # the token is stored only as its sha256
    stored = await pool.fetchval("SELECT token_hash FROM sessions WHERE user_id = $1", user_id)
    assert stored == hashlib.sha256(body["token"].encode()).digest()
    assert await pool.fetchval("SELECT last_login_at IS NOT NULL FROM users")

    # bearer and cookie both work
    me_bearer = await client.get(ME, headers=auth(body["token"]))
    assert me_bearer.status_code == 200
    assert me_bearer.json()["user"]["id"] == str(user_id)
    assert me_bearer.json()["hospital"]["code"] == "H1"
    assert (await client.get(ME)).status_code == 200  # the client kept the cookie


async def test_doctor_login_names_doctor_and_department(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    hospital_id = await create_hospital(pool, "H1")
    department_id = await make_department(pool, hospital_id, "CARD")
    doctor_id = await make_doctor(pool, hospital_id, department_id)
    await make_user(pool, hospital_id, "doctor", username="drrao", doctor_id=doctor_id)
    token = await login(client, "drrao")
    user = (await client.get(ME, headers=auth(token))).json()["user"]
    assert user["doctor_id"] == str(doctor_id)
    assert user["department_id"] == str(department_id)


def test_cookie_is_secure_behind_https(settings: Settings) -> None:
    https = settings.model_copy(update={"public_base_url": "https://opd.example.org"})
    response = Response()
    sessions.set_session_cookie(response, "tok", https)
    assert "Secure" in response.headers["set-cookie"]


async def test_unknown_user_and_wrong_password_look_the_same(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    hospital_id = await create_hospital(pool, "H1")
    await make_user(pool, hospital_id, "admin", username="root")
    wrong = await client.post(LOGIN, json={"username": "root", "password": "nope-nope-nope"})
    unknown = await client.post(LOGIN, json={"username": "ghost", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"] == "application/problem+json"
    assert "set-cookie" not in wrong.headers
    assert await pool.fetchval("SELECT count(*) FROM sessions") == 0


async def test_login_body_is_validated(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    r = await client.post(LOGIN, json={"username": "x"})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["password"]
    r = await client.post(LOGIN, content=b"not json", headers={"content-type": "application/json"})
    assert r.status_code == 400


async def test_logout_revokes_the_session_and_clears_the_cookie(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    hospital_id = await create_hospital(pool, "H1")
    await make_user(pool, hospital_id, "nurse", username="meena",
                    department_id=await make_department(pool, hospital_id))
    token = await login(client, "meena")
    other = await login(client, "meena")  # a second device keeps its own session
    r = await client.post("/api/v1/auth/logout", headers=auth(token))
    assert r.status_code == 204
    assert 'opdq_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert (await client.get(ME, headers=auth(token))).status_code == 401
    assert (await client.get(ME, headers=auth(other))).status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL") == 1
    # logging out twice, or when never logged in, is harmless
    assert (await client.post("/api/v1/auth/logout", headers=auth(token))).status_code == 204


async def test_expired_session_is_refused(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    _, token = await create_hospital_with_admin(pool, "H1")
    assert (await client.get(ME, headers=auth(token))).status_code == 200
    await pool.execute("UPDATE sessions SET created_at = now() - interval '13 hours', "
                       "expires_at = now() - interval '1 hour'")
    r = await client.get(ME, headers=auth(token))
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


async def test_session_expiry_follows_the_setting(
    pool: asyncpg.Pool, client: httpx.AsyncClient, settings: Settings
) -> None:
    hospital_id = await create_hospital(pool, "H1")
    await make_user(pool, hospital_id, "admin", username="root")
    await login(client, "root")
    hours = await pool.fetchval(
        "SELECT extract(epoch FROM expires_at - created_at) / 3600 FROM sessions")
    assert round(float(hours)) == settings.session_ttl_hours


async def test_deactivated_user_is_locked_out(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    hospital_id, admin = await create_hospital_with_admin(pool, "H1")
    user_id = await make_user(pool, hospital_id, "receptionist", username="ravi")
    token = await login(client, "ravi")
    # even without revocation, an inactive user's session stops working
    await pool.execute("UPDATE users SET active = false WHERE id = $1", user_id)
    assert (await client.get(ME, headers=auth(token))).status_code == 401
    await pool.execute("UPDATE users SET active = true WHERE id = $1", user_id)
    assert (await client.get(ME, headers=auth(token))).status_code == 200

    r = await client.patch(f"/api/v1/users/{user_id}", json={"active": False},
                           headers=auth(admin))
    assert r.status_code == 200, r.text
    assert (await client.get(ME, headers=auth(token))).status_code == 401
    r = await client.post(LOGIN, json={"username": "ravi", "password": PASSWORD})
    assert r.status_code == 401
    assert await pool.fetchval(
        "SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL", user_id) == 0


async def test_garbage_credentials_are_401(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    for header in ("Bearer nope", "Bearer " + "x" * 500, "Basic abc", "Bearer dk_nope"):
        r = await client.get(ME, headers={"Authorization": header})
        assert r.status_code == 401, header
    r = await client.get(ME, headers={"Cookie": f"{sessions.COOKIE_NAME}=forged"})
    assert r.status_code == 401


# ---------------------------------------------------------------------------------------
# throttling (the public endpoints' fixed windows; login: test_login_throttle.py)
# ---------------------------------------------------------------------------------------
async def test_rate_limit_keys_expire(redis: Redis) -> None:
    assert await ratelimit.hit(redis, "opd:rl:test", 2, 30) is None
    assert await ratelimit.hit(redis, "opd:rl:test", 2, 30) is None
    retry = await ratelimit.hit(redis, "opd:rl:test", 2, 30)
    assert retry is not None and 1 <= retry <= 30
    assert 0 < await redis.ttl("opd:rl:test") <= 30
    with pytest.raises(RateLimited) as err:
        await ratelimit.enforce(redis, "opd:rl:test", 2, 30)
    assert 1 <= int(err.value.headers["Retry-After"]) <= 30


# ---------------------------------------------------------------------------------------
# headers and limits
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/v1/me", "/healthz", "/no-such-page"])
async def test_security_headers(client: httpx.AsyncClient, pool: asyncpg.Pool, path: str) -> None:
    r = await client.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "connect-src 'self' ws: wss:" in csp
    if path.startswith("/api/"):
        assert r.headers["cache-control"] == "no-store"
    else:
        assert "cache-control" not in r.headers


async def test_oversized_body_is_refused(pool: asyncpg.Pool, client: httpx.AsyncClient,
                                         settings: Settings) -> None:
    _, admin = await create_hospital_with_admin(pool, "H1")
    big = {"name": "x" * (settings.max_body_bytes + 1), "code": "BIG"}
    r = await client.post("/api/v1/departments", json=big, headers=auth(admin))
    assert r.status_code == 413
    assert await pool.fetchval("SELECT count(*) FROM departments") == 0


async def test_oversized_streamed_body_is_problem_json(
    pool: asyncpg.Pool, client: httpx.AsyncClient, settings: Settings
) -> None:
    """Without a Content-Length the limit trips while reading: the problem handler answers."""
    _, admin = await create_hospital_with_admin(pool, "H1")

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    r = await client.post("/api/v1/departments", content=chunks(),
                          headers=auth(admin) | {"content-type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


async def test_oversized_declared_body_is_problem_json(
    pool: asyncpg.Pool, client: httpx.AsyncClient, settings: Settings
) -> None:
    r = await client.post(LOGIN, content=b" " * (settings.max_body_bytes + 1),
                          headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


async def test_session_helper_tokens_work(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    hospital_id = await create_hospital(pool, "H1")
    token = await session_token(pool, await make_user(pool, hospital_id, "receptionist"))
    assert (await client.get(ME, headers=auth(token))).json()["user"]["role"] == "receptionist"
