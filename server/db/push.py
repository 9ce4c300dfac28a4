"""Push subscriptions and their sends (schema.sql: push_subscriptions, push_sends).

A send row is the claim that makes each push go once per subscription and kind: inserted
before the POST, taken only when new or when the last attempt's lease ran out without an
outcome, and marked SENT or FAILED after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

MAX_PER_TOKEN = 5        # a patient's phone, a relative's: more is not a patient


async def subscribe(pool: asyncpg.Pool, *, hospital_id: UUID, token_id: UUID, endpoint: str,
                    p256dh: str, auth: str, notify_at_position: int,
                    expires_at: datetime) -> dict[str, Any] | None:
    """Add or refresh the browser's subscription; None when the token has MAX_PER_TOKEN
    other browsers already."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM tokens WHERE id = $1 FOR UPDATE", token_id)
        others = await conn.fetchval(
            "SELECT count(*) FROM push_subscriptions WHERE token_id = $1 AND endpoint <> $2",
            token_id, endpoint)
        if others >= MAX_PER_TOKEN:
            return None
        row = await conn.fetchrow(
            """INSERT INTO push_subscriptions (hospital_id, token_id, endpoint, p256dh, auth,
                                               notify_at_position, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (token_id, endpoint) DO UPDATE
                  SET p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,
                      notify_at_position = EXCLUDED.notify_at_position
               RETURNING id, notify_at_position, expires_at""",
            hospital_id, token_id, endpoint, p256dh, auth, notify_at_position, expires_at)
    return dict(row) if row else None


async def unsubscribe(pool: asyncpg.Pool, token_id: UUID, endpoint: str | None) -> int:
    """Remove the browser's subscription (every one of the token's, without an endpoint)."""
    status = await pool.execute(
        "DELETE FROM push_subscriptions WHERE token_id = $1 AND ($2::text IS NULL "
        "OR endpoint = $2)", token_id, endpoint)
    return int(status.split()[-1])


async def due_ahead(pool: asyncpg.Pool, positions: dict[UUID, int]) -> list[tuple[UUID, int]]:
    """(subscription, position) for the live subscriptions of these waiting tokens that asked
    to be told at or before their position and have no AHEAD push yet."""
    if not positions:
        return []
    ids, pos = list(positions), [positions[t] for t in positions]
    rows = await pool.fetch(
        """SELECT s.id, w.position
             FROM unnest($1::uuid[], $2::int[]) AS w (token_id, position)
             JOIN push_subscriptions s ON s.token_id = w.token_id
            WHERE w.position <= s.notify_at_position AND s.expires_at > now()
              AND NOT EXISTS (SELECT 1 FROM push_sends p
                               WHERE p.subscription_id = s.id AND p.kind = 'AHEAD')
            ORDER BY w.position""", ids, pos)
    return [(r["id"], r["position"]) for r in rows]


async def of_token(pool: asyncpg.Pool, token_id: UUID) -> list[UUID]:
    """The token's live subscriptions."""
    rows = await pool.fetch("SELECT id FROM push_subscriptions WHERE token_id = $1 "
                            "AND expires_at > now()", token_id)
    return [r["id"] for r in rows]


async def for_send(pool: asyncpg.Pool, subscription_id: UUID) -> dict[str, Any] | None:
    """The subscription with what a push may say: the token's number, status and cabin."""
    row = await pool.fetchrow(
        """SELECT s.id, s.hospital_id, s.token_id, s.endpoint, s.p256dh, s.auth,
                  s.expires_at > now() AS live, t.number, t.status, c.number AS cabin_number
             FROM push_subscriptions s
             JOIN tokens t ON t.id = s.token_id
             LEFT JOIN cabins c ON c.id = t.cabin_id
            WHERE s.id = $1""", subscription_id)
    return dict(row) if row else None


async def claim(pool: asyncpg.Pool, subscription_id: UUID, kind: str,
                lease_s: float) -> int | None:
    """Take the (subscription, kind) send for one attempt: its attempt number, or None when
    it was sent, failed for good, or another attempt holds it."""
    return await pool.fetchval(  # type: ignore[no-any-return]
        """INSERT INTO push_sends (subscription_id, kind, attempts, lease_until)
           VALUES ($1, $2, 1, now() + make_interval(secs => $3))
           ON CONFLICT (subscription_id, kind) DO UPDATE
              SET attempts = push_sends.attempts + 1, lease_until = EXCLUDED.lease_until
            WHERE push_sends.status = 'PENDING'
              AND (push_sends.lease_until IS NULL OR push_sends.lease_until < now())
           RETURNING attempts""", subscription_id, kind, lease_s)


async def outcome(pool: asyncpg.Pool, subscription_id: UUID, kind: str, status: str,
                  response_code: int | None) -> None:
    """SENT or FAILED for good; PENDING with the lease released for a retry."""
    await pool.execute(
        """UPDATE push_sends SET status = $3, response_code = $4, lease_until = NULL,
                  sent_at = CASE WHEN $3 = 'SENT' THEN now() END
            WHERE subscription_id = $1 AND kind = $2""",
        subscription_id, kind, status, response_code)


async def forget(pool: asyncpg.Pool, subscription_id: UUID) -> None:
    """The push service says the browser is gone (404/410): so is the subscription."""
    await pool.execute("DELETE FROM push_subscriptions WHERE id = $1", subscription_id)


async def purge_expired(pool: asyncpg.Pool) -> int:
    status = await pool.execute("DELETE FROM push_subscriptions WHERE expires_at <= now()")
    return int(status.split()[-1])


async def token_status(pool: asyncpg.Pool, hospital_id: UUID, token_id: UUID) -> str | None:
    return await pool.fetchval(  # type: ignore[no-any-return]
        "SELECT status FROM tokens WHERE id = $1 AND hospital_id = $2", token_id, hospital_id)
