"""Queries for API keys: create (audited), list, revoke (audited), look up by hash.

A key is found by the sha256 of what the caller sends, and only while unrevoked; the lookup
runs on every request (no cache), so a revoked key is refused from the next request on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from server.db.admin import Executor, Row, Table, _translate, write_audit

API_KEYS = Table("api_keys", "api_key", {c: c for c in (
    "name", "role", "doctor_id", "department_id")},
    readonly=("key_prefix", "created_at", "revoked_at", "last_used_at"))

# a busy integration calls all day: one write a minute tells when a key was last used
_USED_EVERY = timedelta(minutes=1)


async def create(pool: asyncpg.Pool, *, hospital_id: UUID, actor_id: UUID | None,
                 values: dict[str, Any], key_hash: bytes, key_prefix: str) -> Row:
    async with pool.acquire() as conn, conn.transaction():
        with _translate(API_KEYS):
            row = dict(await conn.fetchrow(
                f"""INSERT INTO api_keys (hospital_id, name, role, doctor_id, department_id,
                                          key_hash, key_prefix, created_by)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {API_KEYS.select()}""",
                hospital_id, values["name"], values["role"], values.get("doctor_id"),
                values.get("department_id"), key_hash, key_prefix, actor_id))
        await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id, entity="api_key",
                          entity_id=row["id"], action="create",
                          changes={"name": values["name"], "role": values["role"],
                                   "key_prefix": key_prefix})
    return row


async def list_keys(db: Executor, hospital_id: UUID) -> list[Row]:
    rows = await db.fetch(f"SELECT {API_KEYS.select()} FROM api_keys WHERE hospital_id = $1 "
                          "ORDER BY created_at, id", hospital_id)
    return [dict(r) for r in rows]


async def get(db: Executor, hospital_id: UUID, key_id: UUID) -> Row | None:
    row = await db.fetchrow(f"SELECT {API_KEYS.select()} FROM api_keys "
                            "WHERE hospital_id = $1 AND id = $2", hospital_id, key_id)
    return dict(row) if row else None


async def revoke(pool: asyncpg.Pool, *, hospital_id: UUID, actor_id: UUID | None,
                 key_id: UUID) -> bool | None:
    """True when revoked now, False when it already was, None when not in this hospital."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT revoked_at FROM api_keys WHERE hospital_id = $1 AND id = $2 FOR UPDATE",
            hospital_id, key_id)
        if row is None:
            return None
        if row["revoked_at"] is not None:
            return False
        await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", key_id)
        await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id, entity="api_key",
                          entity_id=key_id, action="revoke", changes={})
    return True


async def by_hash(db: Executor, key_hash: bytes) -> Row | None:
    """The live (unrevoked) key with this hash; stamps last_used_at at most once a minute."""
    row = await db.fetchrow(
        """SELECT id, hospital_id, name, role, doctor_id, department_id, last_used_at
           FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL""", key_hash)
    if row is None:
        return None
    used = row["last_used_at"]
    if used is None or used < datetime.now(UTC) - _USED_EVERY:
        await db.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", row["id"])
    return dict(row)
