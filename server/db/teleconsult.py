"""Queries of the teleconsult suggestion: the hospital's rules and, per booking, the days since
the patient was last seen (a COMPLETED visit) in the booking's department."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from server.risk import teleconsult as tc

Conn = asyncpg.Connection | asyncpg.Pool


async def rules(conn: Conn, hospital_id: UUID) -> tc.Rules:
    raw = await conn.fetchval(
        "SELECT outreach_policy->'teleconsult' FROM hospitals WHERE id = $1", hospital_id)
    return tc.Rules.from_json(raw)


async def days_since_seen(conn: Conn, token_ids: list[UUID]) -> dict[UUID, int]:
    """Token id -> days from the patient's latest COMPLETED visit in the token's department
    (before the token, up to its day) to the token's day; tokens never seen there are absent."""
    if not token_ids:
        return {}
    rows = await conn.fetch(
        """SELECT t.id, t.service_date - max(p.service_date) AS days
           FROM tokens t
           JOIN tokens p ON p.patient_id = t.patient_id AND p.hospital_id = t.hospital_id
                        AND p.department_id = t.department_id AND p.status = 'COMPLETED'
                        AND p.service_date <= t.service_date AND p.id <> t.id
           WHERE t.id = ANY($1::uuid[])
           GROUP BY t.id, t.service_date""", token_ids)
    return {r["id"]: r["days"] for r in rows}


async def suggestions(conn: Conn, hospital_id: UUID, rows: list[dict[str, Any]]
                      ) -> dict[UUID, tc.Suggestion]:
    """The suggestion of each BOOKED token among rows (others: not suggested)."""
    booked = [r for r in rows if r["status"] == "BOOKED" and r.get("visit_reason")]
    if not booked:
        return {}
    rs = await rules(conn, hospital_id)
    if not rs.enabled:
        return {}
    days = await days_since_seen(conn, [r["id"] for r in booked])
    return {r["id"]: tc.suggest(r["visit_reason"], days.get(r["id"]), rs) for r in booked}
