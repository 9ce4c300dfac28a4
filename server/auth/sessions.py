"""Staff sessions: random bearer tokens, stored only as their sha256, with a fixed expiry.

The same token travels as `Authorization: Bearer <token>` (tablets, integrators) or in the
`opdq_session` cookie (browser pages). The cookie is not signed: its value is 256 random bits
that mean nothing until looked up here, so a forged value simply finds no session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from starlette.responses import Response

from server.settings import Settings

COOKIE_NAME = "opdq_session"

Executor = asyncpg.Pool | asyncpg.Connection


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_session(
    db: Executor, *, user_id: UUID, ttl_hours: int, user_agent: str | None = None,
) -> tuple[str, UUID, datetime]:
    """A new session for a user: (token, session id, expires_at). Only the hash is stored."""
    token = new_token()
    expires_at = datetime.now(UTC) + timedelta(hours=ttl_hours)
    session_id = await db.fetchval(
        """INSERT INTO sessions (user_id, token_hash, expires_at, user_agent)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        user_id, token_hash(token), expires_at, (user_agent or "")[:300] or None,
    )
    return token, session_id, expires_at


async def session_user(db: Executor, token: str) -> dict[str, Any] | None:
    """The live session's user, or None when unknown, expired, revoked or the user inactive.

    A doctor's department comes from the doctor row, so consoles know it without a lookup.
    """
    row = await db.fetchrow(
        """SELECT s.id AS session_id, u.id AS user_id, u.hospital_id, u.role, u.username,
                  u.doctor_id, COALESCE(u.department_id, d.department_id) AS department_id
           FROM sessions s
           JOIN users u ON u.id = s.user_id
           LEFT JOIN doctors d ON d.hospital_id = u.hospital_id AND d.id = u.doctor_id
           WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
             AND u.active""",
        token_hash(token),
    )
    return dict(row) if row else None


async def revoke_session(db: Executor, session_id: UUID) -> None:
    await db.execute(
        "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", session_id
    )



async def user_for_login(db: Executor, username: str) -> dict[str, Any] | None:
    """The active user with this username (with its password hash: never leaves auth)."""
    row = await db.fetchrow(
        """SELECT u.id, u.hospital_id, u.username, u.password_hash, u.role, u.doctor_id,
                  COALESCE(u.department_id, d.department_id) AS department_id
           FROM users u
           LEFT JOIN doctors d ON d.hospital_id = u.hospital_id AND d.id = u.doctor_id
           WHERE u.username = $1 AND u.active""",
        username,
    )
    return dict(row) if row else None


async def record_login(db: Executor, user_id: UUID, new_hash: str | None = None) -> None:
    """Stamp last_login_at; store a rehashed password when argon2's parameters moved on."""
    await db.execute(
        """UPDATE users SET last_login_at = now(), password_hash = COALESCE($2, password_hash)
           WHERE id = $1""",
        user_id, new_hash,
    )


def _secure(settings: Settings, https: bool) -> bool:
    """Secure when the site is HTTPS (PUBLIC_BASE_URL) or this request came over HTTPS
    (a trusted proxy's X-Forwarded-Proto counts): the browser then never sends it in clear."""
    return https or settings.base_url.startswith("https://")


def set_session_cookie(response: Response, token: str, settings: Settings,
                       https: bool = False) -> None:
    response.set_cookie(
        COOKIE_NAME, token, max_age=settings.session_ttl_hours * 3600, path="/",
        httponly=True, samesite="lax", secure=_secure(settings, https),
    )


def clear_session_cookie(response: Response, settings: Settings, https: bool = False) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=_secure(settings, https)
    )
