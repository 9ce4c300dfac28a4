"""Queries of the daily metrics: a day's raw facts in, `doctor_performance_metrics` out, and
the reports' reads of it (server/reports.py, server/routes/reports.py)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

Executor = asyncpg.Connection | asyncpg.Pool

# columns the job writes, in the order of `upsert_day`'s records
WRITTEN = (
    "tokens_total", "tokens_completed", "tokens_no_show", "tokens_cancelled",
    "avg_wait_min", "wait_p50_min", "wait_p90_min", "wait_samples_min",
    "avg_consultation_min", "first_call_delay_min", "late_start", "last_patient_at",
    "overtime_min", "shift_min", "busy_min", "pause_min", "idle_min", "utilisation",
)


async def day_facts(db: Executor, hospital_id: UUID, day: date, tz: str) -> dict[str, Any]:
    """Everything one day's figures are made of, for every doctor who had a token or a shift
    that day: doctors, tokens, history, shifts (as instants), pauses overlapping the day."""
    doctors = await db.fetch(
        """SELECT d.id, dep.late_start_alert_min FROM doctors d
           JOIN departments dep ON dep.id = d.department_id
           WHERE d.hospital_id = $1 AND (
               EXISTS (SELECT 1 FROM tokens t WHERE t.doctor_id = d.id AND t.service_date = $2)
               OR EXISTS (SELECT 1 FROM shifts s WHERE s.doctor_id = d.id AND s.date = $2))""",
        hospital_id, day)
    tokens = await db.fetch(
        """SELECT id, doctor_id, status, booking_type, created_at, checked_in_at, called_at,
                  started_at, completed_at, no_show_at
           FROM tokens WHERE hospital_id = $1 AND service_date = $2
             AND doctor_id IS NOT NULL""", hospital_id, day)
    history = await db.fetch(
        """SELECT h.token_id, h.from_status, h.to_status, h.at FROM token_history h
           JOIN tokens t ON t.id = h.token_id AND t.hospital_id = h.hospital_id
           WHERE t.hospital_id = $1 AND t.service_date = $2 ORDER BY h.at, h.id""",
        hospital_id, day)
    shifts = await db.fetch(
        """SELECT doctor_id, (date + start_time) AT TIME ZONE $3 AS start_at,
                  (date + end_time) AT TIME ZONE $3 AS end_at
           FROM shifts WHERE hospital_id = $1 AND date = $2""", hospital_id, day, tz)
    pauses = await db.fetch(
        """SELECT doctor_id, started_at, ended_at FROM doctor_pauses
           WHERE hospital_id = $1 AND started_at < (($2::date + 1)::timestamp AT TIME ZONE $3)
             AND coalesce(ended_at, 'infinity') > ($2::date::timestamp AT TIME ZONE $3)""",
        hospital_id, day, tz)
    return {"doctors": [dict(r) for r in doctors], "tokens": [dict(r) for r in tokens],
            "history": [dict(r) for r in history], "shifts": [dict(r) for r in shifts],
            "pauses": [dict(r) for r in pauses]}


async def upsert_day(conn: asyncpg.Connection, hospital_id: UUID, day: date,
                     rows: dict[UUID, dict[str, Any]]) -> None:
    """The day's rows, exactly: written or rewritten, and a doctor who no longer has a token
    or shift that day (all moved away) loses the row. Run in the caller's transaction."""
    await conn.execute(
        """DELETE FROM doctor_performance_metrics
           WHERE hospital_id = $1 AND metric_date = $2 AND NOT (doctor_id = ANY($3::uuid[]))""",
        hospital_id, day, list(rows))
    if not rows:
        return
    cols = ", ".join(WRITTEN)
    params = ", ".join(f"${i + 4}" for i in range(len(WRITTEN)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in WRITTEN)
    await conn.executemany(
        f"""INSERT INTO doctor_performance_metrics (doctor_id, metric_date, hospital_id, {cols})
            VALUES ($1, $2, $3, {params})
            ON CONFLICT (doctor_id, metric_date) DO UPDATE SET {updates},
                updated_at = now()""",
        [(doctor_id, day, hospital_id, *(row[c] for c in WRITTEN))
         for doctor_id, row in rows.items()])


async def stale_days(db: Executor, hospital_id: UUID, first: date, before: date) -> list[date]:
    """Days in [first, before) with tokens or shifts whose metrics are missing, or older than
    the last change to one of the day's tokens or shifts (a late correction)."""
    rows = await db.fetch(
        """WITH changed AS (
               SELECT service_date AS day, max(updated_at) AS at FROM tokens
               WHERE hospital_id = $1 AND service_date >= $2 AND service_date < $3
               GROUP BY 1
               UNION ALL
               SELECT date, max(updated_at) FROM shifts
               WHERE hospital_id = $1 AND date >= $2 AND date < $3 GROUP BY 1),
           written AS (
               SELECT metric_date AS day, min(updated_at) AS at
               FROM doctor_performance_metrics
               WHERE hospital_id = $1 AND metric_date >= $2 AND metric_date < $3 GROUP BY 1)
           SELECT c.day FROM changed c LEFT JOIN written w USING (day)
           GROUP BY c.day HAVING max(c.at) > coalesce(min(w.at), '-infinity')
           ORDER BY c.day""",
        hospital_id, first, before)
    return [r["day"] for r in rows]


# ----------------------------------------------------------------------------- reports
REPORT_ROWS = """
SELECT m.metric_date, m.doctor_id, d.name AS doctor_name, d.department_id,
       dep.name AS department_name, m.tokens_total, m.tokens_completed, m.tokens_no_show,
       m.tokens_cancelled, m.avg_wait_min, m.wait_p50_min, m.wait_p90_min,
       m.avg_consultation_min, m.first_call_delay_min, m.late_start, m.last_patient_at,
       m.overtime_min, m.shift_min, m.busy_min, m.pause_min, m.idle_min, m.utilisation,
       m.updated_at
FROM doctor_performance_metrics m
JOIN doctors d ON d.id = m.doctor_id AND d.hospital_id = m.hospital_id
JOIN departments dep ON dep.id = d.department_id
WHERE m.hospital_id = $1 AND m.metric_date BETWEEN $2 AND $3
  AND ($4::uuid IS NULL OR d.department_id = $4)
  AND ($5::uuid IS NULL OR m.doctor_id = $5)
"""


async def report_rows(db: Executor, hospital_id: UUID, first: date, last: date, *,
                      department_id: UUID | None, doctor_id: UUID | None,
                      after: tuple[date, UUID] | None = None, limit: int | None = None
                      ) -> list[dict[str, Any]]:
    """Rows per day x doctor, oldest day first, then by doctor id (the keyset of a page)."""
    sql = REPORT_ROWS
    args: list[Any] = [hospital_id, first, last, department_id, doctor_id]
    if after is not None:
        sql += " AND (m.metric_date, m.doctor_id) > ($6, $7)"
        args += list(after)
    sql += " ORDER BY m.metric_date, m.doctor_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [dict(r) for r in await db.fetch(sql, *args)]


async def day_totals(db: Executor, hospital_id: UUID, first: date, last: date, *,
                     department_id: UUID | None, doctor_id: UUID | None
                     ) -> list[dict[str, Any]]:
    """The same rows summed per day; wait percentiles over every wait of the day (exact,
    from the samples); busy time inside the shifts, for utilisation."""
    rows = await db.fetch(
        f"""WITH r AS ({REPORT_ROWS}),
               m AS (SELECT m.* FROM doctor_performance_metrics m JOIN r
                     ON r.doctor_id = m.doctor_id AND r.metric_date = m.metric_date)
           SELECT r.metric_date, count(*) AS doctors, sum(r.tokens_total) AS tokens_total,
                  sum(r.tokens_completed) AS tokens_completed,
                  sum(r.tokens_no_show) AS tokens_no_show,
                  sum(r.tokens_cancelled) AS tokens_cancelled,
                  count(*) FILTER (WHERE r.late_start) AS late_starts,
                  sum(r.overtime_min) AS overtime_min,
                  sum(r.avg_consultation_min * r.tokens_completed)
                      FILTER (WHERE r.avg_consultation_min IS NOT NULL)
                  / nullif(sum(r.tokens_completed)
                      FILTER (WHERE r.avg_consultation_min IS NOT NULL), 0) AS consult_mean_min,
                  (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY w)
                   FROM m, unnest(m.wait_samples_min) w
                   WHERE m.metric_date = r.metric_date) AS wait_p50_min,
                  (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY w)
                   FROM m, unnest(m.wait_samples_min) w
                   WHERE m.metric_date = r.metric_date) AS wait_p90_min,
                  -- each doctor's utilisation weighted by their unpaused shift time
                  coalesce(sum(r.utilisation * (r.shift_min - r.pause_min)), 0)::float
                      AS busy_in_shift_min,
                  sum(r.busy_min) AS busy_min, sum(r.shift_min) AS shift_min,
                  sum(r.pause_min) AS pause_min, sum(r.idle_min) AS idle_min
           FROM r GROUP BY r.metric_date ORDER BY r.metric_date""",
        hospital_id, first, last, department_id, doctor_id)
    return [dict(r) for r in rows]


async def hospital_days(db: Executor, hospital_id: UUID, first: date, last: date
                        ) -> list[date]:
    """Days in [first, last] with a token or a shift: the days worth computing."""
    rows = await db.fetch(
        """SELECT service_date AS day FROM tokens
           WHERE hospital_id = $1 AND service_date BETWEEN $2 AND $3
           UNION SELECT date FROM shifts WHERE hospital_id = $1 AND date BETWEEN $2 AND $3
           ORDER BY 1""", hospital_id, first, last)
    return [r["day"] for r in rows]


async def hospital_by_code(db: Executor, code: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT id, timezone FROM hospitals WHERE code = $1", code)


async def hospital_tz(db: Executor, hospital_id: UUID) -> str:
    tz = await db.fetchval("SELECT timezone FROM hospitals WHERE id = $1", hospital_id)
    assert tz is not None
    return str(tz)

