"""Read-side queries the queue needs about doctors, departments and hospitals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

DOCTOR_CONTEXT = """
SELECT d.id, d.hospital_id, d.department_id, d.name, d.active,
       coalesce(d.avg_consultation_min, dep.avg_consultation_min)::float AS avg_consultation_min,
       dep.avg_consultation_min::float AS dept_avg_min, dep.buffer_min::float AS buffer_min,
       dep.booked_grace_min, dep.senior_credit_min, dep.skip_places, dep.reinstate_places,
       dep.code AS department_code,
       s.cabin_id, c.number AS cabin, s.start_time AS shift_start, s.end_time AS shift_end,
       h.timezone
FROM doctors d
JOIN departments dep ON dep.id = d.department_id
JOIN hospitals h ON h.id = d.hospital_id
LEFT JOIN LATERAL (
    SELECT cabin_id, start_time, end_time FROM shifts
    WHERE shifts.doctor_id = d.id AND shifts.date = $1 ORDER BY start_time LIMIT 1
) s ON true
LEFT JOIN cabins c ON c.id = s.cabin_id
"""


async def doctor_context(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID,
                         doctor_id: UUID, day: date) -> dict[str, Any] | None:
    row = await conn.fetchrow(DOCTOR_CONTEXT + " WHERE d.hospital_id = $2 AND d.id = $3",
                              day, hospital_id, doctor_id)
    return dict(row) if row else None


# the same context for the hospital's own day at a moment ($1, a timestamptz): the hospital
# and the doctor in one round trip (the day as calendar.local_day computes it)
DOCTOR_CONTEXT_AT = DOCTOR_CONTEXT.replace(
    "shifts.date = $1", "shifts.date = ($1::timestamptz AT TIME ZONE h.timezone)::date")
assert DOCTOR_CONTEXT_AT != DOCTOR_CONTEXT


async def doctor_context_at(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID,
                            doctor_id: UUID, at: datetime) -> dict[str, Any] | None:
    """The doctor's context on the hospital's day at `at` (no separate hospital read)."""
    row = await conn.fetchrow(DOCTOR_CONTEXT_AT + " WHERE d.hospital_id = $2 AND d.id = $3",
                              at, hospital_id, doctor_id)
    return dict(row) if row else None


async def hospital_doctors(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID,
                           day: date) -> list[dict[str, Any]]:
    rows = await conn.fetch(DOCTOR_CONTEXT + " WHERE d.hospital_id = $2 ORDER BY d.name",
                            day, hospital_id)
    return [dict(r) for r in rows]


async def department_doctors(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID,
                             department_id: UUID, day: date) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        DOCTOR_CONTEXT + " WHERE d.hospital_id = $2 AND d.department_id = $3 AND d.active"
        " ORDER BY d.name", day, hospital_id, department_id,
    )
    return [dict(r) for r in rows]


async def department(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID,
                     department_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT dep.*, dep.avg_consultation_min::float AS avg_min, h.timezone,
                  h.board_languages AS hospital_board_languages
           FROM departments dep JOIN hospitals h ON h.id = dep.hospital_id
           WHERE dep.hospital_id = $1 AND dep.id = $2""", hospital_id, department_id,
    )
    return dict(row) if row else None


async def hospital(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID
                   ) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM hospitals WHERE id = $1", hospital_id)
    return dict(row) if row else None


async def all_hospital_ids(conn: asyncpg.Connection | asyncpg.Pool) -> list[UUID]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM hospitals")]


async def consult_stats(conn: asyncpg.Connection | asyncpg.Pool, doctor_ids: list[UUID],
                        since: date) -> dict[UUID, tuple[int, float, float]]:
    """Learned consult minutes per doctor (n, mean, M2), from the record, for a rebuild."""
    rows = await conn.fetch(
        """SELECT doctor_id, count(*) AS n,
                  avg(mins) AS mean, coalesce(var_samp(mins) * (count(*) - 1), 0) AS m2
           FROM (SELECT doctor_id,
                        least(greatest(extract(epoch FROM completed_at
                              - coalesce(started_at, called_at)) / 60.0, 0.5), 120) AS mins
                 FROM tokens
                 WHERE doctor_id = ANY($1::uuid[]) AND service_date >= $2
                   AND status = 'COMPLETED' AND completed_at IS NOT NULL
                   AND coalesce(started_at, called_at) IS NOT NULL) x
           GROUP BY doctor_id""",
        doctor_ids, since,
    )
    return {r["doctor_id"]: (r["n"], float(r["mean"]), float(r["m2"])) for r in rows}


async def open_pauses(conn: asyncpg.Connection | asyncpg.Pool,
                      doctor_ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM doctor_pauses WHERE doctor_id = ANY($1::uuid[]) AND ended_at IS NULL",
        doctor_ids,
    )
    return {r["doctor_id"]: dict(r) for r in rows}


async def on_leave(conn: asyncpg.Connection | asyncpg.Pool, doctor_ids: list[UUID],
                   at: datetime) -> set[UUID]:
    """Doctors with a schedule exception (leave, training...) covering `at`."""
    rows = await conn.fetch(
        """SELECT DISTINCT doctor_id FROM schedule_exceptions
           WHERE doctor_id = ANY($1::uuid[]) AND start_at <= $2 AND end_at > $2""",
        doctor_ids, at)
    return {r["doctor_id"] for r in rows}
