"""The patient's own page (API.md "The desk's day"): what it shows in each state, and what
the patient may do with the code of their link: say they are running late, or cancel."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

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
    queue,
)

PUBLIC = "/api/v1/public/tokens"


async def view(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    r = await client.get(f"{PUBLIC}/{code}")
    assert r.status_code == 200, r.text
    return r.json()


async def late(client: httpx.AsyncClient, code: str, minutes: Any) -> httpx.Response:
    return await client.post(f"{PUBLIC}/{code}/running-late", json={"minutes": minutes})


async def test_the_page_tells_the_patient_where_and_in_which_language(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, clock: Clock) -> None:
    await pool.execute("UPDATE patients SET language = 'hi' WHERE id = $1", world.patients[1])
    await issue(client, world, 0)
    clock.advance(minutes=1)
    t = await issue(client, world, 1)
    clock.advance(minutes=7)
    v = await view(client, link_code(t))
    assert (v["hospital_name"], v["department_name"], v["doctor_name"], v["cabin"]) == (
        "Hospital CITY", "Cardiology", "Dr. Doctor0", "C-101")
    assert (v["language"], v["position"], v["waited_min"]) == ("hi", 2, 7)
    assert v["allowed_actions"] == ["cancel", "running-late"]
    assert v["late_count"] == 0 and v["late_limit"] == 2


async def test_called_then_missed_says_when(client: httpx.AsyncClient, world: World,
                                            clock: Clock) -> None:
    t = await issue(client, world, 0)
    code = link_code(t)
    await press_next(client, world)
    v = await view(client, code)
    assert v["status"] == "CALLED" and v["called_at"] and v["allowed_actions"] == []
    clock.advance(minutes=4)
    await act(client, world, t["id"], "no-show")
    v = await view(client, code)
    assert v["status"] == "NO_SHOW" and v["called_at"] and v["no_show_at"]
    assert v["allowed_actions"] == []


async def test_running_late_moves_back_by_the_consults_that_fit(
        client: httpx.AsyncClient, world: World, clock: Clock, pool: asyncpg.Pool) -> None:
    mine = await issue(client, world, 0)
    others = []
    for p in range(1, 6):
        clock.advance(minutes=1)
        others.append((await issue(client, world, p))["id"])
    code = link_code(mine)
    r = await late(client, code, 20)          # 10 min consults: 2 fit in 20 min
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["position"] == 3 and v["late_count"] == 1 and "running-late" in v["allowed_actions"]
    order = [t["id"] for t in (await queue(client, world))["waiting"]]
    assert order == [*others[:2], mine["id"], *others[2:]]
    staff_view = await get_token(client, world, mine["id"])
    assert staff_view["late_count"] == 1
    history = await pool.fetchrow("SELECT action, actor_kind, reason FROM token_history "
                                  "WHERE token_id = $1 ORDER BY id DESC LIMIT 1", mine["id"])
    assert dict(history) == {"action": "running-late", "actor_kind": "patient",
                             "reason": "running late 20 min"}


async def test_running_late_at_most_twice(client: httpx.AsyncClient, world: World,
                                          clock: Clock) -> None:
    mine = await issue(client, world, 0)
    for p in range(1, 4):
        clock.advance(minutes=1)
        await issue(client, world, p)
    code = link_code(mine)
    assert (await late(client, code, 10)).status_code == 200
    second = await late(client, code, 10)
    assert second.status_code == 200 and "running-late" not in second.json()["allowed_actions"]
    third = await late(client, code, 30)
    assert third.status_code == 409 and "reception" in third.json()["detail"]
    assert (await view(client, code))["position"] == 3     # the third moved nothing


@pytest.mark.parametrize("minutes", [5, 0, 45, "20", None])
async def test_running_late_bad_minutes(client: httpx.AsyncClient, world: World,
                                        minutes: Any) -> None:
    t = await issue(client, world, 0)
    r = await late(client, link_code(t), minutes)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "minutes"


async def test_running_late_refused_once_called(client: httpx.AsyncClient, world: World) -> None:
    t = await issue(client, world, 0)
    await press_next(client, world)
    r = await late(client, link_code(t), 10)
    assert r.status_code == 409 and "CALLED" in r.json()["detail"]


async def test_a_booked_patient_running_late_keeps_the_booking(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    b = await book(client, world, 0, local_at(11))
    r = await late(client, link_code(b), 20)
    assert r.status_code == 200 and r.json()["status"] == "BOOKED"
    assert r.json()["late_count"] == 1


async def test_cancel_my_visit(client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    t = await issue(client, world, 0)
    after = await issue(client, world, 1)
    code = link_code(t)
    r = await client.post(f"{PUBLIC}/{code}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELLED" and r.json()["allowed_actions"] == []
    assert (await view(client, code))["status"] == "CANCELLED"   # the page still says so
    assert (await view(client, link_code(after)))["position"] == 1
    again = await client.post(f"{PUBLIC}/{code}/cancel")
    assert again.status_code == 409
    assert (await late(client, code, 10)).status_code == 409
    # the desk can take the patient back the same day
    r = await act(client, world, t["id"], "reinstate", role="receptionist")
    assert r.status_code == 200 and r.json()["status"] == "WAITING"


async def test_staff_cannot_say_a_patient_is_late(client: httpx.AsyncClient,
                                                  world: World) -> None:
    t = await issue(client, world, 0)
    r = await act(client, world, t["id"], "running-late")
    assert r.status_code == 404 and "their own page" in r.json()["detail"]
