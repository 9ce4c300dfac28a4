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
       w.accepted_at, w.created_at, w.urgency, p.name AS patient_name
FROM waitlist_entries w JOIN patients p ON p.id = w.patient_id
"""


async def insert_entry(conn: Conn, *, hospital_id: UUID, department_id: UUID, patient_id: UUID,
                       preferred_doctor_id: UUID | None, desired_date: date,
                       urgency: int = 0) -> UUID:
    return await conn.fetchval(
        """INSERT INTO waitlist_entries (hospital_id, department_id, patient_id,
                                         preferred_doctor_id, desired_date, urgency)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        hospital_id, department_id, patient_id, preferred_doctor_id, desired_date, urgency)


async def update_entry(conn: Conn, hospital_id: UUID, entry_id: UUID,
                       changes: dict[str, Any]) -> bool:
    """Staff edits (status WAITING/CANCELLED, urgency, preferred doctor, desired date)."""
    allowed = ("status", "urgency", "preferred_doctor_id", "desired_date")
    cols = [c for c in allowed if c in changes]
    if not cols:
        return bool(await conn.fetchval(
            "SELECT 1 FROM waitlist_entries WHERE hospital_id = $1 AND id = $2",
            hospital_id, entry_id))
    sets = ", ".join(f"{c} = ${i + 3}" for i, c in enumerate(cols))
    status = await conn.execute(
        f"UPDATE waitlist_entries SET {sets} WHERE hospital_id = $1 AND id = $2",
        hospital_id, entry_id, *(changes[c] for c in cols))
    return status != "UPDATE 0"


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
    """The slot has an open offer, or was taken: nothing to offer now."""
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM waitlist_offers
                          WHERE token_id = $1 AND status IN ('OFFERED', 'ACCEPTED'))""",
        token_id))


async def candidates(conn: asyncpg.Connection, *, hospital_id: UUID, department_id: UUID,
                     day: date, doctor_id: UUID | None, exclude_patient: UUID, now: datetime,
                     limit: int, token_id: UUID) -> list[dict[str, Any]]:
    """Who is offered a freed slot: those who asked for this doctor, then those with no
    preference, then the rest; within each, the longest waiting (by day) first, then the most
    urgent. An entry is offered one slot once (a lapsed or declined offer passes it on)."""
    rows = await conn.fetch(
        """SELECT w.id, w.patient_id FROM waitlist_entries w
           WHERE w.hospital_id = $1 AND w.department_id = $2 AND w.desired_date = $3
             AND w.patient_id <> $5
             AND (w.status = 'WAITING' OR (w.status = 'OFFERED' AND w.offer_expires_at < $6))
             AND NOT EXISTS (SELECT 1 FROM waitlist_offers o
                             WHERE o.entry_id = w.id AND o.token_id = $8)
             AND NOT EXISTS (SELECT 1 FROM tokens t
                             WHERE t.patient_id = w.patient_id AND t.department_id = w.department_id
                               AND t.service_date = w.desired_date
                               AND t.status IN ('BOOKED', 'WAITING', 'CALLED', 'IN_CONSULTATION'))
           ORDER BY CASE WHEN w.preferred_doctor_id = $4 THEN 0
                         WHEN w.preferred_doctor_id IS NULL THEN 1 ELSE 2 END,
                    w.created_at::date, w.urgency DESC, w.created_at, w.id
           LIMIT $7
           FOR UPDATE OF w SKIP LOCKED""",
        hospital_id, department_id, day, doctor_id, exclude_patient, now, limit, token_id)
    return [dict(r) for r in rows]


async def mark_offered(conn: asyncpg.Connection, ids: list[UUID], token_id: UUID,
                       now: datetime, expires_at: datetime) -> None:
    await conn.execute(
        """UPDATE waitlist_entries SET status = 'OFFERED', offered_token_id = $2, offered_at = $3,
                                       offer_expires_at = $4, accepted_at = NULL
           WHERE id = ANY($1::uuid[])""", ids, token_id, now, expires_at)
    await conn.execute(
        """INSERT INTO waitlist_offers (entry_id, token_id, hospital_id, offered_at, expires_at)
           SELECT w.id, $2, w.hospital_id, $3, $4 FROM waitlist_entries w
           WHERE w.id = ANY($1::uuid[])
           ON CONFLICT (entry_id, token_id) DO NOTHING""", ids, token_id, now, expires_at)


async def close_offer(conn: asyncpg.Connection, entry_id: UUID, token_id: UUID, outcome: str,
                      now: datetime) -> bool:
    """An open offer declined or lapsed: recorded, and its entry back in line for the next
    slot. False when the offer was not open (answered, lapsed, or never made)."""
    closed = await conn.fetchval(
        """UPDATE waitlist_offers SET status = $3, answered_at = $4
           WHERE entry_id = $1 AND token_id = $2 AND status = 'OFFERED' RETURNING 1""",
        entry_id, token_id, outcome, now)
    if closed:
        await conn.execute(
            """UPDATE waitlist_entries SET status = 'WAITING', offered_token_id = NULL,
                                           offered_at = NULL, offer_expires_at = NULL
               WHERE id = $1 AND offered_token_id = $2 AND status = 'OFFERED'""",
            entry_id, token_id)
    return bool(closed)


async def lapsed_offers(conn: Conn, now: datetime, limit: int = 200) -> list[tuple[UUID, UUID]]:
    """(entry, slot token) of open offers past their time."""
    rows = await conn.fetch(
        """SELECT entry_id, token_id FROM waitlist_offers
           WHERE status = 'OFFERED' AND expires_at <= $1 ORDER BY expires_at LIMIT $2""",
        now, limit)
    return [(r["entry_id"], r["token_id"]) for r in rows]


async def slots_to_pass_on(conn: Conn, limit: int = 200) -> list[UUID]:
    """Freed slots offered before whose offers all ended without a taker (declined or
    lapsed): offered again, to the next entry."""
    rows = await conn.fetch(
        """SELECT o.token_id FROM waitlist_offers o JOIN tokens t ON t.id = o.token_id
           WHERE t.status IN ('CANCELLED', 'NO_SHOW', 'RESCHEDULED')
             AND t.scheduled_time > now() - interval '30 minutes'
           GROUP BY o.token_id
           HAVING bool_and(o.status IN ('DECLINED', 'EXPIRED'))
           LIMIT $1""", limit)
    return [r["token_id"] for r in rows]


async def offer_message_context(conn: Conn, entry_id: UUID, token_id: UUID
                                ) -> dict[str, Any] | None:
    """What an offer message needs: the waitlisted patient, the slot, the open offer."""
    row = await conn.fetchrow(
        """SELECT w.id, w.hospital_id, w.patient_id, o.status AS offer_status, o.expires_at,
                  p.name AS patient_name, p.phone, p.language AS patient_language,
                  p.sms_opt_in, p.whatsapp_opt_in,
                  dep.name AS department_name, dep.language AS department_language,
                  t.scheduled_time, h.timezone, h.default_language, '' AS number
           FROM waitlist_offers o
           JOIN waitlist_entries w ON w.id = o.entry_id
           JOIN patients p ON p.id = w.patient_id
           JOIN tokens t ON t.id = o.token_id
           JOIN departments dep ON dep.id = t.department_id
           JOIN hospitals h ON h.id = t.hospital_id
           WHERE o.entry_id = $1 AND o.token_id = $2""", entry_id, token_id)
    return dict(row) if row else None


async def claim_offer_message(conn: Conn, *, hospital_id: UUID, patient_id: UUID,
                              entry_id: UUID, token_id: UUID, channel: str, language: str,
                              body: str, to_masked: str) -> dict[str, Any]:
    """The (entry, slot, channel) row of a WAITLIST_OFFER, new or not (notify's claim)."""
    cols = "id, status, provider_id, attempts, error_code, body, language, updated_at"
    await conn.execute(
        """INSERT INTO notifications_log (hospital_id, patient_id, channel, event, language,
               body, to_masked, waitlist_entry_id, offer_token_id)
           VALUES ($1, $2, $3, 'WAITLIST_OFFER', $4, $5, $6, $7, $8)
           ON CONFLICT (waitlist_entry_id, offer_token_id, channel)
               WHERE waitlist_entry_id IS NOT NULL DO NOTHING""",
        hospital_id, patient_id, channel, language, body, to_masked, entry_id, token_id)
    row = await conn.fetchrow(
        f"""SELECT {cols} FROM notifications_log
            WHERE waitlist_entry_id = $1 AND offer_token_id = $2 AND channel = $3""",
        entry_id, token_id, channel)
    assert row is not None
    return dict(row)


async def entry_offers(conn: Conn, entry_ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    """Every offer made to these entries, newest first (the Waitlist tab shows them)."""
    rows = await conn.fetch(
        """SELECT o.entry_id, o.token_id, o.status, o.offered_at, o.expires_at, o.answered_at,
                  t.scheduled_time
           FROM waitlist_offers o JOIN tokens t ON t.id = o.token_id
           WHERE o.entry_id = ANY($1::uuid[]) ORDER BY o.offered_at DESC""", entry_ids)
    out: dict[UUID, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["entry_id"], []).append(dict(r))
    return out


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
    if row:
        await conn.execute(
            """UPDATE waitlist_offers SET status = 'ACCEPTED', answered_at = $3
               WHERE entry_id = $1 AND token_id = $2""", entry_id, token_id, now)
    return dict(row) if row else None


async def release_others(conn: asyncpg.Connection, token_id: UUID, winner: UUID) -> int:
    """The other offerees of a taken slot go back in line for the next one."""
    status = await conn.execute(
        """UPDATE waitlist_entries SET status = 'WAITING', offered_token_id = NULL,
                                       offered_at = NULL, offer_expires_at = NULL
           WHERE offered_token_id = $1 AND id <> $2 AND status = 'OFFERED'""", token_id, winner)
    await conn.execute(
        """UPDATE waitlist_offers SET status = 'WITHDRAWN', answered_at = now()
           WHERE token_id = $1 AND entry_id <> $2 AND status = 'OFFERED'""", token_id, winner)
    return int(status.split()[-1])
