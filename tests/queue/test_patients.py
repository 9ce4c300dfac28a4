"""Patients (API.md "Patients"): register, find by phone or UHID, read with visit history."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.queue.conftest import World, build_world, issue, press_next

URL = "/api/v1/patients"


async def register(client: httpx.AsyncClient, w: World, role: str = "receptionist",
                   **body: Any) -> httpx.Response:
    return await client.post(URL, json={"name": "Asha Devi Rao", "phone": "+919812345678",
                                        **body}, headers=w.h(role))


async def test_register_normalises_the_phone_and_generates_a_uhid(
        client: httpx.AsyncClient, world: World) -> None:
    r = await register(client, world, phone="+91 98123-45678", date_of_birth="1950-04-02",
                       gender="F", language="hi", whatsapp_opt_in=True)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["phone"] == "+919812345678"
    assert re.fullmatch(r"UH\d{6}", p["uhid"]), p["uhid"]
    assert p["hospital_id"] == str(world.hospital_id)
    assert (p["name"], p["date_of_birth"], p["gender"], p["language"]) == (
        "Asha Devi Rao", "1950-04-02", "F", "hi")
    assert p["sms_opt_in"] is True and p["whatsapp_opt_in"] is True
    uuid.UUID(p["id"])
    # a given UHID is kept
    r = await register(client, world, uhid="MRN-778", phone="+14155550123")
    assert r.status_code == 201, r.text
    assert (r.json()["uhid"], r.json()["phone"]) == ("MRN-778", "+14155550123")


async def test_generated_uhids_step_over_ones_already_taken(client: httpx.AsyncClient,
                                                             pool: asyncpg.Pool) -> None:
    w = await build_world(pool, n_patients=0)
    # a UHID typed at the desk that looks like the next generated one
    assert (await register(client, w, uhid="UH000002")).status_code == 201
    r = await register(client, w)
    assert r.status_code == 201, r.text
    assert r.json()["uhid"] not in ("UH000002", "")
    assert await pool.fetchval("SELECT count(DISTINCT uhid) FROM patients") == 2


@pytest.mark.parametrize("role", ["admin", "receptionist", "nurse"])
async def test_desk_roles_register(client: httpx.AsyncClient, world: World, role: str) -> None:
    assert (await register(client, world, role)).status_code == 201


INVALID = [
    ({"phone": "98123"}, "phone"),
    ({"phone": "+91 12"}, "phone"),
    ({"phone": "not a phone"}, "phone"),
    # two days: one day ahead is still today somewhere (UTC+14)
    ({"date_of_birth": (date.today() + timedelta(days=2)).isoformat()}, "date_of_birth"),
    ({"date_of_birth": "02/04/1950"}, "date_of_birth"),
    ({"gender": "X"}, "gender"),
    ({"uhid": "a b"}, "uhid"),
    ({"language": "hindi"}, "language"),
    ({"name": ""}, "name"),
    ({"nickname": "Ash"}, "nickname"),
]


@pytest.mark.parametrize(("body", "field"), INVALID, ids=[f for _, f in INVALID])
async def test_bad_input_names_the_field(client: httpx.AsyncClient, world: World,
                                         pool: asyncpg.Pool, body: dict[str, Any],
                                         field: str) -> None:
    before = await pool.fetchval("SELECT count(*) FROM patients")
    r = await register(client, world, **body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert await pool.fetchval("SELECT count(*) FROM patients") == before


async def test_missing_name_and_phone_are_named(client: httpx.AsyncClient, world: World) -> None:
    r = await client.post(URL, json={}, headers=world.h())
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"name", "phone"}


async def test_duplicate_uhid_is_a_conflict_naming_uhid(client: httpx.AsyncClient,
                                                        world: World) -> None:
    r = await register(client, world, uhid="UH00001")   # build_world's second patient
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [{"field": "uhid", "message": "already registered"}]
    assert "UH00001" in r.json()["detail"]


async def test_the_same_uhid_in_another_hospital_is_fine(client: httpx.AsyncClient,
                                                         world: World, pool: asyncpg.Pool) -> None:
    other = await build_world(pool, code="OTHER", n_patients=0)
    assert (await register(client, other, uhid="UH00001")).status_code == 201


async def test_find_by_phone_and_by_uhid(client: httpx.AsyncClient, world: World,
                                         pool: asyncpg.Pool) -> None:
    other = await build_world(pool, code="OTHER", n_patients=1)   # same phone abroad
    assert await pool.fetchval("SELECT count(*) FROM patients WHERE phone = '+919876500000'") == 2
    for params in ({"phone": "+919876500000"}, {"phone": "+91 98765 00000"},
                   {"uhid": "UH00000"}, {"phone": "+919876500000", "uhid": "UH00000"}):
        r = await client.get(URL, params=params, headers=world.h("doctor"))
        assert r.status_code == 200, (params, r.text)
        assert [p["id"] for p in r.json()["patients"]] == [str(world.patients[0])], params
    r = await client.get(URL, params={"phone": "+919876500000"}, headers=other.h())
    assert [p["id"] for p in r.json()["patients"]] == [str(other.patients[0])]
    # nobody: an empty list, not a 404
    r = await client.get(URL, params={"uhid": "NOPE-1"}, headers=world.h())
    assert r.status_code == 200 and r.json()["patients"] == []
    r = await client.get(URL, params={"phone": "+919876500000", "uhid": "UH00001"},
                         headers=world.h())
    assert r.json()["patients"] == []


@pytest.mark.parametrize("params", [{}, {"name": "Kumar"}], ids=["none", "other-field"])
async def test_search_needs_phone_or_uhid(client: httpx.AsyncClient, world: World,
                                          params: dict[str, str]) -> None:
    r = await client.get(URL, params=params, headers=world.h())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "phone or uhid" in r.json()["detail"]


async def test_search_by_a_malformed_phone_names_it(client: httpx.AsyncClient,
                                                    world: World) -> None:
    r = await client.get(URL, params={"phone": "12"}, headers=world.h())
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["phone"]


async def test_get_with_visit_history(client: httpx.AsyncClient, world: World) -> None:
    first = await issue(client, world, 3)
    await press_next(client, world)
    second = await issue(client, world, 3, doctor=1)
    r = await client.get(f"{URL}/{world.patients[3]}", headers=world.h("nurse"))
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["id"], p["uhid"], p["name"], p["phone"]) == (
        str(world.patients[3]), "UH00003", "Patient3 Kumar", "+919876500003")
    visits = {v["id"]: v for v in p["visits"]}
    assert set(visits) == {first["id"], second["id"]}
    assert visits[first["id"]]["status"] == "CALLED"
    assert visits[second["id"]]["status"] == "WAITING"
    assert visits[first["id"]]["number"] == "CARD-001"
    assert visits[second["id"]]["doctor"] == "Dr. Doctor1"
    assert visits[first["id"]]["department"] == "Cardiology"
    # a patient with no visits has an empty history
    r = await client.get(f"{URL}/{world.patients[4]}", headers=world.h())
    assert r.json()["visits"] == []


async def test_get_unknown_or_foreign_patient_is_404(client: httpx.AsyncClient, world: World,
                                                     pool: asyncpg.Pool) -> None:
    other = await build_world(pool, code="OTHER", n_patients=1)
    for pid in (other.patients[0], uuid.uuid4(), "not-a-uuid"):
        r = await client.get(f"{URL}/{pid}", headers=world.h("admin"))
        assert r.status_code == 404, (pid, r.text)
        assert r.headers["content-type"] == "application/problem+json"
