"""Tokens (API.md "Tokens"): issue every kind, the errors naming their field, and GET."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.queue.conftest import (
    Clock,
    World,
    add_department,
    build_world,
    get_token,
    issue,
    local_at,
    press_next,
)

URL = "/api/v1/tokens"


def body(w: World, patient: int = 0, **extra: Any) -> dict[str, Any]:
    return {"patient_id": str(w.patients[patient]), "doctor_id": str(w.doctors[0]),
            "booking_type": "WALK_IN", **extra}


ISSUED = [
    # (extra body, status, priority, booking_type)
    ({}, "WAITING", 1, "WALK_IN"),
    ({"priority": 2}, "WAITING", 2, "WALK_IN"),
    ({"booking_type": "EMERGENCY"}, "WAITING", 3, "EMERGENCY"),
    ({"booking_type": "EMERGENCY", "priority": 3}, "WAITING", 3, "EMERGENCY"),
    ({"booking_type": "WALK_IN", "priority": 3}, "WAITING", 3, "WALK_IN"),
]


@pytest.mark.parametrize(("extra", "status", "priority", "booking"), ISSUED,
                         ids=["walk-in", "senior", "emergency", "emergency-3", "priority-3"])
async def test_issue(client: httpx.AsyncClient, world: World, extra: dict[str, Any],
                     status: str, priority: int, booking: str) -> None:
    r = await client.post(URL, json=body(world, visit_reason="fever", **extra),
                          headers=world.h())
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["status"], t["priority"], t["booking_type"]) == (status, priority, booking)
    assert t["number"] == "CARD-001" and t["position"] == 1
    assert t["doctor_id"] == str(world.doctors[0])
    assert t["department_id"] == str(world.department_id)
    assert t["patient"] == {"id": str(world.patients[0]), "display_name": "P. Kumar",
                            "name": "Patient0 Kumar", "phone": "+919876500000",
                            "language": "en"}
    assert t["visit_reason"] == "fever" and t["risk"] is None
    assert t["eta"]["p50_min"] == 0 and t["eta"]["updated_at"]
    assert t["created_at"] and t["checked_in_at"] and t["called_at"] is None


async def test_online_booking_is_booked_and_not_queued(client: httpx.AsyncClient,
                                                       world: World, clock: Clock) -> None:
    slot = local_at(11, 30)
    t = await issue(client, world, 0, booking_type="ONLINE", scheduled_time=slot.isoformat())
    assert t["status"] == "BOOKED" and t["booking_type"] == "ONLINE"
    assert t["position"] is None and t["eta"] is None
    assert t["checked_in_at"] is None
    assert t["scheduled_time"] is not None
    assert t["patient_link"].startswith("http://testserver/t/")
    # another day's booking is numbered in that day's sequence
    later = await issue(client, world, 1, booking_type="ONLINE",
                        scheduled_time=local_at(9, 0, days=3).isoformat())
    assert later["service_date"] == local_at(9, 0, days=3).date().isoformat()
    assert later["number"] == "CARD-001"
    q = await client.get(f"/api/v1/doctors/{world.doctors[0]}/queue", headers=world.h())
    assert q.json()["waiting"] == []


async def test_emergency_goes_first_and_senior_is_marked(client: httpx.AsyncClient,
                                                         world: World) -> None:
    await issue(client, world, 0)
    await issue(client, world, 1)
    e = await issue(client, world, 2, booking_type="EMERGENCY")
    assert e["position"] == 1 and e["priority"] == 3


async def test_department_token_is_assigned_a_doctor(client: httpx.AsyncClient,
                                                     world: World) -> None:
    r = await client.post(URL, json={"patient_id": str(world.patients[0]),
                                     "department_id": str(world.department_id),
                                     "booking_type": "WALK_IN"}, headers=world.h())
    assert r.status_code == 201, r.text
    assert r.json()["doctor_id"] in {str(d) for d in world.doctors}


def _other_hospital_patient(w: World, other: World) -> dict[str, Any]:
    return body(w) | {"patient_id": str(other.patients[0])}


# (id, body change, the field the error names)
INVALID: list[tuple[str, Any, str]] = [
    ("missing patient_id", lambda w, o, e: {k: v for k, v in body(w).items()
                                            if k != "patient_id"}, "patient_id"),
    ("malformed patient_id", lambda w, o, e: body(w) | {"patient_id": "42"}, "patient_id"),
    ("unknown patient", lambda w, o, e: body(w) | {"patient_id": str(uuid.uuid4())},
     "patient_id"),
    ("patient of another hospital", lambda w, o, e: _other_hospital_patient(w, o), "patient_id"),
    ("online without scheduled_time", lambda w, o, e: body(w, booking_type="ONLINE"),
     "scheduled_time"),
    ("naive scheduled_time", lambda w, o, e: body(w, booking_type="ONLINE",
                                                  scheduled_time="2030-01-01T10:00:00"),
     "scheduled_time"),
    ("walk-in for another day", lambda w, o, e: body(
        w, scheduled_time=local_at(10, days=2).isoformat()), "scheduled_time"),
    ("booking for a past day", lambda w, o, e: body(
        w, booking_type="ONLINE", scheduled_time=local_at(10, days=-1).isoformat()),
     "scheduled_time"),
    ("emergency with priority 1", lambda w, o, e: body(w, booking_type="EMERGENCY", priority=1),
     "priority"),
    ("priority 4", lambda w, o, e: body(w, priority=4), "priority"),
    ("unknown booking type", lambda w, o, e: body(w, booking_type="VIP"), "booking_type"),
    ("unknown doctor", lambda w, o, e: body(w, doctor_id=str(uuid.uuid4())), "doctor_id"),
    ("doctor of another hospital", lambda w, o, e: body(w, doctor_id=str(o.doctors[0])),
     "doctor_id"),
    ("doctor not in the department", lambda w, o, e: body(w, department_id=str(e)), "doctor_id"),
    ("neither doctor nor department", lambda w, o, e: {"patient_id": str(w.patients[0]),
                                                       "booking_type": "WALK_IN"},
     "department_id"),
    ("unknown department", lambda w, o, e: {"patient_id": str(w.patients[0]),
                                            "booking_type": "WALK_IN",
                                            "department_id": str(uuid.uuid4())},
     "department_id"),
    ("department of another hospital", lambda w, o, e: {
        "patient_id": str(w.patients[0]), "booking_type": "WALK_IN",
        "department_id": str(o.department_id)}, "department_id"),
    ("unknown field", lambda w, o, e: body(w, urgent=True), "urgent"),
    ("reason too long", lambda w, o, e: body(w, visit_reason="x" * 501), "visit_reason"),
]


@pytest.mark.parametrize(("make", "field"), [(m, f) for _, m, f in INVALID],
                         ids=[i for i, _, _ in INVALID])
async def test_bad_input_names_the_field(client: httpx.AsyncClient, world: World,
                                         pool: asyncpg.Pool, clock: Clock, make: Any,
                                         field: str) -> None:
    other = await build_world(pool, code="OTHER", n_doctors=2, n_patients=1)
    ent, _ = await add_department(pool, world)
    r = await client.post(URL, json=make(world, other, ent), headers=world.h())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == [field], r.json()
    assert await pool.fetchval("SELECT count(*) FROM tokens") == 0
    assert await pool.fetchval("SELECT count(*) FROM token_history") == 0


async def test_a_failed_issue_gives_its_number_back(client: httpx.AsyncClient,
                                                    world: World) -> None:
    r = await client.post(URL, json=body(world, patient_id=str(uuid.uuid4())), headers=world.h())
    assert r.status_code == 422
    assert (await issue(client, world, 0))["number"] == "CARD-001"


async def test_the_daily_cap_is_a_conflict(client: httpx.AsyncClient, world: World,
                                           pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE departments SET daily_cap = 2 WHERE id = $1", world.department_id)
    await issue(client, world, 0)
    await issue(client, world, 1, doctor=1)
    r = await client.post(URL, json=body(world, 2), headers=world.h())
    assert r.status_code == 409
    assert "cap of 2" in r.json()["detail"]


async def test_an_inactive_doctor_takes_no_tokens(client: httpx.AsyncClient, world: World,
                                                  pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE doctors SET active = false WHERE id = $1", world.doctors[0])
    r = await client.post(URL, json=body(world), headers=world.h())
    assert r.status_code == 409 and "not active" in r.json()["detail"]


async def test_get_token_shows_position_eta_and_the_staff_link(client: httpx.AsyncClient,
                                                               world: World) -> None:
    a = await issue(client, world, 0)
    b = await issue(client, world, 1)
    t = await get_token(client, world, b["id"], role="doctor")
    assert t["id"] == b["id"] and t["status"] == "WAITING"
    assert t["position"] == 2
    assert 10 <= t["eta"]["p50_min"] <= 12 < t["eta"]["p90_min"]   # one 10-min consult ahead
    assert t["risk"] is None
    assert t["patient_link"] == b["patient_link"]
    assert t["patient"]["name"] == "Patient1 Kumar"
    await press_next(client, world)
    called = await get_token(client, world, a["id"])
    assert called["status"] == "CALLED" and called["position"] is None and called["eta"] is None
    assert called["cabin"] == "C-101" and called["called_at"]
    assert (await get_token(client, world, b["id"]))["position"] == 1


async def test_get_token_shows_the_latest_risk(client: httpx.AsyncClient, world: World,
                                               pool: asyncpg.Pool) -> None:
    t = await issue(client, world, 0)
    for score, badge, tier in ((20, "Low", 1), (62, "Medium", 3)):   # the latest counts
        await pool.execute(
            """INSERT INTO risk_assessments (hospital_id, token_id, patient_id, model_version,
                   score, badge, tier, show_probability, created_at, factors)
               VALUES ($1, $2, $3, 'prior-1', $4, $5, $6, 0.7, now() + $7 * interval '1 s',
                       $8)""",
            world.hospital_id, uuid.UUID(t["id"]), world.patients[0], score, badge, tier,
            float(tier), [{"group": "history", "phrase": f"missed {tier} of 4 past visits",
                           "effect": 0.8}, {"group": "lead", "phrase": "booked 21 days ahead",
                                            "effect": 0.3}])
    got = await get_token(client, world, t["id"])
    # staff see what the score rests on, strongest first (the tablet's badge, tapped)
    assert got["risk"] == {"score": 62, "badge": "Medium", "tier": 3,
                           "factors": ["missed 3 of 4 past visits", "booked 21 days ahead"]}
    queue = (await client.get(f"/api/v1/doctors/{world.doctors[0]}/queue",
                              headers=world.h("doctor"))).json()
    assert queue["waiting"][0]["risk"]["factors"][0] == "missed 3 of 4 past visits"


@pytest.mark.parametrize("token_id", ["not-a-uuid", str(uuid.uuid4())])
async def test_get_unknown_token_is_404(client: httpx.AsyncClient, world: World,
                                        token_id: str) -> None:
    r = await client.get(f"{URL}/{token_id}", headers=world.h())
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


async def test_get_token_of_another_hospital_is_404(client: httpx.AsyncClient, world: World,
                                                    pool: asyncpg.Pool) -> None:
    other = await build_world(pool, code="OTHER", n_doctors=2, n_patients=1)
    t = await issue(client, other, 0)
    for path in (f"{URL}/{t['id']}", f"{URL}/{t['id']}/history"):
        r = await client.get(path, headers=world.h("admin"))
        assert r.status_code == 404, path
    r = await client.post(f"{URL}/{t['id']}/cancel", headers=world.h("admin"))
    assert r.status_code == 404
    assert (await get_token(client, other, t["id"]))["status"] == "WAITING"


async def test_history_lists_every_step(client: httpx.AsyncClient, world: World) -> None:
    t = await issue(client, world, 0)
    r = await client.post(f"{URL}/{t['id']}/cancel", json={"reason": "went home"},
                          headers=world.h())
    assert r.status_code == 200
    h = (await client.get(f"{URL}/{t['id']}/history", headers=world.h("doctor"))).json()
    steps = [(e["action"], e["from_status"], e["to_status"], e["reason"]) for e in h["history"]]
    assert steps == [("issue", None, "WAITING", None), ("cancel", "WAITING", "CANCELLED",
                                                          "went home")]
