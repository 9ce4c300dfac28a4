"""No-show risk jobs: train per hospital, score booked tokens, offer freed slots, explain.

Jobs take ids only and are idempotent: re-scoring a token whose inputs and model are
unchanged writes nothing; a slot is offered once; training takes a per-hospital lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import structlog

from server.db import history as history_db
from server.db import risk as risk_db
from server.presenters import utcnow
from server.risk import explainer
from server.risk import features as F
from server.risk import model as M
from workers import job_ids, outreach
from workers.tracing import carry, traced

log = structlog.get_logger("risk")

EXTRA_REMINDER_BADGE = "High"
T = TypeVar("T")


# ------------------------------------------------------------------------------ training
def training_rows(visits: list[dict[str, Any]]) -> list[M.TrainingRow]:
    """Rows with an outcome, each with what was known when it was booked and scored: the
    history of the days before its booking, no reminders (features.at_booking)."""
    hist = F.histories_before([F.record_from_row(v) for v in visits])
    return [M.TrainingRow(v["patient_id"], F.at_booking(F.inputs_from_row(v, h)),
                          v["status"] == "NO_SHOW")
            for v, h in zip(visits, hist, strict=True) if v["status"] in F.OUTCOMES]


async def all_training_visits(conn: asyncpg.Connection, hospital_id: UUID
                              ) -> list[dict[str, Any]]:
    """The hospital's own past tokens and its imported history, patients keyed alike (a
    history row whose patient_ref is a patient's UHID is that patient)."""
    own = await risk_db.training_visits(conn, hospital_id)
    imported = await history_db.training_visits(conn, hospital_id)
    return [{**v, "patient_id": str(v["patient_id"])} for v in own] + imported


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) in a daemon thread. Unlike asyncio.to_thread, whose threads are joined at
    exit, a worker told to stop exits at once instead of finishing a fit nobody will use
    (the cancelled job is run again)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    def run() -> None:
        try:
            result, exc = fn(*args), None
        except Exception as e:
            result, exc = None, e
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=run, daemon=True, name=getattr(fn, "__name__", "off-loop")).start()
    return await fut


def new_version(kind: str, now: datetime) -> str:
    return f"{kind}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


async def train_hospital(pool: asyncpg.Pool, hospital_id: UUID, *, only_if_missing: bool = False,
                         now: datetime | None = None) -> dict[str, Any] | None:
    """Train and activate the hospital's model: its own logistic regression with enough
    booked outcomes (model.MIN_OUTCOMES), else the prior. None if another trainer is busy."""
    now = now or utcnow()
    async with pool.acquire() as conn, conn.transaction():
        if not await risk_db.lock_training(conn, hospital_id):
            return None
        if only_if_missing and await risk_db.active_model(conn, hospital_id):
            return None
        rows = await off_loop(training_rows, await all_training_visits(conn, hospital_id))
        booked = len(M.booked_rows(rows))
        kind = "logistic" if booked >= M.MIN_OUTCOMES else "prior"
        version = new_version(kind, now)
        if kind == "logistic":
            try:  # CPU-bound for a second or two: off the event loop
                trained = await off_loop(M.train, rows, version)
            except ValueError:  # all shows (or all no-shows): nothing to learn yet
                kind, version = "prior", new_version("prior", now)
                trained = M.evaluate_prior(rows, version)
        else:
            trained = M.evaluate_prior(rows, version)
        m = trained.metrics
        model_id = await risk_db.insert_model(
            conn, hospital_id=hospital_id, version=version, kind=kind, n_train=m.n_train,
            n_holdout=m.n_holdout, auc=m.auc, brier=m.brier,
            calibration_error=m.calibration_error, params=trained.params.to_json())
    log.info("risk model trained", hospital_id=str(hospital_id), version=version, kind=kind,
             booked_outcomes=booked, auc=m.auc, brier=m.brier, ece=m.calibration_error)
    return {"id": str(model_id), "version": version, "kind": kind, "booked_outcomes": booked,
            "auc": m.auc, "brier": m.brier, "calibration_error": m.calibration_error,
            "n_train": m.n_train, "n_holdout": m.n_holdout}


async def train_risk_models(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Nightly: a fresh model for every hospital from its own history."""
    out = []
    for h in await risk_db.hospitals(ctx["pool"]):
        res = await train_hospital(ctx["pool"], h)
        if res:
            out.append(res)
    return out


async def ensure_risk_models(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """At start-up (and hourly): hospitals with no model yet get one now, not tonight."""
    out = []
    for h in await risk_db.hospitals_without_model(ctx["pool"]):
        res = await train_hospital(ctx["pool"], h, only_if_missing=True)
        if res:
            out.append(res)
    return out


# ------------------------------------------------------------------------------ scoring
async def _model_for(pool: asyncpg.Pool, hospital_id: UUID) -> dict[str, Any]:
    row = await risk_db.active_model(pool, hospital_id)
    if row is None:
        await train_hospital(pool, hospital_id, only_if_missing=True)
        row = await risk_db.active_model(pool, hospital_id)
    if row is None:  # lost a race with a trainer that has not committed: the prior for now
        params = M.prior_model("prior-default")
        return {"id": None, "version": params.version, "params": params.to_json()}
    return row


@traced
async def score_token(ctx: dict[str, Any], token_id: str) -> int | None:
    """Score a BOOKED token: a risk_assessments row (model id and version, features, factors).

    Returns the assessment id; None when the token is not BOOKED. Writes nothing new when
    the latest assessment already has the same model and features.
    """
    pool: asyncpg.Pool = ctx["pool"]
    tid = UUID(str(token_id))
    visit = await risk_db.visit(pool, tid)
    if not visit or visit["status"] != "BOOKED":
        return None
    hist = await risk_db.history_before(pool, visit["patient_id"], visit["department_id"],
                                        visit["service_date"], visit["booked_on"])
    inputs = F.inputs_from_row(visit, F.history_from_row(hist))
    model_row = await _model_for(pool, visit["hospital_id"])
    s = M.score_visit(M.ModelParams.from_json(model_row["params"]), inputs)
    feats = {"vector": s.features, "inputs": F.describe(inputs)}
    factors = [{"group": f.group, "phrase": f.phrase, "effect": f.effect} for f in s.factors]
    async with pool.acquire() as conn, conn.transaction():
        await risk_db.lock_token(conn, tid)
        last = await risk_db.latest_assessment(conn, tid)
        if last and last["model_version"] == s.model_version and last["features"] == feats:
            return int(last["id"])
        aid = await risk_db.insert_assessment(
            conn, hospital_id=visit["hospital_id"], token_id=tid, patient_id=visit["patient_id"],
            model_id=model_row["id"], model_version=s.model_version, score=s.score,
            badge=s.badge, tier=s.tier, show_probability=round(s.show_probability, 4),
            factors=factors, features=feats)
    log.info("risk scored", token_id=str(tid), score=s.score, badge=s.badge,
             model_version=s.model_version)
    if s.badge == EXTRA_REMINDER_BADGE and (not last or last["badge"] != EXTRA_REMINDER_BADGE):
        await _enqueue(ctx, "explain_risk", aid, job_id=job_ids.explain_risk(aid))
    # the tier's outreach plan (server/risk/outreach.py): a touch already due goes now (a
    # High score booked for tomorrow gets its REMINDER_EXTRA at once); the rest come due
    # in the schedule_outreach cron
    await outreach.plan_token(ctx, tid)
    return int(aid)


async def rescore_booked(ctx: dict[str, Any]) -> int:
    """Daily: re-score every future BOOKED token (history, reminders, weather or the model
    may have changed since it was booked). Returns how many were scored."""
    n = 0
    for tid in await risk_db.future_booked(ctx["pool"]):
        if await score_token(ctx, str(tid)) is not None:
            n += 1
    return n


# ------------------------------------------------------------------------------ waitlist
@traced
async def offer_freed_slot(ctx: dict[str, Any], token_id: str) -> list[str]:
    """Offer a cancelled, rescheduled or missed booked slot to the waitlist's best match;
    the offered entries' ids. The WAITLIST_OFFER message (to the waitlisted patient, with
    the /w/<code> link) is workers/outreach.send_waitlist_offer's."""
    return await outreach.offer(ctx, UUID(str(token_id)))


# ------------------------------------------------------------------------------ explainer
@traced
async def explain_risk(ctx: dict[str, Any], assessment_id: int) -> str | None:
    """Words for one assessment (the model's or the template's); the score never changes."""
    pool: asyncpg.Pool = ctx["pool"]
    a = await risk_db.assessment(pool, int(assessment_id))
    if not a:
        return None
    if a["explanation"]:
        return str(a["explanation"])
    summary = explainer.request_summary(a)
    attempt = await explainer.explain(ctx["settings"], summary)
    await risk_db.insert_audit(
        pool, hospital_id=a["hospital_id"], purpose=explainer.PURPOSE, model=attempt.model,
        request_summary=summary, latency_ms=attempt.latency_ms,
        prompt_tokens=attempt.prompt_tokens, completion_tokens=attempt.completion_tokens,
        estimated_cost_usd=attempt.cost_usd, status=attempt.status, error=attempt.error)
    await risk_db.set_explanation(pool, a["id"], attempt.explanation)
    return attempt.explanation


# ------------------------------------------------------------------------------ enqueueing
async def _enqueue(ctx: dict[str, Any], function: str, *args: Any, job_id: str) -> None:
    """Enqueue through the worker's ARQ pool (ctx["redis"]); a job called outside a worker
    (tests, scripts) has none and enqueues nothing."""
    arq = ctx.get("redis")
    if arq is None:
        log.info("no job queue in this context; not enqueued", function=function, job_id=job_id)
        return
    await arq.enqueue_job(function, *args, _job_id=job_id, **carry())


async def enqueue_notification(ctx: dict[str, Any], hospital_id: UUID, token_id: UUID,
                               event: str) -> None:
    """Ask the notifications worker (workers/notify.py) for the token's `event` message; its
    job id is job_ids.send_notification, as notify's own, so asking twice is a no-op."""
    from workers import notify

    if event not in notify.RELEVANT:  # a bug, not a state: say so, do not drop it quietly
        raise ValueError(f"notify has no message for {event!r}")
    await _enqueue(ctx, "send_notification", str(hospital_id), str(token_id), event,
                   job_id=job_ids.send_notification(token_id, event))
