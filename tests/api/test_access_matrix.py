"""Every endpoint x every kind of caller, and every endpoint against another hospital's ids."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from server.domain.lifecycle import Action
from server.routes import abdm as abdm_routes
from server.routes import admin as admin_routes
from server.routes import alerts as alerts_routes
from server.routes import auth as auth_routes
from server.routes import doctors as doctors_routes
from server.routes import integrations as integrations_routes
from server.routes import notifications as notifications_routes
from server.routes import patients as patients_routes
from server.routes import public as public_routes
from server.routes import risk_outreach as risk_outreach_routes
from server.routes import tokens as tokens_routes
from server.routes import waitlist as waitlist_routes
from tests.api.access_table import API, CASES, ROLES, STAFF_ROLES, Case
from tests.api.helpers import (
    auth,
    make_cabin,
    make_department,
    make_doctor,
    make_shift,
    make_user,
    session_token,
    staff_world,
)

SNAPSHOT_TABLES = ("hospitals", "departments", "cabins", "doctors", "shifts", "users",
                   "sessions", "display_keys", "admin_audit", "patients", "tokens",
                   "token_history", "token_counters", "doctor_pauses", "schedule_exceptions",
                   "system_alerts", "notifications_log")
ROUTE_MODULES = (auth_routes, admin_routes, patients_routes, tokens_routes, doctors_routes,
                 public_routes, alerts_routes, notifications_routes, integrations_routes,
                 waitlist_routes, risk_outreach_routes, abdm_routes)


async def queue_world(pool: asyncpg.Pool, client: httpx.AsyncClient, code: str
                      ) -> dict[str, Any]:
    """staff_world, open today, with a patient and the doctor's tokens in every state a row
    needs: called_id (the doctor's current token), waiting_id, booked_id (today, ONLINE) and
    code (booked_id's signed patient code); doctor2_id is a colleague on shift today."""
    w = await staff_world(pool, code)
    h, dep = w["hospital_id"], w["department_id"]
    await pool.execute("UPDATE hospitals SET latitude = 12.9716, longitude = 77.5946, "
                       "geofence_radius_m = 300 WHERE id = $1", h)
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat()
    await make_shift(pool, h, w["doctor_id"], w["cabin_id"], date=today, start="00:00",
                     end="23:59:59")
    w["doctor2_id"] = await make_doctor(pool, h, dep, name="Dr. Colleague")
    cabin2 = await make_cabin(pool, h, dep)
    await make_shift(pool, h, w["doctor2_id"], cabin2, date=today, start="00:00", end="23:59:59")
    w["patient_uhid"] = f"{code}-P1"
    w["patient_id"] = await pool.fetchval(
        """INSERT INTO patients (hospital_id, uhid, name, phone)
           VALUES ($1, $2, 'Meera Nair', '+919800000001') RETURNING id""", h, w["patient_uhid"])
    admin = auth(w["tokens"]["admin"])

    async def issue(**extra: Any) -> dict[str, Any]:
        r = await client.post(f"{API}/tokens", headers=admin, json={
            "patient_id": str(w["patient_id"]), "doctor_id": str(w["doctor_id"]),
            "booking_type": "WALK_IN", "allow_duplicate": True, **extra})
        assert r.status_code == 201, r.text
        return dict(r.json())

    w["called_id"] = (await issue())["id"]
    r = await client.post(f"{API}/doctors/{w['doctor_id']}/next", headers=admin,
                          json={"current_token_id": None})
    assert r.status_code == 200 and r.json()["called"]["id"] == w["called_id"], r.text
    w["waiting_id"] = (await issue())["id"]
    booked = await issue(booking_type="ONLINE", scheduled_time=f"{today}T23:30:00+05:30")
    w["booked_id"] = booked["id"]
    w["code"] = booked["patient_link"].rsplit("/t/", 1)[1]
    w["alert_id"] = await pool.fetchval(
        """INSERT INTO system_alerts (hospital_id, kind, entity_type, entity_id, message,
               alert_key, department_id)
           VALUES ($1, 'LONG_WAIT', 'TOKEN', $2, 'waiting long', $3, $4) RETURNING id""",
        h, UUID(w["waiting_id"]), f"LONG_WAIT:{w['waiting_id']}", dep)
    w["notification_id"] = await pool.fetchval(
        """INSERT INTO notifications_log (hospital_id, patient_id, token_id, channel, event,
               body, to_masked, status, error_code, attempts)
           VALUES ($1, $2, $3, 'SMS', 'TOKEN_CREATED', 'Your token', '+91******0001',
                   'FAILED', 30003, 1) RETURNING id""", h, w["patient_id"], UUID(w["waiting_id"]))
    # integrations: an API key and a webhook subscription of the hospital
    w["api_key_id"] = await pool.fetchval(
        """INSERT INTO api_keys (hospital_id, name, role, key_hash, key_prefix)
           VALUES ($1, 'HIS', 'receptionist', $2, 'ak_0000000') RETURNING id""",
        h, secrets.token_bytes(32))
    w["today"] = today
    w["tomorrow"] = (date.fromisoformat(today) + timedelta(days=1)).isoformat()
    w["waitlist_id"] = await pool.fetchval(
        """INSERT INTO waitlist_entries (hospital_id, department_id, patient_id, desired_date)
           VALUES ($1, $2, $3, $4::text::date) RETURNING id""", h, dep, w["patient_id"], today)
    w["webhook_id"] = await pool.fetchval(
        """INSERT INTO webhook_subscriptions (hospital_id, url, events, secret)
           VALUES ($1, 'https://hooks.example.com/x', '{token.called}', 'whsec_x')
           RETURNING id""", h)
    return w


def _headers(world: dict[str, Any], role: str) -> dict[str, str]:
    return {} if role == "anonymous" else auth(world["tokens"][role])


async def _call(client: httpx.AsyncClient, case: Case, world: dict[str, Any],
                path_world: dict[str, Any], role: str) -> httpx.Response:
    body = case.body(world) if case.body else None
    return await client.request(case.method, case.path.format(**path_world), json=body,
                                headers=_headers(world, role))


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[str]]:
    out = {}
    for table in SNAPSHOT_TABLES:
        rows = await pool.fetch(f"SELECT to_jsonb(t)::text AS j FROM {table} t ORDER BY 1")
        out[table] = [r["j"] for r in rows]
    return out


def _matches(route_path: str, case_path: str) -> bool:
    """A route's path parameters match any one segment of a row's path (or its template)."""
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(route_path))
    return re.fullmatch(pattern, case_path.split("?", 1)[0]) is not None


def test_table_covers_every_route() -> None:
    """A new endpoint in these modules needs a row in access_table.py."""
    for route in (r for module in ROUTE_MODULES for r in module.routes):
        for method in route.methods - {"HEAD"}:
            assert any(c.method == method and _matches(route.path, c.path) for c in CASES), (
                f"{method} {route.path} not in table")


def test_table_covers_every_token_action() -> None:
    actions = {c.path.rsplit("/", 1)[1] for c in CASES
               if re.fullmatch(r"/api/v1/tokens/\{[^}]+\}/[a-z-]+", c.path) and c.method == "POST"}
    assert actions == {a.value for a in Action} - {Action.CALL.value, Action.RUNNING_LATE.value}


async def _world(pool: asyncpg.Pool, client: httpx.AsyncClient, code: str, case: Case
                 ) -> dict[str, Any]:
    world = await queue_world(pool, client, code)
    if case.setup:
        await case.setup(client, world)
    return world


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_role_matrix(pool: asyncpg.Pool, client: httpx.AsyncClient, case: Case) -> None:
    world = await _world(pool, client, "HA", case)
    got = {}
    for i, role in enumerate(ROLES):
        if case.fresh and i:
            world = await _world(pool, client, f"HA{i}", case)
        r = await _call(client, case, world, world, role)
        got[role] = r.status_code
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json", r.text
    assert got == {role: case.expect[role] for role in ROLES}


# ids in the path only (a search is not a lookup); and a patient code is not a hospital's id:
# the link works for whoever holds it
ID_CASES = [c for c in CASES if "{" in c.path.split("?", 1)[0]
            and not c.path.startswith(f"{API}/public/")]


@pytest.mark.parametrize("case", ID_CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_foreign_ids_are_not_found(
    pool: asyncpg.Pool, client: httpx.AsyncClient, case: Case
) -> None:
    a = await _world(pool, client, "HA", case)
    b = await _world(pool, client, "HB", case)
    before = await snapshot(pool)
    # every staff role that may use the endpoint at home must find nothing abroad
    callers = [role for role in STAFF_ROLES if case.expect[role] < 300]
    assert callers
    for role in callers:
        r = await _call(client, case, a, b, role)
        assert r.status_code == 404, (role, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert await snapshot(pool) == before


LIST_PATHS = ["/api/v1/departments", "/api/v1/cabins", "/api/v1/doctors", "/api/v1/shifts",
              "/api/v1/users", "/api/v1/displays", "/api/v1/audit"]


async def test_lists_show_only_own_hospital(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    a = await staff_world(pool, "HA")
    b = await staff_world(pool, "HB")
    for w in (a, b):  # one audited change in each hospital
        r = await client.patch(f"/api/v1/departments/{w['department_id']}",
                               json={"name": "Heart"}, headers=auth(w["tokens"]["admin"]))
        assert r.status_code == 200
    foreign = {str(v) for k, v in b.items() if k.endswith("_id")} | {
        str(v) for v in b["users"].values()}
    for path in LIST_PATHS:
        r = await client.get(path, headers=auth(a["tokens"]["admin"]))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert items, path
        seen = {item["id"] for item in items} | {item.get("entity_id") for item in items}
        assert not (foreign & seen), path


def _ref(b: dict[str, Any], key: str) -> str:
    return str(b[key])


REFERENCE_CASES = [
    ("POST", "/api/v1/cabins", lambda a, b: {"department_id": _ref(b, "department_id"),
                                             "number": "X-1"}, "department_id"),
    ("POST", "/api/v1/doctors", lambda a, b: {"name": "Dr. X",
                                              "department_id": _ref(b, "department_id")},
     "department_id"),
    ("POST", "/api/v1/shifts", lambda a, b: {"doctor_id": _ref(b, "doctor_id"),
                                             "cabin_id": _ref(a, "cabin_id"),
                                             "date": "2030-03-01", "start": "09:00",
                                             "end": "10:00"}, "doctor_id"),
    ("POST", "/api/v1/shifts", lambda a, b: {"doctor_id": _ref(a, "doctor_id"),
                                             "cabin_id": _ref(b, "cabin_id"),
                                             "date": "2030-03-01", "start": "09:00",
                                             "end": "10:00"}, "cabin_id"),
    ("POST", "/api/v1/users", lambda a, b: {"username": "xdoc", "password": "long-enough-pw",
                                            "role": "doctor", "doctor_id": _ref(b, "doctor_id")},
     "doctor_id"),
    ("POST", "/api/v1/users", lambda a, b: {"username": "xnurse", "password": "long-enough-pw",
                                            "role": "nurse",
                                            "department_id": _ref(b, "department_id")},
     "department_id"),
    ("POST", "/api/v1/displays", lambda a, b: {"department_id": _ref(b, "department_id"),
                                               "name": "Lobby"}, "department_id"),
    ("PATCH", "/api/v1/doctors/{doctor_id}",
     lambda a, b: {"department_id": _ref(b, "department_id")}, "department_id"),
    ("PATCH", "/api/v1/cabins/{cabin_id}",
     lambda a, b: {"department_id": _ref(b, "department_id")}, "department_id"),
    ("PATCH", "/api/v1/shifts/{shift_id}", lambda a, b: {"cabin_id": _ref(b, "cabin_id")},
     "cabin_id"),
    ("PATCH", "/api/v1/users/{user_id}",
     lambda a, b: {"department_id": _ref(b, "department_id")}, "department_id"),
    ("POST", "/api/v1/tokens", lambda a, b: {"patient_id": _ref(b, "patient_id"),
                                             "doctor_id": _ref(a, "doctor_id"),
                                             "booking_type": "WALK_IN"}, "patient_id"),
    ("POST", "/api/v1/tokens", lambda a, b: {"patient_id": _ref(a, "patient_id"),
                                             "doctor_id": _ref(b, "doctor_id"),
                                             "booking_type": "WALK_IN"}, "doctor_id"),
    ("POST", "/api/v1/tokens", lambda a, b: {"patient_id": _ref(a, "patient_id"),
                                             "department_id": _ref(b, "department_id"),
                                             "booking_type": "WALK_IN"}, "department_id"),
    ("POST", "/api/v1/tokens/{waiting_id}/transfer",
     lambda a, b: {"doctor_id": _ref(b, "doctor_id")}, "doctor_id"),
    ("POST", "/api/v1/tokens/{booked_id}/transfer",
     lambda a, b: {"doctor_id": _ref(b, "doctor_id")}, "doctor_id"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), REFERENCE_CASES,
                         ids=[f"{m} {p} {f}" for m, p, _, f in REFERENCE_CASES])
async def test_bodies_cannot_point_into_another_hospital(
    pool: asyncpg.Pool, client: httpx.AsyncClient, method: str, path: str, body: Any, field: str,
) -> None:
    a = await queue_world(pool, client, "HA")
    b = await queue_world(pool, client, "HB")
    before = await snapshot(pool)
    r = await client.request(method, path.format(**a), json=body(a, b),
                             headers=auth(a["tokens"]["admin"]))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert await snapshot(pool) == before


# rows a nurse may call in her own department: the queue's and the desk's actions
SCOPED = [c for c in CASES if c.method == "POST" and c.expect["nurse"] < 300
          and (c.path.startswith(f"{API}/tokens") or "/doctors/{doctor_id}/" in c.path)]


@pytest.mark.parametrize("case", SCOPED, ids=lambda c: f"{c.method} {c.path}")
async def test_nurses_and_doctors_act_only_on_their_own_queues(
        pool: asyncpg.Pool, client: httpx.AsyncClient, case: Case) -> None:
    """A nurse of another department, and another doctor of the same department, are staff
    of the hospital but not of this queue: 403, and nothing changes."""
    world = await _world(pool, client, "HA", case)
    h = world["hospital_id"]
    ent = await make_department(pool, h, name="ENT")
    outsiders = {
        "nurse of another department": await make_user(pool, h, "nurse", department_id=ent),
        "another doctor": await make_user(pool, h, "doctor", doctor_id=world["doctor2_id"]),
    }
    before = await snapshot(pool)
    for who, user_id in outsiders.items():
        token = await session_token(pool, user_id)
        body = case.body(world) if case.body else None
        r = await client.request(case.method, case.path.format(**world), json=body,
                                 headers=auth(token))
        if who == "another doctor" and case.expect["doctor"] >= 400:
            assert r.status_code == case.expect["doctor"], (who, r.text)
            continue
        assert r.status_code == 403, (who, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    after = await snapshot(pool)
    assert {t: v for t, v in after.items() if t not in ("users", "sessions")} == {
        t: v for t, v in before.items() if t not in ("users", "sessions")}
