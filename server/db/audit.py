"""The audit trail as one list: setup changes (admin_audit) and token history (token_history),
newest first, filtered by day range, actor, entity and action.

The two tables number their rows separately, so a row's place in the list is (at, key) with
key = source * 2^64 + id: unique across both and totally ordered, which the keyset cursor
(server/models/cursors.py) carries as a UUID built from that integer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

Row = dict[str, Any]
_SHIFT = 1 << 64

# one SELECT per source, the same columns; $1 hospital, $2 2^64; filters appended
_SETUP_SQL = """
    SELECT 'setup' AS source, a.id, ($2::numeric + a.id) AS key, a.at, a.actor_id,
           u.username AS actor_username, u.role AS actor_role,
           CASE WHEN a.actor_id IS NOT NULL THEN 'user'
                WHEN a.api_key_id IS NOT NULL THEN 'api_key' ELSE 'system' END AS actor_kind,
           a.api_key_id, k.name AS api_key_name, a.entity, a.entity_id, a.action,
           a.changes, NULL::text AS token_number
    FROM admin_audit a
    LEFT JOIN users u ON u.id = a.actor_id
    LEFT JOIN api_keys k ON k.id = a.api_key_id
    WHERE a.hospital_id = $1"""
_TOKEN_SQL = """
    SELECT 'tokens' AS source, th.id, ($2::numeric * 2 + th.id) AS key, th.at, th.actor_id,
           u.username AS actor_username, u.role AS actor_role,
           CASE WHEN th.api_key_id IS NOT NULL AND th.actor_id IS NULL THEN 'api_key'
                ELSE th.actor_kind END AS actor_kind,
           th.api_key_id, k.name AS api_key_name, 'token' AS entity, th.token_id AS entity_id,
           th.action,
           jsonb_strip_nulls(jsonb_build_object(
               'from', th.from_status, 'to', th.to_status, 'reason', th.reason,
               'doctor_id', th.doctor_id)) || th.details AS changes,
           t.number AS token_number
    FROM token_history th
    JOIN tokens t ON t.hospital_id = th.hospital_id AND t.id = th.token_id
    LEFT JOIN users u ON u.id = th.actor_id
    LEFT JOIN api_keys k ON k.id = th.api_key_id
    WHERE th.hospital_id = $1"""


def position_key(row: Row) -> UUID:
    return UUID(int=int(row["key"]))


async def list_trail(
    db: asyncpg.Pool | asyncpg.Connection, hospital_id: UUID, *, timezone: str,
    sources: tuple[str, ...], day_from: date | None, day_to: date | None,
    actor_id: UUID | None, entity: str | None, action: str | None,
    after: tuple[datetime, UUID] | None, limit: int,
) -> list[Row]:
    """Rows newest first; `after` is the (at, key) of the last row of the page before."""
    args: list[Any] = [hospital_id, _SHIFT]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    tz = arg(timezone) if day_from is not None or day_to is not None else ""
    parts = []
    for source, sql, alias, entity_sql in (("setup", _SETUP_SQL, "a", "a.entity"),
                                           ("tokens", _TOKEN_SQL, "th", "'token'")):
        if source not in sources:
            continue
        where = []
        if day_from is not None:
            where.append(f"{alias}.at >= ({arg(day_from)}::date::timestamp AT TIME ZONE {tz})")
        if day_to is not None:
            where.append(f"{alias}.at < (({arg(day_to)}::date + 1)::timestamp "
                         f"AT TIME ZONE {tz})")
        if actor_id is not None:
            where.append(f"{alias}.actor_id = {arg(actor_id)}")
        if entity is not None:
            where.append(f"{entity_sql} = {arg(entity)}::text")
        if action is not None:
            where.append(f"{alias}.action = {arg(action)}::text")
        parts.append(sql + "".join(f" AND {w}" for w in where))
    if not parts:
        return []
    outer = ""
    if after is not None:
        outer = (f"WHERE (trail.at, trail.key) < ({arg(after[0])}::timestamptz, "
                 f"{arg(after[1].int)}::numeric)")
    rows = await db.fetch(
        f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS trail {outer} "
        f"ORDER BY trail.at DESC, trail.key DESC LIMIT {arg(limit)}", *args)
    return [dict(r) for r in rows]
