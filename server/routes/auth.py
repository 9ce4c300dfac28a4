"""Login, logout and "who am I" for staff, and the lock-outs admins can review.

Login answers the same 401 for an unknown user and a wrong password, and costs the same
(an argon2 verify either way). Failed logins are throttled per (username, address) with a
doubling delay, per address with a high ceiling and per username across addresses
(server/auth/ratelimit.py): a right password from an address that has not failed for that
user is never refused (unless that address is over its ceiling), so nobody can lock a
colleague out from elsewhere, nor one typist a hospital behind its shared NAT.

Every lock-out is logged (the user's id, never the password nor an unknown username) and,
for a real user, written once per failure window as a LOGIN_THROTTLED alert of the user's
hospital, which its admins list at GET /api/v1/auth/lockouts.
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth import sessions
from server.auth.principal import Principal, authenticate, optional_principal, staff
from server.auth.ratelimit import Attempt, LoginThrottle, address_bucket
from server.db import admin as admin_db
from server.db import security as security_db
from server.errors import Unauthorized
from server.models.common import Body, parse_body, parse_query
from server.presenters import jsonable
from server.responses import JSONResponse
from server.security.passwords import hash_password, needs_rehash, verify_password
from server.state import AppState

BAD_LOGIN = "wrong username or password"
# AppState.extras key of a clock (() -> unix seconds) for the throttle; tests move it
CLOCK = "login_clock"

log = structlog.get_logger("auth")


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


def _usable(text: str) -> bool:
    """Whether PostgreSQL and argon2 can take it: no NUL, encodable as UTF-8. A username or
    password that is not can belong to no account: a plain failed login, not a 500."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def _check_password(state: AppState, username: str, password: str
                          ) -> tuple[dict[str, Any] | None, bool]:
    """(the active user or None, whether the password is theirs), with one argon2 verify
    whether the user exists or not."""
    user = await sessions.user_for_login(state.pool, username) if _usable(username) else None
    if not _usable(password):
        return user, False
    ok = await run_in_threadpool(verify_password, user["password_hash"] if user else None,
                                 password)
    return user, ok


def throttle(state: AppState) -> LoginThrottle:
    return LoginThrottle(state.redis, state.settings, state.extras.get(CLOCK, time.time))


def _who(username: str, user: dict[str, Any] | None) -> dict[str, Any]:
    """How logs name the account: its id, or a digest of an unknown username (which may be a
    password typed in the wrong box), never the name itself."""
    if user is not None:
        return {"user_id": str(user["id"]), "hospital_id": str(user["hospital_id"])}
    digest = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return {"unknown_user": digest}


async def _alert(state: AppState, gate: LoginThrottle, user: dict[str, Any], once: tuple[str, ...],
                 message: str, details: dict[str, Any]) -> None:
    """A LOGIN_THROTTLED alert for the user's hospital, once per failure window per `once`."""
    if not await gate.first_in_window(*once):
        return
    try:
        await security_db.insert_login_alert(
            state.pool, hospital_id=user["hospital_id"], user_id=user["id"], message=message,
            details={"username": user["username"], **details})
    except Exception:  # the login's answer does not depend on the alert: log and go on
        log.exception("login.alert_failed", user_id=str(user["id"]))


async def _failed(state: AppState, gate: LoginThrottle, attempt: Attempt,
                  user: dict[str, Any] | None) -> None:
    """A failure was counted: log (and alert) each throttle this failure starts."""
    window_min = max(1, round(state.settings.login_failure_window_s / 60))
    who, address = _who(attempt.username, user), attempt.address
    if attempt.locks_if_failed:
        log.warning("login.throttled", scope="pair", address=address, failures=attempt.failures,
                    retry_after_s=attempt.retry_after_s, **who)
        if user is not None:
            await _alert(state, gate, user, ("pair", str(user["id"])),
                         f"{user['username']}: {attempt.failures} failed logins from {address}; "
                         f"logins from there wait {attempt.retry_after_s} s, doubling with "
                         "each further failure",
                         {"scope": "pair", "address": address, "failures": attempt.failures,
                          "retry_after_s": attempt.retry_after_s})
    if attempt.user_reached:
        limit = state.settings.login_user_max_failures
        log.warning("login.throttled", scope="user", address=address, failures=limit, **who)
        if user is not None:
            await _alert(state, gate, user, ("user", str(user["id"])),
                         f"{user['username']}: {limit} failed logins within {window_min} min "
                         "from several addresses; only addresses that have not failed for "
                         "this user may try",
                         {"scope": "user", "address": address, "failures": limit})
    if attempt.address_reached:
        await _address_locked(state, gate, attempt, user, None)


async def _address_locked(state: AppState, gate: LoginThrottle, attempt: Attempt,
                          user: dict[str, Any] | None, retry_after_s: int | None) -> None:
    """The address reached its ceiling (log once), or refuses a real user (alert once)."""
    limit = state.settings.login_address_max_failures
    window_min = max(1, round(state.settings.login_failure_window_s / 60))
    if attempt.address_reached:
        log.warning("login.throttled", scope="address", address=attempt.address,
                    failures=limit, **_who(attempt.username, user))
    if user is not None:
        await _alert(state, gate, user, ("address", attempt.address, str(user["hospital_id"])),
                     f"{attempt.address}: {limit} failed logins within {window_min} min; "
                     f"logins from it are refused (last tried: {user['username']})",
                     {"scope": "address", "address": attempt.address, "failures": limit,
                      "retry_after_s": retry_after_s})


async def login(request: Request) -> Response:
    state: AppState = request.app.state.opdq
    body = await parse_body(request, LoginBody)
    username = body.username.lower()
    gate = throttle(state)
    attempt = await gate.check(username, address_bucket(_client_address(request)))
    if attempt.refused_by is not None:
        # an address over its ceiling refuses people who did nothing wrong: tell their admins
        # (looking the name up once per window, not per refused attempt)
        if attempt.refused_by == "address" and _usable(username) and await gate.first_in_window(
                "address-lookup", attempt.address, username):
            await _address_locked(state, gate, attempt,
                                  await sessions.user_for_login(state.pool, username),
                                  attempt.retry_after_s)
        raise attempt.refusal()

    try:
        user, ok = await _check_password(state, username, body.password)
    except Exception:
        await gate.not_checked(attempt)  # an outage is not a failed login
        raise
    if not ok or user is None:
        await _failed(state, gate, attempt, user)
        raise Unauthorized(BAD_LOGIN)

    await gate.succeeded(attempt)
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
    sessions.set_session_cookie(response, token, state.settings,
                                https=request.url.scheme == "https")
    return response


async def logout(request: Request) -> Response:
    """Revoke this session (if any) and clear the cookie; safe to call when logged out."""
    state: AppState = request.app.state.opdq
    principal = await optional_principal(request)
    if principal is not None and principal.session_id is not None:
        await sessions.revoke_session(state.pool, principal.session_id)
    response = Response(status_code=204)
    sessions.clear_session_cookie(response, state.settings,
                                  https=request.url.scheme == "https")
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
    if principal.api_key_id is not None:
        return JSONResponse(jsonable({
            "kind": "api_key", "hospital": hospital,
            "api_key": {"id": principal.api_key_id, "name": principal.username,
                        "role": principal.role, "doctor_id": principal.doctor_id,
                        "department_id": principal.department_id}}))
    return JSONResponse({"kind": "user", "user": principal_json(principal),
                         "hospital": jsonable(hospital)})


class LockoutQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(default=7, ge=1, le=90, description="how far back to look")


async def lockouts(request: Request) -> Response:
    """The hospital's recent login lock-outs (admins only), newest first."""
    state: AppState = request.app.state.opdq
    principal = await staff(request, "admin")
    query = parse_query(request, LockoutQuery)
    rows = await security_db.list_login_alerts(state.pool, principal.hospital_id,
                                               days=query.days)
    items = [{"id": r["id"], "user_id": r["user_id"], "username": r["username"],
              "scope": r["details"].get("scope"), "address": r["details"].get("address"),
              "failures": r["details"].get("failures"),
              "retry_after_s": r["details"].get("retry_after_s"),
              "message": r["message"], "created_at": r["created_at"]} for r in rows]
    return JSONResponse(jsonable({"items": items}))


routes = [
    Route("/api/v1/auth/login", login, methods=["POST"]),
    Route("/api/v1/auth/lockouts", lockouts, methods=["GET"]),
    Route("/api/v1/auth/logout", logout, methods=["POST"]),
    Route("/api/v1/me", me, methods=["GET"]),
]
