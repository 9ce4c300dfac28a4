"""Pause/resume and the ETAs of a queue (DESIGN.md "ETA"), on a hand-driven clock."""

from __future__ import annotations

import itertools
import json
import math
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from server.domain.eta import JUMP_RATE, SENIOR_SHARE
from server.domain.eta_today import TODAY_GAP_MIN
from server.store import keys
from tests.queue.conftest import Clock, World, issue, local_at, press_next, queue


async def pause(client: httpx.AsyncClient, w: World, doctor: int = 0, role: str = "doctor",
                **body: Any) -> httpx.Response:
    return await client.post(f"/api/v1/doctors/{w.doctors[doctor]}/pause", json=body,
                             headers=w.h(role))


async def resume(client: httpx.AsyncClient, w: World, doctor: int = 0,
                 role: str = "doctor") -> httpx.Response:
    return await client.post(f"/api/v1/doctors/{w.doctors[doctor]}/resume", headers=w.h(role))


async def etas(client: httpx.AsyncClient, w: World, doctor: int = 0) -> list[tuple[int, int]]:
    q = await queue(client, w, doctor)
    return [(t["eta"]["p50_min"], t["eta"]["p90_min"]) for t in q["waiting"]]


async def waiting(client: httpx.AsyncClient, w: World, clock: Clock, n: int) -> None:
    for i in range(n):
        clock.at = local_at(10, i)
        await issue(client, w, i)


async def presses(client: httpx.AsyncClient, w: World, clock: Clock,
                  minutes: tuple[int, ...]) -> str:
    """Next at each of `minutes` past 10:00 (each completes the one before); the id of the
    last one called."""
    current = None
    for minute in minutes:
        clock.at = local_at(10) + timedelta(minutes=minute)
        r = await press_next(client, w, current_token_id=current)
        assert r.status_code == 200, r.text
        current = r.json()["called"]["id"]
    assert current is not None
    return current


async def test_pause_and_resume(client: httpx.AsyncClient, world: World, clock: Clock,
                                pool: asyncpg.Pool) -> None:
    r = await pause(client, world, minutes=15, reason="ward round")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PAUSED" and r.json()["reason"] == "ward round"
    assert r.json()["pause_until"] == local_at(10, 15).isoformat()
    q = await queue(client, world)
    assert q["doctor"]["status"] == "PAUSED" and q["doctor"]["pause_until"]
    row = await pool.fetchrow("SELECT * FROM doctor_pauses WHERE doctor_id = $1",
                              world.doctors[0])
    assert row["ended_at"] is None and row["reason"] == "ward round"

    r = await pause(client, world, role="nurse")
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["current_status"] == "PAUSED" and "paused" in r.json()["detail"]

    r = await resume(client, world)
    assert r.status_code == 200 and r.json()["status"] == "AVAILABLE"
    assert (await queue(client, world))["doctor"]["status"] == "AVAILABLE"
    assert await pool.fetchval(
        "SELECT ended_at IS NOT NULL FROM doctor_pauses WHERE doctor_id = $1", world.doctors[0])

    r = await resume(client, world, role="admin")
    assert r.status_code == 409
    assert r.json()["current_status"] == "AVAILABLE"


async def test_next_is_refused_while_paused(client: httpx.AsyncClient, world: World,
                                            clock: Clock) -> None:
    await waiting(client, world, clock, 1)
    assert (await pause(client, world)).status_code == 200
    clock.advance(minutes=1)
    r = await press_next(client, world, current_token_id=None)
    assert r.status_code == 409 and "paused" in r.json()["detail"]
    assert (await resume(client, world)).status_code == 200
    r = await press_next(client, world, current_token_id=None)
    assert r.status_code == 200 and r.json()["called"]


def p50s(got: list[tuple[int, int]]) -> list[int]:
    return [p50 for p50, _ in got]


def about(got: list[int], want: list[float], tol: float = 1.0) -> bool:
    """Each p50 within `tol` minutes (or 10 %) of the plain sum of the minutes ahead: the
    ETA model may add a little (the walk to the cabin), never a different order of size."""
    return len(got) == len(want) and all(abs(g - w) <= max(tol, 0.1 * w)
                                         for g, w in zip(got, want, strict=True))


async def test_eta_grows_while_paused_and_shrinks_as_the_pause_runs_out(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    await waiting(client, world, clock, 3)
    clock.at = local_at(10, 10)
    before = p50s(await etas(client, world))
    assert about(before, [0, 10, 20])
    assert (await pause(client, world, minutes=15)).status_code == 200
    paused = p50s(await etas(client, world))
    # the pause, plus the interruptions a longer wait is exposed to (a minute or two)
    assert all(15 <= a - b <= 17 for a, b in zip(paused, before, strict=True))
    clock.advance(minutes=5)
    later = p50s(await etas(client, world))
    assert all(10 <= a - b <= 12 for a, b in zip(later, before, strict=True))
    assert (await resume(client, world)).status_code == 200
    assert p50s(await etas(client, world)) == before


async def test_an_open_ended_pause_adds_a_short_break(client: httpx.AsyncClient, world: World,
                                                      clock: Clock) -> None:
    await waiting(client, world, clock, 2)
    before = p50s(await etas(client, world))
    assert (await pause(client, world)).status_code == 200
    # ten minutes, and (for the second) ten more in which a senior arriving comes first
    assert all(10 <= a - b <= 12 for a, b in zip(p50s(await etas(client, world)), before,
                                                 strict=True))


async def test_etas_of_a_queue_are_ordered_and_spread(client: httpx.AsyncClient, world: World,
                                                      clock: Clock) -> None:
    await waiting(client, world, clock, 6)
    got = await etas(client, world)
    assert got[0] == (0, 0)                                     # next, nobody with the doctor
    assert about(p50s(got), [0, 11, 22, 33, 44, 55])  # the department's 10 min + 1 per call
    assert all(p90 > p50 for p50, p90 in got[1:])
    assert all(a[0] < b[0] and a[1] <= b[1] for a, b in itertools.pairwise(got))
    assert all(p90 <= 2 * p50 + 10 for p50, p90 in got[1:])
    # the current consultation: 10 minutes expected, 4 gone
    clock.at = local_at(10, 20)
    assert (await press_next(client, world)).status_code == 200
    clock.at = local_at(10, 24)
    busy = p50s(await etas(client, world))
    assert about(busy, [6, 17, 28, 39, 50])
    # a consultation running long is still expected to take a while, less than a new one
    clock.at = local_at(10, 50)
    assert 1 <= p50s(await etas(client, world))[0] < 10


async def test_learned_consult_times_move_the_eta(client: httpx.AsyncClient, world: World,
                                                  clock: Clock) -> None:
    await waiting(client, world, clock, 5)
    fresh = p50s(await etas(client, world))[1]        # one consult ahead, nothing learned
    # three consults of 20 minutes each, a fourth starts
    await presses(client, world, clock, (10, 30, 50, 70))
    # the doctor is slower than the department's 10 minutes: the learned mean (blended with
    # the default while few consults are known) lies between
    learned = p50s(await etas(client, world))[0]
    assert fresh < learned < 20
    clock.advance(minutes=5)
    assert learned - 7 <= p50s(await etas(client, world))[0] <= learned - 4


@pytest.mark.parametrize("finish", ["next", "complete"])
async def test_the_queue_update_of_a_finished_consult_already_counts_it(
        finish: str, client: httpx.AsyncClient, world: World, clock: Clock,
        redis: Redis) -> None:
    """The ETAs a press announces (what every phone shows at once) are the ones a reload
    shows: the consult it finished is learned before they are computed, and stored."""
    await waiting(client, world, clock, 5)
    # consults of 25 minutes, where 10 are expected
    current = await presses(client, world, clock, (10, 35, 60))
    clock.advance(minutes=25)
    if finish == "next":
        r = await press_next(client, world, current_token_id=current)
    else:
        r = await client.post(f"/api/v1/tokens/{current}/complete", json={},
                              headers=world.h("doctor"))
    assert r.status_code == 200, r.text
    entries = await redis.xrevrange(keys.stream(world.hospital_id), count=5)
    announced = next(json.loads(f["e"]) for _, f in entries
                     if json.loads(f["e"])["type"] == "queue.updated")
    shown = [(e["eta"]["p50_min"], e["eta"]["p90_min"]) for e in announced["data"]["waiting"]]
    assert shown == await etas(client, world)
    n, mean = await redis.hmget(keys.doctor(world.hospital_id, world.doctors[0]), "n", "mean")
    assert int(n) == 3 and float(mean) > 15
async def test_todays_pace_moves_the_far_etas_and_lapses_after_the_sitting(
        client: httpx.AsyncClient, world: World, clock: Clock, redis: Redis) -> None:
    """The consults of this sitting are kept in the live hash (tn, tlog, tlast_ms) and the
    queue's ETAs use them: a doctor taking 20 minutes today is expected slower than the
    learned mean alone says; hours after the last consult they no longer count."""
    await waiting(client, world, clock, 8)
    # three consults of 20 minutes each, a fourth starts
    await presses(client, world, clock, (10, 30, 50, 70))
    doc = keys.doctor(world.hospital_id, world.doctors[0])
    tn, tlog, tlast = await redis.hmget(doc, "tn", "tlog", "tlast_ms")
    assert int(tn) == 3 and float(tlog) == pytest.approx(math.log(20), abs=1e-3)
    assert int(float(tlast)) == int(local_at(11, 10).timestamp() * 1000)
    # the sitting's prior: what was learned before its first consult (nothing, here)
    assert await redis.hmget(doc, "t0n", "t0mean") == ["0", "0.0"]
    assert int(await redis.hget(doc, "n")) == 3
    with_today = p50s(await etas(client, world))

    async def edit(**fields: Any) -> None:
        """The live hash edited by hand, which moves the views' revision as a repair does
        (server/view_cache.py): the queue is read afresh."""
        await redis.hset(doc, mapping=fields)
        await redis.incr(keys.views(world.hospital_id))

    await edit(tn=0)                                   # as if nothing were known of today
    without = p50s(await etas(client, world))
    assert with_today[-1] > without[-1] + 2            # four more consults at today's pace
    assert with_today[0] >= without[0]
    await edit(tn=tn)
    assert p50s(await etas(client, world)) == with_today
    # the sitting is over (the last consult ended hours ago): the learned mean alone
    clock.at = local_at(11, 10) + timedelta(minutes=TODAY_GAP_MIN + 1)
    late = p50s(await etas(client, world))
    await edit(tn=0)
    assert p50s(await etas(client, world)) == late


async def test_the_token_read_and_the_public_view_agree_with_the_queue(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    await waiting(client, world, clock, 3)
    assert (await pause(client, world, minutes=30)).status_code == 200
    q = await queue(client, world)
    last = q["waiting"][-1]
    # the pause and two consults, and a senior who may still come first (a token issued
    # minutes ago, within the senior credit)
    assert about([last["eta"]["p50_min"]], [50 + JUMP_RATE * SENIOR_SHARE * 20])
    r = await client.get(f"/api/v1/tokens/{last['id']}", headers=world.h())
    assert r.json()["eta"] == last["eta"]
    code = r.json()["patient_link"].rsplit("/t/", 1)[1]
    pub = (await client.get(f"/api/v1/public/tokens/{code}")).json()
    assert (pub["position"], pub["eta"]) == (3, last["eta"])


@pytest.mark.parametrize(("body", "field"), [
    ({"minutes": 0}, "minutes"),
    ({"minutes": 601}, "minutes"),
    ({"minutes": "soon"}, "minutes"),
    ({"until": "11:00"}, "until"),
])
async def test_bad_pause_body_names_the_field(client: httpx.AsyncClient, world: World,
                                              body: dict[str, Any], field: str) -> None:
    r = await pause(client, world, **body)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert (await queue(client, world))["doctor"]["status"] == "AVAILABLE"


@pytest.mark.parametrize("path", ["pause", "resume", "next", "queue"])
async def test_unknown_doctor_is_404(client: httpx.AsyncClient, world: World,
                                     path: str) -> None:
    method = "GET" if path == "queue" else "POST"
    r = await client.request(method, f"/api/v1/doctors/00000000-0000-0000-0000-000000000000/"
                             f"{path}", headers=world.h("admin"))
    assert r.status_code == 404


async def test_etas_count_from_the_shift_start_before_the_doctor_begins(
        client: httpx.AsyncClient, world: World, clock: Clock, pool: asyncpg.Pool) -> None:
    """08:30, the doctor's shift starts at 09:00: no "any moment now" for the first patient,
    and the queue behind counts from 09:00; once the doctor calls, the start no longer
    counts. The public token view says the same as the queue."""
    await pool.execute("UPDATE shifts SET start_time = '09:00' WHERE doctor_id = $1",
                       world.doctors[0])
    clock.at = local_at(8, 30)
    await issue(client, world, 0)
    await issue(client, world, 1)
    q = await queue(client, world)
    first, second = (t["eta"] for t in q["waiting"])
    assert first["p10_min"] >= 30 and first["p50_min"] >= 30 and first["p90_min"] > 30
    assert second["p50_min"] >= 40 and second["p10_min"] >= 30
    tid = q["waiting"][1]["id"]
    r = await client.get(f"/api/v1/tokens/{tid}", headers=world.h())
    code = r.json()["patient_link"].rsplit("/t/", 1)[1]
    pub = (await client.get(f"/api/v1/public/tokens/{code}")).json()
    assert pub["eta"]["p50_min"] == second["p50_min"] and pub["eta"]["p10_min"] >= 30
    clock.at = local_at(9, 5)
    assert (await press_next(client, world)).status_code == 200
    assert (await etas(client, world))[0][0] <= 12     # one consult ahead, not the start


async def test_a_pause_past_its_end_still_counts(client: httpx.AsyncClient, world: World,
                                                 clock: Clock) -> None:
    await waiting(client, world, clock, 2)
    clock.advance(minutes=21)       # past the senior credit: nobody still to come goes first
    before = p50s(await etas(client, world))
    assert (await pause(client, world, minutes=5)).status_code == 200
    clock.advance(minutes=20)       # five minutes announced, twenty gone, no Resume yet
    later = p50s(await etas(client, world))
    assert all(a - b >= 3 for a, b in zip(later, before, strict=True))


async def test_a_recent_walk_in_allows_for_a_senior_still_to_come(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    """A senior arriving within the department's credit of a walk-in is called first, so a
    walk-in who has just joined is expected a little later than once the credit has run out
    (the queue itself unchanged: the doctor has not begun)."""
    await waiting(client, world, clock, 4)
    fresh = p50s(await etas(client, world))
    clock.at = local_at(10, 25)     # every token joined more than 20 minutes ago
    settled = p50s(await etas(client, world))
    assert settled[0] == fresh[0] == 0
    assert all(f >= s for f, s in zip(fresh, settled, strict=True))
    assert fresh[-1] - settled[-1] >= 1
