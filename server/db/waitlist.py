"""Queries of the waitlist: entries, offers of a freed slot, and the one-winner acceptance."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

_ENTRY = """
SELECT w.id, w.hospital_id, w.department_id, w.patient_id, w.preferred_doctor_id,
       w.desired_date, w.status, w.offered_token_id, w.offered_at, w.offer_expires_at,
       w.accepted_at, w.created_at, p.name AS patient_name
FROM waitlist_entries w JOIN patients p ON p.id = w.patient_id
"""


async def insert_entry(conn: Conn, *, hospital_id: UUID, department_id: UUID, patient_id: UUID,
                       preferred_doctor_id: UUID | None, desired_date: date) -> UUID:
    return await conn.fetchval(
        """INSERT INTO waitlist_entries (hospital_id, department_id, patient_id,
                                         preferred_doctor_id, desired_date)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""",
        hospital_id, department_id, patient_id, preferred_doctor_id, desired_date)


async def open_entry_exists(conn: Conn, hospital_id: UUID, department_id: UUID,
                            patient_id: UUID, desired_date: date) -> bool:
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM waitlist_entries
                          WHERE hospital_id = $1 AND department_id = $2 AND patient_id = $3
                            AND desired_date = $4 AND status IN ('WAITING', 'OFFERED'))""",
        hospital_id, department_id, patient_id, desired_date))


async def entry(conn: Conn, hospital_id: UUID, entry_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(_ENTRY + " WHERE w.hospital_id = $1 AND w.id = $2",
                              hospital_id, entry_id)
    return dict(row) if row else None


async def entries(conn: Conn, hospital_id: UUID, department_id: UUID | None,
                  day: date | None) -> list[dict[str, Any]]:
    """Open entries first (in offer order: longest waiting first), then the closed ones."""
    rows = await conn.fetch(
        _ENTRY + """ WHERE w.hospital_id = $1
                       AND ($2::uuid IS NULL OR w.department_id = $2)
                       AND ($3::date IS NULL OR w.desired_date = $3)
                     ORDER BY (w.status IN ('WAITING', 'OFFERED')) DESC, w.created_at, w.id
                     LIMIT 500""",
        hospital_id, department_id, day)
    return [dict(r) for r in rows]


async def lock_slot(conn: asyncpg.Connection, token_id: UUID) -> dict[str, Any] | None:
    """The freed token, row-locked: every offer and acceptance of one slot takes turns here."""
    row = await conn.fetchrow(
        """SELECT t.id, t.hospital_id, t.department_id, t.doctor_id, t.patient_id,
                  t.service_date, t.scheduled_time, t.booking_type, t.status,
                  (SELECT hh.from_status FROM token_history hh
                   WHERE hh.token_id = t.id AND hh.to_status = t.status
                   ORDER BY hh.at DESC, hh.id DESC LIMIT 1) AS freed_from
           FROM tokens t WHERE t.id = $1 FOR UPDATE OF t""", token_id)
    return dict(row) if row else None


async def already_offered(conn: asyncpg.Connection, token_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM waitlist_entries WHERE offered_token_id = $1)", token_id))


async def candidates(conn: asyncpg.Connection, *, hospital_id: UUID, department_id: UUID,
                     day: date, doctor_id: UUID | None, exclude_patient: UUID, now: datetime,
                     limit: int) -> list[dict[str, Any]]:
    """Who is offered a freed slot: those who asked for this doctor, then those with no
    preference, then the rest; longest waiting first within each. An offer that lapsed puts
    its entry back in line."""
    rows = await conn.fetch(
        """SELECT w.id, w.patient_id FROM waitlist_entries w
           WHERE w.hospital_id = $1 AND w.department_id = $2 AND w.desired_date = $3
             AND w.patient_id <> $5
             AND (w.status = 'WAITING' OR (w.status = 'OFFERED' AND w.offer_expires_at < $6))
             AND NOT EXISTS (SELECT 1 FROM tokens t
                             WHERE t.patient_id = w.patient_id AND t.department_id = w.department_id
                               AND t.service_date = w.desired_date
                               AND t.status IN ('BOOKED', 'WAITING', 'CALLED', 'IN_CONSULTATION'))
           ORDER BY CASE WHEN w.preferred_doctor_id = $4 THEN 0
                         WHEN w.preferred_doctor_id IS NULL THEN 1 ELSE 2 END,
                    w.created_at, w.id
           LIMIT $7
           FOR UPDATE OF w SKIP LOCKED""",
        hospital_id, department_id, day, doctor_id, exclude_patient, now, limit)
    return [dict(r) for r in rows]


async def mark_offered(conn: asyncpg.Connection, ids: list[UUID], token_id: UUID,
                       now: datetime, expires_at: datetime) -> None:
    await conn.execute(
        """UPDATE waitlist_entries SET status = 'OFFERED', offered_token_id = $2, offered_at = $3,
                                       offer_expires_at = $4, accepted_at = NULL
           WHERE id = ANY($1::uuid[])""", ids, token_id, now, expires_at)


async def slot_taken(conn: asyncpg.Connection, token_id: UUID) -> bool:
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM waitlist_entries
                          WHERE offered_token_id = $1 AND status = 'ACCEPTED')""", token_id))


async def claim(conn: asyncpg.Connection, entry_id: UUID, token_id: UUID,
                now: datetime) -> dict[str, Any] | None:
    """The conditional UPDATE that makes an acceptance: only an open, unexpired offer of this
    very slot turns ACCEPTED; anything else changes nothing and returns None."""
    row = await conn.fetchrow(
        """UPDATE waitlist_entries SET status = 'ACCEPTED', accepted_at = $3
           WHERE id = $1 AND offered_token_id = $2 AND status = 'OFFERED'
             AND offer_expires_at > $3
           RETURNING id, hospital_id, patient_id, department_id""", entry_id, token_id, now)
    return dict(row) if row else None


async def release_others(conn: asyncpg.Connection, token_id: UUID, winner: UUID) -> int:
    """The other offerees of a taken slot go back in line for the next one."""
    status = await conn.execute(
        """UPDATE waitlist_entries SET status = 'WAITING', offered_token_id = NULL,
                                       offered_at = NULL, offer_expires_at = NULL
           WHERE offered_token_id = $1 AND id <> $2 AND status = 'OFFERED'""", token_id, winner)
    return int(status.split()[-1])
