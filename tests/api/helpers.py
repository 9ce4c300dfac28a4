"""Small builders for API tests: hospitals, staff with sessions, setup rows, headers.

They write straight to PostgreSQL (no HTTP), so a test spends its time on what it checks.
Every user gets the same password, hashed once per run.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from server.auth import sessions
from server.auth.principal import display_key_hash, new_display_key
from server.db import setup
from server.security.passwords import hash_password

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


@lru_cache(maxsize=1)
def password_hash() -> str:
    return hash_password(PASSWORD)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["token"]


async def session_token(pool: asyncpg.Pool, user_id: UUID, ttl_hours: int = 12) -> str:
    token, _, _ = await sessions.create_session(pool, user_id=user_id, ttl_hours=ttl_hours)
    return token


async def create_hospital(pool: asyncpg.Pool, code: str) -> UUID:
    async with pool.acquire() as conn:
        return await setup.create_hospital(conn, name=f"Hospital {code}", code=code)


async def make_user(
    pool: asyncpg.Pool, hospital_id: UUID, role: str, *, username: str | None = None,
    doctor_id: UUID | None = None, department_id: UUID | None = None,
) -> UUID:
    async with pool.acquire() as conn:
        return await setup.create_user(
            conn, hospital_id=hospital_id, username=username or unique(role),
            password_hash=password_hash(), role=role, doctor_id=doctor_id,
            department_id=department_id,
        )


async def create_hospital_with_admin(pool: asyncpg.Pool, code: str) -> tuple[UUID, str]:
    """A hospital and a logged-in admin: (hospital_id, admin bearer token)."""
    hospital_id = await create_hospital(pool, code)
    admin_id = await make_user(pool, hospital_id, "admin")
    return hospital_id, await session_token(pool, admin_id)


async def make_department(
    pool: asyncpg.Pool, hospital_id: UUID, code: str | None = None, **columns: Any
) -> UUID:
    values = {"name": "Cardiology", "code": code or unique("D")} | columns
    cols = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(2, len(values) + 2))
    return await pool.fetchval(
        f"INSERT INTO departments (hospital_id, {cols}) VALUES ($1, {params}) RETURNING id",
        hospital_id, *values.values(),
    )


async def make_doctor(
    pool: asyncpg.Pool, hospital_id: UUID, department_id: UUID, name: str = "Dr. Rao",
) -> UUID:
    return await pool.fetchval(
        "INSERT INTO doctors (hospital_id, department_id, name) VALUES ($1, $2, $3) RETURNING id",
        hospital_id, department_id, name,
    )


async def make_cabin(
    pool: asyncpg.Pool, hospital_id: UUID, department_id: UUID, number: str | None = None,
) -> UUID:
    return await pool.fetchval(
        """INSERT INTO cabins (hospital_id, department_id, number) VALUES ($1, $2, $3)
           RETURNING id""",
        hospital_id, department_id, number or unique("C-"),
    )


async def make_shift(
    pool: asyncpg.Pool, hospital_id: UUID, doctor_id: UUID, cabin_id: UUID,
    date: str = "2030-01-07", start: str = "09:00", end: str = "13:00",
) -> UUID:
    return await pool.fetchval(
        """INSERT INTO shifts (hospital_id, doctor_id, cabin_id, date, start_time, end_time)
           VALUES ($1, $2, $3, $4::text::date, $5::text::time, $6::text::time) RETURNING id""",
        hospital_id, doctor_id, cabin_id, date, start, end,
    )


async def make_display_key(
    pool: asyncpg.Pool, hospital_id: UUID, department_id: UUID,
) -> tuple[UUID, str]:
    """(display key id, the key itself)."""
    key = new_display_key()
    key_id = await pool.fetchval(
        """INSERT INTO display_keys (hospital_id, department_id, name, key_hash, key_prefix)
           VALUES ($1, $2, 'Board', $3, $4) RETURNING id""",
        hospital_id, department_id, display_key_hash(key), key[:10],
    )
    return key_id, key


async def staff_world(pool: asyncpg.Pool, code: str) -> dict[str, Any]:
    """A hospital with one of everything and a token per role (plus a display key).

    Keys: hospital_id, department_id, doctor_id, cabin_id, shift_id, user_id (a spare
    receptionist), display_id (a spare key, not the one in tokens), users {role: id},
    usernames {role: name}, tokens {admin, receptionist, doctor, nurse, display}.
    """
    hospital_id = await create_hospital(pool, code)
    department_id = await make_department(pool, hospital_id)
    doctor_id = await make_doctor(pool, hospital_id, department_id)
    cabin_id = await make_cabin(pool, hospital_id, department_id)
    shift_id = await make_shift(pool, hospital_id, doctor_id, cabin_id)
    usernames = {role: unique(f"{code.lower()}-{role}-")
                 for role in ("admin", "receptionist", "doctor", "nurse")}
    users = {
        "admin": await make_user(pool, hospital_id, "admin", username=usernames["admin"]),
        "receptionist": await make_user(pool, hospital_id, "receptionist",
                                        username=usernames["receptionist"]),
        "doctor": await make_user(pool, hospital_id, "doctor", doctor_id=doctor_id,
                                  username=usernames["doctor"]),
        "nurse": await make_user(pool, hospital_id, "nurse", department_id=department_id,
                                 username=usernames["nurse"]),
    }
    tokens = {role: await session_token(pool, uid) for role, uid in users.items()}
    _, tokens["display"] = await make_display_key(pool, hospital_id, department_id)
    display_id, _ = await make_display_key(pool, hospital_id, department_id)
    return {
        "hospital_id": hospital_id, "department_id": department_id, "doctor_id": doctor_id,
        "cabin_id": cabin_id, "shift_id": shift_id, "display_id": display_id,
        "user_id": await make_user(pool, hospital_id, "receptionist"),
        "users": users, "usernames": usernames, "tokens": tokens,
    }
