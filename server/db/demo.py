"""Queries of the demo loader: claim the demo hospital's code, then bulk-copy its rows.

The loader builds every row in Python (ids included), so the whole demo is a handful of
COPY statements in one transaction: seconds, not minutes, on the embedded PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import asyncpg

BULK_COLUMNS: Mapping[str, Sequence[str]] = {
    "departments": (
        "id", "hospital_id", "name", "code", "avg_consultation_min", "language",
    ),
    "cabins": ("id", "hospital_id", "department_id", "number", "floor"),
    "doctors": (
        "id", "hospital_id", "department_id", "name", "phone", "avg_consultation_min",
    ),
    "shifts": ("hospital_id", "doctor_id", "cabin_id", "date", "start_time", "end_time"),
    "users": (
        "hospital_id", "username", "password_hash", "role", "doctor_id", "department_id",
        "full_name",
    ),
    "patients": (
        "id", "hospital_id", "uhid", "name", "phone", "date_of_birth", "gender", "language",
        "sms_opt_in", "whatsapp_opt_in", "distance_km", "commute_min", "created_at",
    ),
    "tokens": (
        "id", "hospital_id", "department_id", "doctor_id", "cabin_id", "patient_id",
        "service_date", "seq", "number", "booking_type", "priority", "status", "queue_score",
        "public_code", "scheduled_time", "created_at", "checked_in_at", "called_at",
        "started_at", "completed_at", "no_show_at", "cancelled_at", "cancel_reason",
        "recall_count", "updated_at",
    ),
    "token_counters": ("department_id", "service_date", "last_seq"),
    "token_history": (
        "hospital_id", "token_id", "action", "from_status", "to_status", "actor_kind",
        "reason", "doctor_id", "at",
    ),
}
"""Tables the demo fills and the columns it gives; the order is the order COPY sends."""


async def claim_hospital(
    conn: asyncpg.Connection, *, name: str, code: str, timezone: str, latitude: float,
    longitude: float, radius_m: int, language: str,
) -> UUID | None:
    """Insert the hospital unless its code exists; None when it does.

    ON CONFLICT makes two loaders racing on an empty database safe: the second waits for the
    first to commit and then finds the code taken.
    """
    return await conn.fetchval(
        """INSERT INTO hospitals (name, code, timezone, latitude, longitude, geofence_radius_m,
                                  default_language)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (code) DO NOTHING RETURNING id""",
        name, code, timezone, latitude, longitude, radius_m, language,
    )


async def hospital_exists(conn: asyncpg.Connection, code: str) -> bool:
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM hospitals WHERE code = $1)", code)
    )


async def copy_rows(
    conn: asyncpg.Connection, table: str, rows: Iterable[Mapping[str, Any]]
) -> int:
    """COPY `rows` (dicts keyed by column) into a BULK_COLUMNS table; returns the count."""
    columns = BULK_COLUMNS[table]
    records = [tuple(row.get(c) for c in columns) for row in rows]
    if records:
        await conn.copy_records_to_table(table, records=records, columns=list(columns))
    return len(records)
