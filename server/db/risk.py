"""Queries of the no-show risk: the inputs of features, models, assessments, the LLM audit.

json/jsonb values go in and come out as Python objects (the pool's codecs, db/pool.py).

History is always counted from days BEFORE the visit (never the patient_history_summary view,
which counts every day, the visit's own included), so a score computed today for a past visit
sees what was known then; a patient's imported history (risk_history, by UHID) counts too.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

# the visit itself, hospital-local: slot (or issue time), booking date, patient, reminders,
# and the day's (or the slot hour's) weather when known
_VISIT = """
SELECT t.id, t.hospital_id, t.patient_id, t.department_id, t.doctor_id, t.service_date,
       t.booking_type, t.status, t.scheduled_time,
       (coalesce(t.scheduled_time, t.created_at) AT TIME ZONE h.timezone) AS slot_local,
       (t.created_at AT TIME ZONE h.timezone)::date AS booked_on,
       p.date_of_birth, p.distance_km::float8 AS distance_km, p.commute_min,
       coalesce(n.sent, 0) AS reminders_sent, coalesce(n.delivered, 0) AS reminders_delivered,
       w.condition AS weather
FROM tokens t
JOIN hospitals h ON h.id = t.hospital_id
JOIN patients p ON p.id = t.patient_id
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE nl.status IN ('SENT', 'DELIVERED')) AS sent,
           count(*) FILTER (WHERE nl.status = 'DELIVERED') AS delivered
    FROM notifications_log nl
    WHERE nl.token_id = t.id AND nl.event IN ('REMINDER_DAY_BEFORE', 'REMINDER_2H',
                                              'REMINDER_EXTRA')
) n ON true
LEFT JOIN LATERAL (
    SELECT wd.condition FROM weather_data wd
    WHERE wd.hospital_id = t.hospital_id AND wd.date = t.service_date
      AND wd.hour IN (-1, extract(hour FROM coalesce(t.scheduled_time, t.created_at)
                                          AT TIME ZONE h.timezone)::int)
    ORDER BY wd.hour DESC LIMIT 1
) w ON true
"""

_HISTORY = """
WITH past AS (
    SELECT o.status, o.booking_type, o.department_id, o.service_date, o.created_at
    FROM tokens o
    WHERE o.patient_id = $1 AND o.service_date < $3
    UNION ALL
    -- imported history (risk_history) continues the patient whose UHID is its patient_ref,
    -- as in training (db.history.training_visits): booked visits from before the booking
    SELECT r.outcome, 'ONLINE', r.department_id, r.service_date, r.booked_at
    FROM patients p
    JOIN risk_history r ON r.hospital_id = p.hospital_id AND r.patient_ref = p.uhid
    WHERE p.id = $1 AND r.service_date < $4
)
SELECT count(*) FILTER (WHERE o.status IN ('COMPLETED', 'NO_SHOW')
                          AND o.booking_type = 'ONLINE') AS booked,
       count(*) FILTER (WHERE o.status = 'NO_SHOW' AND o.booking_type = 'ONLINE')
           AS booked_no_shows,
       count(*) FILTER (WHERE o.status IN ('COMPLETED', 'NO_SHOW')) AS visits,
       count(*) FILTER (WHERE o.status IN ('COMPLETED', 'NO_SHOW')
                          AND o.department_id = $2) AS dept_visits,
       count(*) FILTER (WHERE o.status = 'CANCELLED' AND o.booking_type = 'ONLINE')
           AS cancellations,
       max(o.service_date) FILTER (WHERE o.status IN ('COMPLETED', 'NO_SHOW')) AS last_visit,
       (array_agg(o.status = 'NO_SHOW' ORDER BY o.service_date DESC, o.created_at DESC)
            FILTER (WHERE o.status IN ('COMPLETED', 'NO_SHOW')))[1] AS last_was_no_show
FROM past o
"""


async def visit(conn: Conn, token_id: UUID) -> dict[str, Any] | None:
    """One token's own inputs (any hospital: jobs take ids only)."""
    row = await conn.fetchrow(_VISIT + " WHERE t.id = $1", token_id)
    return dict(row) if row else None


async def history_before(conn: Conn, patient_id: UUID, department_id: UUID,
                         day: date, booked_on: date | None = None) -> dict[str, Any]:
    """The patient's record before `day` (the visit's service date): their own tokens, and
    their imported visits from before `booked_on` (the booking date; `day` when not given),
    what training lets an imported visit's successor see (features.histories_before)."""
    imported_before = min(day, booked_on) if booked_on else day
    row = await conn.fetchrow(_HISTORY, patient_id, department_id, day, imported_before)
    return dict(row) if row else {}


async def training_visits(conn: Conn, hospital_id: UUID) -> list[dict[str, Any]]:
    """Every past token that ended (or was cancelled), oldest day first: the raw history a
    model is trained on; histories are folded from it in order (features.histories_before)."""
    rows = await conn.fetch(
        _VISIT + """ WHERE t.hospital_id = $1 AND t.status IN ('COMPLETED', 'NO_SHOW', 'CANCELLED')
                     ORDER BY t.service_date, t.created_at""", hospital_id)
    return [dict(r) for r in rows]


async def hospitals(conn: Conn) -> list[UUID]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM hospitals ORDER BY created_at")]


async def hospitals_without_model(conn: Conn) -> list[UUID]:
    rows = await conn.fetch(
        """SELECT h.id FROM hospitals h
           WHERE NOT EXISTS (SELECT 1 FROM risk_models m WHERE m.hospital_id = h.id AND m.active)
           ORDER BY h.created_at""")
    return [r["id"] for r in rows]


async def lock_training(conn: asyncpg.Connection, hospital_id: UUID) -> bool:
    """One trainer per hospital at a time (transaction-scoped); False if another holds it."""
    return bool(await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('risk-train:' || $1::uuid::text, 0))",
        hospital_id))


async def active_model(conn: Conn, hospital_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT id, version, kind, params, auc, brier, calibration_error, n_train, n_holdout,
                  trained_at
           FROM risk_models WHERE hospital_id = $1 AND active""", hospital_id)
    if not row:
        return None
    return dict(row)


async def insert_model(conn: asyncpg.Connection, *, hospital_id: UUID, version: str, kind: str,
                       n_train: int, n_holdout: int, auc: float | None, brier: float | None,
                       calibration_error: float | None, params: dict[str, Any]) -> UUID:
    """Store a model and make it the hospital's active one (call inside a transaction)."""
    await conn.execute(
        "UPDATE risk_models SET active = false WHERE hospital_id = $1 AND active", hospital_id)
    return await conn.fetchval(
        """INSERT INTO risk_models (hospital_id, version, kind, n_train, n_holdout, auc, brier,
                                    calibration_error, params, active)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, true) RETURNING id""",
        hospital_id, version, kind, n_train, n_holdout, auc, brier, calibration_error,
        params)



async def lock_token(conn: asyncpg.Connection, token_id: UUID) -> None:
    """Two scorers of one token take turns, so a re-run sees the first one's row."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('risk-score:' || $1::uuid::text, 0))",
        token_id)


async def latest_assessment(conn: Conn, token_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT id, model_id, model_version, score, badge, tier, show_probability, factors,
                  features, explanation, created_at
           FROM risk_assessments WHERE token_id = $1
           ORDER BY created_at DESC, id DESC LIMIT 1""", token_id)
    if not row:
        return None
    return dict(row)


async def insert_assessment(conn: Conn, *, hospital_id: UUID, token_id: UUID, patient_id: UUID,
                            model_id: UUID | None, model_version: str, score: int, badge: str,
                            tier: int, show_probability: float, factors: list[dict[str, Any]],
                            features: dict[str, Any]) -> int:
    return await conn.fetchval(
        """INSERT INTO risk_assessments (hospital_id, token_id, patient_id, model_id,
               model_version, score, badge, tier, show_probability, factors, features)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb) RETURNING id""",
        hospital_id, token_id, patient_id, model_id, model_version, score, badge, tier,
        show_probability, factors, features)


async def assessment(conn: Conn, assessment_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT a.id, a.hospital_id, a.token_id, a.patient_id, a.model_version, a.score,
                  a.badge, a.tier, a.show_probability, a.factors, a.features, a.explanation
           FROM risk_assessments a WHERE a.id = $1""", assessment_id)
    if not row:
        return None
    return dict(row)


async def set_explanation(conn: Conn, assessment_id: int, text: str) -> None:
    await conn.execute("UPDATE risk_assessments SET explanation = $2 WHERE id = $1",
                       assessment_id, text[:1000])


async def future_booked(conn: Conn) -> list[UUID]:
    """BOOKED tokens from each hospital's local today on: what the daily rescore covers."""
    rows = await conn.fetch(
        """SELECT t.id FROM tokens t JOIN hospitals h ON h.id = t.hospital_id
           WHERE t.status = 'BOOKED' AND t.service_date >= (now() AT TIME ZONE h.timezone)::date
           ORDER BY t.service_date, t.scheduled_time""")
    return [r["id"] for r in rows]


async def insert_audit(conn: Conn, *, hospital_id: UUID | None, purpose: str, model: str,
                       request_summary: dict[str, Any], latency_ms: int | None,
                       prompt_tokens: int | None, completion_tokens: int | None,
                       estimated_cost_usd: float | None, status: str,
                       error: str | None) -> int:
    return await conn.fetchval(
        """INSERT INTO agent_audit_logs (hospital_id, purpose, model, request_summary,
               latency_ms, prompt_tokens, completion_tokens, estimated_cost_usd, status, error)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10) RETURNING id""",
        hospital_id, purpose, model[:100], request_summary, latency_ms,
        prompt_tokens, completion_tokens, estimated_cost_usd, status,
        error[:1000] if error else None)
