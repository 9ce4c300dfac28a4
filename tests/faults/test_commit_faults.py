"""Nothing is announced before it is committed; every committed change is announced once.

Faults are real: a COMMIT that PostgreSQL refuses, backends terminated while tablets press
Next and the desk issues tokens, and a process that stops between its COMMIT and its
announcement. What boards and workers were told is compared with the record.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from server.store.live import LiveStore
from tests.faults.conftest import APP_NAME, Announced, live_order, record_order
from tests.queue.conftest import World, build_world

FAIL_COMMIT = """
CREATE OR REPLACE FUNCTION opdq_test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected commit failure' USING ERRCODE = '40001'; END $$;
CREATE CONSTRAINT TRIGGER opdq_test_fail_commit AFTER INSERT ON live_actions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION opdq_test_fail_commit();
"""
HEAL_COMMIT = "DROP TRIGGER IF EXISTS opdq_test_fail_commit ON live_actions"


async def _issue(c: httpx.AsyncClient, w: World, patient: int, doctor: int = 0) -> httpx.Response:
    return await c.post("/api/v1/tokens", headers=w.h(), json={
        "patient_id": str(w.patients[patient]), "booking_type": "WALK_IN",
        "doctor_id": str(w.doctors[doctor])})


async def _next(c: httpx.AsyncClient, w: World, doctor: int = 0) -> httpx.Response:
    return await c.post(f"/api/v1/doctors/{w.doctors[doctor]}/next", json={},
                        headers=w.h("admin"))


async def test_a_commit_the_database_refuses_leaves_no_trace(
        fault_client: httpx.AsyncClient, pool: asyncpg.Pool, redis: Redis) -> None:
    c, w = fault_client, await build_world(pool)
    first = (await _issue(c, w, 0)).json()
    await _issue(c, w, 1)
    before = await live_order(c, w, 0)
    async with Announced(redis, w.hospital_id) as told:
        await pool.execute(FAIL_COMMIT)
        try:
            r = await _next(c, w)
        finally:
            await pool.execute(HEAL_COMMIT)
        assert r.status_code == 503, r.text        # transient: the tablet may retry
        await told.barrier()
        assert [e["type"] for e in told.events] == ["announcement"]   # nothing else at all
        assert await live_order(c, w, 0) == before == await record_order(pool, w.doctors[0])
        assert await pool.fetchval("SELECT count(*) FROM token_history WHERE action = 'call'") == 0

        r = await _next(c, w)                      # the retry calls the same patient, once
        assert r.status_code == 200, r.text
        assert r.json()["called"]["id"] == first["id"]
        await told.barrier()
        assert told.calls() == Counter({first["id"]: 1})


@pytest.mark.parametrize("settler", ["reader", "reconciler"])
async def test_a_committed_action_its_process_never_announced_is_announced_once(
        settler: str, fault_client: httpx.AsyncClient, fault_app: Any, pool: asyncpg.Pool,
        redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    c, w = fault_client, await build_world(pool)
    first = (await _issue(c, w, 0)).json()
    svc = fault_app.state.opdq.queue
    real_emit = LiveStore.emit

    async def stops_before_announcing(self: LiveStore, *args: Any, **kwargs: Any) -> int:
        raise ConnectionError("the process stopped between its COMMIT and its announcement")

    async with Announced(redis, w.hospital_id) as told:
        monkeypatch.setattr(LiveStore, "emit", stops_before_announcing)
        r = await _next(c, w)
        monkeypatch.setattr(LiveStore, "emit", real_emit)
        assert r.status_code == 200, r.text        # committed: the answer says so
        await told.barrier()
        assert told.calls() == Counter()           # ... but nobody has been told yet

        if settler == "reader":                    # the next board or tablet to look
            assert (await live_order(c, w, 0))[0] == first["id"]
        else:                                      # or the worker's reconciler, within a minute
            assert await svc.reconcile(w.hospital_id) == []
        await live_order(c, w, 0)                  # a second look announces nothing more
        await told.barrier()
        assert told.calls() == Counter({first["id"]: 1})


class Killer:
    """Terminates one of the app's backends that is mid-statement or mid-transaction (COMMIT
    included), picked at random, after every one to three answers: the fault rate follows
    the requests' progress, not the machine's speed."""

    def __init__(self, pool: asyncpg.Pool, rng: random.Random) -> None:
        self.pool, self.rng = pool, rng
        self.answers, self.killed, self.done = 0, 0, False
        self._progress = asyncio.Condition()

    async def answered(self) -> None:
        async with self._progress:
            self.answers += 1
            self._progress.notify_all()

    async def stop(self) -> None:
        async with self._progress:
            self.done = True
            self._progress.notify_all()

    async def run(self) -> None:
        while True:
            target = self.answers + self.rng.randint(1, 3)
            async with self._progress:
                await self._progress.wait_for(
                    lambda target=target: self.done or self.answers >= target)
            if self.done:
                return
            self.killed += await self.pool.fetchval(
                """SELECT count(pg_terminate_backend(pid)) FROM (
                     SELECT pid FROM pg_stat_activity WHERE application_name = $1
                     AND state IN ('active', 'idle in transaction') ORDER BY random() LIMIT 1) x""",
                APP_NAME)


async def _with_retries(send: Any, statuses: Counter[int], killer: Killer) -> httpx.Response:
    """What the pages do: retry a 503 with the same Idempotency-Key."""
    for _ in range(40):
        r = await send()
        statuses[r.status_code] += 1
        await killer.answered()
        if r.status_code != 503:
            return r
    raise AssertionError(f"still refused after 40 tries: {r.text}")


async def test_terminated_backends_during_bursts_announce_only_what_the_record_holds(
        fault_client: httpx.AsyncClient, fault_app: Any, pool: asyncpg.Pool,
        redis: Redis) -> None:
    c, w = fault_client, await build_world(pool, n_patients=30)
    svc = fault_app.state.opdq.queue
    killer = Killer(pool, random.Random(12))
    statuses: Counter[int] = Counter()

    queued = asyncio.Event()

    async def desk() -> None:
        for p in range(30):
            if p == 8:
                queued.set()  # the tablets start once there is a queue to call from
            body = {"patient_id": str(w.patients[p]), "booking_type": "WALK_IN",
                    "doctor_id": str(w.doctors[p % 2])}
            h = {**w.h(), "Idempotency-Key": f"issue-{p}"}
            await _with_retries(lambda body=body, h=h: c.post("/api/v1/tokens", json=body,
                                                              headers=h), statuses, killer)

    async def tablet(doctor: int, name: str) -> None:
        await queued.wait()
        for i in range(20):
            h = {**w.h("admin"), "Idempotency-Key": f"{name}-{i}"}
            await _with_retries(lambda h=h: c.post(
                f"/api/v1/doctors/{w.doctors[doctor]}/next", json={}, headers=h), statuses, killer)

    async with Announced(redis, w.hospital_id) as told:
        killing = asyncio.create_task(killer.run())
        try:
            await asyncio.gather(desk(), tablet(0, "a"), tablet(1, "b"), tablet(0, "c"))
        finally:
            await killer.stop()
            await killing
        assert killer.killed > 0
        assert set(statuses) <= {200, 201, 409, 503}, statuses   # never a 500
        # what the failed actions' own processes could not settle, the reconciler does
        await svc.reconcile(w.hospital_id)
        await told.barrier()

        # every announced call is one the record holds, announced exactly once ...
        called = Counter(dict(await pool.fetch(
            """SELECT token_id::text, count(*) FROM token_history WHERE action = 'call'
               GROUP BY token_id""")))
        assert told.calls() == called
        # ... every issued token was announced once, and nothing that was not issued; a
        # retried issue gave each patient one token, however its first answer was lost
        issued = {r["id"] for r in await pool.fetch("SELECT id::text FROM tokens")}
        assert await pool.fetchval("SELECT count(DISTINCT patient_id) FROM tokens") == len(issued)
        created = Counter(e["data"]["token"]["id"] for e in told.of("token.created"))
        assert set(created) == issued and set(created.values()) <= {1}
        # sequence numbers only grow, none is reused
        seqs = [e["seq"] for e in told.events]
        assert seqs == sorted(set(seqs))
        # and the live view is the record
        for d in range(2):
            assert await live_order(c, w, d) == await record_order(pool, w.doctors[d])
    assert statuses[503] > 0 and len(issued) == 30 and sum(called.values()) > 10, statuses
