"""The daily metrics job on a day played through the API with a hand-driven clock.

The test plays a seeded clinic morning for two doctors (arrivals, calls, consults, a no-show
now and then, a cancellation, a pause, a late start, a patient past the shift's end), keeps
its own log of when everything happened, and computes the expected figures from that log
with plain arithmetic and numpy, never with the job's code. The job reads only the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest

from server import reports
from tests.queue.conftest import Clock, World, act, build_world, issue, local_at

SHIFT = (local_at(9), local_at(13))


@dataclass
class Doc:
    """One doctor's day as the script played it (times are the clock's)."""

    index: int
    calls: list[tuple[datetime, datetime]] = field(default_factory=list)  # (arrival, call)
    spells: list[tuple[datetime, datetime]] = field(default_factory=list)  # call -> end
    consults: list[float] = field(default_factory=list)
    seen: int = 0
    no_show: int = 0
    cancelled: int = 0
    issued: int = 0
    pause: tuple[datetime, datetime] | None = None
    arrivals: list[datetime] = field(default_factory=list)


@dataclass(order=True)
class Ev:
    at: datetime
    order: int                  # at the same minute: arrivals first
    seq: int
    kind: str = field(compare=False)
    doc: int = field(compare=False)
    patient: int = field(default=-1, compare=False)


def plan(rng: np.random.Generator, d: Doc, first_patient: int, start: datetime,
         events: list[Ev], pause_after: int | None) -> None:
    """The doctor's morning: FIFO walk-ins; Next completes and calls at once when someone
    waits, else Complete now and Next when the next patient comes."""
    n = 9
    offsets = sorted([0, *(int(x) for x in rng.integers(0, 170, size=n - 1))])  # one at 9
    arrivals = [SHIFT[0] + timedelta(minutes=m) for m in offsets]
    arrivals.append(local_at(12, 50))              # comes late: seen past 13:00
    seq = len(events)

    def add(at: datetime, kind: str, order: int = 1, patient: int = -1) -> None:
        nonlocal seq
        seq += 1
        events.append(Ev(at, order, seq, kind, d.index, patient))

    free = start
    current = False                                # a patient in consultation, not completed
    for i, arrived in enumerate(arrivals):
        p = first_patient + i
        add(arrived, "issue", 0, p)
        d.issued += 1
        d.arrivals.append(arrived)
        call = max(free, arrived)
        if current and call > free:                # nobody was waiting when the consult ended
            add(free, "complete")
            current = False
        if pause_after is not None and i == pause_after:
            # complete, pause 20 minutes, resume, then carry on
            if current:
                add(free, "complete")
                current = False
            d.pause = (free, free + timedelta(minutes=20))
            add(free, "pause")
            add(free + timedelta(minutes=20), "resume")
            free = free + timedelta(minutes=20)
            call = max(free, arrived)
        add(call, "next")                           # completes the current one, if any
        current = False
        d.calls.append((arrived, call))
        if i == 0:  # a cancellation while the first patient is with the doctor
            add(call + timedelta(seconds=20), "issue-cancel", 0, first_patient + 50)
            d.issued += 1
            d.cancelled += 1
            d.arrivals.append(call + timedelta(seconds=20))
        if i not in (0, n) and rng.random() < 0.2:  # called, never came
            gone = call + timedelta(minutes=3)
            add(gone, "no-show", 1, p)
            d.spells.append((call, gone))
            d.no_show += 1
            free = gone
            continue
        began = call + timedelta(minutes=1)
        end = began + timedelta(minutes=int(rng.integers(5, 16)))
        add(began, "start", 1, p)
        d.spells.append((call, end))
        d.consults.append((end - began).total_seconds() / 60)
        d.seen += 1
        free, current = end, True
    add(free, "complete")


def expected(d: Doc) -> dict[str, Any]:
    mins = lambda x: x.total_seconds() / 60  # noqa: E731
    waits = [mins(c - a) for a, c in d.calls]
    clip = [(max(a, SHIFT[0]), min(b, SHIFT[1])) for a, b in d.spells]
    busy_in = sum(max(0.0, mins(b - a)) for a, b in clip)
    pause = mins(d.pause[1] - d.pause[0]) if d.pause else 0.0
    shift = mins(SHIFT[1] - SHIFT[0])
    last = max(b for _, b in d.spells)
    first_call = min(c for _, c in d.calls)
    return {
        "tokens_total": d.issued, "tokens_completed": d.seen, "tokens_no_show": d.no_show,
        "tokens_cancelled": d.cancelled,
        "avg_wait_min": round(float(np.mean(waits)), 2),
        "wait_p50_min": round(float(np.percentile(waits, 50)), 2),
        "wait_p90_min": round(float(np.percentile(waits, 90)), 2),
        "avg_consultation_min": round(float(np.mean(d.consults)), 2),
        "first_call_delay_min": round(mins(first_call - max(SHIFT[0], min(d.arrivals)))),
        "last_patient_at": last,
        "overtime_min": max(0, round(mins(last - SHIFT[1]))),
        "shift_min": round(shift), "busy_min": round(sum(mins(b - a) for a, b in d.spells)),
        "pause_min": round(pause), "idle_min": round(shift - busy_in - pause),
        "utilisation": round(busy_in / (shift - pause), 3),
    }


async def play(client: httpx.AsyncClient, w: World, clock: Clock, events: list[Ev]) -> None:
    current: dict[int, str] = {}
    tokens: dict[int, str] = {}
    for ev in sorted(events):
        clock.at = ev.at
        doctor = w.doctors[ev.doc]
        if ev.kind in ("issue", "issue-cancel"):
            tokens[ev.patient] = (await issue(client, w, ev.patient, doctor=ev.doc))["id"]
            if ev.kind == "issue-cancel":
                clock.at = ev.at + timedelta(seconds=20)
                r = await act(client, w, tokens[ev.patient], "cancel", role="receptionist")
                assert r.status_code == 200, r.text
        elif ev.kind == "next":
            r = await client.post(f"/api/v1/doctors/{doctor}/next", headers=w.h("admin"),
                                  json={"current_token_id": current.get(ev.doc)})
            assert r.status_code == 200, r.text
            called = r.json()["called"]
            assert called is not None
            current[ev.doc] = called["id"]
        elif ev.kind in ("start", "no-show"):
            assert current[ev.doc] == tokens[ev.patient]
            r = await act(client, w, current[ev.doc], ev.kind)
            assert r.status_code == 200, r.text
            if ev.kind == "no-show":
                current.pop(ev.doc)
        elif ev.kind == "complete":
            if ev.doc in current:
                r = await act(client, w, current.pop(ev.doc), "complete")
                assert r.status_code == 200, r.text
        else:  # pause, resume
            r = await client.post(f"/api/v1/doctors/{doctor}/{ev.kind}", headers=w.h("admin"),
                                  json={})
            assert r.status_code == 200, r.text


async def stored(pool: asyncpg.Pool, w: World) -> dict[Any, dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM doctor_performance_metrics WHERE hospital_id = $1",
                            w.hospital_id)
    return {r["doctor_id"]: dict(r) for r in rows}


@pytest.fixture
async def day_world(pool: asyncpg.Pool) -> World:
    w = await build_world(pool, n_doctors=2, n_patients=120)
    await pool.execute("UPDATE shifts SET start_time = '09:00', end_time = '13:00'")
    return w


async def test_a_played_day_gives_the_figures_computed_from_the_script(
        client: httpx.AsyncClient, app: Any, day_world: World, pool: asyncpg.Pool) -> None:
    w = day_world
    clock = Clock(local_at(8, 55))
    app.state.opdq.queue.now = clock
    rng = np.random.default_rng(18)
    docs = [Doc(0), Doc(1)]
    events: list[Ev] = []
    plan(rng, docs[0], 0, local_at(9, 25), events, pause_after=None)   # starts late
    plan(rng, docs[1], 60, SHIFT[0], events, pause_after=4)           # pauses once
    assert sum(d.no_show for d in docs) > 0   # the seed plays some no-shows
    await play(client, w, clock, events)

    after = local_at(14)
    day = after.date()
    assert await reports.compute_range(pool, w.hospital_id, day, day, now=after) == {day: 2}
    rows = await stored(pool, w)
    for d in docs:
        want, got = expected(d), rows[w.doctors[d.index]]
        assert {k: (float(got[k]) if k in ("avg_wait_min", "wait_p50_min", "wait_p90_min",
                                           "avg_consultation_min", "utilisation") else got[k])
                for k in want} == want, d.index
        assert got["metric_date"] == day
        assert sorted(got["wait_samples_min"]) == pytest.approx(
            sorted((c - a).total_seconds() / 60 for a, c in d.calls))
    assert rows[w.doctors[0]]["late_start"] and rows[w.doctors[0]]["first_call_delay_min"] == 25
    assert not rows[w.doctors[1]]["late_start"]
    assert rows[w.doctors[0]]["overtime_min"] > 0 and rows[w.doctors[1]]["pause_min"] == 20

    # idempotent: the same day again gives the same rows (only the time written moves)
    await reports.compute_range(pool, w.hospital_id, day, day, now=after)
    again = await stored(pool, w)
    strip = lambda r: {k: v for k, v in r.items() if k != "updated_at"}  # noqa: E731
    assert {k: strip(v) for k, v in again.items()} == {k: strip(v) for k, v in rows.items()}


async def test_the_close_of_day_computes_closed_days_once_and_again_after_a_correction(
        client: httpx.AsyncClient, app: Any, day_world: World, pool: asyncpg.Pool) -> None:
    w = day_world
    clock = Clock(local_at(9, 5))
    app.state.opdq.queue.now = clock
    a = await issue(client, w, 0, doctor=0)
    clock.advance(minutes=10)
    r = await client.post(f"/api/v1/doctors/{w.doctors[0]}/next", headers=w.h("admin"))
    assert r.status_code == 200 and r.json()["called"]["id"] == a["id"]
    clock.advance(minutes=7)
    assert (await act(client, w, a["id"], "complete")).status_code == 200
    day = clock.at.date()
    tomorrow = day + timedelta(days=1)

    # the worker's run after the close: today is tomorrow, so this day is closed and computed
    assert await reports.compute_closed_days(pool, w.hospital_id, tomorrow) == [day]
    rows = await stored(pool, w)
    assert rows[w.doctors[0]]["wait_p50_min"] == 10
    assert rows[w.doctors[0]]["tokens_completed"] == 1
    assert rows[w.doctors[1]]["tokens_total"] == 0 and rows[w.doctors[1]]["idle_min"] == 240
    # nothing changed: nothing to do
    assert await reports.compute_closed_days(pool, w.hospital_id, tomorrow) == []
    # a late correction to the day's record is picked up by the next run
    await pool.execute("UPDATE tokens SET status = 'NO_SHOW', no_show_at = completed_at, "
                       "completed_at = NULL WHERE id = $1", a["id"])
    assert await reports.compute_closed_days(pool, w.hospital_id, tomorrow) == [day]
    rows = await stored(pool, w)
    assert (rows[w.doctors[0]]["tokens_completed"], rows[w.doctors[0]]["tokens_no_show"]) == (0, 1)
