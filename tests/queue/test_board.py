"""The waiting-room board: `GET /api/v1/departments/{id}/board` with a display key."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, time
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from tests.api.helpers import auth, make_display_key
from tests.queue.conftest import (
    TZ,
    Clock,
    World,
    add_department,
    build_world,
    issue,
    press_next,
)


def board_url(department_id: uuid.UUID) -> str:
    return f"/api/v1/departments/{department_id}/board"


async def test_board_shows_current_and_next_per_cabin_with_masked_names(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, clock: Clock) -> None:
    _, key = await make_display_key(pool, world.hospital_id, world.department_id)
    numbers = []
    for i in range(8):
        clock.advance(minutes=1)
        numbers.append((await issue(client, world, i))["number"])
    await issue(client, world, 8, doctor=1)
    clock.advance(minutes=1)
    await press_next(client, world)

    r = await client.get(board_url(world.department_id), headers=auth(key))
    assert r.status_code == 200, r.text
    board = r.json()
    assert board["department"] == {"id": str(world.department_id), "name": "Cardiology",
                                   "code": "CARD", "language": "en", "languages": ["en"],
                                   "names": "masked", "timezone": TZ}
    cabins = {c["cabin"]: c for c in board["cabins"]}
    assert set(cabins) == {"C-101", "C-102", "C-103"}
    c1 = cabins["C-101"]
    assert c1["doctor"]["name"] == "Dr. Doctor0" and c1["doctor"]["status"] == "AVAILABLE"
    assert c1["current"]["number"] == numbers[0]
    assert c1["current"]["display_name"] == "P. Kumar"
    assert c1["current"]["status"] == "CALLED"
    assert [n["number"] for n in c1["next"]] == numbers[1:6]     # the next five
    assert [n["position"] for n in c1["next"]] == [1, 2, 3, 4, 5]
    assert c1["waiting_count"] == 7
    assert all(n["display_name"] == "P. Kumar" for n in c1["next"])
    p50s = [n["eta"]["p50_min"] for n in c1["next"]]
    assert p50s == sorted(p50s) and 5 <= p50s[0] <= 12     # the current consult, just begun
    assert cabins["C-102"]["current"] is None and len(cabins["C-102"]["next"]) == 1
    assert cabins["C-103"] == {**cabins["C-103"], "current": None, "next": [],
                               "waiting_count": 0}
    text = json.dumps(board)
    for private in ("Patient", "+9198765", "UH000", "patient_link", "visit_reason"):
        assert private not in text, private


async def test_board_shows_a_paused_doctor(client: httpx.AsyncClient, world: World,
                                           pool: asyncpg.Pool) -> None:
    _, key = await make_display_key(pool, world.hospital_id, world.department_id)
    r = await client.post(f"/api/v1/doctors/{world.doctors[1]}/pause", json={"minutes": 5},
                          headers=world.h("admin"))
    assert r.status_code == 200
    board = (await client.get(board_url(world.department_id), headers=auth(key))).json()
    status = {c["cabin"]: c["doctor"]["status"] for c in board["cabins"]}
    assert status == {"C-101": "AVAILABLE", "C-102": "PAUSED", "C-103": "AVAILABLE"}
    # the tile can say until when
    until = {c["cabin"]: c["doctor"]["pause_until"] for c in board["cabins"]}
    assert until["C-101"] is None and until["C-103"] is None
    assert until["C-102"] == r.json()["pause_until"]


async def test_board_says_when_each_shift_starts(client: httpx.AsyncClient, world: World,
                                                 pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE shifts SET start_time = '09:30' WHERE doctor_id = $1",
                       world.doctors[1])
    board = (await client.get(board_url(world.department_id), headers=world.h())).json()
    starts = {c["cabin"]: datetime.fromisoformat(c["doctor"]["shift_start"])
              for c in board["cabins"]}
    local = {cabin: at.astimezone(ZoneInfo(TZ)) for cabin, at in starts.items()}
    assert local["C-102"].time() == time(9, 30) and local["C-101"].time() == time(0, 0)
    assert local["C-102"].date() == datetime.now(ZoneInfo(TZ)).date()


async def test_board_languages_and_hidden_names_are_department_settings(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, clock: Clock) -> None:
    await issue(client, world, 0)
    await press_next(client, world)
    await issue(client, world, 1)
    r = await client.patch(f"/api/v1/departments/{world.department_id}", headers=world.h("admin"),
                           json={"language": "hi"})
    assert r.status_code == 200, r.text
    board = (await client.get(board_url(world.department_id), headers=world.h())).json()
    assert board["department"]["languages"] == ["hi", "en"]    # bilingual by default

    r = await client.patch(f"/api/v1/departments/{world.department_id}", headers=world.h("admin"),
                           json={"board_languages": ["en", "hi"], "board_names": "hidden"})
    assert r.status_code == 200, r.text
    assert r.json()["board_languages"] == ["en", "hi"] and r.json()["board_names"] == "hidden"
    board = (await client.get(board_url(world.department_id), headers=world.h())).json()
    assert board["department"]["languages"] == ["en", "hi"]
    assert board["department"]["names"] == "hidden"
    c1 = next(c for c in board["cabins"] if c["cabin"] == "C-101")
    assert c1["current"]["display_name"] == "" and c1["next"][0]["display_name"] == ""
    assert "Kumar" not in json.dumps(board)

    for bad in ({"board_languages": ["hin"]}, {"board_languages": ["en", "hi", "ta", "te"]},
                {"board_names": "full"}):
        r = await client.patch(f"/api/v1/departments/{world.department_id}",
                               headers=world.h("admin"), json=bad)
        assert r.status_code == 422, (bad, r.text)


async def test_board_leaves_out_doctors_without_a_shift_today(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool) -> None:
    await pool.execute("DELETE FROM shifts WHERE doctor_id = $1", world.doctors[2])
    board = (await client.get(board_url(world.department_id), headers=world.h())).json()
    assert {c["cabin"] for c in board["cabins"]} == {"C-101", "C-102"}


@pytest.mark.parametrize("role", ["admin", "receptionist", "doctor", "nurse"])
async def test_staff_read_the_board(client: httpx.AsyncClient, world: World, role: str) -> None:
    r = await client.get(board_url(world.department_id), headers=world.h(role))
    assert r.status_code == 200


async def test_a_display_key_sees_only_its_own_department(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool) -> None:
    ent, _ = await add_department(pool, world)
    _, ent_key = await make_display_key(pool, world.hospital_id, ent)
    r = await client.get(board_url(world.department_id), headers=auth(ent_key))
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get(board_url(ent), headers=auth(ent_key))).status_code == 200
    other = await build_world(pool, code="OTHER", n_patients=0)
    _, foreign_key = await make_display_key(pool, other.hospital_id, other.department_id)
    r = await client.get(board_url(world.department_id), headers=auth(foreign_key))
    assert r.status_code == 404


async def test_a_revoked_or_unknown_key_is_401(client: httpx.AsyncClient, world: World,
                                               pool: asyncpg.Pool) -> None:
    key_id, key = await make_display_key(pool, world.hospital_id, world.department_id)
    await pool.execute("UPDATE display_keys SET revoked_at = now() WHERE id = $1", key_id)
    for headers in (auth(key), auth("dk_unknown"), {}):
        r = await client.get(board_url(world.department_id), headers=headers)
        assert r.status_code == 401, r.text


async def test_unknown_department_board_is_404(client: httpx.AsyncClient, world: World) -> None:
    for dep in (uuid.uuid4(), "nope"):
        r = await client.get(f"/api/v1/departments/{dep}/board", headers=world.h())
        assert r.status_code == 404
