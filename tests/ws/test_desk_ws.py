"""/ws/desk: the reception desk's day, live (API.md "The desk's day"), against real web
processes: a snapshot of today's list, then every token event of the hospital, also those
made through the other process."""

from __future__ import annotations

import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed

from tests.livesrv import LiveServer
from tests.queue.conftest import World, add_department, build_world
from tests.ws.conftest import next_message, until, ws_connect
from tests.ws.test_protocol import api, issue, press_next


@pytest.fixture
async def w(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


async def test_snapshot_is_the_days_list(server_a: LiveServer, w: World) -> None:
    a = await issue(server_a, w, 0)
    b = await issue(server_a, w, 1, doctor=1)
    async with ws_connect(server_a, "/ws/desk", token=w.tokens["receptionist"]) as ws:
        first = await next_message(ws)
        assert first["type"] == "snapshot"
        listed = (await api(server_a, w, "GET", "/api/v1/tokens", role="receptionist")).json()
        def shown(items: list[dict]) -> list[tuple]:
            return [(t["id"], t["status"], t["position"], t["allowed_actions"]) for t in items]
        assert shown(first["data"]["items"]) == shown(listed["items"])
        assert [t["id"] for t in first["data"]["items"]] == [b["id"], a["id"]]
        assert first["data"]["items"][0]["allowed_actions"] == [
            "cancel", "reschedule", "transfer", "priority"]


async def test_events_of_every_doctor_reach_the_desk(server_a: LiveServer,
                                                     server_b: LiveServer, w: World) -> None:
    async with ws_connect(server_a, "/ws/desk", token=w.tokens["receptionist"]) as ws:
        await next_message(ws)
        t = await issue(server_b, w, 0, doctor=2)           # through the other process
        created = await until(ws, lambda m: m["type"] == "token.created")
        assert created[-1]["data"]["token"]["id"] == t["id"]
        assert created[-1]["data"]["token"]["display_name"] == "P. Kumar"   # masked
        await press_next(server_b, w, doctor=2)
        called = await until(ws, lambda m: m["type"] == "token.called")
        assert called[-1]["data"]["token"]["id"] == t["id"]


async def test_a_department_filter(server_a: LiveServer, w: World, pool: asyncpg.Pool) -> None:
    ent, ent_doctors = await add_department(pool, w)
    async with ws_connect(server_a, f"/ws/desk?department_id={ent}",
                          token=w.tokens["receptionist"]) as ws:
        assert (await next_message(ws))["data"]["items"] == []
        await issue(server_a, w, 0)                          # cardiology: not shown
        r = await api(server_a, w, "POST", "/api/v1/tokens", role="receptionist", json={
            "patient_id": str(w.patients[1]), "booking_type": "WALK_IN",
            "doctor_id": str(ent_doctors[0])})
        assert r.status_code == 201
        first = await until(ws, lambda m: m["type"] == "token.created")
        assert [m["data"]["token"]["number"] for m in first
                if m["type"] == "token.created"] == ["ENT-001"]


@pytest.mark.parametrize("role", ["doctor", None])
async def test_only_desk_staff(server_a: LiveServer, w: World, role: str | None) -> None:
    async with ws_connect(server_a, "/ws/desk", token=w.tokens[role] if role else None) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await next_message(ws)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4401
