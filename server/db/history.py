"""Imported history (risk_history): write a checked file in one transaction, read it back
as training visits.

The rows go to a temporary staging table by COPY (one round trip for 100,000 rows), then
into risk_history with one INSERT ... ON CONFLICT: a row seen before is updated when it
changed, so importing the same file twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from server.risk.history_import import HistoryRow, department_code

STAGE_COLUMNS = ("patient_ref", "department_id", "booked_at", "slot_at", "service_date",
                 "outcome", "age", "gender", "reminder_sent")


@dataclass(frozen=True)
class Imported:
    inserted: int
    updated: int
    unchanged: int
    departments_created: list[str]


async def hospital_id(conn: asyncpg.Connection, code: str) -> UUID | None:
    return await conn.fetchval("SELECT id FROM hospitals WHERE code = $1", code.upper())


async def resolve_departments(conn: asyncpg.Connection, hid: UUID, names: set[str]
                              ) -> tuple[dict[str, UUID], list[str]]:
    """casefolded name-or-code -> department id; unknown ones are created (their codes)."""
    rows = await conn.fetch("SELECT id, code, name FROM departments WHERE hospital_id = $1",
                            hid)
    known: dict[str, UUID] = {}
    for r in rows:
        known.setdefault(r["name"].casefold(), r["id"])
    for r in rows:  # a code wins over a name that happens to read the same
        known[r["code"].casefold()] = r["id"]
    taken = {r["code"] for r in rows}
    created = []
    for name in sorted(n for n in names if n.casefold() not in known):
        code = department_code(name, taken)
        taken.add(code)
        known[name.casefold()] = await conn.fetchval(
            "INSERT INTO departments (hospital_id, name, code) VALUES ($1, $2, $3) RETURNING id",
            hid, name, code)
        created.append(code)
    return known, created


async def import_rows(conn: asyncpg.Connection, hid: UUID, rows: list[HistoryRow]) -> Imported:
    """Write `rows` (already checked, one per appointment); call inside a transaction."""
    depts, created = await resolve_departments(conn, hid, {r.department for r in rows})
    await conn.execute(
        """CREATE TEMPORARY TABLE risk_history_stage (
               patient_ref text, department_id uuid, booked_at timestamptz,
               slot_at timestamptz, service_date date, outcome text, age smallint,
               gender text, reminder_sent boolean) ON COMMIT DROP""")
    await conn.copy_records_to_table(
        "risk_history_stage", columns=STAGE_COLUMNS,
        records=[(r.patient_ref, depts[r.department.casefold()], r.booked_at, r.slot_at,
                  r.service_date, r.outcome, r.age, r.gender, r.reminder_sent) for r in rows])
    res = await conn.fetch(
        """INSERT INTO risk_history (hospital_id, patient_ref, department_id, booked_at,
               slot_at, service_date, outcome, age, gender, reminder_sent)
           SELECT $1, patient_ref, department_id, booked_at, slot_at, service_date, outcome,
                  age, gender, reminder_sent FROM risk_history_stage
           ON CONFLICT (hospital_id, patient_ref, department_id, booked_at, service_date)
           DO UPDATE SET slot_at = EXCLUDED.slot_at, outcome = EXCLUDED.outcome,
                         age = EXCLUDED.age, gender = EXCLUDED.gender,
                         reminder_sent = EXCLUDED.reminder_sent, imported_at = now()
           WHERE (risk_history.slot_at, risk_history.outcome, risk_history.age,
                  risk_history.gender, risk_history.reminder_sent)
                 IS DISTINCT FROM (EXCLUDED.slot_at, EXCLUDED.outcome, EXCLUDED.age,
                                   EXCLUDED.gender, EXCLUDED.reminder_sent)
           RETURNING (xmax = 0) AS inserted""", hid)
    inserted = sum(1 for r in res if r["inserted"])
    updated = len(res) - inserted
    return Imported(inserted, updated, len(rows) - len(res), created)


async def training_visits(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID
                          ) -> list[dict[str, Any]]:
    """Imported appointments in the shape of db.risk.training_visits' rows (all booked).

    A patient_ref equal to a patient's UHID is that patient (their history continues);
    other refs are patients of the old system only. Reminders are kept but never trained
    on (features.at_booking): they were sent after the booking."""
    rows = await conn.fetch(
        """SELECT r.id, r.hospital_id, coalesce(p.id::text, 'ref:' || r.patient_ref)
                      AS patient_id,
                  r.department_id, r.service_date, 'ONLINE' AS booking_type,
                  r.outcome AS status, r.slot_at AS scheduled_time,
                  (r.slot_at AT TIME ZONE h.timezone) AS slot_local,
                  (r.booked_at AT TIME ZONE h.timezone)::date AS booked_on,
                  r.age::int AS age, NULL::float8 AS distance_km, NULL::int AS commute_min,
                  r.reminder_sent::int AS reminders_sent, 0 AS reminders_delivered,
                  NULL::text AS weather
           FROM risk_history r
           JOIN hospitals h ON h.id = r.hospital_id
           LEFT JOIN patients p ON p.hospital_id = r.hospital_id AND p.uhid = r.patient_ref
           WHERE r.hospital_id = $1
           ORDER BY r.service_date, r.booked_at""", hospital_id)
    return [dict(r) for r in rows]
