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
a call with no message at all) is taken up by `sweep_notifications` (workers/notify_cron.py,
with the other jobs run by the clock; the fan-outs to many patients: workers/notify_fanout.py).

Channel: WhatsApp when the patient opted in (and a WhatsApp sender exists), else SMS. A
permanent WhatsApp failure falls back to SMS in the same job; 63016 (outside the 24-hour
session) first tries the approved template (TWILIO_WHATSAPP_TEMPLATE_SID) on the same row,
since Twilio created no message. A WhatsApp failure reported later by a delivery callback is
picked up by `notify_cron.sweep_whatsapp_fallbacks`. 21610 (the patient sent STOP) opts the
patient out of that channel and is never retried.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from arq import Retry
from arq.worker import func

from server import metrics
from server.db import notifications as db
from server.notifications import templates
from server.observability import mask_phone
from server.queue import QueueService
from server.risk.outreach import OUTREACH_EVENTS
from server.store import keys
from server.store.live import LiveStore
from workers.outages import OUTAGES, is_outage
from workers.tracing import traced
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
UNSUBSCRIBED = 21610           # the recipient sent STOP
WA_WINDOW = 63016              # WhatsApp free-form message outside the 24-hour session
QUIET_CODES = frozenset({UNSUBSCRIBED, WA_WINDOW})   # expected: no system alert

BEHIND_BASE_S = 1.0            # the record behind its event: 1, 2, 4, 8, 16 s (x 0.5-1)

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


FUNCTIONS = [func(send_notification, max_tries=NOTIFY_MAX_TRIES)]
