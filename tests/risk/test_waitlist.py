"""The waitlist: staff add and list; a cancelled booking's slot is offered (doctor
preference first, then longest waiting); of two acceptances at once exactly one wins."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from server.presenters import utcnow
from server.risk import waitlist
from server.settings import Settings
from tests.queue.conftest import World
from tests.risk.conftest import book, slot
from workers import outreach
from workers import risk as jobs


async def add(client: httpx.AsyncClient, w: World, patient: int, day: date,
              doctor: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"patient_id": str(w.patients[patient]),
                            "department_id": str(w.department_id), "desired_date": day.isoformat()}
    if doctor is not None:
        body["preferred_doctor_id"] = str(w.doctors[doctor])
    r = await client.post("/api/v1/waitlist", json=body, headers=w.h())
    assert r.status_code == 201, r.text
    return r.json()


async def freed_slot(client: httpx.AsyncClient, w: World) -> dict[str, Any]:
    tok = await book(client, w, 0, days_ahead=1)
    r = await client.post(f"/api/v1/tokens/{tok['id']}/cancel", json={"reason": "travelling"},
                          headers=w.h())
    assert r.status_code == 200, r.text
    return tok


async def test_add_and_list(client: httpx.AsyncClient, world: World) -> None:
    day = slot(1).date()
    first = await add(client, world, 5, day)
    assert first["status"] == "WAITING" and first["patient"]["id"] == str(world.patients[5])
    r = await client.post("/api/v1/waitlist", headers=world.h(), json={
        "patient_id": str(world.patients[5]), "department_id": str(world.department_id),
        "desired_date": day.isoformat()})
    assert r.status_code == 409                                   # already waiting that day
    r = await client.post("/api/v1/waitlist", headers=world.h(), json={
        "patient_id": str(world.patients[6]), "department_id": str(world.department_id),
        "desired_date": (day - timedelta(days=5)).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "desired_date"
    r = await client.post("/api/v1/waitlist", headers=world.h(), json={
        "patient_id": str(UUID(int=1)), "department_id": str(world.department_id),
        "desired_date": day.isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "patient_id"
    r = await client.get("/api/v1/waitlist", headers=world.h(),
                         params={"department_id": str(world.department_id), "date": str(day)})
    assert r.status_code == 200
    assert [e["id"] for e in r.json()["entries"]] == [first["id"]]
    r = await client.get("/api/v1/waitlist", headers=world.h(), params={"date": "soon"})
    assert r.status_code == 422


async def test_freed_slot_offered_by_preference_then_waiting_time(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool,
        job_ctx: dict[str, Any]) -> None:
    """One offer at a time: this doctor's entry first, then no preference (longest waiting,
    then most urgent), then another doctor's; a lapsed offer passes the slot on."""
    day = slot(1).date()
    plain_a = await add(client, world, 5, day)
    other_doc = await add(client, world, 6, day, doctor=1)
    plain_b = await add(client, world, 7, day)
    r = await client.patch(f"/api/v1/waitlist/{plain_b['id']}", json={"urgency": 2},
                           headers=world.h())
    assert r.status_code == 200 and r.json()["urgency"] == 2
    this_doc = await add(client, world, 8, day, doctor=0)
    tok = await freed_slot(client, world)
    order = [await jobs.offer_freed_slot(job_ctx, tok["id"])]
    assert await jobs.offer_freed_slot(job_ctx, tok["id"]) == []      # one open offer at a time
    for _ in range(3):
        await pool.execute("UPDATE waitlist_offers SET expires_at = now() - interval '1 s'")
        await outreach.pass_waitlist_offers(job_ctx)
        order.append([str(e) for e in await pool.fetchval(
            "SELECT array_agg(entry_id) FROM waitlist_offers WHERE status = 'OFFERED'") or []])
    assert order == [[this_doc["id"]], [plain_b["id"]], [plain_a["id"]], [other_doc["id"]]]
    r = await client.get("/api/v1/waitlist", headers=world.h(), params={"date": str(day)})
    entries = {e["id"]: e for e in r.json()["entries"]}
    assert entries[other_doc["id"]]["status"] == "OFFERED"
    assert entries[this_doc["id"]]["status"] == "WAITING"            # back in line
    assert [o["status"] for o in entries[this_doc["id"]]["offers"]] == ["EXPIRED"]


async def test_staff_take_an_entry_off_the_list(client: httpx.AsyncClient, world: World,
                                                job_ctx: dict[str, Any]) -> None:
    day = slot(1).date()
    gone = await add(client, world, 5, day)
    r = await client.patch(f"/api/v1/waitlist/{gone['id']}", json={"status": "CANCELLED"},
                           headers=world.h())
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    r = await client.patch(f"/api/v1/waitlist/{gone['id']}", json={"status": "OFFERED"},
                           headers=world.h())
    assert r.status_code == 422
    tok = await freed_slot(client, world)
    assert await jobs.offer_freed_slot(job_ctx, tok["id"]) == []      # nobody left to offer


@pytest.mark.parametrize("same_patient", [False, True])
async def test_two_acceptances_at_once_one_wins(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, settings: Settings,
        job_ctx: dict[str, Any], same_patient: bool) -> None:
    day = slot(1).date()
    a = await add(client, world, 5, day)
    b = await add(client, world, 6, day)
    tok = await freed_slot(client, world)
    tid = UUID(tok["id"])
    offers = await waitlist.offer_slot(pool, tid, utcnow(), settings.secret(), fanout=2)
    assert [str(o.entry_id) for o in offers] == [a["id"], b["id"]]
    codes = [waitlist.offer_code(settings.secret(), UUID(e["id"]), tid)
             for e in ((a, a) if same_patient else (a, b))]

    answers = await asyncio.gather(*(
        client.post(f"/api/v1/public/waitlist/{c}/accept") for c in codes))
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    won = next(r.json() for r in answers if r.status_code == 201)
    assert won["status"] == "BOOKED" and won["scheduled_time"] == tok["scheduled_time"]
    assert won["patient_link"].startswith("http://testserver/t/")

    rows = await pool.fetch(
        """SELECT patient_id, doctor_id, scheduled_time, booking_type FROM tokens
           WHERE status = 'BOOKED' AND scheduled_time = $1""",
        await pool.fetchval("SELECT scheduled_time FROM tokens WHERE id = $1", tid))
    assert len(rows) == 1 and rows[0]["doctor_id"] == world.doctors[0]
    entries = {str(r["id"]): r["status"] for r in await pool.fetch(
        "SELECT id, status FROM waitlist_entries")}
    assert sorted(entries.values()) == ["ACCEPTED", "WAITING"]
    winner = next(e for e, s in entries.items() if s == "ACCEPTED")
    assert rows[0]["patient_id"] == world.patients[5 if winner == a["id"] else 6]

    again = await client.post(f"/api/v1/public/waitlist/{codes[1]}/accept")
    assert again.status_code == 409


async def test_bad_or_forged_codes_are_not_found(client: httpx.AsyncClient,
                                                 settings: Settings) -> None:
    forged = waitlist.offer_code(b"another-secret", UUID(int=1), UUID(int=2))
    for code in (forged, "nonsense", "x" * 200):
        r = await client.post(f"/api/v1/public/waitlist/{code}/accept")
        assert r.status_code == 404
    genuine = waitlist.offer_code(settings.secret(), UUID(int=1), UUID(int=2))
    assert waitlist.parse_offer_code(settings.secret(), genuine) == (UUID(int=1), UUID(int=2))
    assert (await client.post(f"/api/v1/public/waitlist/{genuine}/accept")).status_code == 404
