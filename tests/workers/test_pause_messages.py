"""A doctor's pause and the patients' messages, end to end with a simulated clock: queue
actions -> event stream -> dispatcher -> ARQ worker -> fake Twilio. The worker's clock
(ctx["now"]) is moved instead of waiting; check_long_pauses is the minute cron."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.queue import SYSTEM
from server.store import keys
from tests.queue.conftest import World
from tests.workers.conftest import issue_token, run_burst
from tests.workers.fake_twilio import FakeTwilio
from workers import dispatch, notify_cron
from workers.dispatch import Dispatcher
from workers.routing import notify_jobs_for

PHONES = ["+919876500000", "+919876500001"]


@pytest.fixture
async def dispatcher(ctx: dict[str, Any]) -> AsyncIterator[Dispatcher]:
    d = dispatch.start(ctx, block_ms=50, refresh_s=60, routers=[notify_jobs_for])
    yield d
    await dispatch.stop(ctx)


class Clock:
    """The worker's clock, moved by hand."""

    def __init__(self, ctx: dict[str, Any]) -> None:
        self.at = datetime.now(UTC)
        ctx["now"] = lambda: self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


async def drain(ctx: dict[str, Any], d: Dispatcher, w: World) -> None:
    n = await ctx["redis_app"].xlen(keys.stream(w.hospital_id))
    await d.wait_for(lambda x: x.handled >= n)
    await run_burst(ctx)
    await run_burst(ctx)   # the fan-out's sends


async def minute(ctx: dict[str, Any], clock: Clock, minutes: float) -> None:
    """Time passes; the minute cron looks at the open pauses and its jobs run."""
    clock.advance(minutes=minutes)
    await notify_cron.check_long_pauses(ctx)
    await run_burst(ctx)
    await run_burst(ctx)


def sent(fake: FakeTwilio, word: str) -> list[str]:
    return sorted(m.to for m in fake.messages if word in m.body)


async def pause(ctx: dict[str, Any], w: World, paused: bool, minutes: int | None = None) -> None:
    await ctx["notify_queue"].set_paused(w.hospital_id, SYSTEM, w.doctors[0], paused,
                                         minutes=minutes)


@pytest.fixture
async def waiting(ctx: dict[str, Any], world: World, dispatcher: Dispatcher,
                  fake_twilio: FakeTwilio) -> Clock:
    """Two patients waiting, their creation messages sent; the clock in hand."""
    for p in range(2):
        await issue_token(ctx, world, p)
    clock = Clock(ctx)
    await drain(ctx, dispatcher, world)
    assert len(fake_twilio.messages) == 2
    return clock


async def test_an_eight_second_pause_sends_nothing(
        ctx: dict[str, Any], world: World, dispatcher: Dispatcher, fake_twilio: FakeTwilio,
        waiting: Clock) -> None:
    await pause(ctx, world, True)                   # open-ended: "Pause", then "Resume"
    await drain(ctx, dispatcher, world)
    await minute(ctx, waiting, 8 / 60)
    await pause(ctx, world, False)
    await drain(ctx, dispatcher, world)
    assert len(fake_twilio.messages) == 2           # the two creation messages, nothing more


async def test_a_long_pause_tells_each_patient_once_and_the_resume_gives_the_new_eta(
        ctx: dict[str, Any], world: World, dispatcher: Dispatcher, fake_twilio: FakeTwilio,
        waiting: Clock) -> None:
    await pause(ctx, world, True, minutes=30)
    await drain(ctx, dispatcher, world)
    assert sent(fake_twilio, "delayed") == PHONES
    for _ in range(3):                              # the cron looks again, minute by minute
        await minute(ctx, waiting, 1)
    await minute(ctx, waiting, 40)                  # and after it ran over
    assert sent(fake_twilio, "delayed") == PHONES   # still once each
    await pause(ctx, world, False)
    await drain(ctx, dispatcher, world)
    back = [m for m in fake_twilio.messages if "the doctor is back" in m.body]
    assert sorted(m.to for m in back) == PHONES
    # each gets their new ETA: the first in line is next, the others a range
    assert all("Wait about" in m.body or "You are next" in m.body for m in back)
    assert sum("Wait about" in m.body for m in back) == len(back) - 1
    assert len(fake_twilio.messages) == 6


async def test_a_short_break_that_runs_over_the_threshold_tells_once_then(
        ctx: dict[str, Any], world: World, dispatcher: Dispatcher, fake_twilio: FakeTwilio,
        waiting: Clock) -> None:
    await pause(ctx, world, True, minutes=5)
    await drain(ctx, dispatcher, world)
    await minute(ctx, waiting, 10)
    assert sent(fake_twilio, "delayed") == []       # 10 min: under the 15-minute default
    await minute(ctx, waiting, 6)
    assert sent(fake_twilio, "delayed") == PHONES   # 16 min: the ETAs moved by the threshold
    await minute(ctx, waiting, 1)
    assert sent(fake_twilio, "delayed") == PHONES
    # one patient leaves the queue meanwhile: no "back" message for them
    await ctx["pool"].execute(
        "UPDATE tokens SET status = 'CANCELLED', cancelled_at = now() WHERE id = ("
        "SELECT id FROM tokens WHERE hospital_id = $1 ORDER BY number LIMIT 1)",
        world.hospital_id)
    await pause(ctx, world, False)
    await drain(ctx, dispatcher, world)
    assert sent(fake_twilio, "the doctor is back") == PHONES[1:]


async def test_the_threshold_is_the_hospitals_setting(
        ctx: dict[str, Any], world: World, dispatcher: Dispatcher, fake_twilio: FakeTwilio,
        waiting: Clock) -> None:
    await ctx["pool"].execute("UPDATE hospitals SET delay_notify_min = 30 WHERE id = $1",
                              world.hospital_id)
    await pause(ctx, world, True, minutes=20)
    await drain(ctx, dispatcher, world)
    await minute(ctx, waiting, 1)
    await pause(ctx, world, False)
    await drain(ctx, dispatcher, world)
    assert len(fake_twilio.messages) == 2


async def test_a_second_pause_later_in_the_day_tells_them_again_once(
        ctx: dict[str, Any], world: World, dispatcher: Dispatcher, fake_twilio: FakeTwilio,
        waiting: Clock) -> None:
    """At most once per patient per pause, not once per day: the afternoon's pause is news."""
    await pause(ctx, world, True, minutes=30)
    await drain(ctx, dispatcher, world)
    await minute(ctx, waiting, 1)
    await pause(ctx, world, False)
    await drain(ctx, dispatcher, world)
    assert sent(fake_twilio, "delayed") == PHONES
    assert sent(fake_twilio, "the doctor is back") == PHONES
    waiting.advance(hours=2)
    await pause(ctx, world, True, minutes=20)
    await drain(ctx, dispatcher, world)
    for _ in range(2):                              # the cron looks again: still once
        await minute(ctx, waiting, 1)
    assert sent(fake_twilio, "delayed") == sorted(PHONES * 2)
    await pause(ctx, world, False)
    await drain(ctx, dispatcher, world)
    assert sent(fake_twilio, "the doctor is back") == sorted(PHONES * 2)
    assert len(fake_twilio.messages) == 2 + 4 + 4   # created, then per pause: delay + back
    keys_ = await ctx["pool"].fetch(
        "SELECT DISTINCT once_key FROM notifications_log WHERE event IN ('DELAY', 'RESUMED')")
    assert len(keys_) == 2                          # one once-key per pause: each pause's id
