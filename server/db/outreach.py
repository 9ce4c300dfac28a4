"""Queries of no-show outreach: bookings the plan may target, replies, the desk's call list."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

OUTREACH_EVENTS = ("REMINDER_DAY_BEFORE", "REMINDER_2H", "CONFIRM_REQUEST", "REMINDER_EXTRA")

_TARGET = """
SELECT t.id, t.hospital_id, t.scheduled_time, t.status, h.outreach_policy,
       ra.tier, ra.score, ra.model_version,
       EXISTS (SELECT 1 FROM booking_replies r WHERE r.token_id = t.id) AS replied
FROM tokens t
JOIN hospitals h ON h.id = t.hospital_id
JOIN LATERAL (SELECT a.tier, a.score, a.model_version FROM risk_assessments a
              WHERE a.token_id = t.id ORDER BY a.created_at DESC, a.id DESC LIMIT 1) ra ON true
"""


async def candidates(conn: Conn, horizon_h: float, limit: int = 2000) -> list[dict[str, Any]]:
    """BOOKED tokens with a score whose slot is within horizon_h and not yet answered."""
    rows = await conn.fetch(
        _TARGET + """ WHERE t.status = 'BOOKED' AND t.scheduled_time > now()
                        AND t.scheduled_time < now() + make_interval(secs => $1)
                        AND NOT EXISTS (SELECT 1 FROM booking_replies r WHERE r.token_id = t.id)
                      ORDER BY t.scheduled_time LIMIT $2""", horizon_h * 3600, limit)
    return [dict(r) for r in rows]


async def target(conn: Conn, token_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(_TARGET + " WHERE t.id = $1", token_id)
    return dict(row) if row else None


async def policy(conn: Conn, hospital_id: UUID) -> dict[str, Any]:
    raw = await conn.fetchval("SELECT outreach_policy FROM hospitals WHERE id = $1", hospital_id)
    return dict(raw or {})


async def reply_target(conn: Conn, phones: list[str]) -> dict[str, Any] | None:
    """The booking a YES/NO from this number answers: the patient's latest message asking
    for a reply, on a token still BOOKED."""
    row = await conn.fetchrow(
        """SELECT n.hospital_id, n.token_id, n.event, t.status, p.language, p.id AS patient_id
           FROM patients p
           JOIN notifications_log n ON n.patient_id = p.id
           JOIN tokens t ON t.id = n.token_id
           WHERE p.phone = ANY($1::text[])
             AND n.event IN ('CONFIRM_REQUEST', 'REMINDER_EXTRA')
             AND n.status IN ('SENT', 'DELIVERED')
             AND t.status = 'BOOKED' AND t.scheduled_time > now()
           ORDER BY n.sent_at DESC NULLS LAST LIMIT 1""", phones)
    return dict(row) if row else None


async def record_reply(conn: Conn, *, hospital_id: UUID, token_id: UUID, reply: str,
                       channel: str, provider_id: str, outcome: str) -> bool:
    """False when this inbound message was recorded already (Twilio retried the webhook)."""
    return bool(await conn.fetchval(
        """INSERT INTO booking_replies (hospital_id, token_id, reply, channel, provider_id,
                                        outcome)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider_id) DO NOTHING RETURNING 1""",
        hospital_id, token_id, reply, channel, provider_id, outcome))


async def reply_seen(conn: Conn, provider_id: str) -> str | None:
    return await conn.fetchval(
        "SELECT outcome FROM booking_replies WHERE provider_id = $1", provider_id)


async def call_list(conn: Conn, hospital_id: UUID, day: date, min_tier: int
                    ) -> list[dict[str, Any]]:
    """The day's bookings at min_tier and above, highest risk first, with every outreach
    message (event, channel, status, times) and the patient's replies."""
    rows = await conn.fetch(
        """SELECT t.id, t.number, t.status, t.scheduled_time, t.hospital_id, t.visit_reason,
                  p.name AS patient_name, p.phone, dep.name AS department_name,
                  d.name AS doctor_name, ra.tier, ra.score, ra.badge, ra.model_version,
                  ra.factors,
                  coalesce((SELECT json_agg(json_build_object(
                      'event', n.event, 'channel', n.channel, 'status', n.status,
                      'sent_at', n.sent_at, 'delivered_at', n.delivered_at,
                      'risk_tier', n.risk_tier, 'model_version', n.model_version)
                      ORDER BY n.created_at)
                   FROM notifications_log n
                   WHERE n.token_id = t.id AND n.event = ANY($4::text[])), '[]') AS sent,
                  coalesce((SELECT json_agg(json_build_object(
                      'reply', r.reply, 'outcome', r.outcome, 'received_at', r.received_at)
                      ORDER BY r.received_at)
                   FROM booking_replies r WHERE r.token_id = t.id), '[]') AS replies
           FROM tokens t
           JOIN patients p ON p.id = t.patient_id
           JOIN departments dep ON dep.id = t.department_id
           LEFT JOIN doctors d ON d.id = t.doctor_id
           JOIN LATERAL (SELECT a.tier, a.score, a.badge, a.model_version, a.factors
                         FROM risk_assessments a WHERE a.token_id = t.id
                         ORDER BY a.created_at DESC, a.id DESC LIMIT 1) ra ON true
           WHERE t.hospital_id = $1 AND t.service_date = $2 AND t.booking_type = 'ONLINE'
             AND t.scheduled_time IS NOT NULL AND ra.tier >= $3
           ORDER BY ra.score DESC, t.scheduled_time, t.id
           LIMIT 1000""",
        hospital_id, day, min_tier, list(OUTREACH_EVENTS))
    return [dict(r) for r in rows]
