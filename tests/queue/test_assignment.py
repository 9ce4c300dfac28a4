"""A department's token goes to the on-shift doctor with the shortest expected wait; a doctor's
leave moves their tokens to colleagues by the same rule, or reschedules them."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.queue.conftest import (
    Clock,
    World,
    book,
    get_token,
    issue,
    local_at,
    press_next,
    queue,
)


async def fill(client: httpx.AsyncClient, w: World, clock: Clock,
               lengths: list[int]) -> None:
    """Doctor i gets lengths[i] waiting walk-ins."""
    patient = 0
    for doctor, n in enumerate(lengths):
        for _ in range(n):
            clock.advance(seconds=30)
            await issue(client, w, patient % len(w.patients), doctor=doctor)
            patient += 1
    clock.advance(seconds=30)   # whatever comes next arrives later


async def department_token(client: httpx.AsyncClient, w: World, patient: int = 11
                           ) -> httpx.Response:
    return await client.post("/api/v1/tokens", json={
        "patient_id": str(w.patients[patient]), "department_id": str(w.department_id),
        "booking_type": "WALK_IN"}, headers=w.h())


async def end_shift(pool: asyncpg.Pool, w: World, doctor: int, end: str = "09:00") -> None:
    """The doctor's shift today ended at `end` (the clock says 10:00)."""
    await pool.execute("UPDATE shifts SET end_time = $2::text::time WHERE doctor_id = $1",
                       w.doctors[doctor], end)


def doctor_of(r: httpx.Response, w: World) -> int:
    assert r.status_code == 201, r.text
    return w.doctors.index(uuid.UUID(r.json()["doctor_id"]))


@pytest.mark.parametrize(("lengths", "chosen"), [
    ([3, 1, 2], 1),
    ([0, 2, 1], 0),
    ([2, 2, 1], 2),
])
async def test_the_shortest_queue_gets_the_token(client: httpx.AsyncClient, world: World,
                                                 clock: Clock, lengths: list[int],
                                                 chosen: int) -> None:
    await fill(client, world, clock, lengths)
    r = await department_token(client, world)
    assert doctor_of(r, world) == chosen
    assert r.json()["position"] == lengths[chosen] + 1
    assert r.json()["cabin"] == world.cabins[chosen]


async def test_expected_wait_not_queue_length_decides(client: httpx.AsyncClient, world: World,
                                                      clock: Clock, pool: asyncpg.Pool) -> None:
    # doctor 1 takes 30 minutes a patient: one ahead there is a longer wait than two at doctor 0
    await pool.execute("UPDATE doctors SET avg_consultation_min = 30 WHERE id = $1",
                       world.doctors[1])
    await fill(client, world, clock, [2, 1, 4])
    assert doctor_of(await department_token(client, world), world) == 0


async def test_a_consultation_in_progress_counts(client: httpx.AsyncClient, world: World,
                                                 clock: Clock) -> None:
    await fill(client, world, clock, [1, 0, 1])
    clock.advance(minutes=1)
    assert (await press_next(client, world, 0, role="admin")).status_code == 200  # busy now
    clock.advance(minutes=1)
    assert (await press_next(client, world, 2, role="admin")).status_code == 200
    await fill(client, world, clock, [0, 0, 1])      # doctor 2: busy and one waiting
    assert doctor_of(await department_token(client, world), world) == 1


async def test_a_doctor_whose_shift_ended_is_not_chosen(client: httpx.AsyncClient, world: World,
                                                        clock: Clock, pool: asyncpg.Pool) -> None:
    await fill(client, world, clock, [3, 0, 2])
    await end_shift(pool, world, 1)
    assert doctor_of(await department_token(client, world), world) == 2


async def test_doctors_without_a_shift_today_or_inactive_are_not_chosen(
        client: httpx.AsyncClient, world: World, clock: Clock, pool: asyncpg.Pool) -> None:
    await fill(client, world, clock, [3, 0, 0])
    await pool.execute("DELETE FROM shifts WHERE doctor_id = $1", world.doctors[1])
    await pool.execute("UPDATE doctors SET active = false WHERE id = $1", world.doctors[2])
    assert doctor_of(await department_token(client, world), world) == 0


async def test_409_when_no_doctor_is_on_shift(client: httpx.AsyncClient, world: World,
                                              clock: Clock, pool: asyncpg.Pool) -> None:
    for d in range(3):
        await end_shift(pool, world, d)
    r = await department_token(client, world)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "on shift" in r.json()["detail"]
    assert await pool.fetchval("SELECT count(*) FROM tokens") == 0


# ------------------------------------------------------------------------------ leave
async def leave(client: httpx.AsyncClient, w: World, doctor: int, start: tuple[int, int],
                end: tuple[int, int], reason: str = "conference", role: str = "admin"
                ) -> httpx.Response:
    return await client.post(f"/api/v1/doctors/{w.doctors[doctor]}/leave", json={
        "start": local_at(*start).isoformat(), "end": local_at(*end).isoformat(),
        "reason": reason}, headers=w.h(role))


async def exception_row(pool: asyncpg.Pool, exception_id: str) -> dict[str, Any]:
    row = await pool.fetchrow("SELECT * FROM schedule_exceptions WHERE id = $1",
                              uuid.UUID(exception_id))
    assert row is not None
    return dict(row)


async def test_leave_moves_booked_and_waiting_tokens_by_shortest_expected_wait(
        client: httpx.AsyncClient, world: World, clock: Clock, pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE doctors SET avg_consultation_min = 15 WHERE id = $1",
                       world.doctors[2])
    clock.at = local_at(9, 40)
    current = await issue(client, world, 0)
    clock.advance(minutes=1)
    w1 = await issue(client, world, 1)
    clock.advance(minutes=5)
    w2 = await issue(client, world, 2)
    inside = await book(client, world, 3, local_at(11))
    outside = await book(client, world, 4, local_at(14))
    await fill(client, world, clock, [0, 1, 0])       # doctor 1: one waiting, doctor 2: none
    clock.at = local_at(9, 50)
    assert (await press_next(client, world, 0)).json()["called"]["id"] == current["id"]

    clock.at = local_at(10)
    r = await leave(client, world, 0, (10, 0), (13, 0))
    assert r.status_code == 201, r.text
    out = r.json()
    # w1 -> doctor 2 (0 min vs 10); w2 -> doctor 1 (10 min vs 15); the booking -> doctor 2
    # (15 min vs 20)
    assert out["moved"] == [
        {"token_id": w1["id"], "doctor_id": str(world.doctors[2])},
        {"token_id": w2["id"], "doctor_id": str(world.doctors[1])},
        {"token_id": inside["id"], "doctor_id": str(world.doctors[2])},
    ]
    assert (out["affected"], out["rescheduled"], out["redistribution_status"]) == (
        3, [], "REDISTRIBUTED")
    row = await exception_row(pool, out["id"])
    assert (row["kind"], row["reason"], row["affected_tokens"],
            row["redistribution_status"]) == ("LEAVE", "conference", 3, "REDISTRIBUTED")
    assert row["doctor_id"] == world.doctors[0] and row["hospital_id"] == world.hospital_id
    assert row["start_at"] == local_at(10) and row["end_at"] == local_at(13)

    for tok, doctor, status in ((w1, 2, "WAITING"), (w2, 1, "WAITING"),
                                (inside, 2, "BOOKED"), (outside, 0, "BOOKED"),
                                (current, 0, "CALLED")):
        got = await get_token(client, world, tok["id"])
        assert (got["doctor_id"], got["status"]) == (str(world.doctors[doctor]), status), tok
    q0 = await queue(client, world, 0)
    assert q0["waiting"] == [] and q0["current"]["id"] == current["id"]
    assert w1["id"] in [t["id"] for t in (await queue(client, world, 2))["waiting"]]
    history = await pool.fetch(
        "SELECT token_id::text, action, reason FROM token_history WHERE action = 'transfer'")
    assert {h["token_id"] for h in history} == {w1["id"], w2["id"], inside["id"]}
    assert all(h["reason"] == "doctor on leave: conference" for h in history)


async def test_leave_with_nobody_on_shift_reschedules_bookings(
        client: httpx.AsyncClient, world: World, clock: Clock, pool: asyncpg.Pool) -> None:
    a = await book(client, world, 0, local_at(11))
    b = await book(client, world, 1, local_at(12))
    for d in (1, 2):
        await end_shift(pool, world, d)
    r = await leave(client, world, 0, (10, 0), (13, 0), reason="fever")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["moved"] == [] and sorted(out["rescheduled"]) == sorted([a["id"], b["id"]])
    assert out["redistribution_status"] == "RESCHEDULED"
    row = await exception_row(pool, out["id"])
    assert (row["affected_tokens"], row["redistribution_status"]) == (2, "RESCHEDULED")
    for t in (a, b):
        assert (await get_token(client, world, t["id"]))["status"] == "RESCHEDULED"


async def test_leave_with_nobody_on_shift_reschedules_waiting_tokens(
        client: httpx.AsyncClient, world: World, clock: Clock, pool: asyncpg.Pool) -> None:
    clock.at = local_at(9, 55)
    w = await issue(client, world, 0)
    for d in (1, 2):
        await end_shift(pool, world, d)
    clock.at = local_at(10)
    r = await leave(client, world, 0, (10, 0), (13, 0))
    assert r.status_code == 201, r.text
    row = await exception_row(pool, r.json()["id"])
    assert (await get_token(client, world, w["id"]))["status"] == "RESCHEDULED"
    assert row["redistribution_status"] == "RESCHEDULED"


async def test_leave_partly_moved_partly_rescheduled(client: httpx.AsyncClient, world: World,
                                                     clock: Clock, pool: asyncpg.Pool) -> None:
    # today's booking finds a colleague on shift; the one in three days finds none
    today = await book(client, world, 0, local_at(11))
    later = await book(client, world, 1, local_at(11, days=3))
    r = await client.post(f"/api/v1/doctors/{world.doctors[0]}/leave", json={
        "start": local_at(10).isoformat(), "end": local_at(12, days=3).isoformat(),
        "reason": "long leave", "kind": "TRAINING"}, headers=world.h("admin"))
    assert r.status_code == 201, r.text
    out = r.json()
    assert [m["token_id"] for m in out["moved"]] == [today["id"]]
    assert out["rescheduled"] == [later["id"]]
    assert out["redistribution_status"] == "PARTIAL"
    row = await exception_row(pool, out["id"])
    assert (row["kind"], row["affected_tokens"], row["redistribution_status"]) == (
        "TRAINING", 2, "PARTIAL")
    assert (await get_token(client, world, today["id"]))["doctor_id"] != str(world.doctors[0])
    assert (await get_token(client, world, later["id"]))["status"] == "RESCHEDULED"


async def test_leave_with_nothing_to_move(client: httpx.AsyncClient, world: World,
                                          clock: Clock, pool: asyncpg.Pool) -> None:
    r = await leave(client, world, 1, (10, 0), (11, 0))
    assert r.status_code == 201, r.text
    assert r.json()["affected"] == 0 and r.json()["redistribution_status"] == "NONE"
    assert (await exception_row(pool, r.json()["id"]))["redistribution_status"] == "NONE"


async def test_a_doctor_on_leave_is_not_given_department_tokens(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    await fill(client, world, clock, [1, 1, 1])
    r = await leave(client, world, 0, (10, 0), (13, 0))
    assert r.status_code == 201, r.text
    assert doctor_of(await department_token(client, world), world) != 0


@pytest.mark.parametrize(("body", "field"), [
    ({"start": "2030-01-01T12:00:00+05:30", "end": "2030-01-01T10:00:00+05:30",
      "reason": "x"}, "end"),
    ({"start": "2030-01-01T10:00:00", "end": "2030-01-01T12:00:00+05:30", "reason": "x"},
     "start"),
    ({"start": "2030-01-01T10:00:00+05:30", "end": "2030-01-01T12:00:00+05:30"}, "reason"),
    ({"start": "2030-01-01T10:00:00+05:30", "end": "2030-01-01T12:00:00+05:30",
      "reason": "x", "kind": "HOLIDAY"}, "kind"),
])
async def test_bad_leave_names_the_field(client: httpx.AsyncClient, world: World,
                                         pool: asyncpg.Pool, body: dict[str, Any],
                                         field: str) -> None:
    r = await client.post(f"/api/v1/doctors/{world.doctors[0]}/leave", json=body,
                          headers=world.h("admin"))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert await pool.fetchval("SELECT count(*) FROM schedule_exceptions") == 0


async def test_leave_of_an_unknown_doctor_is_404(client: httpx.AsyncClient,
                                                 world: World) -> None:
    r = await client.post(f"/api/v1/doctors/{uuid.uuid4()}/leave", json={
        "start": local_at(10).isoformat(), "end": local_at(11).isoformat(), "reason": "x"},
        headers=world.h("admin"))
    assert r.status_code == 404
