"""Property: snapshot + the events after it == a later snapshot, also across a resume.

Random action sequences run against a real server while a doctor console listens; the
console then disconnects mid-way and resumes with `since`. Folding the events into the first
snapshot must give exactly what a fresh GET shows.
"""

from __future__ import annotations

import itertools
from typing import Any

import asyncpg
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.store.live import LiveStore
from tests.livesrv import LiveServer
from tests.queue.conftest import build_world
from tests.ws.conftest import next_message, until, ws_connect

_codes = itertools.count()

ACTIONS = st.lists(st.sampled_from(["issue0", "issue1", "next0", "skip0", "cancel0",
                                    "transfer01", "start0", "pause0"]),
                   min_size=1, max_size=8)


def fold(state: dict[str, Any], msg: dict[str, Any], doctor_id: str) -> dict[str, Any]:
    if msg["type"] == "snapshot":
        d = msg["data"]
        return {"current": d["current"]["id"] if d["current"] else None,
                "waiting": [t["id"] for t in d["waiting"]], "status": d["doctor"]["status"]}
    if msg["type"] == "queue.updated" and msg["data"]["doctor_id"] == doctor_id:
        d = msg["data"]
        return {"current": d["current"]["id"] if d["current"] else None,
                "waiting": [t["id"] for t in d["waiting"]], "status": d["doctor"]["status"]}
    return state


async def act(c: httpx.AsyncClient, w, action: str, h: dict) -> None:
    d0 = f"/api/v1/doctors/{w.doctors[0]}"
    q = (await c.get(f"{d0}/queue", headers=h)).json()
    if action.startswith("issue"):
        await c.post("/api/v1/tokens", headers=h, json={
            "patient_id": str(w.patients[0]), "booking_type": "WALK_IN",
            "doctor_id": str(w.doctors[int(action[-1])])})
    elif action == "next0":
        await c.post(f"{d0}/next", headers=h,
                     json={"current_token_id": q["current"]["id"] if q["current"] else None})
    elif action in ("skip0", "start0") and q["current"]:
        await c.post(f"/api/v1/tokens/{q['current']['id']}/{action[:-1]}", headers=h)
    elif action == "cancel0" and q["waiting"]:
        await c.post(f"/api/v1/tokens/{q['waiting'][-1]['id']}/cancel", headers=h)
    elif action == "transfer01" and q["waiting"]:
        await c.post(f"/api/v1/tokens/{q['waiting'][0]['id']}/transfer", headers=h,
                     json={"doctor_id": str(w.doctors[1])})
    elif action == "pause0":
        status = q["doctor"]["status"]
        await c.post(f"{d0}/{'resume' if status == 'PAUSED' else 'pause'}", headers=h, json={})


async def barrier(live: LiveStore, hospital_id, doctor: str) -> int:
    """An event this console will see, after everything the actions published."""
    return await live.announce(hospital_id, "announcement", {"doctor_id": doctor, "text": "."})


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=ACTIONS, during=ACTIONS)
async def test_snapshot_plus_events_equals_a_later_snapshot(
        server_a: LiveServer, pool: asyncpg.Pool, redis, before: list[str],
        during: list[str]) -> None:
    w = await build_world(pool, code=f"P{next(_codes)}", n_patients=1)
    live = LiveStore(redis)
    doctor = str(w.doctors[0])
    h = w.h("admin")
    path = f"/ws/doctor/{doctor}"
    async with httpx.AsyncClient(base_url=server_a.url) as c:
        async with ws_connect(server_a, path, token=w.tokens["admin"]) as ws:
            msg = await next_message(ws)
            state, last = fold({}, msg, doctor), msg["seq"]
            for a in before:
                await act(c, w, a, h)
            target = await barrier(live, w.hospital_id, doctor)
            for msg in await until(ws, lambda m: m["seq"] >= target):
                state, last = fold(state, msg, doctor), msg["seq"]
        for a in during:                                   # the console is offline
            await act(c, w, a, h)
        target = await barrier(live, w.hospital_id, doctor)
        async with ws_connect(server_a, f"{path}?since={last}", token=w.tokens["admin"]) as ws:
            for msg in await until(ws, lambda m: m["seq"] >= target):
                assert msg["type"] != "snapshot"           # replayed exactly
                state = fold(state, msg, doctor)
        fresh = (await c.get(f"/api/v1/doctors/{doctor}/queue", headers=h)).json()
    assert state == fold({}, {"type": "snapshot", "data": fresh}, doctor)
