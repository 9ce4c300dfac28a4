"""Reads for the FHIR API (server/routes/fhir.py): a hospital's tokens and patients with
what the resources show. Scoped by hospital like every query: another's id is not found."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from server.db.admin import Executor

_APPOINTMENT = """
SELECT t.id, t.patient_id, t.doctor_id, t.status, t.service_date, t.number, t.booking_type,
       t.scheduled_time, t.created_at, t.updated_at, t.checked_in_at, t.started_at,
       t.completed_at, t.cancel_reason,
       p.name AS patient_name, doc.name AS doctor_name, dep.name AS department_name,
       c.number AS cabin_number,
       coalesce(doc.avg_consultation_min, dep.avg_consultation_min) AS avg_consultation_min
FROM tokens t
JOIN patients p ON p.id = t.patient_id
JOIN departments dep ON dep.id = t.department_id
LEFT JOIN cabins c ON c.id = t.cabin_id
LEFT JOIN doctors doc ON doc.id = t.doctor_id
"""


async def hospital_code(db: Executor, hospital_id: UUID) -> str:
    return str(await db.fetchval("SELECT code FROM hospitals WHERE id = $1", hospital_id))


async def appointment(db: Executor, hospital_id: UUID, token_id: UUID) -> dict[str, Any] | None:
    row = await db.fetchrow(f"{_APPOINTMENT} WHERE t.hospital_id = $1 AND t.id = $2",
                            hospital_id, token_id)
    return dict(row) if row else None


async def appointments_of_day(db: Executor, hospital_id: UUID, day: date
                              ) -> list[dict[str, Any]]:
    rows = await db.fetch(f"{_APPOINTMENT} WHERE t.hospital_id = $1 AND t.service_date = $2 "
                          "ORDER BY t.department_id, t.seq", hospital_id, day)
    return [dict(r) for r in rows]


async def patient(db: Executor, hospital_id: UUID, patient_id: UUID) -> dict[str, Any] | None:
    row = await db.fetchrow(
        """SELECT id, uhid, name, phone, date_of_birth, gender, language, updated_at
           FROM patients WHERE hospital_id = $1 AND id = $2""", hospital_id, patient_id)
    return dict(row) if row else None
