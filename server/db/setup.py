"""Queries for the hospital's setup: hospitals and their first admin."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def create_hospital(
    conn: asyncpg.Connection, *, name: str, code: str, timezone: str = "Asia/Kolkata",
    latitude: float | None = None, longitude: float | None = None, radius_m: int = 300,
    language: str = "en",
) -> UUID:
    return await conn.fetchval(
        """INSERT INTO hospitals (name, code, timezone, latitude, longitude, geofence_radius_m,
                                  default_language)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        name, code, timezone, latitude, longitude, radius_m, language,
    )



async def create_user(
    conn: asyncpg.Connection, *, hospital_id: UUID, username: str, password_hash: str,
    role: str, doctor_id: UUID | None = None, department_id: UUID | None = None,
    full_name: str | None = None,
) -> UUID:
    return await conn.fetchval(
        """INSERT INTO users (hospital_id, username, password_hash, role, doctor_id,
                              department_id, full_name)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        hospital_id, username, password_hash, role, doctor_id, department_id, full_name,
    )
