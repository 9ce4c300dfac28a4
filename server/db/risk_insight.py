"""Queries of the no-show insight reports: a day's risk per tier and department, and what
prevention cost and recovered over a period (messages, expected vs observed no-shows,
waitlist refills). Days are the hospital's local days."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

# the messages sent to prevent no-shows (the standard reminders, the outreach touches, the
# waitlist offers): what ROI counts as their cost
PREVENTION_EVENTS = ("REMINDER_DAY_BEFORE", "REMINDER_2H", "CONFIRM_REQUEST", "REMINDER_EXTRA",
                     "WAITLIST_OFFER")
# a message that left for Twilio (and is billed), whatever the handset made of it
BILLED = ("SENT", "DELIVERED", "UNDELIVERED")

_LATEST = """JOIN LATERAL (SELECT a.tier, a.score, a.show_probability FROM risk_assessments a
                           WHERE a.token_id = t.id ORDER BY a.created_at DESC, a.id DESC
                           LIMIT 1) ra ON true"""


async def summary(conn: Conn, hospital_id: UUID, day: date) -> list[dict[str, Any]]:
    """Per department and tier: the day's scored tokens that are still expected or came
    (cancelled and rescheduled ones left out), and their mean score."""
    rows = await conn.fetch(
        f"""SELECT dep.id AS department_id, dep.name AS department, ra.tier,
                   count(*) AS n, sum(ra.score) AS score_sum
            FROM tokens t JOIN departments dep ON dep.id = t.department_id
            {_LATEST}
            WHERE t.hospital_id = $1 AND t.service_date = $2
              AND t.status NOT IN ('CANCELLED', 'RESCHEDULED')
            GROUP BY dep.id, dep.name, ra.tier ORDER BY dep.name, dep.id, ra.tier""",
        hospital_id, day)
    return [dict(r) for r in rows]


async def costs(conn: Conn, hospital_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT currency, sms_cost, whatsapp_cost, slot_value, timezone
           FROM hospitals WHERE id = $1""", hospital_id)
    return dict(row) if row else {}


async def messages(conn: Conn, hospital_id: UUID, start: date, end: date
                   ) -> list[dict[str, Any]]:
    """Billed prevention messages per event and channel, by the local day they were sent."""
    rows = await conn.fetch(
        """SELECT n.event, n.channel, count(*) AS n
           FROM notifications_log n JOIN hospitals h ON h.id = n.hospital_id
           WHERE n.hospital_id = $1 AND n.event = ANY($4::text[])
             AND n.status = ANY($5::text[]) AND n.sent_at IS NOT NULL
             AND (n.sent_at AT TIME ZONE h.timezone)::date BETWEEN $2 AND $3
           GROUP BY n.event, n.channel ORDER BY n.event, n.channel""",
        hospital_id, start, end, list(PREVENTION_EVENTS), list(BILLED))
    return [dict(r) for r in rows]


async def outcomes(conn: Conn, hospital_id: UUID, start: date, end: date
                   ) -> list[dict[str, Any]]:
    """Per tier: bookings of the period with a known outcome (came, or NO_SHOW), the expected
    no-shows (sum of 1 - show probability of the latest score) and the observed ones."""
    rows = await conn.fetch(
        f"""SELECT ra.tier, count(*) AS bookings,
                   sum(1 - ra.show_probability) AS expected,
                   count(*) FILTER (WHERE t.status = 'NO_SHOW') AS observed
            FROM tokens t {_LATEST}
            WHERE t.hospital_id = $1 AND t.service_date BETWEEN $2 AND $3
              AND t.booking_type = 'ONLINE'
              AND t.status IN ('WAITING', 'CALLED', 'IN_CONSULTATION', 'COMPLETED', 'NO_SHOW')
            GROUP BY ra.tier ORDER BY ra.tier""", hospital_id, start, end)
    return [dict(r) for r in rows]


async def refilled(conn: Conn, hospital_id: UUID, start: date, end: date) -> int:
    """Freed slots a waitlisted patient accepted, by the local day of the acceptance."""
    return int(await conn.fetchval(
        """SELECT count(*) FROM waitlist_offers o JOIN hospitals h ON h.id = o.hospital_id
           WHERE o.hospital_id = $1 AND o.status = 'ACCEPTED' AND o.answered_at IS NOT NULL
             AND (o.answered_at AT TIME ZONE h.timezone)::date BETWEEN $2 AND $3""",
        hospital_id, start, end))
