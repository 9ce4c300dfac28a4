"""Queries for the messages view: a hospital's notifications_log rows, and a staff resend.

The send path itself (claim, attempt, outcome) is server/db/notifications.py's, used by
workers/notify.py; a resend only puts a failed row back to PENDING (once) for that path.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

Executor = asyncpg.Pool | asyncpg.Connection

COLUMNS = """n.id, n.hospital_id, n.token_id, t.number AS token_number,
             t.department_id, t.status AS token_status, n.patient_id, n.channel, n.event,
             n.language, n.status, n.error_code, n.error_message, n.to_masked, n.body,
             n.attempts, n.created_at, n.sent_at, n.delivered_at, n.updated_at, n.resent_at,
             n.resent_by, u.username AS resent_by_username, n.once_key,
             EXISTS (SELECT 1 FROM notifications_log s
                     WHERE s.token_id = n.token_id AND s.event = n.event
                       AND s.once_key = n.once_key AND s.id <> n.id
                       AND s.status IN ('SENT', 'DELIVERED')) AS reached_otherwise"""
FROM = """FROM notifications_log n
          LEFT JOIN tokens t ON t.id = n.token_id
          LEFT JOIN users u ON u.id = n.resent_by"""


async def list_messages(db: Executor, h: UUID, *, token_id: UUID | None,
                        patient_id: UUID | None, statuses: list[str] | None, day: date | None,
                        timezone: str, after: tuple[datetime, UUID] | None, limit: int
                        ) -> list[dict[str, Any]]:
    """Newest first; `day` in the hospital's calendar (of the message's creation)."""
    rows = await db.fetch(
        f"""SELECT {COLUMNS} {FROM}
            WHERE n.hospital_id = $1
              AND ($2::uuid IS NULL OR n.token_id = $2)
              AND ($3::uuid IS NULL OR n.patient_id = $3)
              AND ($4::text[] IS NULL OR n.status = ANY($4::text[]))
              AND ($5::date IS NULL OR n.created_at >= ($5::date::timestamp AT TIME ZONE $6)
                   AND n.created_at < (($5::date + 1)::timestamp AT TIME ZONE $6))
              AND ($7::timestamptz IS NULL OR (n.created_at, n.id) < ($7, $8::uuid))
            ORDER BY n.created_at DESC, n.id DESC LIMIT $9""",
        h, token_id, patient_id, statuses, day, timezone,
        after[0] if after else None, after[1] if after else None, limit)
    return [dict(r) for r in rows]


async def get(db: Executor, h: UUID, row_id: UUID) -> dict[str, Any] | None:
    row = await db.fetchrow(f"SELECT {COLUMNS} {FROM} WHERE n.hospital_id = $1 AND n.id = $2",
                            h, row_id)
    return dict(row) if row else None


async def mark_resend(conn: asyncpg.Connection, h: UUID, row_id: UUID, user_id: UUID | None
                      ) -> bool:
    """A failed row back to PENDING for one more attempt, once ever (compare-and-set). Its
    error stays visible until that attempt; the old SID goes (a late callback for it then
    finds no row and is ignored), and attempts restart so the send path takes the row."""
    status = await conn.execute(
        """UPDATE notifications_log
           SET status = 'PENDING', provider_id = NULL, attempts = 0, resent_at = now(),
               resent_by = $3
           WHERE hospital_id = $1 AND id = $2 AND status IN ('FAILED', 'UNDELIVERED')
             AND resent_at IS NULL AND token_id IS NOT NULL""",
        h, row_id, user_id)
    return status == "UPDATE 1"
