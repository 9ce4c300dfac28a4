"""Live alerts (workers/alerts.py) over real PostgreSQL and Redis, driven by a simulated clock
(ctx["now"]) and real queue actions: each raised once while its condition holds, announced
once, resolved when the condition ends; a person's resolve holds until the condition ends."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from server.db import alerts as alerts_db
from server.domain.lifecycle import Action
from server.queue import SYSTEM
from server.store import keys
from tests.queue.conftest import World
from tests.workers.conftest import issue_token
from workers import alerts


async def alert_events(ctx: dict[str, Any], w: World) -> list[tuple[str, str, str]]:
    """(type, kind, alert id) of every alert event on the hospital's stream, in order."""
    entries = await ctx["redis_app"].xrange(keys.stream(w.hospital_id), "-", "+")
    out = []
    for _, fields in entries:
        e = json.loads(fields["e"])
        if e["type"].startswith("alert."):
            a = e["data"]["alert"]
            out.append((e["type"], a["kind"], a["id"]))
    return out


async def rows(pool: asyncpg.Pool, kind: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(
        "SELECT * FROM system_alerts WHERE kind = $1 ORDER BY created_at", kind)]


async def check(ctx: dict[str, Any], at: datetime) -> int:
    ctx["now"] = lambda: at
    return await alerts.check_alerts(ctx)


async def test_a_long_wait_is_raised_once_and_resolved_when_the_patient_is_called(
        ctx: dict[str, Any], world: World) -> None:
    svc = ctx["notify_queue"]
    first = await issue_token(ctx, world, 0, doctor=1)
    await svc.call_next(world.hospital_id, SYSTEM, world.doctors[1], current_token_id=None,
                        expect_given=True)                 # doctor 1 has started: not late
    tok = await issue_token(ctx, world, 1, doctor=1)
    row = await ctx["pool"].fetchrow("SELECT eta_p90_min, shown_at FROM token_eta_shown "
                                     "WHERE token_id = $1", tok["id"])
    expected = row["shown_at"] + timedelta(minutes=row["eta_p90_min"])
    await check(ctx, expected + timedelta(minutes=14))
    assert await rows(ctx["pool"], "LONG_WAIT") == []      # inside the 15 minutes' grace
    for minutes in (15, 16, 40):                           # holds: raised once
        await check(ctx, expected + timedelta(minutes=minutes))
    [alert] = await rows(ctx["pool"], "LONG_WAIT")
    assert alert["entity_id"] == tok["id"] and alert["resolved_at"] is None
    assert tok["number"] in alert["message"] and "Patient" not in alert["message"]
    assert alert["department_id"] == world.department_id
    # the doctor completes the first patient and calls this one: the condition ends
    await svc.call_next(world.hospital_id, SYSTEM, world.doctors[1],
                        current_token_id=first["id"], expect_given=True)
    await check(ctx, expected + timedelta(minutes=41))
    await check(ctx, expected + timedelta(minutes=42))
    [alert] = await rows(ctx["pool"], "LONG_WAIT")
    assert alert["resolved_at"] == expected + timedelta(minutes=41)
    assert alert["resolved_by"] is None and alert["cleared_at"] is not None
    ids = [(t, k) for t, k, i in await alert_events(ctx, world) if i == str(alert["id"])]
    assert ids == [("alert.raised", "LONG_WAIT"), ("alert.resolved", "LONG_WAIT")]


async def test_an_unbalanced_department_suggests_a_move_that_resolves_it(
        ctx: dict[str, Any], world: World) -> None:
    svc = ctx["notify_queue"]
    h = world.hospital_id
    # the hospital's setting: a long p90 alone is no bottleneck here (the queue's length is)
    await ctx["pool"].execute("""UPDATE hospitals SET alert_thresholds = '{"bottleneck_p90_min":
                                 600}' WHERE id = $1""", h)
    for d in range(3):   # everyone has called somebody: no late starts in the way
        await issue_token(ctx, world, 11 - d, doctor=d)
        await svc.call_next(h, SYSTEM, world.doctors[d], current_token_id=None,
                            expect_given=True)
    for p in range(8):
        await issue_token(ctx, world, p, doctor=0)
    now = datetime.now().astimezone()
    assert await check(ctx, now) == 1
    assert await check(ctx, now + timedelta(minutes=1)) == 0
    [alert] = await rows(ctx["pool"], "BOTTLENECK")
    s = alert["details"]["suggestion"]
    assert s["count"] == 4 and UUID(s["to_doctor_id"]) in world.doctors[1:]
    # the one click: each suggested token transferred (the API's transfer, here its use-case)
    for tid in s["token_ids"]:
        await svc.act(h, SYSTEM, UUID(tid), Action.TRANSFER, to_doctor=UUID(s["to_doctor_id"]))
    await check(ctx, now + timedelta(minutes=2))
    [alert] = await rows(ctx["pool"], "BOTTLENECK")
    assert alert["resolved_at"] is not None
    assert [t for t, k, _ in await alert_events(ctx, world) if k == "BOTTLENECK"] == [
        "alert.raised", "alert.resolved"]


async def test_late_start_then_idle_doctor(ctx: dict[str, Any], world: World) -> None:
    svc = ctx["notify_queue"]
    h = world.hospital_id
    # the world's shifts start at 00:00, an all-day entry nobody is late for: not doctor 0's
    await ctx["pool"].execute("UPDATE shifts SET start_time = '00:01' WHERE doctor_id = $1",
                              world.doctors[0])
    day_start = (await ctx["pool"].fetchval(
        "SELECT min((date + start_time) AT TIME ZONE 'Asia/Kolkata') FROM shifts "
        "WHERE doctor_id = $1", world.doctors[0]))
    for d in (1, 2):   # the colleagues are at work; doctor 0 is not
        await issue_token(ctx, world, 9 + d, doctor=d)
        await svc.call_next(h, SYSTEM, world.doctors[d], current_token_id=None,
                            expect_given=True)
    await issue_token(ctx, world, 0, doctor=0)
    await issue_token(ctx, world, 1, doctor=0)
    await check(ctx, day_start + timedelta(minutes=15))
    assert await rows(ctx["pool"], "DOCTOR_LATE_START") == []   # 15 min is the department's
    await check(ctx, day_start + timedelta(minutes=16))
    await check(ctx, day_start + timedelta(minutes=20))
    [late] = await rows(ctx["pool"], "DOCTOR_LATE_START")
    assert late["entity_id"] == world.doctors[0] and late["resolved_at"] is None
    _, called = await svc.call_next(h, SYSTEM, world.doctors[0], current_token_id=None,
                                    expect_given=True)
    await svc.act(h, SYSTEM, called["id"], Action.COMPLETE)
    done_at = await ctx["pool"].fetchval("SELECT completed_at FROM tokens WHERE id = $1",
                                         called["id"])
    await check(ctx, done_at + timedelta(minutes=9))
    [late] = await rows(ctx["pool"], "DOCTOR_LATE_START")
    assert late["resolved_at"] is not None                  # the doctor called somebody
    assert await rows(ctx["pool"], "DOCTOR_IDLE") == []
    await check(ctx, done_at + timedelta(minutes=10))
    await check(ctx, done_at + timedelta(minutes=25))
    [idle] = await rows(ctx["pool"], "DOCTOR_IDLE")
    assert idle["entity_id"] == world.doctors[0] and "1 waiting" in idle["message"]
    await svc.call_next(h, SYSTEM, world.doctors[0], current_token_id=None, expect_given=True)
    await check(ctx, done_at + timedelta(minutes=26))
    [idle] = await rows(ctx["pool"], "DOCTOR_IDLE")
    assert idle["resolved_at"] is not None


async def failures(pool: asyncpg.Pool, w: World, at: datetime, n: int, start: int) -> None:
    """n failed SMS of n fresh tokens, their outcome recorded at `at`."""
    for i in range(n):
        tok = await pool.fetchval(
            """INSERT INTO tokens (hospital_id, department_id, doctor_id, patient_id,
                   service_date, seq, number, booking_type, status, public_code)
               VALUES ($1, $2, $3, $4, current_date, $5, $6, 'WALK_IN', 'COMPLETED', $7)
               RETURNING id""", w.hospital_id, w.department_id, w.doctors[2],
            w.patients[i], 500 + start + i, f"CARD-{500 + start + i}",
            f"code{start + i:012d}")
        await pool.execute(
            """INSERT INTO notifications_log (hospital_id, patient_id, token_id, channel, event,
                   body, to_masked, status, error_code, created_at, updated_at)
               VALUES ($1, $2, $3, 'SMS', 'TOKEN_CREATED', 'x', '+91******0000', 'FAILED',
                       30003, $4, $4)""", w.hospital_id, w.patients[i], tok, at)


async def test_a_resolved_alert_holds_until_its_condition_ends_and_comes_back(
        ctx: dict[str, Any], world: World) -> None:
    pool = ctx["pool"]
    t0 = datetime.now().astimezone()
    await failures(pool, world, t0, 5, 0)
    assert await check(ctx, t0 + timedelta(minutes=1)) == 1
    [first] = await rows(pool, "MESSAGES_FAILING")
    assert first["severity"] == "CRITICAL" and "5 of 5 messages failed" in first["message"]
    admin = await pool.fetchval("SELECT id FROM users WHERE hospital_id = $1 AND role = 'admin'",
                                world.hospital_id)
    async with pool.acquire() as conn:
        done = await alerts_db.resolve_by(conn, world.hospital_id, first["id"], admin)
        assert done is not None and done["resolved_by_username"]
        assert await alerts_db.resolve_by(conn, world.hospital_id, first["id"], admin) is None
    assert await check(ctx, t0 + timedelta(minutes=2)) == 0   # still failing: not raised again
    assert len(await rows(pool, "MESSAGES_FAILING")) == 1
    await check(ctx, t0 + timedelta(minutes=40))               # the window passed: it ended
    [first] = await rows(pool, "MESSAGES_FAILING")
    assert first["cleared_at"] == t0 + timedelta(minutes=40)
    assert first["resolved_by"] == admin                       # still the person's resolve
    await failures(pool, world, t0 + timedelta(minutes=50), 5, 5)
    assert await check(ctx, t0 + timedelta(minutes=51)) == 1   # back: a new alert
    assert [r["resolved_at"] is None for r in await rows(pool, "MESSAGES_FAILING")] == [
        False, True]
