"""Web push jobs: "you are near the front" and "go to cabin X now" to a patient's browser.

Routed (workers/routing.push_jobs_for) from the very decisions that send the AHEAD and
CALL_NOW messages, so a push and an SMS never disagree on when:
- `push_called`: a token.called (not a recall) -> one `send_push` per subscription of the
  token, once the record shows the call (notify.freshness, as for CALL_NOW);
- `push_ahead`: a queue.updated's waiting list -> one `send_push` per subscription whose token
  is at or before the position it asked for (notify_at_position, 3 unless chosen);
- `send_push`: claim the (subscription, kind) row in push_sends, POST through pywebpush, record
  SENT; 404/410 from the push service deletes the subscription (the browser dropped it); a
  timeout, 429 or 5xx is retried with backoff. Each push goes once per subscription and kind,
  whatever replays the stream.

Logs name subscriptions and tokens by id only: an endpoint is a capability URL.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import aiohttp
import structlog
from arq import Retry, cron
from arq.worker import func

from server.db import notifications as notify_db
from server.db import push as db
from server.integrations import urls
from server.notifications import push
from workers import job_ids, notify
from workers.tracing import carry, traced

log = structlog.get_logger("push")

PUSH_MAX_TRIES = 4
TIMEOUT_S = 10.0
LEASE_S = 3 * TIMEOUT_S
RELEVANT = {"AHEAD": notify.RELEVANT["AHEAD"], "CALL_NOW": notify.RELEVANT["CALL_NOW"]}


async def setup(ctx: dict[str, Any]) -> None:
    if "push_session" not in ctx:  # tests bring their own (one that trusts their fake)
        ctx["push_session"] = aiohttp.ClientSession()


async def teardown(ctx: dict[str, Any]) -> None:
    session = ctx.pop("push_session", None)
    if session is not None:
        await session.close()


async def _enqueue_send(ctx: dict[str, Any], sub_id: UUID, kind: str,
                        position: int | None) -> bool:
    job = await ctx["redis"].enqueue_job("send_push", str(sub_id), kind, position,
                                         _job_id=job_ids.push_send(sub_id, kind), **carry())
    return job is not None


@traced
@notify.retry_on_outage
async def push_called(ctx: dict[str, Any], hospital_id: str, token_id: str) -> int:
    """The token was called: a push to each of its browsers, once the record agrees."""
    pool, tid = ctx["pool"], UUID(token_id)
    status = await db.token_status(pool, UUID(hospital_id), tid)
    verdict = notify.freshness("CALL_NOW", status)
    if verdict == notify.BEHIND and status is not None:
        verdict = notify.freshness("CALL_NOW", status, await notify_db.statuses_reached(pool, tid))
    if verdict == notify.BEHIND:
        if int(ctx.get("job_try") or 1) < PUSH_MAX_TRIES:
            raise Retry(defer=notify.backoff_s(int(ctx.get("job_try") or 1),
                                               ctx.get("notify_behind_base_s",
                                                       notify.BEHIND_BASE_S)))
        log.warning("call push not sent: the record never showed the call", token_id=token_id)
        return 0
    if verdict == notify.AHEAD:
        return 0
    subs = await db.of_token(pool, tid)
    return sum([await _enqueue_send(ctx, s, "CALL_NOW", None) for s in subs])


@traced
@notify.retry_on_outage
async def push_ahead(ctx: dict[str, Any], hospital_id: str, department_id: str,
                     waiting: tuple[str, ...]) -> int:
    """`waiting`: a queue.updated's waiting token ids in order (as notify_ahead gets them)."""
    positions = {UUID(t): i + 1 for i, t in enumerate(waiting)}
    due = await db.due_ahead(ctx["pool"], positions)
    return sum([await _enqueue_send(ctx, s, "AHEAD", pos) for s, pos in due])


@traced
@notify.retry_on_outage
async def send_push(ctx: dict[str, Any], subscription_id: str, kind: str,
                    position: int | None = None) -> str:
    """One push of `kind` to one subscription, at most once."""
    pool, sid = ctx["pool"], UUID(subscription_id)
    bound = {"subscription_id": subscription_id, "push": kind}
    sub = await db.for_send(pool, sid)
    if sub is None or not sub["live"]:
        return "gone"
    bound["token_id"] = str(sub["token_id"])
    if sub["status"] not in RELEVANT[kind]:
        log.info("push no longer relevant", status=sub["status"], **bound)
        return "stale"
    try:
        await urls.check_resolved(sub["endpoint"],
                                  allow_private=ctx["settings"].push_allow_private)
    except urls.RefusedURL as exc:
        log.warning("push endpoint refused", reason=str(exc), **bound)
        await db.forget(pool, sid)
        return "refused"
    attempt = await db.claim(pool, sid, kind, LEASE_S)
    if attempt is None:
        return "done"
    body = push.payload(kind, sub["number"], sub["cabin_number"], position)
    result = await push.send(ctx["settings"], ctx["push_session"], sub, body, kind,
                             timeout_s=ctx.get("push_timeout_s", TIMEOUT_S))
    if result.ok:
        await db.outcome(pool, sid, kind, "SENT", result.status)
        log.info("push sent", status=result.status, attempt=attempt, **bound)
        return "sent"
    if result.gone:
        await db.forget(pool, sid)
        log.info("push subscription gone; deleted", status=result.status, **bound)
        return "unsubscribed"
    transient = result.status is None or result.status == 429 or result.status >= 500
    if transient and int(ctx.get("job_try") or 1) < PUSH_MAX_TRIES:
        await db.outcome(pool, sid, kind, "PENDING", result.status)
        log.warning("push failed; retrying", status=result.status, error=result.error, **bound)
        raise Retry(defer=notify.backoff_s(int(ctx.get("job_try") or 1),
                                           ctx.get("push_backoff_base_s",
                                                   notify.BACKOFF_BASE_S)))
    await db.outcome(pool, sid, kind, "FAILED", result.status)
    log.warning("push failed", status=result.status, error=result.error, **bound)
    return "failed"


async def purge_push_subscriptions(ctx: dict[str, Any]) -> int:
    """Hourly: subscriptions whose token's day is over."""
    return await db.purge_expired(ctx["pool"])


FUNCTIONS = [
    func(push_called, max_tries=PUSH_MAX_TRIES),
    func(push_ahead, max_tries=PUSH_MAX_TRIES),
    func(send_push, max_tries=PUSH_MAX_TRIES),
    purge_push_subscriptions,
]
CRON_JOBS = [cron(purge_push_subscriptions, minute=23, unique=True, timeout=120)]
