"""Queue order through the API (DESIGN.md "Queue order"), on a hand-driven clock."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.queue.conftest import (
    Clock,
    World,
    act,
    book,
    issue,
    local_at,
    press_next,
    queue,
)


async def order(client: httpx.AsyncClient, w: World, doctor: int = 0) -> list[str]:
    q = await queue(client, w, doctor)
    assert [t["position"] for t in q["waiting"]] == list(range(1, len(q["waiting"]) + 1))
    return [t["number"] for t in q["waiting"]]


async def walk_in(client: httpx.AsyncClient, w: World, clock: Clock, at: tuple[int, int],
                  patient: int, **extra: object) -> str:
    clock.at = local_at(*at)
    return str((await issue(client, w, patient, **extra))["number"])


async def test_emergency_goes_to_the_front_and_emergencies_keep_arrival_order(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    a = await walk_in(client, world, clock, (10, 0), 0)
    b = await walk_in(client, world, clock, (10, 1), 1, priority=2)
    e1 = await walk_in(client, world, clock, (10, 30), 2, booking_type="EMERGENCY")
    e2 = await walk_in(client, world, clock, (10, 31), 3, booking_type="EMERGENCY")
    assert await order(client, world) == [e1, e2, b, a]


async def test_senior_credit_beats_arrivals_within_it_but_not_earlier_ones(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    n1 = await walk_in(client, world, clock, (10, 0), 0)
    s1 = await walk_in(client, world, clock, (10, 19), 1, priority=2)   # 09:59 with credit
    n2 = await walk_in(client, world, clock, (10, 30), 2)
    s2 = await walk_in(client, world, clock, (10, 51), 3, priority=2)   # 10:31 with credit
    n3 = await walk_in(client, world, clock, (10, 52), 4)
    assert await order(client, world) == [s1, n1, n2, s2, n3]


async def test_the_senior_credit_is_the_departments(client: httpx.AsyncClient, world: World,
                                                    clock: Clock, pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE departments SET senior_credit_min = 5 WHERE id = $1",
                       world.department_id)
    n1 = await walk_in(client, world, clock, (10, 0), 0)
    s1 = await walk_in(client, world, clock, (10, 6), 1, priority=2)     # 10:01: after n1
    n2 = await walk_in(client, world, clock, (10, 8), 2)
    assert await order(client, world) == [n1, s1, n2]


async def test_booked_patients_keep_their_slot_when_on_time_and_queue_by_arrival_when_late(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    clock.at = local_at(9, 0)
    late = await book(client, world, 0, local_at(9, 30))
    early = await book(client, world, 1, local_at(10, 30))
    b = await book(client, world, 2, local_at(10, 20))
    graced = await book(client, world, 3, local_at(10, 35))
    w1 = await walk_in(client, world, clock, (10, 5), 4)
    clock.at = local_at(10, 10)
    assert (await act(client, world, early["id"], "check-in")).status_code == 200  # slot 10:30
    clock.at = local_at(10, 12)
    assert (await act(client, world, b["id"], "check-in")).status_code == 200      # slot 10:20
    w2 = await walk_in(client, world, clock, (10, 25), 5)
    clock.at = local_at(10, 40)   # 70 min after its 09:30 slot: ordered by arrival
    assert (await act(client, world, late["id"], "check-in")).status_code == 200
    w3 = await walk_in(client, world, clock, (10, 41), 6)
    clock.at = local_at(10, 50)   # 15 min after its 10:35 slot: still within the grace
    assert (await act(client, world, graced["id"], "check-in")).status_code == 200
    assert await order(client, world) == [
        w1, b["number"], w2, early["number"], graced["number"], late["number"], w3]


async def test_booked_grace_is_the_departments(client: httpx.AsyncClient, world: World,
                                               clock: Clock, pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE departments SET booked_grace_min = 5 WHERE id = $1",
                       world.department_id)
    clock.at = local_at(9, 0)
    booked = await book(client, world, 0, local_at(10, 0))
    w1 = await walk_in(client, world, clock, (10, 3), 1)
    clock.at = local_at(10, 6)   # 6 min late with 5 min of grace: by arrival
    assert (await act(client, world, booked["id"], "check-in")).status_code == 200
    assert await order(client, world) == [w1, booked["number"]]


@pytest.mark.parametrize("places", [1, 3])
async def test_skip_puts_the_called_token_back_by_the_departments_places(
        client: httpx.AsyncClient, world: World, clock: Clock, pool: asyncpg.Pool,
        places: int) -> None:
    await pool.execute("UPDATE departments SET skip_places = $2 WHERE id = $1",
                       world.department_id, places)
    numbers = [await walk_in(client, world, clock, (10, i), i) for i in range(6)]
    clock.at = local_at(10, 30)
    r = await press_next(client, world)
    called = r.json()["called"]
    assert called["number"] == numbers[0]
    clock.at = local_at(10, 31)
    r = await act(client, world, called["id"], "skip", role="doctor")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "WAITING" and r.json()["position"] == places + 1
    rest = numbers[1:]
    assert await order(client, world) == [*rest[:places], numbers[0], *rest[places:]]
    assert (await queue(client, world))["current"] is None
    # and Next calls the new head, not the skipped token
    clock.at = local_at(10, 32)
    r = await press_next(client, world, current_token_id=None)
    assert r.json()["called"]["number"] == numbers[1]


async def test_skip_near_the_end_of_the_queue_goes_last(client: httpx.AsyncClient,
                                                        world: World, clock: Clock) -> None:
    numbers = [await walk_in(client, world, clock, (10, i), i) for i in range(3)]
    clock.at = local_at(10, 30)
    called = (await press_next(client, world)).json()["called"]
    r = await act(client, world, called["id"], "skip")
    assert r.json()["position"] == 3
    assert await order(client, world) == [numbers[1], numbers[2], numbers[0]]


async def test_hold_moves_a_waiting_token_back_that_many_places(
        client: httpx.AsyncClient, world: World, clock: Clock, pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE departments SET skip_places = 2 WHERE id = $1",
                       world.department_id)
    numbers = [await walk_in(client, world, clock, (10, i), i) for i in range(6)]
    ids = {t["number"]: t["id"] for t in (await queue(client, world))["waiting"]}
    held = ids[numbers[1]]
    r = await act(client, world, held, "skip", reason="gone to the pharmacy")
    assert r.status_code == 200 and r.json()["position"] == 4
    assert await order(client, world) == [numbers[0], numbers[2], numbers[3], numbers[1],
                                          numbers[4], numbers[5]]
    # held twice: two more places back
    r = await act(client, world, held, "skip")
    assert await order(client, world) == [numbers[0], numbers[2], numbers[3], numbers[4],
                                          numbers[5], numbers[1]]
    row = await pool.fetchrow("SELECT skip_count FROM tokens WHERE id = $1", held)
    assert row["skip_count"] == 2


async def test_priority_change_reorders_the_waiting_token(client: httpx.AsyncClient,
                                                          world: World, clock: Clock) -> None:
    numbers = [await walk_in(client, world, clock, (10, i * 15), i) for i in range(4)]
    q = await queue(client, world)
    last = q["waiting"][-1]
    r = await act(client, world, last["id"], "priority", priority=3)
    assert r.status_code == 200 and r.json()["position"] == 1
    assert await order(client, world) == [numbers[3], *numbers[:3]]
    r = await act(client, world, last["id"], "priority", priority=2)   # 10:45 - 20 min = 10:25
    assert r.status_code == 200 and r.json()["position"] == 3
    assert await order(client, world) == [numbers[0], numbers[1], numbers[3], numbers[2]]


async def test_next_calls_in_the_queue_order(client: httpx.AsyncClient, world: World,
                                             clock: Clock) -> None:
    a = await walk_in(client, world, clock, (10, 0), 0)
    b = await walk_in(client, world, clock, (10, 1), 1, priority=2)
    e = await walk_in(client, world, clock, (10, 2), 2, booking_type="EMERGENCY")
    expected = await order(client, world)
    assert expected == [e, b, a]
    called = []
    current = None
    for minute in range(3):
        clock.at = local_at(10, 10 + minute)
        r = await press_next(client, world, current_token_id=current)
        assert r.status_code == 200, r.text
        current = r.json()["called"]["id"]
        called.append(r.json()["called"]["number"])
    assert called == expected
