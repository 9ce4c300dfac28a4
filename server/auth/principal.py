"""Who is calling: a staff user (session), an integration (API key) or a display board (device
key), and what they may do.

An API key acts as a staff user of its role in its hospital (kind "user", no user_id, its
api_key_id set); each request with it is counted against its own rate limit, and every change
made with it is attributed to it in the audit (server/auth/attribution.py).

Every route asks `authenticate(request)` for a Principal; its hospital_id scopes every query.
Roles are checked with `require_role`; queue actions with `can_act_on_queue`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal, get_args
from uuid import UUID

import asyncpg
from starlette.requests import Request
from starlette.types import Scope

from server.auth import sessions
from server.auth.attribution import current_api_key
from server.auth.ratelimit import enforce
from server.db import admin as admin_db
from server.db import api_keys as api_keys_db
from server.errors import Forbidden, Unauthorized
from server.store import keys

# The staff roles: defined here only (schema.sql's CHECK on users.role says the same in SQL).
Role = Literal["admin", "receptionist", "doctor", "nurse"]
ROLES: tuple[Role, ...] = get_args(Role)
STAFF = ROLES    # any staff user
# the front desk: registers patients, issues tokens, keeps the waitlist
DESK: tuple[Role, ...] = ("admin", "receptionist", "nurse")

# display keys carry a visible prefix so one bearer header can hold either kind of credential
DISPLAY_KEY_PREFIX = "dk_"
API_KEY_PREFIX = "ak_"

_CACHE_ATTR = "opdq_principal"
_COUNTED_ATTR = "opdq_key_counted"


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "display"]
    hospital_id: UUID
    user_id: UUID | None = None
    role: str | None = None            # one of ROLES
    doctor_id: UUID | None = None      # role doctor
    department_id: UUID | None = None  # role nurse (and a doctor's department); display keys
    display_key_id: UUID | None = None
    session_id: UUID | None = None
    username: str | None = None
    api_key_id: UUID | None = None    # an integration's API key (kind "user", no user_id)


def new_display_key() -> str:
    return DISPLAY_KEY_PREFIX + secrets.token_urlsafe(32)


def display_key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(sessions.COOKIE_NAME) or None


async def resolve_display_key(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, key: str
) -> Principal | None:
    """The board behind a display key, or None when unknown or revoked."""
    if not key.startswith(DISPLAY_KEY_PREFIX) or len(key) > 200:
        return None
    row = await admin_db.display_key_by_hash(pool_or_conn, display_key_hash(key))
    if row is None:
        return None
    return Principal(kind="display", hospital_id=row["hospital_id"],
                     department_id=row["department_id"], display_key_id=row["id"])


async def resolve_api_key(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, key: str
) -> Principal | None:
    """The integration behind an API key, or None when unknown or revoked (looked up on every
    request: a revoked key is refused from the next one on)."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 200:
        return None
    row = await api_keys_db.by_hash(pool_or_conn, display_key_hash(key))
    if row is None:
        return None
    return Principal(kind="user", hospital_id=row["hospital_id"], role=row["role"],
                     doctor_id=row["doctor_id"], department_id=row["department_id"],
                     username=f"api-key:{row['name']}", api_key_id=row["id"])


async def _resolve(request: Request, credential: str) -> Principal | None:
    pool = request.app.state.opdq.pool
    if credential.startswith(DISPLAY_KEY_PREFIX):
        return await resolve_display_key(pool, credential)
    if credential.startswith(API_KEY_PREFIX):
        principal = await resolve_api_key(pool, credential)
        if principal is not None:
            current_api_key.set(principal.api_key_id)
        return principal
    if len(credential) > 200:
        return None
    row = await sessions.session_user(pool, credential)
    if row is None:
        return None
    return Principal(
        kind="user", hospital_id=row["hospital_id"], user_id=row["user_id"], role=row["role"],
        doctor_id=row["doctor_id"], department_id=row["department_id"],
        session_id=row["session_id"], username=row["username"],
    )


def cached_principal(scope: Scope) -> Principal | None:
    """The caller as this request already resolved it, or None (anonymous, or not asked)."""
    return (scope.get("state") or {}).get(_CACHE_ATTR)


async def optional_principal(request: Request) -> Principal | None:
    """The caller, or None when anonymous. A stale or bad credential also counts as anonymous,
    so an expired cookie never breaks a public page."""
    if hasattr(request.state, _CACHE_ATTR):
        return getattr(request.state, _CACHE_ATTR)
    credential = _credential(request)
    principal = await _resolve(request, credential) if credential else None
    setattr(request.state, _CACHE_ATTR, principal)
    return principal


async def authenticate(request: Request) -> Principal:
    """The caller, or 401. Looked up once per request (cached on request.state)."""
    principal = await optional_principal(request)
    if principal is None:
        if _credential(request):
            raise Unauthorized("the session has expired or was revoked; log in again")
        raise Unauthorized("log in first (bearer token or session cookie)")
    if principal.api_key_id is not None and not hasattr(request.state, _COUNTED_ATTR):
        setattr(request.state, _COUNTED_ATTR, True)   # once per request, however often asked
        state = request.app.state.opdq
        await enforce(state.redis, keys.api_key_rate(principal.api_key_id),
                      state.settings.api_key_rate_per_minute, 60)
    return principal


def require_role(principal: Principal, *roles: str) -> None:
    """403 unless the caller is a staff user with one of `roles`."""
    if principal.kind != "user" or principal.role not in roles:
        raise Forbidden(f"requires role {' or '.join(roles)}")


async def staff(request: Request, *roles: str) -> Principal:
    """authenticate + require_role in one call; with no roles, any staff user."""
    principal = await authenticate(request)
    require_role(principal, *(roles or STAFF))
    return principal


def can_act_on_queue(principal: Principal, *, doctor_id: UUID, department_id: UUID) -> bool:
    """Whether the caller may move tokens in this doctor's queue.

    The caller must have loaded doctor/department with a hospital-scoped query first: this
    check trusts that the ids belong to principal.hospital_id.
    """
    if principal.kind != "user":
        return False
    if principal.role == "admin":
        return True
    if principal.role == "doctor":
        return principal.doctor_id is not None and principal.doctor_id == doctor_id
    if principal.role == "nurse":
        return principal.department_id is not None and principal.department_id == department_id
    return False
