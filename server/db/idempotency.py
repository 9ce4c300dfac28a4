"""Queries for Idempotency-Key records (API.md: the same key within 24 h answers the same)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

TTL_HOURS = 24
ABANDONED_S = 60  # a claim with no answer and no effect after this long: its request died


async def claim(pool: asyncpg.Pool, scope: str, key: str, request_hash: bytes,
                claimed_by: UUID) -> bool:
    """Take the key for this request; False when someone holds or answered it already."""
    async with pool.acquire() as conn, conn.transaction():
        # forget an expired record, or a claim whose request died before doing anything
        await conn.execute(
            """DELETE FROM idempotency_records WHERE scope = $1 AND key = $2
               AND (created_at < now() - make_interval(hours => $3)
                    OR (status_code IS NULL AND effect IS NULL
                        AND created_at < now() - make_interval(secs => $4)))""",
            scope, key, TTL_HOURS, ABANDONED_S)
        got = await conn.fetchval(
            """INSERT INTO idempotency_records (scope, key, request_hash, claimed_by)
               VALUES ($1, $2, $3, $4) ON CONFLICT (scope, key) DO NOTHING RETURNING true""",
            scope, key, request_hash, claimed_by)
    return bool(got)


async def unclaim(pool: asyncpg.Pool, scope: str, key: str, claimed_by: UUID) -> None:
    """Take back a claim whose outcome was lost (the connection broke around its COMMIT)."""
    await pool.execute(
        """DELETE FROM idempotency_records WHERE scope = $1 AND key = $2 AND claimed_by = $3
           AND status_code IS NULL AND effect IS NULL""", scope, key, claimed_by)


async def get(pool: asyncpg.Pool, scope: str, key: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        """SELECT request_hash, status_code, content_type, response_body, effect, unanswered,
                  extract(epoch FROM now() - created_at) AS age_s
           FROM idempotency_records WHERE scope = $1 AND key = $2""", scope, key)
    return dict(row) if row else None


async def record_effect(conn: asyncpg.Connection, scope: str, key: str, effect: UUID) -> None:
    """In the effect's own transaction, so the record and the effect commit together."""
    await conn.execute(
        """UPDATE idempotency_records SET effect = $3
           WHERE scope = $1 AND key = $2 AND effect IS NULL""", scope, key, effect)


async def answer(pool: asyncpg.Pool, scope: str, key: str, status: int, content_type: str,
                 body: bytes) -> None:
    await pool.execute(
        """UPDATE idempotency_records SET status_code = $3, content_type = $4, response_body = $5
           WHERE scope = $1 AND key = $2""", scope, key, status, content_type, body)


async def release(pool: asyncpg.Pool, scope: str, key: str) -> None:
    """After a failure: let the key go, unless the failed request's effect committed; then
    say its answer is lost, so a retry answers from the effect at once."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM idempotency_records WHERE scope = $1 AND key = $2 AND effect IS NULL",
            scope, key)
        await conn.execute(
            "UPDATE idempotency_records SET unanswered = true WHERE scope = $1 AND key = $2",
            scope, key)
