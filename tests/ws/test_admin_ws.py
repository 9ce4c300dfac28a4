"""/ws/admin: live alerts for admins and nurses, against real web processes. The worker's
alert job runs here in the test process (same PostgreSQL and Redis), so its announcements
reach the servers through Redis exactly as from a worker process."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from server import alert_events
from server.db import alerts as alerts_db
from server.store.live import LiveStore
from tests.livesrv import LiveServer
from tests.queue.conftest import TZ, World, add_department, build_world
from tests.ws.conftest import next_message, until, ws_connect
from tests.ws.test_protocol import api, issue


@pytest.fixture
async def w(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


async def raise_alerts(pool: asyncpg.Pool, redis: Redis, w: World, minutes: int) -> Any:
    """The alert job for this hospital as if `minutes` had passed since each waiting patient
    was shown an ETA: the record moved back rather than the clock on (the clock `minutes`
    on could be tomorrow in the hospital, whose day then has no queue), and at least an hour
    into the hospital's day (a shift from just after midnight is then a late start)."""
    tz = ZoneInfo(TZ)
    now = datetime.now(tz)
    at = max(now, datetime.combine(now.date(), time(1, 0), tz))
    await pool.execute(
        """UPDATE token_eta_shown s SET shown_at = $2::timestamptz - make_interval(mins => $3::int)
           FROM tokens t WHERE t.id = s.token_id AND t.hospital_id = $1""",
        w.hospital_id, at, minutes)
    return await alert_events.check_hospital(pool, LiveStore(redis), w.hospital_id, at)


async def test_alerts_reach_admins_and_nurses_live_and_resolves_too(
        server_a: LiveServer, server_b: LiveServer, w: World, pool: asyncpg.Pool,
        redis: Redis) -> None:
    ent, _ = await add_department(pool, w)
    # Dr. Doctor1's shift from 00:01, not 00:00 (an all-day entry nobody is late for)
    await pool.execute("UPDATE shifts SET start_time = '00:01' WHERE doctor_id = $1",
                       w.doctors[1])
    tok = await issue(server_a, w, 0, doctor=1)
    async with ws_connect(server_a, "/ws/admin", token=w.tokens["admin"]) as admin, \
            ws_connect(server_b, "/ws/admin", token=w.tokens["nurse"]) as nurse, \
            ws_connect(server_a, f"/ws/board/{w.department_id}",
                       token=w.tokens["receptionist"]) as board:
        for ws in (admin, nurse, board):
            first = await next_message(ws)
            assert first["type"] == "snapshot"
        # another department's alert (a keyless one: the job does not resolve it): the admin
        # sees it, the cardiology nurse does not
        ent_id = await pool.fetchval(
            """INSERT INTO system_alerts (hospital_id, kind, message, department_id)
               VALUES ($1, 'NOTIFICATION_FAILED', 'ENT is full', $2) RETURNING id""",
            w.hospital_id, ent)
        ent_row = await alerts_db.get(pool, w.hospital_id, ent_id)
        assert ent_row is not None
        await alert_events.announce(LiveStore(redis), w.hospital_id, alert_events.RAISED,
                                    ent_row)
        got = await until(admin, lambda m: m["type"] == "alert.raised")
        assert got[-1]["data"]["alert"]["message"] == "ENT is full"
        plan = await raise_alerts(pool, redis, w, 300)      # five hours on: a long wait
        assert any(c.kind == "LONG_WAIT" for c in plan.raise_)
        got = await until(admin, lambda m: m["type"] == "alert.raised"
                          and m["data"]["alert"]["kind"] == "LONG_WAIT")
        alert = got[-1]["data"]["alert"]
        assert alert["details"]["token_id"] == tok["id"] and alert["status"] == "open"
        got = await until(nurse, lambda m: m["type"] == "alert.raised"
                          and m["data"]["alert"]["kind"] == "LONG_WAIT")
        assert "ENT is full" not in [m["data"]["alert"]["message"] for m in got
                                     if m["type"].startswith("alert.")]
        seq = got[-1]["seq"]
        # the nurse resolves it through the other process; both sockets hear it
        r = await api(server_a, w, "POST", f"/api/v1/alerts/{alert['id']}/resolve",
                      role="nurse")
        assert r.status_code == 200, r.text
        assert r.json()["resolved_by"]["username"] and r.json()["resolution"] == "manual"
        for ws in (admin, nurse):
            done = await until(ws, lambda m: m["type"] == "alert.resolved")
            assert done[-1]["data"]["alert"]["id"] == alert["id"]
        # a board hears nothing of alerts, ever
        await api(server_a, w, "POST", "/api/v1/tokens", role="receptionist", json={
            "patient_id": str(w.patients[5]), "booking_type": "WALK_IN",
            "doctor_id": str(w.doctors[0])})
        seen = await until(board, lambda m: m["type"] == "queue.updated")
        assert not [m for m in seen if m["type"].startswith("alert.")]
    # a nurse reconnecting from where she was gets what she missed, of her department only
    async with ws_connect(server_b, f"/ws/admin?since={seq - 1}",
                          token=w.tokens["nurse"]) as nurse:
        replay = await until(nurse, lambda m: m["type"] == "alert.resolved")
        assert replay[0]["type"] == "alert.raised" and replay[0]["seq"] == seq
        assert {m["data"]["alert"]["department_id"] for m in replay} == {str(w.department_id)}
    # the snapshot is the open list (the late start of Dr. Doctor1 is still open): the ENT
    # alert for the admin only; the resolved long wait for neither
    async with ws_connect(server_a, "/ws/admin", token=w.tokens["admin"]) as admin:
        items = (await next_message(admin))["data"]["items"]
        assert sorted(a["kind"] for a in items) == ["DOCTOR_LATE_START", "NOTIFICATION_FAILED"]
    async with ws_connect(server_a, "/ws/admin", token=w.tokens["nurse"]) as nurse:
        items = (await next_message(nurse))["data"]["items"]
        assert [a["kind"] for a in items] == ["DOCTOR_LATE_START"]


@pytest.mark.parametrize("role", ["receptionist", "doctor"])
async def test_the_desk_and_doctors_are_refused(server_a: LiveServer, w: World,
                                                role: str) -> None:
    async with ws_connect(server_a, "/ws/admin", token=w.tokens[role]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await next_message(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
