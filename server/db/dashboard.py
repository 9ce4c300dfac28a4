"""Today's dashboard figures for one hospital, straight from the record (tokens table).

One query per figure family; every query is scoped to the hospital and to its local day, so a
dashboard never mixes hospitals or days. Minutes are floats rounded to one decimal.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

Executor = asyncpg.Connection | asyncpg.Pool

# per doctor: live queue length, served, no-shows, mean wait (arrival -> call) and consult
# (start, or call when never started -> complete); doctors with no token today still show
PER_DOCTOR = """
SELECT d.id AS doctor_id, d.name, dep.id AS department_id, dep.name AS department,
       count(t.id) FILTER (WHERE t.status = 'WAITING')                  AS waiting,
       count(t.id) FILTER (WHERE t.status = 'BOOKED')                   AS booked,
       count(t.id) FILTER (WHERE t.status IN ('CALLED', 'IN_CONSULTATION')) AS with_doctor,
       count(t.id) FILTER (WHERE t.status = 'COMPLETED')                AS completed,
       count(t.id) FILTER (WHERE t.status = 'NO_SHOW')                  AS no_show,
       count(t.id)                                                       AS total,
       round((avg(extract(epoch FROM t.called_at - coalesce(t.checked_in_at, t.created_at)))
              FILTER (WHERE t.called_at IS NOT NULL) / 60)::numeric, 1) AS avg_wait_min,
       round((avg(extract(epoch FROM t.completed_at - coalesce(t.started_at, t.called_at)))
              FILTER (WHERE t.status = 'COMPLETED' AND t.completed_at IS NOT NULL) / 60)::numeric,
             1) AS avg_consult_min
FROM doctors d
JOIN departments dep ON dep.id = d.department_id
LEFT JOIN tokens t ON t.doctor_id = d.id AND t.hospital_id = d.hospital_id
                  AND t.service_date = $2
WHERE d.hospital_id = $1 AND d.active
GROUP BY d.id, d.name, dep.id, dep.name
ORDER BY dep.name, d.name
"""

# tokens issued per local hour of the day (arrivals), for the hourly chart
PER_HOUR = """
SELECT extract(hour FROM t.created_at AT TIME ZONE $3)::int AS hour, count(*) AS issued,
       count(*) FILTER (WHERE t.status = 'COMPLETED') AS completed
FROM tokens t
WHERE t.hospital_id = $1 AND t.service_date = $2
GROUP BY 1 ORDER BY 1
"""


async def per_doctor(db: Executor, hospital_id: UUID, day: date) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch(PER_DOCTOR, hospital_id, day)]


async def per_hour(db: Executor, hospital_id: UUID, day: date, timezone: str
                   ) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch(PER_HOUR, hospital_id, day, timezone)]
