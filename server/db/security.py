"""Queries for security events: login lock-outs, kept as `system_alerts` of their hospital.

A lock-out alert names the user (entity_id = the user's id; system_alerts has no USER entity
type, so entity_type stays null) and carries in `details` the scope of the throttle, the
client address, the failures counted and the wait. Never a password.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

Executor = asyncpg.Pool | asyncpg.Connection

LOGIN_THROTTLED = "LOGIN_THROTTLED"


async def insert_login_alert(db: Executor, *, hospital_id: UUID, user_id: UUID, message: str,
                             details: dict[str, Any]) -> None:
    await db.execute(
        """INSERT INTO system_alerts (hospital_id, kind, severity, entity_id, message, details)
           VALUES ($1, $2, 'WARNING', $3, left($4, 2000), $5::jsonb)""",
        hospital_id, LOGIN_THROTTLED, user_id, message, details,
    )


async def list_login_alerts(db: Executor, hospital_id: UUID, *, days: int,
                            limit: int = 200) -> list[dict[str, Any]]:
    """The hospital's lock-outs of the last `days`, newest first."""
    rows = await db.fetch(
        """SELECT a.id, a.entity_id AS user_id, u.username, a.message, a.details, a.created_at
           FROM system_alerts a
           LEFT JOIN users u ON u.hospital_id = a.hospital_id AND u.id = a.entity_id
           WHERE a.hospital_id = $1 AND a.kind = $2
             AND a.created_at > now() - make_interval(days => $3)
           ORDER BY a.created_at DESC, a.id LIMIT $4""",
        hospital_id, LOGIN_THROTTLED, days, limit,
    )
    return [dict(r) for r in rows]
