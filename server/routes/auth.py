"""Login, logout and "who am I" for staff.

Login answers the same 401 for an unknown user and a wrong password, and costs the same
(an argon2 verify either way). Attempts are limited per username and per client address;
a successful login gives its attempt back, so only failures use up the allowance.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.auth import ratelimit, sessions
from server.auth.principal import Principal, authenticate, optional_principal
from server.db import admin as admin_db
from server.errors import RateLimited, Unauthorized
from server.models.common import Body, parse_body
from server.presenters import jsonable
from server.security.passwords import hash_password, needs_rehash, verify_password
from server.state import AppState

LOGIN_WINDOW_S = 60
BAD_LOGIN = "wrong username or password"


class LoginBody(Body):
    # no pattern: a malformed username gets the same 401 as an unknown one
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


USER_FIELDS = ("id", "username", "role", "hospital_id", "doctor_id", "department_id")


def user_json(row: dict[str, Any]) -> dict[str, Any]:
    """The user as login and /me show it (never the password hash)."""
    return jsonable({k: row[k] for k in USER_FIELDS})


def principal_json(principal: Principal) -> dict[str, Any]:
    return user_json({"id": principal.user_id, "username": principal.username,
                      "role": principal.role, "hospital_id": principal.hospital_id,
                      "doctor_id": principal.doctor_id,
                      "department_id": principal.department_id})


def _client_address(request: Request) -> str:
    # behind a proxy, uvicorn's --proxy-headers/--forwarded-allow-ips sets request.client
    return request.client.host if request.client else "unknown"


async def login(request: Request) -> Response:
    state: AppState = request.app.state.opdq
    body = await parse_body(request, LoginBody)
    username = body.username.lower()
    limit = state.settings.login_rate_per_minute
    keys = [ratelimit.login_user_key(username), ratelimit.login_addr_key(_client_address(request))]
    retries = [await ratelimit.hit(state.redis, k, limit, LOGIN_WINDOW_S) for k in keys]
    if any(r is not None for r in retries):
        raise RateLimited(max(r for r in retries if r is not None),
                          "too many login attempts; wait and try again")

    user = await sessions.user_for_login(state.pool, username)
    ok = await run_in_threadpool(verify_password, user["password_hash"] if user else None,
                                 body.password)
    if not ok or user is None:
        raise Unauthorized(BAD_LOGIN)

    for key in keys:
        await ratelimit.refund(state.redis, key)
    new_hash = None
    if needs_rehash(user["password_hash"]):
        new_hash = await run_in_threadpool(hash_password, body.password)
    await sessions.record_login(state.pool, user["id"], new_hash)
    token, _, expires_at = await sessions.create_session(
        state.pool, user_id=user["id"], ttl_hours=state.settings.session_ttl_hours,
        user_agent=request.headers.get("user-agent"),
    )
    response = JSONResponse({
        "token": token, "expires_at": expires_at.isoformat(), "user": user_json(user),
    })
    sessions.set_session_cookie(response, token, state.settings)
    return response


async def logout(request: Request) -> Response:
    """Revoke this session (if any) and clear the cookie; safe to call when logged out."""
    state: AppState = request.app.state.opdq
    principal = await optional_principal(request)
    if principal is not None and principal.session_id is not None:
        await sessions.revoke_session(state.pool, principal.session_id)
    response = Response(status_code=204)
    sessions.clear_session_cookie(response, state.settings)
    return response


async def me(request: Request) -> Response:
    state: AppState = request.app.state.opdq
    principal = await authenticate(request)
    hospital = await admin_db.hospital_summary(state.pool, principal.hospital_id)
    if principal.kind == "display":
        return JSONResponse(jsonable({
            "kind": "display", "hospital": hospital,
            "display": {"id": principal.display_key_id,
                        "department_id": principal.department_id},
        }))
    return JSONResponse({"kind": "user", "user": principal_json(principal),
                         "hospital": jsonable(hospital)})


routes = [
    Route("/api/v1/auth/login", login, methods=["POST"]),
    Route("/api/v1/auth/logout", logout, methods=["POST"]),
    Route("/api/v1/me", me, methods=["GET"]),
]
