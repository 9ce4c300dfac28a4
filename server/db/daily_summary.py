"""Queries of the daily summary: a day's figures (counts only, no patient data), and the
stored summaries (one per hospital and day)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from server.domain.daily_summary import Department, Figures

Executor = asyncpg.Pool | asyncpg.Connection

# waits: from arrival (check-in, or issue for a walk-in) to the first call
_WAIT = "extract(epoch FROM t.called_at - coalesce(t.checked_in_at, t.created_at)) / 60"


async def due_hospitals(db: Executor) -> list[dict[str, Any]]:
    """Every hospital with its timezone and summary hour."""
    rows = await db.fetch("SELECT id, name, timezone, summary_hour FROM hospitals ORDER BY id")
    return [dict(r) for r in rows]


async def figures(db: Executor, hospital_id: UUID, day: date) -> Figures:
    h = await db.fetchrow("SELECT name, timezone FROM hospitals WHERE id = $1", hospital_id)
    counts = await db.fetchrow(
        f"""SELECT count(*) FILTER (WHERE status <> 'RESCHEDULED') AS issued,
                   count(*) FILTER (WHERE status = 'COMPLETED') AS seen,
                   count(*) FILTER (WHERE status = 'NO_SHOW') AS no_show,
                   count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
                   count(*) FILTER (WHERE status IN ('WAITING', 'CALLED', 'IN_CONSULTATION'))
                       AS still_waiting,
                   round(avg({_WAIT}) FILTER (WHERE t.called_at IS NOT NULL))::int AS wait_mean,
                   round(percentile_cont(0.9) WITHIN GROUP (ORDER BY {_WAIT})
                         FILTER (WHERE t.called_at IS NOT NULL))::int AS wait_p90
            FROM tokens t WHERE t.hospital_id = $1 AND t.service_date = $2""",
        hospital_id, day)
    risk = await db.fetchrow(
        """SELECT count(*) AS scored, count(*) FILTER (WHERE t.status = 'NO_SHOW') AS no_show,
                  sum(1 - r.show_probability) AS expected
           FROM tokens t
           JOIN LATERAL (SELECT show_probability FROM risk_assessments ra
                         WHERE ra.token_id = t.id ORDER BY ra.created_at DESC LIMIT 1) r ON true
           WHERE t.hospital_id = $1 AND t.service_date = $2
             AND t.status IN ('COMPLETED', 'NO_SHOW')""",
        hospital_id, day)
    busiest = await db.fetchrow(
        f"""SELECT d.name, count(*) AS issued,
                   round(percentile_cont(0.9) WITHIN GROUP (ORDER BY {_WAIT})
                         FILTER (WHERE t.called_at IS NOT NULL))::int AS wait_p90
            FROM tokens t JOIN departments d ON d.id = t.department_id
            WHERE t.hospital_id = $1 AND t.service_date = $2 AND t.status <> 'RESCHEDULED'
            GROUP BY d.id, d.name ORDER BY count(*) DESC, d.name LIMIT 1""",
        hospital_id, day)
    alerts = await db.fetch(
        """SELECT kind, count(*) AS n FROM system_alerts
           WHERE hospital_id = $1 AND alert_key IS NOT NULL
             AND created_at >= ($2::date::timestamp AT TIME ZONE $3)
             AND created_at < (($2::date + 1)::timestamp AT TIME ZONE $3)
           GROUP BY kind""",
        hospital_id, day, h["timezone"])
    return Figures(
        day=day, hospital=h["name"], issued=counts["issued"], seen=counts["seen"],
        no_show=counts["no_show"], cancelled=counts["cancelled"],
        still_waiting=counts["still_waiting"], wait_mean_min=counts["wait_mean"],
        wait_p90_min=counts["wait_p90"], scored=risk["scored"], scored_no_show=risk["no_show"],
        expected_no_show=float(risk["expected"]) if risk["expected"] is not None else None,
        busiest=(Department(busiest["name"], busiest["issued"], busiest["wait_p90"])
                 if busiest else None),
        alerts={r["kind"]: r["n"] for r in alerts})


async def exists(db: Executor, hospital_id: UUID, day: date) -> bool:
    return bool(await db.fetchval(
        "SELECT 1 FROM daily_summaries WHERE hospital_id = $1 AND summary_date = $2",
        hospital_id, day))


async def store(db: Executor, *, hospital_id: UUID, day: date, text: str, template_text: str,
                figures: dict[str, Any], written_by: str) -> bool:
    """False when that day's summary was written already (the first one stands)."""
    status = await db.execute(
        """INSERT INTO daily_summaries (hospital_id, summary_date, text, template_text, figures,
                                        written_by)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT DO NOTHING""",
        hospital_id, day, text, template_text, figures, written_by)
    return status.endswith(" 1")


async def list_summaries(db: Executor, hospital_id: UUID, *, day_from: date | None,
                         day_to: date | None, limit: int) -> list[dict[str, Any]]:
    rows = await db.fetch(
        """SELECT summary_date, text, template_text, figures, written_by, created_at
           FROM daily_summaries
           WHERE hospital_id = $1 AND ($2::date IS NULL OR summary_date >= $2)
             AND ($3::date IS NULL OR summary_date <= $3)
           ORDER BY summary_date DESC LIMIT $4""",
        hospital_id, day_from, day_to, limit)
    return [dict(r) for r in rows]
