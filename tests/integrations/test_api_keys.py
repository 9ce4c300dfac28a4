"""API keys: shown once, stored hashed, a role's rights in the key's hospital, every change
attributed to the key in the audit, rate-limited per key, refused at once when revoked."""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg
import httpx
import pytest

from server.settings import Settings
from tests.api.helpers import auth
from tests.conftest import Services
from tests.integrations.conftest import integration_settings
from tests.queue.conftest import World, build_world

RATE = 15


@pytest.fixture
def settings(services: Services) -> Settings:
    return integration_settings(services, api_key_rate_per_minute=RATE)


async def new_key(client: httpx.AsyncClient, w: World, role: str = "receptionist",
                  **extra: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/api-keys", json={"name": f"HIS {role}", "role": role,
                                                    **extra}, headers=w.h("admin"))
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json())


async def test_a_key_is_shown_once_and_stored_hashed(client: httpx.AsyncClient,
                                                     pool: asyncpg.Pool, world: World) -> None:
    key = await new_key(client, world)
    assert key["key"].startswith("ak_") and key["key_prefix"] == key["key"][:10]
    listed = (await client.get("/api/v1/api-keys", headers=world.h("admin"))).json()["items"]
    assert [k["id"] for k in listed] == [key["id"]] and "key" not in listed[0]
    stored = await pool.fetchrow("SELECT * FROM api_keys WHERE id = $1", key["id"])
    assert stored["key_hash"] == hashlib.sha256(key["key"].encode()).digest()
    assert key["key"] not in str(dict(stored))
    me = await client.get("/api/v1/me", headers=auth(key["key"]))
    assert me.status_code == 200 and me.json()["kind"] == "api_key"
    assert me.json()["api_key"]["role"] == "receptionist"


async def test_a_key_has_its_roles_rights_in_its_hospital_and_every_change_names_it(
        client: httpx.AsyncClient, pool: asyncpg.Pool, world: World) -> None:
    key = await new_key(client, world)
    h = auth(key["key"])
    # a receptionist's rights: register a patient, issue a token; not the admin's lists
    r = await client.post("/api/v1/patients", json={"name": "Ravi Kumar",
                                                    "phone": "+91 98123 45678"}, headers=h)
    assert r.status_code == 201, r.text
    patient = r.json()
    r = await client.patch(f"/api/v1/patients/{patient['id']}", json={"language": "hi"},
                           headers=h)
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/tokens", headers=h, json={
        "patient_id": patient["id"], "doctor_id": str(world.doctors[0]),
        "booking_type": "WALK_IN"})
    assert r.status_code == 201, r.text
    token = r.json()
    assert (await client.get("/api/v1/users", headers=h)).status_code == 403
    # nor may a key manage keys or webhooks, even an admin's
    admin_key = await new_key(client, world, "admin")
    for path, body in (("/api/v1/api-keys", {"name": "x", "role": "admin"}),
                       ("/api/v1/webhooks", {"url": "https://hooks.example.com/x",
                                             "events": ["token.called"]})):
        r = await client.post(path, json=body, headers=auth(admin_key["key"]))
        assert r.status_code == 403, r.text
    # an admin key acts as an admin (a display key made with it names it too)
    r = await client.post("/api/v1/displays", headers=auth(admin_key["key"]),
                          json={"department_id": str(world.department_id), "name": "Lobby"})
    assert r.status_code == 201, r.text
    audit = await pool.fetch("SELECT entity, action, actor_id, api_key_id FROM admin_audit "
                             "WHERE entity IN ('patient', 'display') ORDER BY id")
    assert [(a["entity"], a["action"]) for a in audit] == [("patient", "update"),
                                                           ("display", "create")]
    assert [str(a["api_key_id"]) for a in audit] == [key["id"], admin_key["id"]]
    assert all(a["actor_id"] is None for a in audit)
    r = await client.get(f"/api/v1/tokens/{token['id']}/history", headers=world.h("admin"))
    [created] = r.json()["history"]
    assert created["api_key_id"] == key["id"] and created["actor_id"] is None
    # a session's changes name no key, also after a key was used in the same process
    r = await client.patch(f"/api/v1/patients/{patient['id']}", json={"language": "ta"},
                           headers=world.h("receptionist"))
    assert r.status_code == 200
    last = await pool.fetchrow("SELECT actor_id, api_key_id FROM admin_audit "
                               "ORDER BY id DESC LIMIT 1")
    assert last["api_key_id"] is None and last["actor_id"] is not None
    listed = (await client.get("/api/v1/audit", headers=world.h("admin"))).json()["items"]
    assert {str(i["api_key_id"]) for i in listed if i["api_key_id"]} == {key["id"],
                                                                        admin_key["id"]}


async def test_a_key_sees_nothing_of_another_hospital(client: httpx.AsyncClient,
                                                      pool: asyncpg.Pool, world: World) -> None:
    other = await build_world(pool, code="OTHER")
    key = await new_key(client, other)
    r = await client.get(f"/api/v1/patients/{world.patients[0]}", headers=auth(key["key"]))
    assert r.status_code == 404
    r = await client.get(f"/api/v1/api-keys/{key['id']}", headers=world.h("admin"))
    assert r.status_code == 404
    r = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=world.h("admin"))
    assert r.status_code == 404


async def test_a_revoked_key_is_refused_at_once(client: httpx.AsyncClient, pool: asyncpg.Pool,
                                                world: World) -> None:
    key = await new_key(client, world, "nurse", department_id=str(world.department_id))
    h = auth(key["key"])
    assert (await client.get("/api/v1/tokens", headers=h)).status_code == 200
    r = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=world.h("admin"))
    assert r.status_code == 204
    r = await client.get("/api/v1/tokens", headers=h)
    assert r.status_code == 401, r.text
    assert (await client.get("/fhir/r4/Appointment?date=2030-01-01", headers=h)).status_code == 401
    row = await client.get(f"/api/v1/api-keys/{key['id']}", headers=world.h("admin"))
    assert row.json()["revoked_at"] is not None
    assert (await pool.fetchval("SELECT action FROM admin_audit WHERE entity = 'api_key' "
                                "ORDER BY id DESC LIMIT 1")) == "revoke"


async def test_each_key_has_its_own_rate_limit(client: httpx.AsyncClient, world: World) -> None:
    busy, quiet = await new_key(client, world), await new_key(client, world)
    codes = [(await client.get("/api/v1/me", headers=auth(busy["key"]))).status_code
             for _ in range(RATE + 1)]
    assert codes == [200] * RATE + [429]
    r = await client.get("/api/v1/me", headers=auth(busy["key"]))
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/me", headers=auth(quiet["key"]))).status_code == 200
    assert (await client.get("/api/v1/me", headers=world.h("admin"))).status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "role": "doctor"}, "doctor_id"),
    ({"name": "x", "role": "nurse"}, "department_id"),
    ({"name": "x", "role": "superuser"}, "role"),
    ({"name": " ", "role": "admin"}, "name"),
])
async def test_key_bodies_are_checked(client: httpx.AsyncClient, world: World,
                                      body: dict[str, Any], field: str) -> None:
    r = await client.post("/api/v1/api-keys", json=body, headers=world.h("admin"))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
