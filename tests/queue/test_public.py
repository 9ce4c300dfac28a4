"""The patient's own page data (API.md "Public"): by the signed code of the link, no login."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from server.security import links
from server.settings import Settings
from tests.queue.conftest import (
    Clock,
    World,
    act,
    book,
    get_token,
    issue,
    link_code,
    local_at,
    press_next,
)

PUBLIC = "/api/v1/public/tokens"
HOSPITAL = (12.9716, 77.5946)     # build_world's hospital; geofence radius 300 m


async def public(client: httpx.AsyncClient, code: str) -> httpx.Response:
    return await client.get(f"{PUBLIC}/{code}")


async def check_in(client: httpx.AsyncClient, code: str, lat: float, lon: float
                   ) -> httpx.Response:
    return await client.post(f"{PUBLIC}/{code}/check-in", json={"lat": lat, "lon": lon})


async def test_the_link_shows_the_token_and_nothing_personal(client: httpx.AsyncClient,
                                                             world: World) -> None:
    await issue(client, world, 0)
    t = await issue(client, world, 1)
    r = await public(client, link_code(t))
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["number"] == t["number"] and view["status"] == "WAITING"
    assert view["position"] == 2
    assert 10 <= view["eta"]["p50_min"] <= 12 < view["eta"]["p90_min"]
    assert view["cabin"] == "C-101" and view["doctor_name"] == "Dr. Doctor0"
    text = json.dumps(view)
    for secret in ("Patient1", "Kumar", "+919876500001", "UH00001", str(world.patients[1]),
                   "patient", "phone", t["id"]):
        assert secret not in text, secret
    assert "patient_link" not in view and "visit_reason" not in view


async def test_the_link_follows_the_token_through_its_day(client: httpx.AsyncClient,
                                                          world: World, clock: Clock) -> None:
    t = await issue(client, world, 0)
    code = link_code(t)
    clock.advance(minutes=1)
    await press_next(client, world)
    view = (await public(client, code)).json()
    assert (view["status"], view["position"], view["eta"]) == ("CALLED", None, None)
    clock.advance(minutes=1)
    await act(client, world, t["id"], "start")
    await act(client, world, t["id"], "complete")
    assert (await public(client, code)).json()["status"] == "COMPLETED"


def _tamper(code: str) -> str:
    last = code[-1]
    return code[:-1] + ("A" if last != "A" else "B")


async def _past_day_link(pool: asyncpg.Pool, w: World, settings: Settings) -> str:
    yesterday = local_at(10, days=-1)
    await pool.execute(
        """INSERT INTO tokens (hospital_id, department_id, doctor_id, patient_id, service_date,
               seq, number, booking_type, status, queue_score, public_code, created_at)
           VALUES ($1, $2, $3, $4, $5, 1, 'CARD-001', 'WALK_IN', 'WAITING', 0,
                   'yesterdaycode0001', $6)""",
        w.hospital_id, w.department_id, w.doctors[0], w.patients[0], yesterday.date(),
        yesterday)
    return links.sign(settings.secret(), "yesterdaycode0001", yesterday.date())


BAD_LINKS = ["forged", "tampered-mac", "wrong-secret", "wrong-day", "no-mac", "past-day",
             "too-long"]


@pytest.mark.parametrize("kind", BAD_LINKS)
async def test_bad_links_are_404(client: httpx.AsyncClient, world: World, pool: asyncpg.Pool,
                                 settings: Settings, kind: str) -> None:
    t = await issue(client, world, 0)
    code = link_code(t)
    public_code = code.rsplit(".", 1)[0]
    today = local_at(10).date()
    bad = {
        "forged": "abcdefghijklmnop." + "A" * links.MAC_CHARS,
        "tampered-mac": _tamper(code),
        "wrong-secret": links.sign(b"not-the-server-secret", public_code, today),
        "wrong-day": links.sign(settings.secret(), public_code, today + timedelta(days=1)),
        "no-mac": public_code,
        "too-long": code + "x" * 64,
    }
    if kind == "past-day":
        bad[kind] = await _past_day_link(pool, world, settings)
    for r in (await public(client, bad[kind]),
              await check_in(client, bad[kind], *HOSPITAL)):
        assert r.status_code == 404, (kind, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert "not valid" in r.json()["detail"]
    assert (await public(client, code)).status_code == 200


async def test_self_check_in_inside_the_geofence(client: httpx.AsyncClient, world: World,
                                                 clock: Clock, pool: asyncpg.Pool) -> None:
    await issue(client, world, 0)
    b = await book(client, world, 1, local_at(10, 30))
    code = link_code(b)
    view = (await public(client, code)).json()
    assert (view["status"], view["can_check_in"], view["position"]) == ("BOOKED", True, None)
    clock.advance(minutes=2)
    r = await check_in(client, code, 12.9730, 77.5950)     # ~160 m away
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["position"]) == ("WAITING", 2)
    assert r.json()["can_check_in"] is False
    assert "patient" not in json.dumps(r.json())
    row = await pool.fetchrow(
        "SELECT check_in_lat, check_in_lon, checked_in_at FROM tokens WHERE id = $1", b["id"])
    assert (row["check_in_lat"], row["check_in_lon"]) == (12.9730, 77.5950)
    h = await pool.fetchrow(
        "SELECT actor_kind, actor_id, details FROM token_history WHERE token_id = $1 "
        "AND action = 'check-in'", b["id"])
    assert h["actor_kind"] == "patient" and h["actor_id"] is None
    # checking in twice is a refused transition
    r = await check_in(client, code, *HOSPITAL)
    assert r.status_code == 409 and r.json()["current_status"] == "WAITING"


async def test_self_check_in_outside_the_geofence_is_403_with_the_distance(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    b = await book(client, world, 1, local_at(10, 30))
    r = await check_in(client, link_code(b), 12.9900, 77.5946)    # ~2 km north
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert 2000 <= problem["distance_m"] <= 2100
    assert f"{problem['distance_m']} m" in problem["detail"] and "300 m" in problem["detail"]
    assert (await get_token(client, world, b["id"]))["status"] == "BOOKED"


async def test_self_check_in_needs_a_hospital_location(client: httpx.AsyncClient, world: World,
                                                       clock: Clock, pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE hospitals SET latitude = NULL, longitude = NULL")
    b = await book(client, world, 1, local_at(10, 30))
    r = await check_in(client, link_code(b), *HOSPITAL)
    assert r.status_code == 403 and "not enabled" in r.json()["detail"]


async def test_self_check_in_of_another_days_booking_is_refused(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    b = await book(client, world, 1, local_at(10, 30, days=1))
    r = await check_in(client, link_code(b), *HOSPITAL)
    assert r.status_code == 409, r.text
    assert r.json()["current_status"] == "BOOKED"


@pytest.mark.parametrize(("body", "field"), [
    ({"lat": 91, "lon": 0}, "lat"),
    ({"lat": 12.97}, "lon"),
    ({"lat": "here", "lon": 77.59}, "lat"),
    ({"lat": 12.97, "lon": 77.59, "accuracy": 5}, "accuracy"),
])
async def test_bad_check_in_body_names_the_field(client: httpx.AsyncClient, world: World,
                                                 clock: Clock, body: dict[str, Any],
                                                 field: str) -> None:
    b = await book(client, world, 1, local_at(10, 30))
    r = await client.post(f"{PUBLIC}/{link_code(b)}/check-in", json=body)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_public_endpoints_are_rate_limited(client: httpx.AsyncClient, world: World,
                                                 app: Any) -> None:
    app.state.opdq.settings.public_rate_per_minute = 3
    code = link_code(await issue(client, world, 0))
    for _ in range(3):
        assert (await public(client, code)).status_code == 200
    for r in (await public(client, code), await check_in(client, code, *HOSPITAL),
              await public(client, "forged.AAAAAAAAAAAAAAAA")):
        assert r.status_code == 429, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert 1 <= int(r.headers["retry-after"]) <= 60
    # staff reads are not counted against the public allowance
    assert (await client.get(f"/api/v1/doctors/{world.doctors[0]}/queue",
                             headers=world.h())).status_code == 200
