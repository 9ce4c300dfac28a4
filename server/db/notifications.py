"""Queries for patient notifications: the notifications_log claim protocol, what a message
needs to know about its token, the cron jobs' candidates, delivery callbacks, alerts.

The unique index notifications_once_idx (token_id, event, channel, once_key) is the claim: a
row is inserted before anything is sent, and only the holder of the row's current attempt
sends. once_key is '' for a message sent once ever, a pause's id for its DELAY / RESUMED.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

SLOT_COLUMNS = "id, status, provider_id, attempts, error_code, body, language, updated_at"

# status order for delivery callbacks: a status never moves back down this ladder
STATUS_RANK_SQL = """CASE {col} WHEN 'PENDING' THEN 0 WHEN 'SENT' THEN 1 ELSE 2 END"""


async def message_context(conn: Conn, hospital_id: UUID, token_id: UUID
                          ) -> dict[str, Any] | None:
    """The token with its patient, department, cabin and hospital: all a message says."""
    row = await conn.fetchrow(
        """SELECT t.id, t.hospital_id, t.patient_id, t.department_id, t.doctor_id, t.status,
                  t.number, t.service_date, t.public_code, t.scheduled_time, t.booking_type,
                  t.cancel_reason, t.created_at,
                  p.name AS patient_name, p.phone, p.language AS patient_language,
                  p.sms_opt_in, p.whatsapp_opt_in,
                  dep.name AS department_name, dep.language AS department_language,
                  dep.notify_ahead, c.number AS cabin_number,
                  h.timezone, h.default_language,
                  ra.tier AS risk_tier, ra.model_version
           FROM tokens t
           JOIN patients p ON p.id = t.patient_id
           JOIN departments dep ON dep.id = t.department_id
           JOIN hospitals h ON h.id = t.hospital_id
           LEFT JOIN cabins c ON c.id = t.cabin_id
           LEFT JOIN LATERAL (
               SELECT a.tier, a.model_version FROM risk_assessments a
               WHERE a.token_id = t.id ORDER BY a.created_at DESC, a.id DESC LIMIT 1) ra ON true
           WHERE t.hospital_id = $1 AND t.id = $2""",
        hospital_id, token_id,
    )
    return dict(row) if row else None


async def statuses_reached(conn: Conn, token_id: UUID) -> frozenset[str]:
    """Every status the token's history shows it has been in."""
    rows = await conn.fetch(
        "SELECT DISTINCT to_status FROM token_history WHERE token_id = $1", token_id)
    return frozenset(r["to_status"] for r in rows)


async def claim(conn: Conn, *, hospital_id: UUID, patient_id: UUID, token_id: UUID,
                channel: str, event: str, language: str, body: str, to_masked: str,
                status: str = "PENDING", error_message: str | None = None,
                once_key: str = "") -> UUID | None:
    """Take the (token, event, channel, once_key) slot; None when another job holds it."""
    return await conn.fetchval(
        """INSERT INTO notifications_log (hospital_id, patient_id, token_id, channel, event,
               language, body, to_masked, status, error_message, once_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (token_id, event, channel, once_key) WHERE token_id IS NOT NULL
           DO NOTHING
           RETURNING id""",
        hospital_id, patient_id, token_id, channel, event, language, body, to_masked, status,
        error_message, once_key,
    )


async def claim_slot(conn: Conn, *, hospital_id: UUID, patient_id: UUID, token_id: UUID,
                     channel: str, event: str, language: str, body: str, to_masked: str,
                     risk_tier: int | None = None, model_version: str | None = None,
                     once_key: str = "") -> dict[str, Any]:
    """claim() and get_slot() in one round trip: the row of the slot, new or not. An
    outreach touch records the risk tier and model version that planned it."""
    row = await conn.fetchrow(
        f"""WITH ins AS (
                INSERT INTO notifications_log (hospital_id, patient_id, token_id, channel,
                    event, language, body, to_masked, risk_tier, model_version, once_key)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                ON CONFLICT (token_id, event, channel, once_key) WHERE token_id IS NOT NULL
                DO NOTHING
                RETURNING {SLOT_COLUMNS})
            SELECT * FROM ins
            UNION ALL
            SELECT {SLOT_COLUMNS} FROM notifications_log
            WHERE token_id = $3 AND event = $5 AND channel = $4 AND once_key = $11
              AND NOT EXISTS (SELECT 1 FROM ins)""",
        hospital_id, patient_id, token_id, channel, event, language, body, to_masked,
        risk_tier, model_version, once_key,
    )
    if row is None:  # the other claimer committed after this statement's snapshot
        row = await get_slot(conn, token_id, event, channel, once_key)
    assert row is not None
    return dict(row)


async def get_slot(conn: Conn, token_id: UUID, event: str, channel: str, once_key: str = ""
                   ) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""SELECT {SLOT_COLUMNS}
            FROM notifications_log
            WHERE token_id = $1 AND event = $2 AND channel = $3 AND once_key = $4""",
        token_id, event, channel, once_key,
    )
    return dict(row) if row else None


async def begin_attempt(conn: Conn, row_id: UUID, lease_s: float) -> int | None:
    """Start a send attempt (compare-and-set); the new attempt number, or None when an
    attempt is in flight: one started, recorded no outcome yet and its lease has not run out.
    A recorded outcome of the last attempt (error_code set) frees the row for the next."""
    return await conn.fetchval(
        """UPDATE notifications_log
           SET attempts = attempts + 1, error_code = NULL, error_message = NULL
           WHERE id = $1 AND status = 'PENDING' AND provider_id IS NULL
             AND (attempts = 0 OR error_code IS NOT NULL
                  OR updated_at < now() - make_interval(secs => $2))
           RETURNING attempts""",
        row_id, lease_s,
    )


async def skip_pending(conn: Conn, token_id: UUID, events: tuple[str, ...], reason: str,
                       lease_s: float, channel: str | None = None) -> int:
    """Close the token's PENDING rows for `events` (on `channel`, else any) as SKIPPED: the
    message is no longer wanted. Rows with an attempt in flight (begin_attempt's condition)
    are left to the job that holds it; both are one-row compare-and-sets, so they never
    both win. Returns the rows closed."""
    status = await conn.execute(
        """UPDATE notifications_log
           SET status = 'SKIPPED',
               error_message = left($3 || CASE WHEN attempts > 0 AND error_code IS NULL
                   THEN '; the outcome of attempt ' || attempts || ' is unknown' ELSE '' END,
                   500)
           WHERE token_id = $1 AND event = ANY($2::text[]) AND status = 'PENDING'
             AND provider_id IS NULL AND ($5::text IS NULL OR channel = $5::text)
             AND (attempts = 0 OR error_code IS NOT NULL
                  OR updated_at < now() - make_interval(secs => $4))""",
        token_id, list(events), reason, lease_s, channel,
    )
    return int(status.split()[-1])


async def mark_sent(conn: Conn, row_id: UUID, provider_id: str) -> bool:
    status = await conn.execute(
        """UPDATE notifications_log SET status = 'SENT', provider_id = $2, sent_at = now(),
               error_code = NULL, error_message = NULL
           WHERE id = $1 AND status = 'PENDING'""",
        row_id, provider_id,
    )
    return status != "UPDATE 0"


async def mark_attempt_failed(conn: Conn, row_id: UUID, code: int, message: str) -> None:
    """A transient failure: the row stays PENDING and its next attempt may start at once."""
    await conn.execute(
        """UPDATE notifications_log SET error_code = $2, error_message = left($3, 500)
           WHERE id = $1 AND status = 'PENDING'""",
        row_id, code, message,
    )


async def mark_failed(conn: Conn, row_id: UUID, code: int | None, message: str) -> None:
    await conn.execute(
        """UPDATE notifications_log SET status = 'FAILED', error_code = $2,
               error_message = left($3, 500)
           WHERE id = $1 AND status = 'PENDING'""",
        row_id, code, message,
    )


async def opt_out(conn: Conn, hospital_id: UUID, patient_id: UUID, channel: str) -> None:
    """The patient answered STOP (Twilio 21610) on that channel: never text them there again."""
    column = {"SMS": "sms_opt_in", "WHATSAPP": "whatsapp_opt_in"}[channel]
    await conn.execute(
        f"UPDATE patients SET {column} = false WHERE hospital_id = $1 AND id = $2",
        hospital_id, patient_id,
    )


async def apply_status(conn: Conn, provider_id: str, status: str, error_code: int | None,
                       error_message: str | None) -> dict[str, Any] | None:
    """A delivery callback. The status only moves up PENDING < SENT < final, so callbacks
    that arrive late, twice or out of order change nothing. None for an unknown SID."""
    row = await conn.fetchrow(
        f"""UPDATE notifications_log n
            SET status = $2, error_code = coalesce($3, n.error_code),
                error_message = coalesce(left($4, 500), n.error_message),
                delivered_at = CASE WHEN $2 = 'DELIVERED' THEN now() ELSE n.delivered_at END
            WHERE n.provider_id = $1
              AND {STATUS_RANK_SQL.format(col="n.status")} < {STATUS_RANK_SQL.format(col="$2")}
            RETURNING n.id, n.hospital_id, n.patient_id, n.channel, n.status, n.error_code,
                      true AS changed""",
        provider_id, status, error_code, error_message,
    )
    if row:
        return dict(row)
    row = await conn.fetchrow(
        """SELECT id, hospital_id, patient_id, channel, status, error_code, false AS changed
           FROM notifications_log WHERE provider_id = $1""",
        provider_id,
    )
    return dict(row) if row else None


async def insert_alert(conn: Conn, *, hospital_id: UUID | None, kind: str, message: str,
                       severity: str = "WARNING", entity_type: str | None = None,
                       entity_id: UUID | None = None, details: dict[str, Any] | None = None,
                       once_within_hours: int | None = None) -> bool:
    """Raise a system alert; with once_within_hours, not while the same one is still open."""
    status = await conn.execute(
        """INSERT INTO system_alerts (hospital_id, kind, severity, entity_type, entity_id,
               message, details)
           SELECT $1::uuid, $2::text, $3::text, $4::text, $5::uuid, left($6::text, 2000),
                  $7::jsonb
           WHERE $8::int IS NULL OR NOT EXISTS (
               SELECT 1 FROM system_alerts a
               WHERE a.kind = $2::text AND a.entity_id IS NOT DISTINCT FROM $5::uuid
                 AND a.resolved_at IS NULL
                 AND a.created_at > now() - make_interval(hours => $8::int))""",
        hospital_id, kind, severity, entity_type, entity_id, message, details or {},
        once_within_hours,
    )
    return status != "INSERT 0 0"


async def notify_ahead(conn: Conn, hospital_id: UUID, department_id: UUID) -> int | None:
    return await conn.fetchval(
        "SELECT notify_ahead FROM departments WHERE hospital_id = $1 AND id = $2",
        hospital_id, department_id,
    )


async def created_within(conn: Conn, token_id: UUID, seconds: float) -> bool:
    """Whether the token was issued in the last `seconds` (its creation message is fresh)."""
    return bool(await conn.fetchval(
        "SELECT created_at > now() - make_interval(secs => $2) FROM tokens WHERE id = $1",
        token_id, seconds,
    ))


async def waiting_tokens(conn: Conn, hospital_id: UUID, doctor_id: UUID) -> list[UUID]:
    """The doctor's WAITING tokens of the hospital's current day."""
    rows = await conn.fetch(
        """SELECT t.id FROM tokens t JOIN hospitals h ON h.id = t.hospital_id
           WHERE t.hospital_id = $1 AND t.doctor_id = $2 AND t.status = 'WAITING'
             AND t.service_date = (now() AT TIME ZONE h.timezone)::date
           ORDER BY t.queue_score NULLS LAST, t.id""",
        hospital_id, doctor_id,
    )
    return [r["id"] for r in rows]


async def reminder_candidates(conn: Conn, event: str, lead_min_s: float, lead_max_s: float,
                              limit: int = 1000) -> list[tuple[UUID, UUID]]:
    """BOOKED tokens whose slot is between lead_min_s and lead_max_s away, booked before that
    window opened (else their booking message was the reminder), not yet reminded."""
    rows = await conn.fetch(
        """SELECT t.hospital_id, t.id FROM tokens t
           WHERE t.status = 'BOOKED'
             AND t.scheduled_time > now() + make_interval(secs => $2)
             AND t.scheduled_time <= now() + make_interval(secs => $3)
             AND t.created_at < t.scheduled_time - make_interval(secs => $3)
             AND NOT EXISTS (SELECT 1 FROM notifications_log n
                             WHERE n.token_id = t.id AND n.event = $1)
           ORDER BY t.scheduled_time LIMIT $4""",
        event, lead_min_s, lead_max_s, limit,
    )
    return [(r["hospital_id"], r["id"]) for r in rows]


async def late_doctors(conn: Conn, at: datetime) -> list[dict[str, Any]]:
    """Doctors whose shift began more than the department's late_start_alert_min before
    `at`, who have called nobody since it began, are not paused, and have patients waiting.
    A shift from local 00:00 is an all-day entry (00:00-23:59, the after-midnight part of a
    night shift), not a start anybody is late for: never a late start."""
    rows = await conn.fetch(
        """SELECT s.hospital_id, s.doctor_id, s.date, d.name AS doctor_name,
                  dep.late_start_alert_min,
                  (s.date + s.start_time) AT TIME ZONE h.timezone AS shift_start
           FROM shifts s
           JOIN hospitals h ON h.id = s.hospital_id
           JOIN doctors d ON d.id = s.doctor_id
           JOIN departments dep ON dep.id = d.department_id
           WHERE s.date = ($1::timestamptz AT TIME ZONE h.timezone)::date AND d.active
             AND s.start_time <> '00:00'
             AND (s.date + s.start_time) AT TIME ZONE h.timezone
                 < $1::timestamptz - make_interval(mins => dep.late_start_alert_min)
             AND (s.date + s.end_time) AT TIME ZONE h.timezone > $1::timestamptz
             AND NOT EXISTS (
                 SELECT 1 FROM tokens t WHERE t.doctor_id = s.doctor_id
                   AND t.service_date = s.date
                   AND t.called_at >= (s.date + s.start_time) AT TIME ZONE h.timezone)
             AND EXISTS (
                 SELECT 1 FROM tokens t WHERE t.doctor_id = s.doctor_id
                   AND t.service_date = s.date AND t.status = 'WAITING')
             AND NOT EXISTS (
                 SELECT 1 FROM doctor_pauses dp
                 WHERE dp.doctor_id = s.doctor_id AND dp.ended_at IS NULL)""",
        at,
    )
    return [dict(r) for r in rows]


async def whatsapp_fallbacks(conn: Conn, within_s: float = 7200, limit: int = 500
                             ) -> list[tuple[UUID, UUID, str, str]]:
    """WhatsApp messages that failed after Twilio accepted them (a delivery callback, e.g.
    63016 outside the 24-hour window) and have no SMS sibling yet: (hospital, token, event,
    once_key)."""
    rows = await conn.fetch(
        """SELECT n.hospital_id, n.token_id, n.event, n.once_key FROM notifications_log n
           WHERE n.channel = 'WHATSAPP' AND n.status IN ('FAILED', 'UNDELIVERED')
             AND n.token_id IS NOT NULL
             AND n.updated_at > now() - make_interval(secs => $1)
             AND NOT EXISTS (SELECT 1 FROM notifications_log s
                             WHERE s.token_id = n.token_id AND s.event = n.event
                               AND s.once_key = n.once_key AND s.channel = 'SMS')
           ORDER BY n.updated_at LIMIT $2""",
        within_s, limit,
    )
    return [(r["hospital_id"], r["token_id"], r["event"], r["once_key"]) for r in rows]


async def stuck_pending(conn: Conn, grace_s: float, lease_s: float, retry_cap_s: float,
                        limit: int = 500) -> list[dict[str, Any]]:
    """PENDING rows nobody works on, untouched for grace_s past what their state allows: no
    attempt started; an attempt with no outcome past its lease; a transient failure whose
    retry (deferred at most retry_cap_s) is overdue."""
    rows = await conn.fetch(
        """SELECT id, hospital_id, token_id, event, channel, attempts, updated_at, once_key
           FROM notifications_log
           WHERE status = 'PENDING' AND token_id IS NOT NULL AND provider_id IS NULL
             AND updated_at < now() - make_interval(secs => $1 + CASE
                 WHEN attempts = 0 THEN 0
                 WHEN error_code IS NULL THEN $2
                 ELSE $3 END)
           ORDER BY updated_at LIMIT $4""",
        grace_s, lease_s, retry_cap_s, limit,
    )
    return [dict(r) for r in rows]


async def unannounced(conn: Conn, grace_s: float, window_s: float, limit: int = 500
                      ) -> list[tuple[UUID, UUID, str]]:
    """(hospital, token, event) for calls and new tokens of the last window_s (older than
    grace_s) that the record still holds, CALLED or WAITING/BOOKED, with no notifications_log
    row at all for their CALL_NOW / TOKEN_CREATED: their event or job was lost."""
    rows = await conn.fetch(
        """SELECT t.hospital_id, t.id, 'CALL_NOW' AS event FROM tokens t
           WHERE t.status = 'CALLED' AND t.service_date >= current_date - 1
             AND t.called_at < now() - make_interval(secs => $1)
             AND t.called_at > now() - make_interval(secs => $2)
             AND NOT EXISTS (SELECT 1 FROM notifications_log n
                             WHERE n.token_id = t.id AND n.event = 'CALL_NOW')
           UNION ALL
           SELECT t.hospital_id, t.id, 'TOKEN_CREATED' FROM tokens t
           WHERE t.status IN ('WAITING', 'BOOKED')
             AND t.created_at < now() - make_interval(secs => $1)
             AND t.created_at > now() - make_interval(secs => $2)
             AND NOT EXISTS (SELECT 1 FROM notifications_log n
                             WHERE n.token_id = t.id AND n.event = 'TOKEN_CREATED')
           LIMIT $3""",
        grace_s, window_s, limit,
    )
    return [(r["hospital_id"], r["id"], r["event"]) for r in rows]


async def log_rows(conn: Conn, token_id: UUID) -> list[dict[str, Any]]:
    """Every notification of a token (tests, support)."""
    rows = await conn.fetch(
        """SELECT id, channel, event, language, body, to_masked, status, provider_id,
                  error_code, error_message, attempts, sent_at, delivered_at
           FROM notifications_log WHERE token_id = $1 ORDER BY created_at, channel""",
        token_id,
    )
    return [dict(r) for r in rows]


# ---------------------------------------------------------------------------- pauses
async def doctor_pause(conn: Conn, hospital_id: UUID, doctor_id: UUID, *, open_: bool
                       ) -> dict[str, Any] | None:
    """The doctor's open pause (open_), or the last one that ended, with the hospital's
    delay threshold: id, started_at, ended_at, expected_min, delay_notify_min."""
    return await conn.fetchrow(
        f"""SELECT p.id, p.started_at, p.ended_at, p.expected_min, h.delay_notify_min
            FROM doctor_pauses p JOIN hospitals h ON h.id = p.hospital_id
            WHERE p.hospital_id = $1 AND p.doctor_id = $2
              AND p.ended_at IS {'' if open_ else 'NOT'} NULL
            ORDER BY p.started_at DESC LIMIT 1""",
        hospital_id, doctor_id,
    )


async def told_once(conn: Conn, token_ids: list[UUID], event: str, once_key: str
                    ) -> set[UUID]:
    """Tokens given an `event` message (on any channel) under this once-key (a pause's id)."""
    rows = await conn.fetch(
        """SELECT DISTINCT token_id FROM notifications_log
           WHERE token_id = ANY($1::uuid[]) AND event = $2 AND once_key = $3""",
        token_ids, event, once_key,
    )
    return {r["token_id"] for r in rows}


async def open_pauses(conn: Conn) -> list[tuple[UUID, UUID]]:
    """(hospital, doctor) of every pause still open: an overrunning one may need a DELAY."""
    rows = await conn.fetch("SELECT hospital_id, doctor_id FROM doctor_pauses "
                            "WHERE ended_at IS NULL")
    return [(r["hospital_id"], r["doctor_id"]) for r in rows]
