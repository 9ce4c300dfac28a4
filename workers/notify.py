"""Notification jobs: one message per (token, event, channel), ever.

Exactly once, as far as our side can promise it:
1. claim: INSERT the notifications_log row (PENDING) ON CONFLICT DO NOTHING on the unique
   (token_id, event, channel) index; whoever runs the job later finds the same row;
2. attempt: a compare-and-set bumps `attempts` and clears error_code, only when no attempt
   is in flight (attempts = 0, or the last one recorded an outcome, or its lease ran out), so
   two workers racing on one row never both send; the loser returns and leaves the row to
   the job that owns the attempt (ARQ re-runs that job if its worker dies);
3. outcome: SENT with Twilio's SID, or error_code/message (transient: PENDING, retried with
   backoff; permanent: FAILED). Delivery callbacks move SENT on (routes/webhooks.py).

"Sent at Twilio but the row update failed": the SID is written with a few quick retries; if
PostgreSQL still refuses, the SID is kept in Redis (SID_STASH_TTL_S) and the job retries,
and a retry that finds an attempt without an outcome looks there first and records that SID
instead of sending again. What remains is a worker killed between Twilio's answer and both
writes, or a read timeout on a request Twilio accepted: the row then shows an attempt without
an outcome, and once its lease has run out the retry sends again. We chose a rare duplicate
over a missed "call now"; a retried message carries the same body.

The record decides (freshness, EXPECT): a record behind the event (its transaction has not
committed yet: the token still WAITING for a CALL_NOW, its row not there for TOKEN_CREATED)
is waited for with backoff, and a record that never catches up raises an alert; a record
that moved past the event makes the message stale. What a job leaves undone (a row PENDING,
a call with no message at all) is taken up by `sweep_notifications`.

Channel: WhatsApp when the patient opted in (and a WhatsApp sender exists), else SMS. A
permanent WhatsApp failure falls back to SMS in the same job; 63016 (outside the 24-hour
session) first tries the approved template (TWILIO_WHATSAPP_TEMPLATE_SID) on the same row,
since Twilio created no message. A WhatsApp failure reported later by a delivery callback is
picked up by `sweep_whatsapp_fallbacks`. 21610 (the patient sent STOP) opts the patient out of
that channel and is never retried.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from arq import Retry, cron
from arq.worker import func

from server import metrics
from server.db import notifications as db
from server.domain import delay as delay_rule
from server.notifications import templates
from server.observability import mask_phone
from server.queue import QueueService
from server.risk.outreach import OUTREACH_EVENTS
from server.store import keys
from server.store.live import LiveStore
from workers import job_ids
from workers.outages import OUTAGES, is_outage
from workers.tracing import carry, traced
from workers.twilio_sender import (
    HTTP_TIMEOUT_S,
    SMS,
    WHATSAPP,
    Outgoing,
    Sender,
    SendError,
    build_sender,
)

log = structlog.get_logger("notify")
T = TypeVar("T")

NOTIFY_MAX_TRIES = 6
BACKOFF_BASE_S = 5.0           # 5, 10, 20, 40, 80 s (x 0.5-1 jitter): about 2.5 min in all
BACKOFF_CAP_S = 300.0
LEASE_S = 3 * HTTP_TIMEOUT_S   # an attempt with no outcome after this is taken for dead
SID_STASH_TTL_S = 7 * 24 * 3600
AHEAD_QUIET_S = 60             # a token issued this recently was just told its position
UNSUBSCRIBED = 21610           # the recipient sent STOP
WA_WINDOW = 63016              # WhatsApp free-form message outside the 24-hour session
QUIET_CODES = frozenset({UNSUBSCRIBED, WA_WINDOW})   # expected: no system alert
REMINDERS = (("REMINDER_DAY_BEFORE", 2 * 3600.0, 24 * 3600.0),
             ("REMINDER_2H", 0.0, 2 * 3600.0))

BEHIND_BASE_S = 1.0            # the record behind its event: 1, 2, 4, 8, 16 s (x 0.5-1)
SWEEP_GRACE_S = 60.0           # the normal path's head start before the sweeper steps in
SWEEP_WINDOW_S = 3600.0        # calls and new tokens this recent are checked for a message
SWEEP_LIMIT = 500

BEHIND, RELEVANT_NOW, AHEAD = "behind", "relevant", "ahead"


@dataclass(frozen=True)
class Expect:
    """What the record says about a message's event.

    relevant: the message makes sense while the token is in one of these states.
    behind:   states the token is in before the event's action committed (None: its row is
              not there yet), so the record may still catch up with the event;
    reached:  states the action leads to: once the token's history shows one, the action did
              commit, and a token back in a `behind` state has moved on since (a skip puts a
              CALLED token back to WAITING; a cancel can be reinstated).
    """

    relevant: frozenset[str]
    behind: frozenset[str | None] = frozenset()
    reached: frozenset[str] = frozenset()


_CANCELLED = frozenset({"CANCELLED", "RESCHEDULED"})
EXPECT: dict[str, Expect] = {
    # from queue events (the event can come before its record commits)
    "TOKEN_CREATED": Expect(frozenset({"WAITING", "BOOKED"}), frozenset({None})),
    "AHEAD": Expect(frozenset({"WAITING"}), frozenset({None, "BOOKED"}), frozenset({"WAITING"})),
    "CALL_NOW": Expect(frozenset({"CALLED"}), frozenset({None, "BOOKED", "WAITING"}),
                       frozenset({"CALLED"})),
    "CANCELLED": Expect(_CANCELLED, frozenset({None, "BOOKED", "WAITING"}), _CANCELLED),
    "RESCHEDULED": Expect(_CANCELLED, frozenset({None, "BOOKED", "WAITING"}), _CANCELLED),
    # from the record itself (cron jobs, the doctor's waiting list): never behind it
    "DELAY": Expect(frozenset({"WAITING"})),
    "RESUMED": Expect(frozenset({"WAITING"})),
    "REMINDER_DAY_BEFORE": Expect(frozenset({"BOOKED"})),
    "REMINDER_2H": Expect(frozenset({"BOOKED"})),
    # outreach touches by risk tier (server/risk/outreach.py): planned from the record
    "CONFIRM_REQUEST": Expect(frozenset({"BOOKED"})),
    "REMINDER_EXTRA": Expect(frozenset({"BOOKED"})),
}
# a message for an event still makes sense only while the token is in one of these states
RELEVANT = {event: set(e.relevant) for event, e in EXPECT.items()}
NEEDS_ETA = frozenset({"TOKEN_CREATED", "AHEAD", "DELAY", "RESUMED"})


def freshness(event: str, status: str | None, reached: frozenset[str] = frozenset()) -> str:
    """Whether the record (the token's `status`, None when its row is not found, and the
    statuses its history has `reached`) is behind the event, agrees with it, or has moved
    past it. Behind: retry until it catches up. Ahead: the message is stale, drop it."""
    expect = EXPECT[event]
    if status in expect.relevant:
        return RELEVANT_NOW
    if status in expect.behind and not expect.reached & reached:
        return BEHIND
    return AHEAD


def backoff_s(job_try: int, base_s: float = BACKOFF_BASE_S) -> float:
    """Exponential with jitter, so throttled workers do not come back in step."""
    ceiling = min(BACKOFF_CAP_S, base_s * 2 ** max(0, job_try - 1))
    return ceiling * random.uniform(0.5, 1.0)


def _try(ctx: dict[str, Any]) -> int:
    return int(ctx.get("job_try") or 1)


def _retry(ctx: dict[str, Any]) -> Retry:
    return Retry(defer=backoff_s(_try(ctx), ctx.get("notify_backoff_base_s", BACKOFF_BASE_S)))


def retry_on_outage(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """ARQ retries only on Retry: turn a database or Redis outage into one, with backoff."""
    @functools.wraps(fn)
    async def wrapper(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> T:
        try:
            return await fn(ctx, *args, **kwargs)
        except Exception as exc:
            if not is_outage(exc):
                raise
            if _try(ctx) >= NOTIFY_MAX_TRIES:
                # a row it left PENDING, or a call or new token left without one, is taken up
                # by sweep_notifications once the outage is over
                log.error("notification job gave up after an outage", error=type(exc).__name__,
                          job_try=_try(ctx), function=fn.__name__)
                raise
            log.warning("notification job hit an outage; retrying", error=type(exc).__name__,
                        job_try=_try(ctx))
            raise _retry(ctx) from exc
    return wrapper


# ---------------------------------------------------------------------------- lifecycle
async def setup(ctx: dict[str, Any]) -> None:
    """What the jobs share in a worker: the sender and the queue use-cases (for ETAs)."""
    settings = ctx["settings"]
    if "notify_sender" not in ctx:  # tests bring their own (a shorter timeout)
        ctx["notify_sender"] = build_sender(settings)
    if "notify_queue" not in ctx:
        ctx["notify_queue"] = QueueService(
            ctx["pool"], LiveStore(ctx["redis_app"], settings.event_stream_maxlen), settings)


async def teardown(ctx: dict[str, Any]) -> None:
    sender = ctx.pop("notify_sender", None)
    if sender is not None:
        await sender.aclose()


async def _enqueue(ctx: dict[str, Any], function: str, *args: Any, job_id: str) -> bool:
    return await ctx["redis"].enqueue_job(function, *args, _job_id=job_id,
                                          **carry()) is not None


# ---------------------------------------------------------------------------- the send job
def channel_plan(info: dict[str, Any], sender: Sender, forced: str | None) -> list[str]:
    """Channels to try in order: WhatsApp first when opted in, SMS (also as the fallback)."""
    allowed = {
        WHATSAPP: bool(info["whatsapp_opt_in"]) and sender.whatsapp_enabled,
        SMS: bool(info["sms_opt_in"]) and sender.sms_enabled,
    }
    order = [forced] if forced else [WHATSAPP, SMS]
    return [c for c in order if allowed[c]]


async def _body(ctx: dict[str, Any], info: dict[str, Any], event: str) -> tuple[str, str]:
    """(language, body) from the token's current state; the ETA from the live queue."""
    svc: QueueService = ctx["notify_queue"]
    lang = templates.language_for(info["patient_language"], info["department_language"],
                                  info["default_language"])
    position = eta = None
    if event in NEEDS_ETA and info["status"] == "WAITING":
        try:
            position, eta = await svc.token_position(info["hospital_id"], info)
        except Exception as exc:  # the message still goes, without a wait time
            log.warning("no ETA for the message", token_id=str(info["id"]),
                        error=type(exc).__name__)
    at = info["scheduled_time"]
    mctx = templates.MessageContext(
        full_name=info["patient_name"], token_number=info["number"],
        department=info["department_name"], cabin=info["cabin_number"], position=position,
        eta_p50_min=eta.p50_min if eta else None, eta_p90_min=eta.p90_min if eta else None,
        link=svc.link_for(info), reason=info["cancel_reason"],
        scheduled_at=at.astimezone(ZoneInfo(info["timezone"])) if at else None,
        booked=info["status"] == "BOOKED",
    )
    return lang, templates.render(event, lang, mctx)


@traced
@retry_on_outage
async def send_notification(ctx: dict[str, Any], hospital_id: str, token_id: str, event: str,
                            channel: str | None = None, once_key: str = "") -> str:
    """Send the token's message for `event` on the patient's channel (or `channel`); once
    ever, or once per `once_key` (a pause's id: its DELAY and RESUMED, once per pause)."""
    pool = ctx["pool"]
    info = await db.message_context(pool, UUID(hospital_id), UUID(token_id))
    bound = {"token_id": token_id, "notification": event}
    status = info["status"] if info else None
    verdict = freshness(event, status)
    if verdict == BEHIND and info is not None and EXPECT[event].reached:
        # back in a state before the event: not yet there, or there and moved back since?
        verdict = freshness(event, status, await db.statuses_reached(pool, info["id"]))
    if verdict == BEHIND:
        return await _record_behind(ctx, hospital_id, token_id, event, status, bound)
    if info is None:
        log.info("notification for a missing token", **bound)
        return "gone"
    if verdict == AHEAD:
        # a row claimed while it was relevant (its send failed or was cut short) is closed
        n = await db.skip_pending(pool, info["id"], _row_events(event),
                                  f"no longer relevant: the token is {status}", LEASE_S)
        log.info("notification no longer relevant", status=status, rows_skipped=n, **bound)
        return "stale"
    if event in ("CANCELLED", "RESCHEDULED"):
        event = info["status"]  # the record, not the event, says which of the two it was
    lang, body = await _body(ctx, info, event)
    plan = channel_plan(info, ctx["notify_sender"], channel)
    if not plan:
        reason = "patient not opted in on any configured channel"
        await db.claim(pool, hospital_id=info["hospital_id"], patient_id=info["patient_id"],
                       token_id=info["id"], channel=channel or SMS, event=event, language=lang,
                       body=body, to_masked=mask_phone(info["phone"]), status="SKIPPED",
                       error_message=reason, once_key=once_key)
        # a row claimed before the patient opted out (a sweep forces its channel)
        await db.skip_pending(pool, info["id"], (event,), reason, LEASE_S, channel=channel)
        log.info("notification skipped: not opted in", **bound)
        metrics.NOTIFICATIONS.labels((channel or SMS).lower(), "skipped").inc()
        return "skipped"
    outcome = "failed"
    for ch in plan:
        outcome = await _deliver(ctx, info, event, ch, lang, body, once_key=once_key)
        if outcome in COUNTED:
            metrics.NOTIFICATIONS.labels(ch.lower(), COUNTED[outcome]).inc()
        if outcome != "fallback":
            return outcome
        log.info("falling back to the next channel", failed_channel=ch, **bound)
    return outcome


# _deliver's outcomes as opdq_notifications_total counts them ("done" and "in-flight" were
# counted by the attempt that decided them)
COUNTED = {"sent": "sent", "failed": "failed", "fallback": "failed", "opted-out": "opted_out"}


def _row_events(event: str) -> tuple[str, ...]:
    """The notifications_log events a job's event may have claimed rows under."""
    return ("CANCELLED", "RESCHEDULED") if event in ("CANCELLED", "RESCHEDULED") else (event,)


async def _record_behind(ctx: dict[str, Any], hospital_id: str, token_id: str, event: str,
                         status: str | None, bound: dict[str, Any]) -> str:
    """The event is ahead of the record (its transaction has not committed yet): retry with
    backoff until the record catches up; after the last try, say so loudly."""
    job_try = _try(ctx)
    if job_try < NOTIFY_MAX_TRIES:
        log.info("the record is behind the event; retrying", status=status, job_try=job_try,
                 **bound)
        raise Retry(defer=backoff_s(job_try, ctx.get("notify_behind_base_s", BEHIND_BASE_S)))
    log.error("the record never caught up with the event; message not sent", status=status,
              job_try=job_try, **bound)
    await db.insert_alert(
        ctx["pool"], hospital_id=UUID(hospital_id), kind="NOTIFICATION_UNCONFIRMED",
        entity_type="TOKEN", entity_id=UUID(token_id),
        message=f"{event} for token {token_id} not sent: after {job_try} tries the record "
                f"still shows the token {status or 'missing'}",
        details={"event": event, "status": status, "tries": job_try})
    return "behind"


Claim = Callable[[Any, str, str], Awaitable[dict[str, Any]]]


async def _deliver(ctx: dict[str, Any], info: dict[str, Any], event: str, channel: str,
                   lang: str, body: str, claim: Claim | None = None, once_key: str = "") -> str:
    """One channel: claim, attempt, send, record. Returns sent / done / in-flight / fallback /
    failed / opted-out; raises Retry for a transient failure with tries left. `claim(conn,
    channel, masked)` takes a row other than the token's (a waitlist offer's)."""
    pool, sender = ctx["pool"], ctx["notify_sender"]
    masked = mask_phone(info["phone"])
    bound = {"token_id": str(info["id"]), "notification": event, "channel": channel, "to": masked}
    outreach = event in OUTREACH_EVENTS
    async with pool.acquire() as conn:  # one connection up to the send, none during it
        if claim is not None:
            slot = await claim(conn, channel, masked)
        else:
            slot = await db.claim_slot(
                conn, hospital_id=info["hospital_id"], patient_id=info["patient_id"],
                token_id=info["id"], channel=channel, event=event, language=lang, body=body,
                to_masked=masked, risk_tier=info.get("risk_tier") if outreach else None,
                model_version=info.get("model_version") if outreach else None,
                once_key=once_key)
        if slot["status"] == "FAILED":
            return "fallback" if channel == WHATSAPP else "done"
        if slot["status"] != "PENDING":
            return "done"
        if slot["attempts"] > 0 and slot["error_code"] is None:
            sid = await ctx["redis_app"].get(keys.notify_sid_stash(slot["id"]))
            if sid:  # sent before, the row update failed: record it, do not send again
                await db.mark_sent(conn, slot["id"], sid)
                log.info("notification recorded from the SID stash", sid=sid, **bound)
                return "sent"
        attempt = await db.begin_attempt(conn, slot["id"], LEASE_S)
    if attempt is None:
        log.info("notification attempt in flight elsewhere", **bound)
        return "in-flight"
    msg = Outgoing(channel=channel, to=info["phone"], body=slot["body"])
    try:
        try:
            result = await sender.send(msg)
        except SendError as exc:
            if not (channel == WHATSAPP and exc.code == WA_WINDOW and sender.template_sid):
                raise
            log.info("outside the WhatsApp window; sending the approved template", **bound)
            result = await sender.send(replace(msg, content_sid=sender.template_sid,
                                               content_variables={"1": slot["body"]}))
    except SendError as exc:
        return await _failed(ctx, info, event, channel, slot["id"], exc, bound)
    await _record_sent(ctx, slot["id"], result.sid)
    if result.delivered:
        log.info("notification sent", sid=result.sid, attempt=attempt, **bound)
    else:
        log.info("notification recorded, not sent: no Twilio credentials (dev)",
                 attempt=attempt, **bound)
    return "sent"


async def _record_sent(ctx: dict[str, Any], row_id: UUID, sid: str) -> None:
    """Twilio has the message: the SID must reach the row, or at least Redis."""
    for wait_s in (0.0, 0.2, 0.5):
        await asyncio.sleep(wait_s)
        try:
            await db.mark_sent(ctx["pool"], row_id, sid)
            return
        except (*OUTAGES, asyncpg.PostgresError) as exc:
            log.warning("could not record a sent message", row_id=str(row_id),
                        error=type(exc).__name__)
    await ctx["redis_app"].set(keys.notify_sid_stash(row_id), sid, ex=SID_STASH_TTL_S)
    raise _retry(ctx)


async def _failed(ctx: dict[str, Any], info: dict[str, Any], event: str, channel: str,
                  row_id: UUID, exc: SendError, bound: dict[str, Any]) -> str:
    pool = ctx["pool"]
    if exc.transient:
        await db.mark_attempt_failed(pool, row_id, exc.code, exc.message)
        if _try(ctx) < NOTIFY_MAX_TRIES:
            retry = _retry(ctx)
            log.warning("notification attempt failed; retrying", code=exc.code,
                        job_try=_try(ctx), **bound)
            raise retry
        await db.mark_failed(pool, row_id, exc.code, exc.message)
        await _alert(pool, info, row_id, "NOTIFICATION_FAILED", channel, exc.code,
                     f"{channel} {event} for token {info['number']} failed after "
                     f"{_try(ctx)} tries: {exc.message}")
        log.error("notification failed after the last try", code=exc.code, **bound)
        return "fallback" if channel == WHATSAPP else "failed"
    await db.mark_failed(pool, row_id, exc.code, exc.message)
    if exc.code == UNSUBSCRIBED:
        await db.opt_out(pool, info["hospital_id"], info["patient_id"], channel)
        log.info("patient unsubscribed; opted out of the channel", **bound)
        return "fallback" if channel == WHATSAPP else "opted-out"
    if exc.code not in QUIET_CODES:
        await _alert(pool, info, row_id, "NOTIFICATION_REFUSED", channel, exc.code,
                     f"Twilio refused {channel} {event} for token {info['number']}: "
                     f"{exc.message}")
    log.warning("notification refused", code=exc.code, **bound)
    return "fallback" if channel == WHATSAPP else "failed"


async def _alert(pool: Any, info: dict[str, Any], row_id: UUID, kind: str, channel: str,
                 code: int | None, message: str) -> None:
    """A system alert for staff about one message (its row, token and channel)."""
    await db.insert_alert(
        pool, hospital_id=info["hospital_id"], kind=kind, entity_type="NOTIFICATION",
        entity_id=row_id, message=message,
        details={"code": code, "token_id": str(info["id"]), "channel": channel})


# ---------------------------------------------------------------------------- fan-out jobs
@traced
@retry_on_outage
async def notify_ahead(ctx: dict[str, Any], hospital_id: str, department_id: str,
                       waiting: tuple[str, ...]) -> str:
    """`waiting` is a queue.updated's waiting token ids in order: tell the one at the
    department's notify_ahead position that its turn is near."""
    n = await db.notify_ahead(ctx["pool"], UUID(hospital_id), UUID(department_id)) or 3
    if len(waiting) < n:
        return "none"
    token_id = waiting[n - 1]
    if await db.created_within(ctx["pool"], UUID(token_id), AHEAD_QUIET_S):
        return "just-told"  # issued at that position: its creation message said so
    await _enqueue(ctx, "send_notification", hospital_id, token_id, "AHEAD",
                   job_id=job_ids.send_notification(token_id, "AHEAD"))
    return token_id


@traced
@retry_on_outage
async def notify_doctor_delay(ctx: dict[str, Any], hospital_id: str, doctor_id: str) -> int:
    """The doctor is late to start: every patient waiting for them gets the new ETA."""
    ids = await db.waiting_tokens(ctx["pool"], UUID(hospital_id), UUID(doctor_id))
    return await _send_each(ctx, hospital_id, ids, "DELAY")


async def _send_each(ctx: dict[str, Any], hospital_id: str, ids: list[Any], event: str,
                     once_key: str = "") -> int:
    """One send job per token (its job id dedupes a repeat run)."""
    for tid in ids:
        await _enqueue(ctx, "send_notification", hospital_id, str(tid), event, None, once_key,
                       job_id=job_ids.send_notification(str(tid), event, once_key=once_key))
    return len(ids)


async def _told_of_pause(ctx: dict[str, Any], h: UUID, d: UUID, pause: dict[str, Any]
                         ) -> tuple[list[UUID], set[UUID]]:
    """The doctor's waiting tokens, and those of them told of this pause's delay."""
    waiting = await db.waiting_tokens(ctx["pool"], h, d)
    return waiting, await db.told_once(ctx["pool"], waiting, "DELAY", str(pause["id"]))


@traced
@retry_on_outage
async def notify_pause_delay(ctx: dict[str, Any], hospital_id: str, doctor_id: str) -> int:
    """The doctor is paused: DELAY to the waiting patients whose ETA the pause moves by the
    hospital's threshold (domain.delay), once per pause. Run when the pause starts and each
    minute while it lasts (an open or overrunning pause grows)."""
    h, d = UUID(hospital_id), UUID(doctor_id)
    pause = await db.doctor_pause(ctx["pool"], h, d, open_=True)
    if pause is None:
        return 0
    now = ctx.get("now", lambda: datetime.now(UTC))()
    shift = delay_rule.pause_shift_min(
        pause["expected_min"], (now - pause["started_at"]).total_seconds() / 60)
    if shift < pause["delay_notify_min"]:
        return 0
    waiting, told = await _told_of_pause(ctx, h, d, pause)
    ids = delay_rule.to_tell_of_delay(waiting, told, shift, pause["delay_notify_min"])
    return await _send_each(ctx, hospital_id, ids, "DELAY", str(pause["id"]))


@traced
@retry_on_outage
async def notify_pause_over(ctx: dict[str, Any], hospital_id: str, doctor_id: str) -> int:
    """The doctor is back: those told of the pause's delay, still waiting, get their new
    ETA (RESUMED, one message each)."""
    h, d = UUID(hospital_id), UUID(doctor_id)
    pause = await db.doctor_pause(ctx["pool"], h, d, open_=False)
    if pause is None:
        return 0
    waiting, told = await _told_of_pause(ctx, h, d, pause)
    return await _send_each(ctx, hospital_id, delay_rule.to_tell_of_resume(waiting, told),
                            "RESUMED", str(pause["id"]))


# ---------------------------------------------------------------------------- cron jobs
async def check_long_pauses(ctx: dict[str, Any]) -> int:
    """Every minute: open pauses, whose move on the ETAs grows while they last."""
    slot = int(ctx.get("now", lambda: datetime.now(UTC))().timestamp() // 60)
    pauses = await db.open_pauses(ctx["pool"])
    for h, d in pauses:
        await _enqueue(ctx, "notify_pause_delay", str(h), str(d),
                       job_id=job_ids.long_pause(d, slot))
    return len(pauses)


async def schedule_reminders(ctx: dict[str, Any]) -> int:
    """Booked tokens the day before and 2 h before their slot (the unique index keeps each
    reminder single, however often this runs)."""
    n = 0
    for event, lead_min_s, lead_max_s in REMINDERS:
        for h, tid in await db.reminder_candidates(ctx["pool"], event, lead_min_s, lead_max_s):
            n += await _enqueue(ctx, "send_notification", str(h), str(tid), event,
                                job_id=job_ids.send_notification(str(tid), event))
    return n


async def check_late_starts(ctx: dict[str, Any]) -> int:
    """Doctors late to start with patients waiting: DELAY for the patients. The staff's
    DOCTOR_LATE_START alert is workers/alerts.py's (raised and resolved with the others)."""
    slot = int(time.time() // 300)  # one fan-out per doctor per 5 minutes
    now = ctx.get("now", lambda: datetime.now(UTC))()  # a clock tests can set
    late = await db.late_doctors(ctx["pool"], now)
    for d in late:
        await _enqueue(ctx, "notify_doctor_delay", str(d["hospital_id"]), str(d["doctor_id"]),
                       job_id=job_ids.late_start(d["doctor_id"], slot))
    return len(late)


async def sweep_whatsapp_fallbacks(ctx: dict[str, Any]) -> int:
    """WhatsApp messages a delivery callback reported failed (63016 and the like): SMS."""
    n = 0
    for h, tid, event, once_key in await db.whatsapp_fallbacks(ctx["pool"]):
        n += await _enqueue(ctx, "send_notification", str(h), str(tid), event, SMS, once_key,
                            job_id=job_ids.send_notification(str(tid), event, SMS, once_key))
    return n


async def sweep_notifications(ctx: dict[str, Any]) -> int:
    """Every minute: what the normal path left undone, once it had SWEEP_GRACE_S to do it.

    1. PENDING rows that nobody is working on: the attempt never started (attempts = 0: the
       job died between claim and attempt), an attempt whose lease ran out with no outcome,
       or a transient failure whose retry is overdue (lost with Redis' data). Re-enqueued on
       the row's channel under job_ids.sweep_row (the row, its attempts and updated_at): one
       job per state of the row, however often this runs; the attempt compare-and-set still
       lets one send.
    2. Calls and new tokens of the last SWEEP_WINDOW_S that the record holds (still CALLED,
       still WAITING or BOOKED) with no row for their CALL_NOW / TOKEN_CREATED at all: the
       event or its job was lost (Redis lost its data, a job gave up in an outage).
    """
    pool = ctx["pool"]
    grace = float(ctx.get("notify_sweep_grace_s", SWEEP_GRACE_S))
    n = 0
    for row in await db.stuck_pending(pool, grace, LEASE_S, BACKOFF_CAP_S, SWEEP_LIMIT):
        stamp = int(row["updated_at"].timestamp() * 1000)
        n += await _enqueue(ctx, "send_notification", str(row["hospital_id"]),
                            str(row["token_id"]), row["event"], row["channel"],
                            row["once_key"],
                            job_id=job_ids.sweep_row(row["id"], row["attempts"], stamp))
    for h, tid, event in await db.unannounced(pool, grace, SWEEP_WINDOW_S, SWEEP_LIMIT):
        n += await _enqueue(ctx, "send_notification", str(h), str(tid), event,
                            job_id=job_ids.sweep_unannounced(tid, event))
    if n:
        log.warning("notifications swept up", jobs=n)
    return n


FUNCTIONS = [
    func(send_notification, max_tries=NOTIFY_MAX_TRIES),
    func(notify_ahead, max_tries=NOTIFY_MAX_TRIES),
    func(notify_doctor_delay, max_tries=NOTIFY_MAX_TRIES),
    func(notify_pause_delay, max_tries=NOTIFY_MAX_TRIES),
    func(notify_pause_over, max_tries=NOTIFY_MAX_TRIES),
]
CRON_JOBS = [
    cron(schedule_reminders, minute=set(range(0, 60, 5)), second=30),
    cron(check_late_starts, minute=set(range(1, 60, 5)), second=30),
    cron(check_long_pauses, second=20),
    cron(sweep_whatsapp_fallbacks, second=15),
    cron(sweep_notifications, second=45, unique=True, timeout=50),
]
