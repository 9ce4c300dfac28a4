"""Every endpoint x every kind of caller, and every endpoint against another hospital's ids."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import httpx
import pytest

from server.routes import admin as admin_routes
from server.routes import auth as auth_routes
from tests.api.access_table import CASES, ROLES, STAFF_ROLES, Case
from tests.api.helpers import auth, staff_world

SNAPSHOT_TABLES = ("hospitals", "departments", "cabins", "doctors", "shifts", "users",
                   "sessions", "display_keys", "admin_audit")


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


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_table_covers_every_route() -> None:
    """A new endpoint in these modules needs a row in access_table.py."""
    table = {(c.method, _shape(c.path)) for c in CASES}
    for route in [*auth_routes.routes, *admin_routes.routes]:
        for method in route.methods - {"HEAD"}:
            assert (method, _shape(route.path)) in table, f"{method} {route.path} not in table"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_role_matrix(pool: asyncpg.Pool, client: httpx.AsyncClient, case: Case) -> None:
    world = await staff_world(pool, "HA")
    got = {}
    for role in ROLES:
        r = await _call(client, case, world, world, role)
        got[role] = r.status_code
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json", r.text
    assert got == {role: case.expect[role] for role in ROLES}


ID_CASES = [c for c in CASES if "{" in c.path]


@pytest.mark.parametrize("case", ID_CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_foreign_ids_are_not_found(
    pool: asyncpg.Pool, client: httpx.AsyncClient, case: Case
) -> None:
    a = await staff_world(pool, "HA")
    b = await staff_world(pool, "HB")
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
]


@pytest.mark.parametrize(("method", "path", "body", "field"), REFERENCE_CASES,
                         ids=[f"{m} {p} {f}" for m, p, _, f in REFERENCE_CASES])
async def test_bodies_cannot_point_into_another_hospital(
    pool: asyncpg.Pool, client: httpx.AsyncClient, method: str, path: str, body: Any, field: str,
) -> None:
    a = await staff_world(pool, "HA")
    b = await staff_world(pool, "HB")
    before = await snapshot(pool)
    r = await client.request(method, path.format(**a), json=body(a, b),
                             headers=auth(a["tokens"]["admin"]))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert await snapshot(pool) == before
