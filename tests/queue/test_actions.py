"""Every action of `POST /api/v1/tokens/{id}/{action}`: the transition, and the 409 naming the
current status when the lifecycle refuses it; plus transfers and unknown actions."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.queue.conftest import (
    Clock,
    World,
    act,
    add_department,
    book,
    get_token,
    issue,
    local_at,
    press_next,
    queue,
)


async def token_in(client: httpx.AsyncClient, w: World, clock: Clock, status: str,
                   patient: int = 0) -> dict[str, Any]:
    """A token of doctor 0 in `status` (it is doctor 0's current token when CALLED or later)."""
    clock.advance(minutes=1)
    if status == "BOOKED":
        return await book(client, w, patient, local_at(11))
    t = await issue(client, w, patient)
    steps = {"WAITING": [], "CALLED": ["next"], "IN_CONSULTATION": ["next", "start"],
             "COMPLETED": ["next", "start", "complete"], "CANCELLED": ["cancel"],
             "NO_SHOW": ["no-show"]}[status]
    for step in steps:
        clock.advance(minutes=1)
        if step == "next":
            r = await press_next(client, w, role="admin")
            assert r.json()["called"]["id"] == t["id"], r.text
        else:
            assert (await act(client, w, t["id"], step)).status_code == 200
    got = await get_token(client, w, t["id"])
    assert got["status"] == status
    return got


# (action, from status, body, status after)
ALLOWED: list[tuple[str, str, dict[str, Any], str]] = [
    ("check-in", "BOOKED", {}, "WAITING"),
    ("start", "CALLED", {}, "IN_CONSULTATION"),
    ("complete", "IN_CONSULTATION", {}, "COMPLETED"),
    ("complete", "CALLED", {}, "COMPLETED"),
    ("recall", "CALLED", {}, "CALLED"),
    ("skip", "CALLED", {}, "WAITING"),
    ("skip", "WAITING", {}, "WAITING"),
    ("no-show", "CALLED", {}, "NO_SHOW"),
    ("no-show", "WAITING", {}, "NO_SHOW"),
    ("no-show", "BOOKED", {}, "NO_SHOW"),
    ("cancel", "WAITING", {"reason": "left"}, "CANCELLED"),
    ("cancel", "BOOKED", {}, "CANCELLED"),
    ("reschedule", "BOOKED", {}, "RESCHEDULED"),
    ("transfer", "WAITING", {"doctor_id": 1}, "WAITING"),
    ("transfer", "BOOKED", {"doctor_id": 1}, "BOOKED"),
    ("priority", "WAITING", {"priority": 2}, "WAITING"),
    ("priority", "BOOKED", {"priority": 3}, "BOOKED"),
]


def _body(w: World, body: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(w.doctors[v]) if k == "doctor_id" else v) for k, v in body.items()}


@pytest.mark.parametrize(("action", "before", "body", "after"), ALLOWED,
                         ids=[f"{a}-{b}" for a, b, _, _ in ALLOWED])
async def test_action(client: httpx.AsyncClient, world: World, clock: Clock,
                      pool: asyncpg.Pool, action: str, before: str, body: dict[str, Any],
                      after: str) -> None:
    t = await token_in(client, world, clock, before)
    clock.advance(minutes=1)
    r = await act(client, world, t["id"], action, **_body(world, body))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["id"] == t["id"] and got["status"] == after
    assert got == await get_token(client, world, t["id"], role="admin")
    last = await pool.fetchrow(
        "SELECT action, from_status, to_status, reason FROM token_history "
        "WHERE token_id = $1 ORDER BY id DESC LIMIT 1", t["id"])
    assert (last["action"], last["from_status"], last["to_status"]) == (action, before, after)
    assert last["reason"] == body.get("reason")
    # the live queue agrees with the record
    q = await queue(client, world)
    waiting = {x["id"] for x in q["waiting"]}
    current = q["current"] and q["current"]["id"]
    if after == "WAITING" and "doctor_id" not in body:
        assert t["id"] in waiting
    elif after in ("CALLED", "IN_CONSULTATION"):
        assert current == t["id"]
    else:
        assert t["id"] not in waiting and current != t["id"]


async def test_each_action_changes_what_it_should(client: httpx.AsyncClient, world: World,
                                                  clock: Clock) -> None:
    called = await token_in(client, world, clock, "CALLED")
    r = await act(client, world, called["id"], "recall")
    assert r.json()["recall_count"] == 1 and r.json()["status"] == "CALLED"
    r = await act(client, world, called["id"], "start")
    assert r.json()["started_at"]
    r = await act(client, world, called["id"], "complete")
    assert r.json()["completed_at"]

    waiting = await token_in(client, world, clock, "WAITING", patient=1)
    r = await act(client, world, waiting["id"], "transfer", doctor_id=str(world.doctors[2]))
    assert r.json()["doctor_id"] == str(world.doctors[2]) and r.json()["cabin"] == "C-103"
    assert r.json()["position"] == 1
    assert [t["id"] for t in (await queue(client, world, 2))["waiting"]] == [waiting["id"]]
    r = await act(client, world, waiting["id"], "priority", priority=2)
    assert r.json()["priority"] == 2

    booked = await token_in(client, world, clock, "BOOKED", patient=2)
    r = await act(client, world, booked["id"], "check-in")
    assert r.json()["checked_in_at"] and r.json()["position"] == 1
    assert r.json()["cabin"] == "C-101"


# (action, a status the lifecycle refuses it from, body)
REFUSED: list[tuple[str, str, dict[str, Any]]] = [
    ("check-in", "WAITING", {}),
    ("check-in", "CALLED", {}),
    ("start", "WAITING", {}),
    ("start", "IN_CONSULTATION", {}),
    ("complete", "WAITING", {}),
    ("complete", "BOOKED", {}),
    ("recall", "WAITING", {}),
    ("recall", "IN_CONSULTATION", {}),
    ("skip", "IN_CONSULTATION", {}),
    ("skip", "BOOKED", {}),
    ("no-show", "IN_CONSULTATION", {}),
    ("no-show", "COMPLETED", {}),
    ("cancel", "CALLED", {}),
    ("cancel", "COMPLETED", {}),
    ("reschedule", "CALLED", {}),
    ("transfer", "CALLED", {"doctor_id": 1}),
    ("transfer", "CANCELLED", {"doctor_id": 1}),
    ("priority", "IN_CONSULTATION", {"priority": 2}),
    ("priority", "NO_SHOW", {"priority": 2}),
]


@pytest.mark.parametrize(("action", "status", "body"), REFUSED,
                         ids=[f"{a}-{s}" for a, s, _ in REFUSED])
async def test_refused_transition_is_409_naming_the_current_status(
        client: httpx.AsyncClient, world: World, clock: Clock, pool: asyncpg.Pool,
        action: str, status: str, body: dict[str, Any]) -> None:
    t = await token_in(client, world, clock, status)
    history = await pool.fetchval("SELECT count(*) FROM token_history")
    before = await queue(client, world)
    r = await act(client, world, t["id"], action, **_body(world, body))
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 409
    assert problem["current_status"] == status and problem["action"] == action
    assert status in problem["detail"]
    assert (await get_token(client, world, t["id"]))["status"] == status
    assert await pool.fetchval("SELECT count(*) FROM token_history") == history
    after = await queue(client, world)
    assert (after["current"], [x["id"] for x in after["waiting"]]) == (
        before["current"], [x["id"] for x in before["waiting"]])


@pytest.mark.parametrize("action", ["teleport", "call", "CANCEL", "check_in"])
async def test_unknown_action_is_404(client: httpx.AsyncClient, world: World,
                                     action: str) -> None:
    t = await issue(client, world, 0)
    r = await act(client, world, t["id"], action)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert (await get_token(client, world, t["id"]))["status"] == "WAITING"


ACTION_BODIES = [
    ("transfer", {}, "doctor_id"),
    ("transfer", {"doctor_id": "nobody"}, "doctor_id"),
    ("priority", {}, "priority"),
    ("priority", {"priority": 5}, "priority"),
    ("cancel", {"why": "x"}, "why"),
    ("cancel", {"reason": "x" * 501}, "reason"),
]


@pytest.mark.parametrize(("action", "body", "field"), ACTION_BODIES,
                         ids=[f"{a}-{f}-{i}" for i, (a, _, f) in enumerate(ACTION_BODIES)])
async def test_bad_action_body_names_the_field(client: httpx.AsyncClient, world: World,
                                               action: str, body: dict[str, Any],
                                               field: str) -> None:
    t = await issue(client, world, 0)
    r = await act(client, world, t["id"], action, **body)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_transfer_to_the_same_or_an_unknown_doctor_names_doctor_id(
        client: httpx.AsyncClient, world: World) -> None:
    t = await issue(client, world, 0)
    for target in (world.doctors[0], uuid.uuid4()):
        r = await act(client, world, t["id"], "transfer", doctor_id=str(target))
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["doctor_id"]


@pytest.mark.parametrize("status", [
    "WAITING",
    "BOOKED",
])
async def test_transfer_to_another_department_is_refused_naming_doctor_id(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, clock: Clock,
        status: str) -> None:
    _, ent_doctors = await add_department(pool, world)
    t = await token_in(client, world, clock, status)
    r = await act(client, world, t["id"], "transfer", doctor_id=str(ent_doctors[0]))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["doctor_id"]
    got = await get_token(client, world, t["id"])
    assert (got["doctor_id"], got["department_id"]) == (str(world.doctors[0]),
                                                         str(world.department_id))
