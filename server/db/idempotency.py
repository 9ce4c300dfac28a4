"""Queries for Idempotency-Key records (API.md: the same key within 24 h answers the same)."""

from __future__ import annotations

from typing import Any

import asyncpg

TTL_HOURS = 24
ABANDONED_S = 60  # a claim with no answer after this long belongs to a request that died


async def claim(pool: asyncpg.Pool, scope: str, key: str, request_hash: bytes) -> bool:
    """Take the key for this request; False when someone holds or answered it already."""
    async with pool.acquire() as conn, conn.transaction():
        # forget an expired answer, or a claim whose request died without answering
        await conn.execute(
            """DELETE FROM idempotency_records WHERE scope = $1 AND key = $2
               AND (created_at < now() - make_interval(hours => $3)
                    OR (status_code IS NULL AND created_at < now() - make_interval(secs => $4)))""",
            scope, key, TTL_HOURS, ABANDONED_S)
        got = await conn.fetchval(
            """INSERT INTO idempotency_records (scope, key, request_hash) VALUES ($1, $2, $3)
               ON CONFLICT (scope, key) DO NOTHING RETURNING true""",
            scope, key, request_hash)
    return bool(got)


async def get(pool: asyncpg.Pool, scope: str, key: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        """SELECT request_hash, status_code, content_type, response_body
           FROM idempotency_records WHERE scope = $1 AND key = $2""", scope, key)
    return dict(row) if row else None


async def answer(pool: asyncpg.Pool, scope: str, key: str, status: int, content_type: str,
                 body: bytes) -> None:
    await pool.execute(
        """UPDATE idempotency_records SET status_code = $3, content_type = $4, response_body = $5
           WHERE scope = $1 AND key = $2""", scope, key, status, content_type, body)


async def release(pool: asyncpg.Pool, scope: str, key: str) -> None:
    await pool.execute("DELETE FROM idempotency_records WHERE scope = $1 AND key = $2",
                       scope, key)
