"""Admin setup CRUD: success paths, validation (problem+json naming the field, nothing
written), conflicts, audit rows, users and display keys."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from server.auth.principal import resolve_display_key
from server.store import keys
from tests.api.helpers import (
    PASSWORD,
    auth,
    create_hospital_with_admin,
    login,
    make_cabin,
    make_department,
    make_doctor,
    make_user,
    staff_world,
)

API = "/api/v1"


async def _counts(pool: asyncpg.Pool) -> dict[str, int]:
    tables = ("departments", "cabins", "doctors", "shifts", "users", "display_keys",
              "admin_audit")
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


def _fields(r: httpx.Response) -> list[str]:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return [e["field"] for e in r.json()["errors"]]


async def _audit(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM admin_audit ORDER BY id")
    return [dict(r) for r in rows]


# ---------------------------------------------------------------------------------------
async def test_department_crud_and_audit(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    hospital_id, admin = await create_hospital_with_admin(pool, "H1")
    h = auth(admin)
    r = await client.post(f"{API}/departments", json={"name": "Cardiology", "code": "CARD",
                                                      "daily_cap": 80}, headers=h)
    assert r.status_code == 201, r.text
    dept = r.json()
    assert dept["code"] == "CARD" and dept["avg_consultation_min"] == 10
    assert dept["skip_places"] == 3 and dept["daily_cap"] == 80 and dept["active"] is True
    UUID(dept["id"])

    r = await client.get(f"{API}/departments/{dept['id']}", headers=h)
    assert r.status_code == 200 and r.json() == dept
    r = await client.get(f"{API}/departments", headers=h)
    assert [d["id"] for d in r.json()["items"]] == [dept["id"]]

    r = await client.patch(f"{API}/departments/{dept['id']}",
                           json={"avg_consultation_min": 12.5, "daily_cap": None}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["avg_consultation_min"] == 12.5 and r.json()["daily_cap"] is None

    audit = await _audit(pool)
    admin_id = await pool.fetchval("SELECT id FROM users WHERE role = 'admin'")
    assert [(a["entity"], a["action"], a["actor_id"], a["hospital_id"]) for a in audit] == [
        ("department", "create", admin_id, hospital_id),
        ("department", "update", admin_id, hospital_id),
    ]
    assert audit[0]["changes"]["code"] == "CARD"
    assert audit[1]["changes"] == {"avg_consultation_min": {"from": 10.0, "to": 12.5},
                                   "daily_cap": {"from": 80, "to": None}}
    assert str(audit[1]["entity_id"]) == dept["id"]

    # a PATCH that changes nothing writes no audit row
    await client.patch(f"{API}/departments/{dept['id']}", json={"code": "CARD"}, headers=h)
    assert len(await _audit(pool)) == 2


INVALID_DEPARTMENTS = [
    ({"name": "Cardiology", "code": "card"}, "code"),
    ({"name": "Cardiology", "code": "C"}, "code"),
    ({"name": "", "code": "CARD"}, "name"),
    ({"name": "x" * 101, "code": "CARD"}, "name"),
    ({"code": "CARD"}, "name"),
    ({"name": "Cardiology", "code": "CARD", "avg_consultation_min": 0}, "avg_consultation_min"),
    ({"name": "Cardiology", "code": "CARD", "buffer_min": -1}, "buffer_min"),
    ({"name": "Cardiology", "code": "CARD", "skip_places": 0}, "skip_places"),
    ({"name": "Cardiology", "code": "CARD", "notify_ahead": 51}, "notify_ahead"),
    ({"name": "Cardiology", "code": "CARD", "language": "english"}, "language"),
    ({"name": "Cardiology", "code": "CARD", "daily_cap": 0}, "daily_cap"),
    ({"name": "Cardiology", "code": "CARD", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_DEPARTMENTS)
async def test_department_validation(
    pool: asyncpg.Pool, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    _, admin = await create_hospital_with_admin(pool, "H1")
    before = await _counts(pool)
    r = await client.post(f"{API}/departments", json=body, headers=auth(admin))
    assert r.status_code == 422
    assert _fields(r) == [field]
    assert await _counts(pool) == before


async def test_patch_refuses_empty_null_and_unknown(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    hospital_id, admin = await create_hospital_with_admin(pool, "H1")
    dept = await make_department(pool, hospital_id, "CARD")
    url = f"{API}/departments/{dept}"
    r = await client.patch(url, json={}, headers=auth(admin))
    assert r.status_code == 422 and _fields(r) == ["body"]
    r = await client.patch(url, json={"name": None}, headers=auth(admin))
    assert r.status_code == 422 and _fields(r) == ["name"]
    r = await client.patch(url, json={"hospital_id": str(dept)}, headers=auth(admin))
    assert r.status_code == 422 and _fields(r) == ["hospital_id"]
    r = await client.patch(url, json=["name"], headers=auth(admin))
    assert r.status_code == 422
    assert await pool.fetchval("SELECT count(*) FROM admin_audit") == 0


async def test_unique_code_is_409(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    hospital_id, admin = await create_hospital_with_admin(pool, "H1")
    await make_department(pool, hospital_id, "CARD")
    before = await _counts(pool)
    r = await client.post(f"{API}/departments", json={"name": "X", "code": "CARD"},
                          headers=auth(admin))
    assert r.status_code == 409 and _fields(r) == ["code"]
    assert await _counts(pool) == before
    # the same code in another hospital is fine
    _, other = await create_hospital_with_admin(pool, "H2")
    r = await client.post(f"{API}/departments", json={"name": "X", "code": "CARD"},
                          headers=auth(other))
    assert r.status_code == 201


async def test_unknown_and_malformed_ids_are_404(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    _, admin = await create_hospital_with_admin(pool, "H1")
    patches = {"departments": {"name": "x"}, "cabins": {"floor": "1"}, "doctors": {"name": "x"},
               "shifts": {"end": "10:00"}, "users": {"full_name": "x"}, "displays": {"name": "x"}}
    for path, patch in patches.items():
        for ident in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
            r = await client.get(f"{API}/{path}/{ident}", headers=auth(admin))
            assert r.status_code == 404, (path, ident)
            r = await client.patch(f"{API}/{path}/{ident}", json=patch, headers=auth(admin))
            assert r.status_code == 404, (path, ident)
    r = await client.delete(f"{API}/displays/00000000-0000-0000-0000-000000000000",
                            headers=auth(admin))
    assert r.status_code == 404


# ---------------------------------------------------------------------------------------
async def test_cabins_and_doctors(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    hospital_id, admin = await create_hospital_with_admin(pool, "H1")
    h = auth(admin)
    dept = str(await make_department(pool, hospital_id, "CARD"))
    other = str(await make_department(pool, hospital_id, "ORTH"))
    r = await client.post(f"{API}/cabins", json={"department_id": dept, "number": "C-101",
                                                 "floor": "1"}, headers=h)
    assert r.status_code == 201 and r.json()["number"] == "C-101"
    r = await client.post(f"{API}/cabins", json={"department_id": dept, "number": "C-101"},
                          headers=h)
    assert r.status_code == 409 and _fields(r) == ["number"]
    r = await client.post(f"{API}/cabins", json={"department_id": dept, "number": "x" * 21},
                          headers=h)
    assert r.status_code == 422 and _fields(r) == ["number"]
    await client.post(f"{API}/cabins", json={"department_id": other, "number": "O-1"},
                      headers=h)
    r = await client.get(f"{API}/cabins", params={"department_id": other}, headers=h)
    assert [c["number"] for c in r.json()["items"]] == ["O-1"]

    r = await client.post(f"{API}/doctors", json={"name": "Dr. Rao", "department_id": dept,
                                                  "phone": "+91 98123 45678",
                                                  "avg_consultation_min": 8}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["phone"] == "+919812345678"
    doctor = r.json()["id"]
    r = await client.post(f"{API}/doctors", json={"name": "Dr. X", "department_id": dept,
                                                  "phone": "12345"}, headers=h)
    assert r.status_code == 422 and _fields(r) == ["phone"]
    r = await client.patch(f"{API}/doctors/{doctor}", json={"phone": None}, headers=h)
    assert r.status_code == 200 and r.json()["phone"] is None
    r = await client.get(f"{API}/doctors", params={"department_id": dept}, headers=h)
    assert [d["id"] for d in r.json()["items"]] == [doctor]


# ---------------------------------------------------------------------------------------
async def test_shifts(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    hospital_id, admin = await create_hospital_with_admin(pool, "H1")
    h = auth(admin)
    card = await make_department(pool, hospital_id, "CARD")
    orth = await make_department(pool, hospital_id, "ORTH")
    doctor = str(await make_doctor(pool, hospital_id, card))
    cabin = str(await make_cabin(pool, hospital_id, card, "C-1"))
    foreign_cabin = str(await make_cabin(pool, hospital_id, orth, "O-1"))
    body = {"doctor_id": doctor, "cabin_id": cabin, "date": "2030-01-07", "start": "09:00",
            "end": "13:00"}
    r = await client.post(f"{API}/shifts", json=body, headers=h)
    assert r.status_code == 201, r.text
    shift = r.json()
    assert (shift["date"], shift["start"], shift["end"]) == ("2030-01-07", "09:00:00",
                                                            "13:00:00")
    r = await client.post(f"{API}/shifts", json=body, headers=h)
    assert r.status_code == 409 and _fields(r) == ["start"]

    before = await _counts(pool)
    r = await client.post(f"{API}/shifts", json=body | {"end": "08:00"}, headers=h)
    assert r.status_code == 422 and _fields(r) == ["end"]
    r = await client.post(f"{API}/shifts", json=body | {"start": "25:00"}, headers=h)
    assert r.status_code == 422 and _fields(r) == ["start"]
    r = await client.post(f"{API}/shifts", json=body | {"cabin_id": foreign_cabin,
                                                        "start": "14:00", "end": "15:00"},
                          headers=h)
    assert r.status_code == 422 and _fields(r) == ["cabin_id"]
    # PATCH checks the merged row: end before the stored start, or a cabin elsewhere
    r = await client.patch(f"{API}/shifts/{shift['id']}", json={"end": "08:30"}, headers=h)
    assert r.status_code == 422 and _fields(r) == ["end"]
    r = await client.patch(f"{API}/shifts/{shift['id']}", json={"cabin_id": foreign_cabin},
                           headers=h)
    assert r.status_code == 422 and _fields(r) == ["cabin_id"]
    assert await _counts(pool) == before

    r = await client.get(f"{API}/shifts", params={"date": "2030-01-07"}, headers=h)
    assert [s["id"] for s in r.json()["items"]] == [shift["id"]]
    r = await client.get(f"{API}/shifts", params={"date": "2030-01-08"}, headers=h)
    assert r.json()["items"] == []


# ---------------------------------------------------------------------------------------
async def test_users(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    hospital_id, admin = await create_hospital_with_admin(pool, "H1")
    h = auth(admin)
    dept = str(await make_department(pool, hospital_id, "CARD"))
    doctor = str(await make_doctor(pool, hospital_id, UUID(dept)))
    secret = "a-very-long-password"
    r = await client.post(f"{API}/users", json={"username": "DrRao", "password": secret,
                                                "role": "doctor", "doctor_id": doctor},
                          headers=h)
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["username"] == "drrao" and user["doctor_id"] == doctor
    assert not any("password" in k for k in user)
    listed = (await client.get(f"{API}/users", headers=h)).json()["items"]
    assert all(not any("password" in k for k in u) for u in listed)
    stored = await pool.fetchval("SELECT password_hash FROM users WHERE username = 'drrao'")
    assert stored.startswith("$argon2") and secret not in stored
    token = await login(client, "drrao", secret)

    # passwords never reach the audit trail
    assert secret not in json.dumps([a["changes"] for a in await _audit(pool)])

    # changing the password ends existing sessions; the new one works
    r = await client.patch(f"{API}/users/{user['id']}", json={"password": "another-long-one"},
                           headers=h)
    assert r.status_code == 200
    assert (await client.get(f"{API}/me", headers=auth(token))).status_code == 401
    await login(client, "drrao", "another-long-one")
    assert "another-long-one" not in json.dumps([a["changes"] for a in await _audit(pool)])

    r = await client.post(f"{API}/users", json={"username": "drrao", "password": secret,
                                                "role": "receptionist"}, headers=h)
    assert r.status_code == 409 and _fields(r) == ["username"]


INVALID_USERS = [
    ({"username": "meena", "password": "short", "role": "receptionist"}, "password"),
    ({"username": "me", "password": "long-enough-pw", "role": "receptionist"}, "username"),
    ({"username": "meena!", "password": "long-enough-pw", "role": "receptionist"}, "username"),
    ({"username": "meena", "password": "long-enough-pw", "role": "superuser"}, "role"),
    ({"username": "meena", "password": "long-enough-pw", "role": "doctor"}, "doctor_id"),
    ({"username": "meena", "password": "long-enough-pw", "role": "nurse"}, "department_id"),
    ({"username": "meena", "password": "long-enough-pw", "role": "receptionist",
      "doctor_id": "00000000-0000-0000-0000-000000000001"}, "doctor_id"),
    ({"username": "meena", "password": "long-enough-pw", "role": "doctor",
      "doctor_id": "00000000-0000-0000-0000-000000000001"}, "doctor_id"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_USERS)
async def test_user_validation(
    pool: asyncpg.Pool, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    _, admin = await create_hospital_with_admin(pool, "H1")
    before = await _counts(pool)
    r = await client.post(f"{API}/users", json=body, headers=auth(admin))
    assert r.status_code == 422, r.text
    assert _fields(r) == [field]
    assert await _counts(pool) == before


async def test_user_patch_rules(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    hospital_id, admin = await create_hospital_with_admin(pool, "H1")
    h = auth(admin)
    admin_id = await pool.fetchval("SELECT id FROM users WHERE role = 'admin'")
    r = await client.patch(f"{API}/users/{admin_id}", json={"active": False}, headers=h)
    assert r.status_code == 422 and _fields(r) == ["active"]
    r = await client.patch(f"{API}/users/{admin_id}", json={"role": "receptionist"}, headers=h)
    assert r.status_code == 422 and _fields(r) == ["role"]
    # a receptionist promoted to nurse needs a department (schema check, merged row)
    user_id = await make_user(pool, hospital_id, "receptionist")
    token = await login(client, await pool.fetchval("SELECT username FROM users WHERE id = $1",
                                                    user_id))
    r = await client.patch(f"{API}/users/{user_id}", json={"role": "nurse"}, headers=h)
    assert r.status_code == 422 and _fields(r) == ["department_id"]
    r = await client.patch(f"{API}/users/{user_id}", json={"role": "doctor"}, headers=h)
    assert r.status_code == 422 and _fields(r) == ["doctor_id"]
    assert (await client.get(f"{API}/me", headers=auth(token))).status_code == 200
    # a role change ends the sessions (the old role's rights must not linger)
    dept = await make_department(pool, hospital_id)
    r = await client.patch(f"{API}/users/{user_id}",
                           json={"role": "nurse", "department_id": str(dept)}, headers=h)
    assert r.status_code == 200, r.text
    assert (await client.get(f"{API}/me", headers=auth(token))).status_code == 401


# ---------------------------------------------------------------------------------------
async def test_display_keys(pool: asyncpg.Pool, client: httpx.AsyncClient, redis: Redis) -> None:
    hospital_id, admin = await create_hospital_with_admin(pool, "H1")
    h = auth(admin)
    dept = str(await make_department(pool, hospital_id, "CARD"))
    r = await client.post(f"{API}/displays", json={"department_id": dept, "name": "Lobby"},
                          headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("dk_") and len(key) > 40
    assert created["board_url"] == f"http://testserver/board/{dept}#key={key}"
    assert created["key_prefix"] == key[:10]

    # shown once: never again in reads
    listed = (await client.get(f"{API}/displays", headers=h)).json()["items"]
    one = (await client.get(f"{API}/displays/{created['id']}", headers=h)).json()
    assert key not in json.dumps(listed) + json.dumps(one)
    assert "key" not in one and one["key_prefix"] == key[:10]

    # hashed at rest
    row = await pool.fetchrow("SELECT * FROM display_keys")
    assert bytes(row["key_hash"]) == hashlib.sha256(key.encode()).digest()
    assert key not in json.dumps({k: str(v) for k, v in dict(row).items()})

    principal = await resolve_display_key(pool, key)
    assert principal is not None and principal.kind == "display"
    assert str(principal.department_id) == dept and principal.hospital_id == hospital_id
    me = await client.get(f"{API}/me", headers=auth(key))
    assert me.status_code == 200 and me.json()["display"]["department_id"] == dept
    assert await pool.fetchval("SELECT last_seen_at IS NOT NULL FROM display_keys")

    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.DISPLAY_REVOKED)
    r = await client.delete(f"{API}/displays/{created['id']}", headers=h)
    assert r.status_code == 204
    async with asyncio.timeout(2):
        message = await anext(aiter(pubsub.listen()))  # awaits the publish, no polling
    await pubsub.aclose()
    assert message is not None and message["data"] == created["id"]

    assert await resolve_display_key(pool, key) is None
    assert (await client.get(f"{API}/me", headers=auth(key))).status_code == 401
    assert (await client.delete(f"{API}/displays/{created['id']}", headers=h)).status_code == 204
    actions = [(a["entity"], a["action"]) for a in await _audit(pool)]
    assert actions == [("display", "create"), ("display", "revoke")]
    assert key not in json.dumps([a["changes"] for a in await _audit(pool)])


async def test_display_key_validation(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    _, admin = await create_hospital_with_admin(pool, "H1")
    before = await _counts(pool)
    r = await client.post(f"{API}/displays", json={"department_id": "nope", "name": "Lobby"},
                          headers=auth(admin))
    assert r.status_code == 422 and _fields(r) == ["department_id"]
    r = await client.post(f"{API}/displays",
                          json={"department_id": "00000000-0000-0000-0000-000000000001",
                                "name": "Lobby"}, headers=auth(admin))
    assert r.status_code == 422 and _fields(r) == ["department_id"]
    assert await _counts(pool) == before


async def test_staff_can_read_setup_but_not_change_it(
    pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    world = await staff_world(pool, "H1")
    before = await _counts(pool)
    for role in ("receptionist", "doctor", "nurse"):
        h = auth(world["tokens"][role])
        r = await client.get(f"{API}/doctors", headers=h)
        assert [d["id"] for d in r.json()["items"]] == [str(world["doctor_id"])]
        r = await client.patch(f"{API}/doctors/{world['doctor_id']}", json={"name": "X"},
                               headers=h)
        assert r.status_code == 403
        assert r.json()["detail"] == "requires role admin"
    assert await _counts(pool) == before
    assert PASSWORD  # the helpers' shared password, used by login()
