"""Queries for patients."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

PATIENT_COLUMNS = """id, hospital_id, uhid, name, phone, date_of_birth, gender, language,
    sms_opt_in, whatsapp_opt_in, distance_km::float AS distance_km, commute_min, created_at"""


async def create(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID, **cols: Any
                 ) -> dict[str, Any]:
    names = ["hospital_id", *cols]
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO patients ({', '.join(names)}) VALUES ({placeholders}) "
        f"RETURNING {PATIENT_COLUMNS}", hospital_id, *cols.values(),
    )
    return dict(row)


async def next_uhid(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID) -> str:
    n = await conn.fetchval("SELECT count(*) + 1 FROM patients WHERE hospital_id = $1",
                            hospital_id)
    return f"UH{n:06d}"


async def get(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID, patient_id: UUID
              ) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {PATIENT_COLUMNS} FROM patients WHERE hospital_id = $1 AND id = $2",
        hospital_id, patient_id,
    )
    return dict(row) if row else None


async def find(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID, *,
               phone: str | None = None, uhid: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT {PATIENT_COLUMNS} FROM patients
            WHERE hospital_id = $1 AND ($2::text IS NULL OR phone = $2)
              AND ($3::text IS NULL OR uhid = $3)
            ORDER BY created_at DESC LIMIT 50""",
        hospital_id, phone, uhid,
    )
    return [dict(r) for r in rows]


async def visits(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID, patient_id: UUID,
                 limit: int = 50) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT t.id, t.number, t.status, t.service_date, t.booking_type, t.scheduled_time,
                  t.created_at, t.completed_at, dep.name AS department, doc.name AS doctor
           FROM tokens t JOIN departments dep ON dep.id = t.department_id
           LEFT JOIN doctors doc ON doc.id = t.doctor_id
           WHERE t.hospital_id = $1 AND t.patient_id = $2
           ORDER BY t.service_date DESC, t.created_at DESC LIMIT $3""",
        hospital_id, patient_id, limit,
    )
    return [dict(r) for r in rows]
