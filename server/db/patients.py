"""Queries for patients."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from server.domain.names import SearchTerms, parse_search, search_key

PATIENT_COLUMNS = """id, hospital_id, uhid, name, phone, date_of_birth, gender, language,
    sms_opt_in, whatsapp_opt_in, distance_km::float AS distance_km, commute_min, created_at"""


async def create(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID, **cols: Any
                 ) -> dict[str, Any]:
    cols["name_key"] = search_key(cols["name"])
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
               phone: str | None = None, uhid: str | None = None, q: str | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
    """By exact phone or UHID, and/or by `q`: every typed word a prefix of a word of the
    name, or 4+ digits within the phone, or the UHID."""
    terms = parse_search(q) if q else SearchTerms([])
    rows = await conn.fetch(
        f"""SELECT {PATIENT_COLUMNS} FROM patients
            WHERE hospital_id = $1 AND ($2::text IS NULL OR phone = $2)
              AND ($3::text IS NULL OR uhid = $3)
              AND ($4::text IS NULL
                   OR (cardinality($5::text[]) > 0
                       AND name_key LIKE ALL ($5::text[]))
                   OR ($6::text IS NOT NULL AND phone LIKE '%' || $6 || '%')
                   OR upper(uhid) = upper($4))
            ORDER BY created_at DESC LIMIT $7""",
        hospital_id, phone, uhid, q, terms.name_patterns, terms.phone_digits, limit,
    )
    return [dict(r) for r in rows]


async def update(conn: asyncpg.Connection, hospital_id: UUID, patient_id: UUID,
                 changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(before, after) of the patient, changed in the caller's transaction; None if unknown."""
    before = await conn.fetchrow(
        f"SELECT {PATIENT_COLUMNS} FROM patients WHERE hospital_id = $1 AND id = $2 FOR UPDATE",
        hospital_id, patient_id)
    if before is None:
        return None
    cols = dict(changes)
    if "name" in cols:
        cols["name_key"] = search_key(cols["name"])
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(cols, start=3))
    after = await conn.fetchrow(
        f"UPDATE patients SET {sets} WHERE hospital_id = $1 AND id = $2 "
        f"RETURNING {PATIENT_COLUMNS}", hospital_id, patient_id, *cols.values())
    return dict(before), dict(after)


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
