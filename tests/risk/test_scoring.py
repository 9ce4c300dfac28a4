"""Scoring: a booked token gets an assessment with the model's version, and the token API
shows it; re-running changes nothing; a real ARQ worker runs the registered job."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import httpx
from arq.connections import ArqRedis
from arq.worker import Worker

from server.db import risk as risk_db
from server.risk import features as F
from server.risk import model as M
from tests.queue.conftest import World, issue
from tests.risk.conftest import book
from workers import job_ids, notify
from workers import risk as jobs
from workers.main import WorkerSettings
from workers.routing import ROUTERS, JobSpec, risk_jobs_for, route


async def _assessments(pool: asyncpg.Pool, token_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM risk_assessments WHERE token_id = $1 ORDER BY id",
                            UUID(token_id))
    return [dict(r) for r in rows]


async def test_booked_token_is_scored_and_shown(client: httpx.AsyncClient, world: World,
                                                pool: asyncpg.Pool,
                                                job_ctx: dict[str, Any]) -> None:
    tok = await book(client, world, 0, days_ahead=21)
    assert tok["risk"] is None

    aid = await jobs.score_token(job_ctx, tok["id"])
    assert aid is not None
    (a,) = await _assessments(pool, tok["id"])
    model = await pool.fetchrow("SELECT * FROM risk_models WHERE hospital_id = $1 AND active",
                                world.hospital_id)
    assert model["kind"] == "prior"                     # a new hospital: no history yet
    assert a["model_id"] == model["id"] and a["model_version"] == model["version"]
    assert a["score"] == round(100 * (1 - a["show_probability"]))
    assert a["features"]["inputs"]["lead_days"] == 21
    assert a["features"]["vector"]["first_visit"] == 1.0
    phrases = [f["phrase"] for f in a["factors"]]
    assert "booked 21 days ahead" in phrases and len(phrases) <= 3

    r = await client.get(f"/api/v1/tokens/{tok['id']}", headers=world.h())
    assert r.status_code == 200
    risk = r.json()["risk"]
    assert {k: risk[k] for k in ("score", "badge", "tier")} == {
        "score": a["score"], "badge": a["badge"], "tier": a["tier"]}
    assert risk["factors"] and all(isinstance(f, str) for f in risk["factors"])  # staff only

    # idempotent: the same inputs and model write nothing new
    assert await jobs.score_token(job_ctx, tok["id"]) == aid
    assert len(await _assessments(pool, tok["id"])) == 1


async def test_only_booked_tokens_are_scored(client: httpx.AsyncClient, world: World,
                                             pool: asyncpg.Pool,
                                             job_ctx: dict[str, Any]) -> None:
    walk_in = await issue(client, world, 1)
    assert await jobs.score_token(job_ctx, walk_in["id"]) is None
    assert await _assessments(pool, walk_in["id"]) == []


async def test_history_changes_the_score(client: httpx.AsyncClient, world: World,
                                         pool: asyncpg.Pool, job_ctx: dict[str, Any]) -> None:
    """Three missed bookings in the past make the next one riskier than a stranger's."""
    for i, days in enumerate((-30, -20, -10)):
        await pool.execute(
            """INSERT INTO tokens (hospital_id, department_id, doctor_id, patient_id,
                   service_date, seq, number, booking_type, status, public_code, scheduled_time,
                   created_at)
               VALUES ($1, $2, $3, $4, current_date + $5::int, 1, 'CARD-001', 'ONLINE',
                       'NO_SHOW', $6, now() + make_interval(days => $5::int),
                       now() + make_interval(days => $5::int - 7))""",
            world.hospital_id, world.department_id, world.doctors[0], world.patients[2], days,
            f"past{i}")
    missed = await book(client, world, 2, days_ahead=3)
    fresh = await book(client, world, 3, days_ahead=3)
    await jobs.score_token(job_ctx, missed["id"])
    await jobs.score_token(job_ctx, fresh["id"])
    (m,), (f,) = await _assessments(pool, missed["id"]), await _assessments(pool, fresh["id"])
    assert m["score"] > f["score"] + 10
    assert m["factors"][0]["phrase"] == "missed 3 of 3 past visits"
    assert m["features"]["inputs"]["past_no_shows"] == 3


def test_router_picks_the_jobs() -> None:
    created = {"type": "token.created", "seq": 5,
               "data": {"token": {"id": "t1", "status": "BOOKED", "booking_type": "ONLINE"}}}
    walk_in = {"type": "token.created",
               "data": {"token": {"id": "t2", "status": "WAITING", "booking_type": "WALK_IN"}}}
    cancelled = {"type": "token.updated",
                 "data": {"token": {"id": "t3", "status": "CANCELLED", "booking_type": "ONLINE"}}}
    called = {"type": "token.updated",
              "data": {"token": {"id": "t4", "status": "CALLED", "booking_type": "ONLINE"}}}
    assert risk_jobs_for(created) == [JobSpec("score_token", ("t1",), job_ids.score_token("t1"))]
    assert risk_jobs_for(walk_in) == [] and risk_jobs_for(called) == []
    assert risk_jobs_for(cancelled) == [
        JobSpec("offer_freed_slot", ("t3",), job_ids.offer_freed_slot("t3"))]
    assert risk_jobs_for({"type": "queue.updated", "data": {}}) == []
    assert risk_jobs_for in ROUTERS
    assert {j.function for j in route(created)} >= {"score_token"}


async def test_a_real_worker_runs_the_registered_job(client: httpx.AsyncClient, world: World,
                                                     pool: asyncpg.Pool,
                                                     job_ctx: dict[str, Any],
                                                     services: Any) -> None:
    tok = await book(client, world, 4)
    arq = ArqRedis.from_url(services.redis_url)
    try:
        await arq.enqueue_job("score_token", tok["id"], _job_id=job_ids.score_token(tok["id"]))
        ctx = dict(job_ctx)
        await notify.setup(ctx)    # the score may send an outreach touch at once
        worker = Worker(functions=WorkerSettings.functions, redis_pool=arq, burst=True,
                        handle_signals=False, ctx=ctx, max_tries=1, poll_delay=0.05)
        await worker.main()
        await notify.teardown(ctx)
        assert worker.jobs_complete >= 1 and worker.jobs_failed == 0
    finally:  # not worker.close(): it calls redis' deprecated close()
        await arq.aclose()
    assert len(await _assessments(pool, tok["id"])) == 1


async def test_training_sees_what_the_score_saw(client: httpx.AsyncClient, world: World,
                                                pool: asyncpg.Pool,
                                                job_ctx: dict[str, Any]) -> None:
    """A booking scored High gets a REMINDER_EXTRA, the patient misses another visit before
    this one, then misses this one too. The training row must be the vector the score was
    made on at booking: not the reminder the score caused, not the later miss."""
    tok = await book(client, world, 5, days_ahead=3)
    await jobs.score_token(job_ctx, tok["id"])
    (a,) = await _assessments(pool, tok["id"])
    tid, pid = UUID(tok["id"]), world.patients[5]
    for event in ("REMINDER_EXTRA", "REMINDER_DAY_BEFORE"):
        await pool.execute(
            """INSERT INTO notifications_log (hospital_id, patient_id, token_id, channel, event,
                   body, to_masked, status, sent_at, delivered_at)
               VALUES ($1, $2, $3, 'SMS', $4, 'reminder', '+91******0000', 'DELIVERED',
                       now(), now())""", world.hospital_id, pid, tid, event)
    await pool.execute(  # a miss between the booking and the visit
        """INSERT INTO tokens (hospital_id, department_id, doctor_id, patient_id, service_date,
               seq, number, booking_type, status, public_code, scheduled_time)
           VALUES ($1, $2, $3, $4, current_date + 1, 90, 'CARD-090', 'ONLINE', 'NO_SHOW',
                   'between', now() + interval '1 day')""",
        world.hospital_id, world.department_id, world.doctors[1], pid)
    await pool.execute("UPDATE tokens SET status = 'NO_SHOW' WHERE id = $1", tid)

    visits = await risk_db.training_visits(pool, world.hospital_id)
    rows = jobs.training_rows(visits)
    (row,) = [r for r, v in zip(rows, [v for v in visits if v["status"] in F.OUTCOMES],
                                strict=True) if v["id"] == tid]
    model = await risk_db.active_model(pool, world.hospital_id)
    params = M.ModelParams.from_json(model["params"])
    assert F.vectorize(row.inputs, params.prior) == a["features"]["vector"]
    assert row.no_show
