"""A small hospital open today: one department, three doctors on shift, staff, patients."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from tests.api.helpers import (
    auth,
    make_cabin,
    make_department,
    make_doctor,
    make_user,
    session_token,
)

TZ = "Asia/Kolkata"


@dataclass
class World:
    hospital_id: UUID
    department_id: UUID
    doctors: list[UUID]
    cabins: list[str]
    tokens: dict[str, str]                 # role -> bearer token
    patients: list[UUID] = field(default_factory=list)

    def h(self, role: str = "receptionist") -> dict[str, str]:
        return auth(self.tokens[role])


async def build_world(pool: asyncpg.Pool, code: str = "CITY", n_doctors: int = 3,
                      n_patients: int = 12) -> World:
    hospital_id = await pool.fetchval(
        """INSERT INTO hospitals (name, code, timezone, latitude, longitude, geofence_radius_m)
           VALUES ($1, $2, $3, 12.9716, 77.5946, 300) RETURNING id""",
        f"Hospital {code}", code, TZ)
    dep = await make_department(pool, hospital_id, code="CARD", avg_consultation_min=10)
    today = datetime.now(ZoneInfo(TZ)).date()
    doctors, cabins = [], []
    for i in range(n_doctors):
        did = await make_doctor(pool, hospital_id, dep, name=f"Dr. Doctor{i}")
        number = f"C-10{i + 1}"
        cid = await make_cabin(pool, hospital_id, dep, number)
        await pool.execute(
            """INSERT INTO shifts (hospital_id, doctor_id, cabin_id, date, start_time, end_time)
               VALUES ($1, $2, $3, $4, '00:00', '23:59:59')""", hospital_id, did, cid, today)
        doctors.append(did)
        cabins.append(number)
    users = {
        "admin": await make_user(pool, hospital_id, "admin"),
        "receptionist": await make_user(pool, hospital_id, "receptionist"),
        "doctor": await make_user(pool, hospital_id, "doctor", doctor_id=doctors[0]),
        "doctor2": await make_user(pool, hospital_id, "doctor", doctor_id=doctors[1]),
        "nurse": await make_user(pool, hospital_id, "nurse", department_id=dep),
    }
    tokens = {role: await session_token(pool, uid) for role, uid in users.items()}
    world = World(hospital_id, dep, doctors, cabins, tokens)
    for i in range(n_patients):
        world.patients.append(await pool.fetchval(
            """INSERT INTO patients (hospital_id, uhid, name, phone)
               VALUES ($1, $2, $3, $4) RETURNING id""",
            hospital_id, f"UH{i:05d}", f"Patient{i} Kumar", f"+9198765{i:05d}"))
    return world


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


async def issue(client: httpx.AsyncClient, w: World, patient: int, *, doctor: int | None = 0,
                **extra: Any) -> dict[str, Any]:
    # tests reuse a few patients freely; the duplicate warning has its own tests (test_desk)
    body: dict[str, Any] = {"patient_id": str(w.patients[patient]), "booking_type": "WALK_IN",
                            "allow_duplicate": True, **extra}
    if doctor is not None:
        body["doctor_id"] = str(w.doctors[doctor])
    r = await client.post("/api/v1/tokens", json=body, headers=w.h())
    assert r.status_code == 201, r.text
    return r.json()


async def press_next(client: httpx.AsyncClient, w: World, doctor: int = 0,
                     role: str = "doctor", **body: Any) -> httpx.Response:
    return await client.post(f"/api/v1/doctors/{w.doctors[doctor]}/next", json=body,
                             headers=w.h(role))


async def queue(client: httpx.AsyncClient, w: World, doctor: int = 0) -> dict[str, Any]:
    r = await client.get(f"/api/v1/doctors/{w.doctors[doctor]}/queue", headers=w.h())
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------------------------------
# helpers of the endpoint coverage tests (test_patients, test_tokens_api, test_actions, ...)
# ---------------------------------------------------------------------------------------
class Clock:
    """A hand-driven clock for the queue service: arrival times are exact and nobody sleeps."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, minutes: float = 0, seconds: float = 0) -> datetime:
        self.at += timedelta(minutes=minutes, seconds=seconds)
        return self.at


def local_at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    """hour:minute of the hospital's local day (today, or `days` later)."""
    tz = ZoneInfo(TZ)
    day = datetime.now(tz).date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tz)


@pytest.fixture
def clock(app: Any) -> Clock:
    """The queue service's clock, stopped at 10:00 local today (inside every world shift)."""
    c = Clock(local_at(10))
    app.state.opdq.queue.now = c
    return c


async def act(client: httpx.AsyncClient, w: World, token_id: str, action: str,
              role: str = "admin", **body: Any) -> httpx.Response:
    """POST /api/v1/tokens/{id}/{action}."""
    return await client.post(f"/api/v1/tokens/{token_id}/{action}", json=body or None,
                             headers=w.h(role))


async def get_token(client: httpx.AsyncClient, w: World, token_id: str,
                    role: str = "receptionist") -> dict[str, Any]:
    r = await client.get(f"/api/v1/tokens/{token_id}", headers=w.h(role))
    assert r.status_code == 200, r.text
    return r.json()


async def book(client: httpx.AsyncClient, w: World, patient: int, slot: datetime,
               doctor: int = 0) -> dict[str, Any]:
    """An ONLINE booking (BOOKED until checked in)."""
    return await issue(client, w, patient, doctor=doctor, booking_type="ONLINE",
                       scheduled_time=slot.isoformat())


def link_code(token: dict[str, Any]) -> str:
    """The signed code at the end of a token's patient_link."""
    link = token["patient_link"]
    assert "/t/" in link, link
    return str(link.rsplit("/t/", 1)[1])


async def add_department(pool: asyncpg.Pool, w: World, code: str = "ENT",
                         n_doctors: int = 1) -> tuple[UUID, list[UUID]]:
    """Another department of the world's hospital with doctors on shift today."""
    dep = await make_department(pool, w.hospital_id, code=code, name=f"Dept {code}")
    today = datetime.now(ZoneInfo(TZ)).date()
    doctors = []
    for i in range(n_doctors):
        did = await make_doctor(pool, w.hospital_id, dep, name=f"Dr. {code.title()}{i}")
        cid = await make_cabin(pool, w.hospital_id, dep, f"{code}-{i + 1}")
        await pool.execute(
            """INSERT INTO shifts (hospital_id, doctor_id, cabin_id, date, start_time, end_time)
               VALUES ($1, $2, $3, $4, '00:00', '23:59:59')""", w.hospital_id, did, cid, today)
        doctors.append(did)
    return dep, doctors
