"""Reading a doctor's queue costs a fixed number of Redis and PostgreSQL round trips, whatever
its length: counted for real, with spies that still call through to the services."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from asyncpg.connection import Connection

from tests.queue.conftest import Clock, World, build_world, issue

PG_METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")


class RoundTrips:
    """Counts PostgreSQL queries (every Connection query method, which the pool's own methods
    and pooled connections all go through) and Redis commands (the client's execute_command,
    which scripts' EVALSHA use too, plus pipeline executions)."""

    def __init__(self) -> None:
        self.pg: Counter[str] = Counter()
        self.redis: Counter[str] = Counter()

    def reset(self) -> None:
        self.pg.clear()
        self.redis.clear()

    def totals(self) -> tuple[int, int]:
        return sum(self.pg.values()), sum(self.redis.values())


def _pg_spy(counts: Counter[str], name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(real)
    async def spy(self: Connection, *args: Any, **kwargs: Any) -> Any:
        # a pooled connection is reset (one more round trip) each time it goes back
        reset = name == "execute" and args and args[0] == self.get_reset_query()
        counts["reset" if reset else name] += 1
        return await real(self, *args, **kwargs)
    return spy


@pytest.fixture
def round_trips(app: Any, monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    spies = RoundTrips()
    for name in PG_METHODS:
        monkeypatch.setattr(Connection, name, _pg_spy(spies.pg, name, getattr(Connection, name)))
    redis = app.state.opdq.redis
    real_execute = redis.execute_command
    real_pipeline = redis.pipeline

    async def execute_command(*args: Any, **options: Any) -> Any:
        spies.redis[str(args[0])] += 1
        return await real_execute(*args, **options)

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        real_run = pipe.execute

        async def execute(*a: Any, **k: Any) -> Any:
            spies.redis["PIPELINE"] += 1
            return await real_run(*a, **k)

        pipe.execute = execute
        return pipe

    monkeypatch.setattr(redis, "execute_command", execute_command)
    monkeypatch.setattr(redis, "pipeline", pipeline)
    return spies


async def read_queue(client: httpx.AsyncClient, w: World, doctor: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/doctors/{w.doctors[doctor]}/queue", headers=w.h("doctor"))
    assert r.status_code == 200, r.text
    return r.json()


async def test_queue_read_cost_does_not_grow_with_the_queue(
        client: httpx.AsyncClient, pool: asyncpg.Pool, round_trips: RoundTrips,
        clock: Clock) -> None:
    w = await build_world(pool, n_doctors=2, n_patients=20)
    for i in range(10):
        await issue(client, w, i, doctor=0)
    for i in range(100):
        await issue(client, w, i % 20, doctor=1)
    # warm: scripts loaded, the live view built
    await read_queue(client, w, 0)
    await read_queue(client, w, 1)

    costs = {}
    for doctor, n in ((0, 10), (1, 100)):
        clock.advance(minutes=1)    # past what the view cache may reuse: a read of the queue
        round_trips.reset()
        q = await read_queue(client, w, doctor)
        assert len(q["waiting"]) == n
        assert [t["position"] for t in q["waiting"]] == list(range(1, n + 1))
        assert all(t["eta"] and t["patient_link"] for t in q["waiting"])
        costs[n] = (round_trips.totals(), dict(round_trips.pg), dict(round_trips.redis))

    assert costs[10] == costs[100], costs
    (pg, redis), by_method, _ = costs[100]
    queries = pg - by_method.get("reset", 0)
    # the session, the doctor with the hospital's day (route, passed on), the rows with
    # their risks
    assert queries == 3, costs[100]
    assert by_method.get("reset", 0) == 0, costs[100]   # no reset query (server/db/pool.py)
    # the views' version (server/view_cache.py), the one read script
    assert costs[100][2] == {"MGET": 1, "EVALSHA": 1}, costs[100]
    assert redis == 2, costs[100]


async def test_a_queue_read_while_nothing_changed_reuses_the_rendered_answer(
        client: httpx.AsyncClient, pool: asyncpg.Pool, round_trips: RoundTrips,
        clock: Clock) -> None:
    """A ward's tablets reconnecting at once: the second read of an unchanged queue costs the
    session and the views' version, not the queue's script, rows and JSON."""
    w = await build_world(pool, n_doctors=2, n_patients=20)
    for i in range(20):
        await issue(client, w, i)
    first = await read_queue(client, w, 0)
    round_trips.reset()
    assert await read_queue(client, w, 0) == first
    assert (dict(round_trips.pg), dict(round_trips.redis)) == ({"fetchrow": 1}, {"MGET": 1})


async def test_board_read_cost_grows_with_cabins_not_tokens(
        client: httpx.AsyncClient, pool: asyncpg.Pool, round_trips: RoundTrips) -> None:
    w = await build_world(pool, n_doctors=2, n_patients=20)
    url = f"/api/v1/departments/{w.department_id}/board"
    totals = []
    issued = 0
    for n in (5, 60):
        for i in range(issued, n):
            await issue(client, w, i % 20, doctor=i % 2)
        issued = n
        assert (await client.get(url, headers=w.h())).status_code == 200   # warm
        round_trips.reset()
        r = await client.get(url, headers=w.h())
        assert sum(c["waiting_count"] for c in r.json()["cabins"]) == n
        totals.append(round_trips.totals())
    assert totals[0] == totals[1], totals


async def test_one_press_of_next_costs_a_pinned_number_of_round_trips(
        client: httpx.AsyncClient, pool: asyncpg.Pool, round_trips: RoundTrips,
        clock: Clock) -> None:
    """A press of Next (complete the current patient, call the next) costs a fixed number of
    round trips, pinned here so that extra reads cannot creep back into the hot path."""
    w = await build_world(pool, n_doctors=2, n_patients=6)
    for i in range(6):
        await issue(client, w, i)
    url = f"/api/v1/doctors/{w.doctors[0]}/next"
    assert (await client.post(url, json={}, headers=w.h("doctor"))).status_code == 200  # warm
    costs = []
    for _ in range(2):
        clock.advance(minutes=7)          # a consult later: no double-tap guard in the way
        round_trips.reset()
        r = await client.post(url, json={}, headers=w.h("doctor"))
        assert r.status_code == 200, r.text
        assert r.json()["completed"] and r.json()["called"]
        costs.append((dict(round_trips.pg), dict(round_trips.redis)))
    assert costs[0] == costs[1], costs
    pg, redis = costs[1]
    # connections go back to the pool without a reset query (server/db/pool.py)
    assert pg.get("reset", 0) == 0, pg
    # the session, the doctor with the hospital's day the route checks access with (the
    # press reuses it); the action: BEGIN with its locks (one round trip), the press (one
    # statement: both rows checked FOR UPDATE and changed, their history, the new rows and
    # the risks of the answer and of the queue), the shown positions with the commit marker
    # and COMMIT (one round trip) = 5
    assert sum(pg.values()) == 5, pg
    # call_next (returning the queue after the press), publish (stage its queue.updated and
    # store the learned consult time), emit
    assert redis == {"EVALSHA": 3}, redis


async def _cost(round_trips: RoundTrips, request: Any) -> tuple[dict[str, int], dict[str, int]]:
    round_trips.reset()
    r = await request
    assert r.status_code in (200, 201), r.text
    return dict(round_trips.pg), dict(round_trips.redis)


async def test_an_issue_and_a_token_action_cost_a_pinned_number_of_round_trips(
        client: httpx.AsyncClient, pool: asyncpg.Pool, round_trips: RoundTrips,
        clock: Clock) -> None:
    w = await build_world(pool, n_doctors=2, n_patients=8)
    for i in range(4):
        await issue(client, w, i)
    issue_costs, skip_costs, recall_costs = [], [], []
    for i in (4, 5):
        clock.advance(minutes=1)
        body = {"patient_id": str(w.patients[i]), "booking_type": "WALK_IN",
                "doctor_id": str(w.doctors[0])}
        issue_costs.append(await _cost(round_trips, client.post(
            "/api/v1/tokens", json=body, headers=w.h())))
    q = (await client.get(f"/api/v1/doctors/{w.doctors[0]}/queue", headers=w.h())).json()
    # warm: the first skip of a fresh Redis loads its script (run alone, this test is first)
    assert (await client.post(f"/api/v1/tokens/{q['waiting'][2]['id']}/skip", json={},
                              headers=w.h("doctor"))).status_code == 200
    for tok in q["waiting"][:2]:               # skip a waiting token (the desk's hold)
        skip_costs.append(await _cost(round_trips, client.post(
            f"/api/v1/tokens/{tok['id']}/skip", json={}, headers=w.h("doctor"))))
    r = await client.post(f"/api/v1/doctors/{w.doctors[0]}/next", json={},
                          headers=w.h("doctor"))
    called = r.json()["called"]["id"]
    for _ in range(2):                          # recall the called patient
        recall_costs.append(await _cost(round_trips, client.post(
            f"/api/v1/tokens/{called}/recall", json={}, headers=w.h("doctor"))))
    for costs in (issue_costs, skip_costs, recall_costs):
        assert costs[0] == costs[1], costs
    # issue: the session, the doctor with the hospital's day (route), the hospital's day;
    # BEGIN with the locks, the doctor, the patient, the patient's lock, the duplicate check,
    # the department's cap, the day's counter, the token inserted (returning its row), its
    # history, the queue's risks, the shown positions with the marker and COMMIT; the
    # hospital's day for the answer's buttons (its place and risk come with the row)
    assert sum(issue_costs[1][0].values()) == 15, issue_costs
    # enqueue (returning the queue), publish, emit
    assert issue_costs[1][1] == {"EVALSHA": 3}, issue_costs
    # skip: the session, the token (to know whose locks), BEGIN with the locks, the token FOR
    # UPDATE with its risk, the doctor, the change (returning the row), its history, the
    # queue's risks, the shown positions with the marker and COMMIT, the hospital's day
    # (answer)
    assert sum(skip_costs[1][0].values()) == 10, skip_costs
    assert skip_costs[1][1] == {"EVALSHA": 3}, skip_costs     # waiting_op, publish, emit
    assert sum(recall_costs[1][0].values()) == 9, recall_costs
    assert recall_costs[1][1] == {"EVALSHA": 3}, recall_costs  # current_op, publish, emit
