"""schema.sql: applying it again changes nothing, and its constraints refuse bad rows.

The constraints are the last line of defence behind the API's validation, so each is
checked to fail with the asyncpg exception the handlers map to a 4xx.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from server.db.pool import apply_schema

DAY = date(2026, 3, 9)

_CATALOG_QUERIES = {
    "tables": """SELECT c.relname, c.relkind::text FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p', 'S')""",
    "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default,
                         is_identity, numeric_precision, numeric_scale
                  FROM information_schema.columns WHERE table_schema = 'public'""",
    "constraints": """SELECT cl.relname, co.conname, co.contype::text,
                             pg_get_constraintdef(co.oid)
                      FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
                      JOIN pg_namespace n ON n.oid = cl.relnamespace
                      WHERE n.nspname = 'public'""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "triggers": """SELECT event_object_table, trigger_name, action_timing, event_manipulation,
                          action_statement
                   FROM information_schema.triggers WHERE trigger_schema = 'public'""",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'",
    "functions": """SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
                    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'""",
}


async def _catalog(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: sorted(tuple(str(v) for v in row) for row in await conn.fetch(sql))
        for name, sql in _CATALOG_QUERIES.items()
    }


async def test_applying_schema_again_changes_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        before = await _catalog(conn)
        await apply_schema(conn)
        await apply_schema(conn)
        after = await _catalog(conn)
    assert {"hospitals", "tokens", "token_history", "patient_history_summary"} <= {
        r[0] for r in before["tables"]
    }
    assert len(before["constraints"]) > 50 and len(before["indexes"]) > 30
    for part in _CATALOG_QUERIES:
        assert after[part] == before[part], part


# -- a tiny world: two hospitals, each with a department, a doctor and a patient ---------------

async def _hospital(conn: asyncpg.Connection, code: str) -> UUID:
    return await conn.fetchval(
        "INSERT INTO hospitals (name, code) VALUES ($1, $2) RETURNING id", f"Hospital {code}", code
    )


async def _department(conn: asyncpg.Connection, hospital_id: UUID, code: str = "GEN") -> UUID:
    return await conn.fetchval(
        "INSERT INTO departments (hospital_id, name, code) VALUES ($1, $2, $3) RETURNING id",
        hospital_id, f"Dept {code}", code,
    )


async def _patient(
    conn: asyncpg.Connection, hospital_id: UUID, uhid: str = "UH000001",
    phone: str = "+919812345678",
) -> UUID:
    return await conn.fetchval(
        """INSERT INTO patients (hospital_id, uhid, name, phone) VALUES ($1, $2, 'Asha Rao', $3)
           RETURNING id""",
        hospital_id, uhid, phone,
    )


async def _token(
    conn: asyncpg.Connection, *, hospital_id: UUID, department_id: UUID, patient_id: UUID,
    seq: int = 1, number: str = "GEN-001", status: str = "WAITING", code: str = "pc-1",
) -> UUID:
    return await conn.fetchval(
        """INSERT INTO tokens (hospital_id, department_id, patient_id, service_date, seq, number,
                               booking_type, status, public_code)
           VALUES ($1, $2, $3, $4, $5, $6, 'WALK_IN', $7, $8) RETURNING id""",
        hospital_id, department_id, patient_id, DAY, seq, number, status, code,
    )


@pytest.fixture
async def world(pool: asyncpg.Pool) -> dict[str, UUID]:
    async with pool.acquire() as conn:
        a = await _hospital(conn, "HOSP-A")
        b = await _hospital(conn, "HOSP-B")
        return {
            "a": a, "b": b,
            "dept_a": await _department(conn, a), "dept_b": await _department(conn, b),
            "patient_a": await _patient(conn, a), "patient_b": await _patient(conn, b),
        }


async def test_same_token_number_twice_in_a_department_and_day(
    pool: asyncpg.Pool, world: dict[str, UUID]
) -> None:
    args = {"hospital_id": world["a"], "department_id": world["dept_a"],
            "patient_id": world["patient_a"]}
    async with pool.acquire() as conn:
        await _token(conn, **args)
        with pytest.raises(asyncpg.UniqueViolationError) as exc:
            await _token(conn, **args, seq=2, code="pc-2")  # same number, another seq
        assert exc.value.constraint_name == "tokens_department_id_service_date_number_key"
        with pytest.raises(asyncpg.UniqueViolationError):
            await _token(conn, **args, number="GEN-002", code="pc-3")  # same seq
        # the same number in the other hospital's department is fine
        await _token(conn, hospital_id=world["b"], department_id=world["dept_b"],
                     patient_id=world["patient_b"], code="pc-4")


async def test_unknown_status_is_refused(pool: asyncpg.Pool, world: dict[str, UUID]) -> None:
    with pytest.raises(asyncpg.CheckViolationError) as exc:
        async with pool.acquire() as conn:
            await _token(conn, hospital_id=world["a"], department_id=world["dept_a"],
                         patient_id=world["patient_a"], status="LOST")
    assert exc.value.constraint_name == "tokens_status_check"


@pytest.mark.parametrize("minutes", [0, -5])
async def test_department_consult_time_must_be_positive(
    pool: asyncpg.Pool, world: dict[str, UUID], minutes: float
) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            """INSERT INTO departments (hospital_id, name, code, avg_consultation_min)
               VALUES ($1, 'Cardiology', 'CARD', $2)""",
            world["a"], minutes,
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "UPDATE departments SET avg_consultation_min = $2 WHERE id = $1",
            world["dept_a"], minutes,
        )


async def test_uhid_unique_per_hospital_only(pool: asyncpg.Pool, world: dict[str, UUID]) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.UniqueViolationError) as exc:
            await _patient(conn, world["a"], uhid="UH000001", phone="+919800000001")
        assert exc.value.constraint_name == "patients_hospital_id_uhid_key"
        c = await _hospital(conn, "HOSP-C")
        assert await _patient(conn, c, uhid="UH000001")


async def test_token_cannot_point_into_another_hospital(
    pool: asyncpg.Pool, world: dict[str, UUID]
) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await _token(conn, hospital_id=world["a"], department_id=world["dept_b"],
                         patient_id=world["patient_a"])
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await _token(conn, hospital_id=world["a"], department_id=world["dept_a"],
                         patient_id=world["patient_b"])
        assert await conn.fetchval("SELECT count(*) FROM tokens") == 0


@pytest.mark.parametrize(
    "phone", ["9812345678", "+0912345678", "+91 98123 45678", "+91-9812345678", "+91", "",
              "+9198123456789012"],
)
async def test_phone_must_be_e164(pool: asyncpg.Pool, world: dict[str, UUID], phone: str) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError) as exc:
            await _patient(conn, world["a"], uhid="UH000002", phone=phone)
        assert exc.value.constraint_name == "patients_phone_check"
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                """INSERT INTO doctors (hospital_id, department_id, name, phone)
                   VALUES ($1, $2, 'Dr. X', $3)""",
                world["a"], world["dept_a"], phone,
            )
