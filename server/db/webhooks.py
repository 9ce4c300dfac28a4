"""Queries for outgoing webhooks: subscriptions (admin, audited), their deliveries, and what
the workers need to record and send them in order (workers/webhooks.py).

A subscription's secret is written once and read only by the sender; no query here returns
it to the API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg

from server.db.admin import Executor, Row, write_audit

SUBSCRIPTION_COLUMNS = ("id, url, events, status, paused_reason, failing_since, start_seq, "
                        "created_at, updated_at")
DELIVERY_COLUMNS = ("id, event_seq, event_type, status, attempts, response_code, error, "
                    "created_at, next_attempt_at, last_attempt_at, delivered_at")
ALERT_KIND = "WEBHOOK_FAILING"


def host_of(url: str) -> str:
    """What the audit and the alerts name: the host (a URL's path may hold a secret)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


# ------------------------------------------------------------------------- admin side
async def create(pool: asyncpg.Pool, *, hospital_id: UUID, actor_id: UUID | None, url: str,
                 events: list[str], secret: str, start_seq: int) -> Row:
    async with pool.acquire() as conn, conn.transaction():
        row = dict(await conn.fetchrow(
            f"""INSERT INTO webhook_subscriptions (hospital_id, url, events, secret, start_seq,
                                                   created_by)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SUBSCRIPTION_COLUMNS}""",
            hospital_id, url, events, secret, start_seq, actor_id))
        await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id, entity="webhook",
                          entity_id=row["id"], action="create",
                          changes={"host": host_of(url), "events": events})
    return row


async def list_subscriptions(db: Executor, hospital_id: UUID) -> list[Row]:
    rows = await db.fetch(f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions "
                          "WHERE hospital_id = $1 ORDER BY created_at, id", hospital_id)
    return [dict(r) for r in rows]


async def get(db: Executor, hospital_id: UUID, sub_id: UUID) -> Row | None:
    row = await db.fetchrow(f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions "
                            "WHERE hospital_id = $1 AND id = $2", hospital_id, sub_id)
    return dict(row) if row else None


async def update(pool: asyncpg.Pool, *, hospital_id: UUID, actor_id: UUID | None,
                 sub_id: UUID, values: dict[str, Any]) -> Row | None:
    """Change url, events or status; resuming forgets the failures (a fresh day's grace)."""
    async with pool.acquire() as conn, conn.transaction():
        old = await conn.fetchrow(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions "
            "WHERE hospital_id = $1 AND id = $2 FOR UPDATE", hospital_id, sub_id)
        if old is None:
            return None
        sets, args = [], [sub_id]
        for column in ("url", "events", "status"):
            if column in values:
                args.append(values[column])
                sets.append(f"{column} = ${len(args)}")
        if values.get("status") == "PAUSED":
            sets.append("paused_reason = 'ADMIN'")
        elif values.get("status") == "ACTIVE":
            sets += ["paused_reason = NULL", "failing_since = NULL"]
        row = dict(await conn.fetchrow(
            f"UPDATE webhook_subscriptions SET {', '.join(sets)} WHERE id = $1 "
            f"RETURNING {SUBSCRIPTION_COLUMNS}", *args))
        if values.get("status") == "ACTIVE" and old["status"] != "ACTIVE":
            # resumed: what waited goes at once, not at the end of its last backoff
            await conn.execute(
                """UPDATE webhook_deliveries SET next_attempt_at = now()
                   WHERE subscription_id = $1 AND status <> 'DELIVERED'
                     AND next_attempt_at > now()""", sub_id)
        changes = {k: {"from": host_of(old[k]) if k == "url" else old[k],
                       "to": host_of(v) if k == "url" else v}
                   for k, v in values.items() if old[k] != v}
        if changes:
            await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id,
                              entity="webhook", entity_id=sub_id, action="update",
                              changes=changes)
    return row


async def delete(pool: asyncpg.Pool, *, hospital_id: UUID, actor_id: UUID | None,
                 sub_id: UUID) -> bool:
    """Removes the subscription and its deliveries; False when not in this hospital."""
    async with pool.acquire() as conn, conn.transaction():
        url = await conn.fetchval(
            "DELETE FROM webhook_subscriptions WHERE hospital_id = $1 AND id = $2 RETURNING url",
            hospital_id, sub_id)
        if url is None:
            return False
        await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id, entity="webhook",
                          entity_id=sub_id, action="delete", changes={"host": host_of(url)})
    return True


async def deliveries(db: Executor, hospital_id: UUID, sub_id: UUID, *, status: str | None,
                     limit: int) -> list[Row]:
    rows = await db.fetch(
        f"""SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
            WHERE hospital_id = $1 AND subscription_id = $2
              AND ($3::text IS NULL OR status = $3)
            ORDER BY seq DESC LIMIT $4""", hospital_id, sub_id, status, limit)
    return [dict(r) for r in rows]


# ------------------------------------------------------------------------- worker side
async def recording_targets(conn: asyncpg.Connection, hospital_id: UUID) -> list[Row]:
    """Every subscription of the hospital (a paused one keeps its deliveries for later)."""
    rows = await conn.fetch("SELECT id, events, start_seq FROM webhook_subscriptions "
                            "WHERE hospital_id = $1", hospital_id)
    return [dict(r) for r in rows]


async def cursor(conn: asyncpg.Connection, hospital_id: UUID) -> int | None:
    return await conn.fetchval(
        "SELECT last_seq FROM webhook_cursors WHERE hospital_id = $1", hospital_id)


async def set_cursor(conn: asyncpg.Connection, hospital_id: UUID, last_seq: int) -> None:
    await conn.execute(
        """INSERT INTO webhook_cursors (hospital_id, last_seq) VALUES ($1, $2)
           ON CONFLICT (hospital_id) DO UPDATE SET last_seq = greatest(
               webhook_cursors.last_seq, excluded.last_seq)""", hospital_id, last_seq)


async def insert_delivery(conn: asyncpg.Connection, *, hospital_id: UUID, sub_id: UUID,
                          event_seq: int, event_type: str, payload: dict[str, Any]) -> bool:
    """False when this event was recorded for this subscription already (a replay)."""
    status = await conn.execute(
        """INSERT INTO webhook_deliveries (hospital_id, subscription_id, event_seq, event_type,
                                           payload)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id, event_seq) DO NOTHING""",
        hospital_id, sub_id, event_seq, event_type, payload)
    return status.endswith(" 1")


async def take_lease(db: Executor, sub_id: UUID, lease_s: float) -> Row | None:
    """The active subscription with its secret, if no other worker is sending its deliveries
    (a lease, not a lock held across HTTP calls: a dead worker's lease runs out)."""
    row = await db.fetchrow(
        """UPDATE webhook_subscriptions
           SET lease_until = now() + make_interval(secs => $2)
           WHERE id = $1 AND status = 'ACTIVE' AND (lease_until IS NULL OR lease_until < now())
           RETURNING id, hospital_id, url, secret, failing_since""", sub_id, lease_s)
    return dict(row) if row else None


async def renew_lease(db: Executor, sub_id: UUID, lease_s: float) -> None:
    await db.execute("UPDATE webhook_subscriptions SET lease_until = now() + "
                     "make_interval(secs => $2) WHERE id = $1", sub_id, lease_s)


async def release_lease(db: Executor, sub_id: UUID) -> None:
    await db.execute("UPDATE webhook_subscriptions SET lease_until = NULL WHERE id = $1", sub_id)


async def head(db: Executor, sub_id: UUID) -> Row | None:
    """The subscription's oldest undelivered delivery: the only one that may be sent now."""
    row = await db.fetchrow(
        """SELECT id, event_seq, event_type, payload, attempts, next_attempt_at,
                  next_attempt_at <= now() AS due
           FROM webhook_deliveries WHERE subscription_id = $1 AND status <> 'DELIVERED'
           ORDER BY seq LIMIT 1""", sub_id)
    return dict(row) if row else None


async def delivered(pool: asyncpg.Pool, *, delivery_id: UUID, sub_id: UUID, code: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """UPDATE webhook_deliveries SET status = 'DELIVERED', attempts = attempts + 1,
                   response_code = $2, error = NULL, last_attempt_at = now(),
                   delivered_at = now() WHERE id = $1""", delivery_id, code)
        await conn.execute("UPDATE webhook_subscriptions SET failing_since = NULL "
                           "WHERE id = $1 AND failing_since IS NOT NULL", sub_id)


async def failed(pool: asyncpg.Pool, *, delivery_id: UUID, sub_id: UUID, code: int | None,
                 error: str, retry_in_s: float, pause_after_s: float) -> Row:
    """Record a failed attempt and when to try again; past `pause_after_s` of failing, pause
    the subscription and raise an alert. Returns {next_attempt_at, paused}."""
    async with pool.acquire() as conn, conn.transaction():
        next_at = await conn.fetchval(
            """UPDATE webhook_deliveries SET status = 'RETRYING', attempts = attempts + 1,
                   response_code = $2, error = $3, last_attempt_at = now(),
                   next_attempt_at = now() + make_interval(secs => $4)
               WHERE id = $1 RETURNING next_attempt_at""",
            delivery_id, code, error[:500], retry_in_s)
        sub = await conn.fetchrow(
            """UPDATE webhook_subscriptions SET failing_since = coalesce(failing_since, now())
               WHERE id = $1
               RETURNING hospital_id, url, failing_since,
                         failing_since <= now() - make_interval(secs => $2) AS overdue""",
            sub_id, pause_after_s)
        paused = bool(sub and sub["overdue"])
        if paused:
            await conn.execute(
                """UPDATE webhook_subscriptions SET status = 'PAUSED', paused_reason = 'FAILING'
                   WHERE id = $1""", sub_id)
            host = host_of(sub["url"])
            await conn.execute(
                """INSERT INTO system_alerts (hospital_id, kind, severity, entity_type, entity_id,
                                              message, details)
                   VALUES ($1, $2, 'WARNING', 'SYSTEM', $3, $4, $5)""",
                sub["hospital_id"], ALERT_KIND, sub_id,
                f"Webhook to {host} paused: its deliveries have failed since "
                f"{sub['failing_since']:%Y-%m-%d %H:%M} UTC. Fix the receiver, then resume it.",
                {"subscription_id": str(sub_id), "host": host,
                 "last_response_code": code, "last_error": error[:200]})
    return {"next_attempt_at": next_at, "paused": paused}


async def due_subscriptions(db: Executor) -> list[UUID]:
    """Active subscriptions whose oldest undelivered delivery is due and that no worker is
    sending (the sweeper's list: lost jobs, resumed subscriptions)."""
    rows = await db.fetch(
        """SELECT s.id FROM webhook_subscriptions s
           WHERE s.status = 'ACTIVE' AND (s.lease_until IS NULL OR s.lease_until < now())
             AND (SELECT d.next_attempt_at <= now() FROM webhook_deliveries d
                  WHERE d.subscription_id = s.id AND d.status <> 'DELIVERED'
                  ORDER BY d.seq LIMIT 1)""")
    return [r["id"] for r in rows]
