"""End to end: queue actions -> event stream -> dispatcher -> ARQ worker -> fake Twilio; and
the cron jobs (reminders, late start)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from server.queue import SYSTEM
from server.store import keys
from tests.queue.conftest import TZ, World, issue, press_next
from tests.workers.conftest import PUBLIC_BASE, issue_token, run_burst
from tests.workers.fake_twilio import FakeTwilio
from workers import alerts, dispatch, notify_cron
from workers.dispatch import Dispatcher
from workers.routing import notify_jobs_for

ONLY = [notify_jobs_for]   # the notification router alone (risk jobs have their own tests)


@pytest.fixture
async def dispatcher(ctx: dict[str, Any]) -> AsyncIterator[Dispatcher]:
    d = dispatch.start(ctx, block_ms=50, refresh_s=60, routers=ONLY)
    yield d
    await dispatch.stop(ctx)


async def drain(ctx: dict[str, Any], d: Dispatcher, w: World) -> None:
    """Every event so far routed and enqueued, then every job run (a burst worker)."""
    n = await ctx["redis_app"].xlen(keys.stream(w.hospital_id))
    await d.wait_for(lambda x: x.handled >= n)
    await run_burst(ctx)


def bodies(fake: FakeTwilio) -> list[str]:
    return [m.body for m in fake.messages]


async def test_a_token_issued_over_http_is_texted(
        client: httpx.AsyncClient, ctx: dict[str, Any], world: World, dispatcher: Dispatcher,
        fake_twilio: FakeTwilio) -> None:
    tok = await issue(client, world, 0)
    await drain(ctx, dispatcher, world)
    [msg] = fake_twilio.messages
    assert msg.to == "+919876500000"
    # alone in the queue: "You are next", never "Wait about 0 min" (issue 20)
    assert tok["number"] in msg.body and "You are next" in msg.body
    assert "Wait about" not in msg.body
    assert f"{PUBLIC_BASE}/t/" in msg.body
    # the doctor presses Next: the patient is called to the cabin
    assert (await press_next(client, world)).status_code == 200
    await drain(ctx, dispatcher, world)
    assert len(fake_twilio.messages) == 2
    assert f"{tok['number']}: please go to cabin {world.cabins[0]} now" in bodies(fake_twilio)[1]
    # a recall sends nothing more; replaying the whole stream sends nothing more either
    r = await client.post(f"/api/v1/tokens/{tok['id']}/recall", headers=world.h("doctor"))
    assert r.status_code == 200, r.text
    await drain(ctx, dispatcher, world)
    await dispatch.stop(ctx)
    await ctx["redis_app"].xgroup_destroy(keys.stream(world.hospital_id), dispatch.GROUP)
    rctx = {**ctx}
    replay = dispatch.start(rctx, block_ms=50, refresh_s=60, routers=ONLY)
    try:
        await drain(rctx, replay, world)
    finally:
        await dispatch.stop(rctx)
    assert len(fake_twilio.messages) == 2


async def test_pause_tells_waiting_patients_the_new_wait(
        ctx: dict[str, Any], world: World, dispatcher: Dispatcher,
        fake_twilio: FakeTwilio) -> None:
    for p in range(2):
        await issue_token(ctx, world, p)
    await ctx["notify_queue"].set_paused(world.hospital_id, SYSTEM, world.doctors[0], True,
                                         minutes=45, reason="emergency in ward")
    await drain(ctx, dispatcher, world)   # the DELAY fan-out job enqueues the sends
    await run_burst(ctx)
    delays = [b for b in bodies(fake_twilio) if "delayed" in b]
    assert len(delays) == 2
    for body in delays:
        p50 = int(body.split("Wait about ")[1].split("-")[0].split(" ")[0])
        assert p50 >= 40, body   # the pause is in the ETA


async def test_the_patient_n_places_ahead_is_told(
        ctx: dict[str, Any], world: World, dispatcher: Dispatcher,
        fake_twilio: FakeTwilio) -> None:
    toks = [await issue_token(ctx, world, p) for p in range(5)]
    await drain(ctx, dispatcher, world)  # toks[2] was issued at #3: its creation text says so
    assert not [m for m in fake_twilio.messages if "in line for" in m.body]
    # later: the creation messages no longer stand for "you are #3"
    await ctx["pool"].execute("UPDATE tokens SET created_at = created_at - interval '1 hour'")
    await ctx["notify_queue"].call_next(world.hospital_id, SYSTEM, world.doctors[0],
                                        current_token_id=None, expect_given=False)
    await drain(ctx, dispatcher, world)
    await run_burst(ctx)
    ahead = [m for m in fake_twilio.messages if "in line for" in m.body]
    assert [m.to for m in ahead] == ["+919876500003"]   # toks[3] is now #3
    assert f"{toks[3]['number']} is now #3 in line" in ahead[0].body


async def test_reminders_go_once(ctx: dict[str, Any], world: World,
                                 fake_twilio: FakeTwilio) -> None:
    now = datetime.now(ZoneInfo(TZ))
    soon = await issue_token(ctx, world, 0, booking_type="ONLINE",
                             scheduled_time=now + timedelta(minutes=90))
    tomorrow = await issue_token(ctx, world, 1, booking_type="ONLINE",
                                 scheduled_time=now + timedelta(hours=20))
    await ctx["pool"].execute("UPDATE tokens SET created_at = now() - interval '2 days'")
    assert await notify_cron.schedule_reminders(ctx) == 2
    assert await notify_cron.schedule_reminders(ctx) == 0      # ARQ knows both jobs
    await run_burst(ctx)
    by_to = {m.to: m.body for m in fake_twilio.messages}
    assert by_to["+919876500000"].startswith("Reminder:") and "today" in by_to["+919876500000"]
    assert soon["number"] in by_to["+919876500000"]
    assert "tomorrow" in by_to["+919876500001"] and tomorrow["number"] in by_to["+919876500001"]
    await ctx["redis"].flushdb()                           # ARQ forgot: the log remembers
    assert await notify_cron.schedule_reminders(ctx) == 0


async def test_a_late_doctor_raises_an_alert_and_delays(
        ctx: dict[str, Any], world: World, fake_twilio: FakeTwilio) -> None:
    # the world's shifts start at 00:00 local, an all-day entry nobody is late for: doctor
    # 0's starts at 00:01, and the job's clock is put at least 3 minutes into the day (in the
    # first minutes of the shift nobody is late yet)
    await ctx["pool"].execute("UPDATE shifts SET start_time = '00:01' WHERE doctor_id = $1",
                              world.doctors[0])
    local = datetime.now(ZoneInfo(TZ))
    ctx["now"] = lambda: max(local, local.replace(hour=0, minute=3, second=0, microsecond=0))
    await ctx["pool"].execute("UPDATE departments SET late_start_alert_min = 1")
    for p in range(2):
        await issue_token(ctx, world, p)
    assert await notify_cron.check_late_starts(ctx) == 1
    assert await notify_cron.check_late_starts(ctx) == 1
    # the staff's alert comes from the alert job, once however often both run
    assert await alerts.check_alerts(ctx) >= 1
    assert await alerts.check_alerts(ctx) == 0
    rows = await ctx["pool"].fetch(
        "SELECT kind, entity_id FROM system_alerts WHERE kind = 'DOCTOR_LATE_START'")
    assert [(a["kind"], a["entity_id"]) for a in rows] == [
        ("DOCTOR_LATE_START", world.doctors[0])]
    await run_burst(ctx)
    delays = [m for m in fake_twilio.messages if "delayed" in m.body]
    assert sorted(m.to for m in delays) == ["+919876500000", "+919876500001"]


async def test_a_shift_from_midnight_is_never_a_late_start(
        ctx: dict[str, Any], world: World, fake_twilio: FakeTwilio) -> None:
    """The world's shifts start at 00:00 local: all-day entries. Minutes after midnight,
    patients waiting and nobody called, nobody is late: no DELAY, no DOCTOR_LATE_START; the
    doctor is idle since the shift start instead."""
    midnight = datetime.now(ZoneInfo(TZ)).replace(hour=0, minute=0, second=0, microsecond=0)
    await ctx["pool"].execute("UPDATE departments SET late_start_alert_min = 1")
    for p in range(2):
        await issue_token(ctx, world, p)
    for minutes in (5, 12):
        ctx["now"] = lambda m=minutes: midnight + timedelta(minutes=m)
        assert await notify_cron.check_late_starts(ctx) == 0
        await alerts.check_alerts(ctx)
    kinds = await ctx["pool"].fetch(
        "SELECT kind, entity_id, details->>'idle_since' AS since FROM system_alerts "
        "WHERE kind IN ('DOCTOR_LATE_START', 'DOCTOR_IDLE')")
    assert [(a["kind"], a["entity_id"]) for a in kinds] == [("DOCTOR_IDLE", world.doctors[0])]
    assert datetime.fromisoformat(kinds[0]["since"]) == midnight
    await run_burst(ctx)
    assert not [m for m in fake_twilio.messages if "delayed" in m.body]
