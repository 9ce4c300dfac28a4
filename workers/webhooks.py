"""Outgoing webhooks: each hospital's events recorded as deliveries, sent signed and in order.

Recording (`record_webhook_events`, woken by workers/routing.webhook_jobs_for for each event
a subscription may want): under a per-hospital transaction lock, read the hospital's event
stream from the cursor kept in PostgreSQL (webhook_cursors) and insert one delivery per
matching subscription, in stream order, then move the cursor, all in one transaction. Jobs
run in any order and in parallel, so no job trusts its own event: each reads everything new.

Sending (`deliver_webhooks`, per subscription): only the subscription's oldest undelivered
delivery may go. A worker takes the subscription's lease (a row stamp that runs out, so a
dead worker never blocks it), sends deliveries one after another until none is left or one
fails; a failure sets that delivery's next attempt (exponential backoff) and a job deferred
to then. So one subscription's deliveries arrive in event order, at least once (a receiver
dedupes by X-OPDQ-Delivery), and a failing endpoint holds back only its own subscription:
nothing of the live queue waits on a webhook. A subscription failing for
WEBHOOK_PAUSE_AFTER_S (a day) is paused with an alert (system_alerts WEBHOOK_FAILING); an
admin resumes it and its kept deliveries go on, in order.

`sweep_webhooks` (cron) restarts any subscription with a due delivery and no sender: a job
lost with its worker, a subscription just resumed.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import structlog
from arq import cron, func

from server.db import webhooks as db
from server.integrations import signing, urls
from server.store import keys
from workers import job_ids
from workers.tracing import traced

log = structlog.get_logger("webhooks")

RECORD_BATCH = 500
USER_AGENT = "opdq-webhooks/1"


def lease_s(ctx: dict[str, Any]) -> float:
    """Longer than one attempt can take, so a live sender never loses its lease."""
    return max(60.0, ctx["settings"].webhook_timeout_s * 3)


def backoff_s(ctx: dict[str, Any], attempt: int) -> float:
    """base x 2^(attempt-1), at most max; jittered so many failing hooks spread out."""
    s = ctx["settings"]
    delay = min(s.webhook_retry_base_s * 2 ** min(attempt - 1, 30), s.webhook_retry_max_s)
    return delay * random.uniform(0.8, 1.0)


async def setup(ctx: dict[str, Any]) -> None:
    if "webhook_client" not in ctx:
        ctx["webhook_client"] = httpx.AsyncClient(
            timeout=ctx["settings"].webhook_timeout_s, follow_redirects=False,
            headers={"User-Agent": USER_AGENT})


async def teardown(ctx: dict[str, Any]) -> None:
    client = ctx.pop("webhook_client", None)
    if client is not None:
        await client.aclose()


async def _enqueue(ctx: dict[str, Any], sub_id: UUID, tag: str,
                   when: datetime | None = None) -> None:
    await ctx["redis"].enqueue_job("deliver_webhooks", str(sub_id),
                                   _job_id=job_ids.webhook_deliver(sub_id, tag),
                                   _defer_until=when)


# ------------------------------------------------------------------------- recording
@traced
async def record_webhook_events(ctx: dict[str, Any], hospital_id: str) -> int:
    """Deliveries for every event of the stream past the hospital's cursor; their number."""
    h = UUID(hospital_id)
    stream = keys.stream(h)
    woken: set[UUID] = set()
    recorded = 0
    async with ctx["pool"].acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended("
                           "'webhooks:' || $1::uuid::text, 0))", h)
        subs = await db.recording_targets(conn, h)
        if not subs:
            return 0
        last = await db.cursor(conn, h)
        if last is None:
            last = min(s["start_seq"] for s in subs)
        start = last
        while True:
            entries = await ctx["redis_app"].xrange(stream, min=f"{last + 1}-0", max="+",
                                                    count=RECORD_BATCH)
            for entry_id, fields in entries:
                seq = int(str(entry_id).split("-", 1)[0])
                last = max(last, seq)
                try:
                    event = json.loads(fields["e"])
                except (KeyError, ValueError):
                    log.warning("unreadable event skipped", hospital_id=hospital_id, seq=seq)
                    continue
                payload = {"type": event.get("type"), "seq": seq, "ts": event.get("ts"),
                           "hospital_id": hospital_id, "data": event.get("data")}
                for sub in subs:
                    if seq <= sub["start_seq"] or event.get("type") not in sub["events"]:
                        continue
                    if await db.insert_delivery(conn, hospital_id=h, sub_id=sub["id"],
                                                event_seq=seq, event_type=str(event["type"]),
                                                payload=payload):
                        woken.add(sub["id"])
                        recorded += 1
            if len(entries) < RECORD_BATCH:
                break
        if last != start:
            await db.set_cursor(conn, h, last)
    for sub_id in woken:
        await _enqueue(ctx, sub_id, f"r{last}")
    return recorded


# ------------------------------------------------------------------------- sending
async def _send(ctx: dict[str, Any], sub: dict[str, Any], delivery: dict[str, Any]
                ) -> tuple[int | None, str | None]:
    """(status code, None) when the receiver took it (2xx), else (code or None, why not)."""
    settings = ctx["settings"]
    try:
        await urls.check_resolved(sub["url"], allow_private=settings.webhook_allow_private)
    except urls.RefusedURL as exc:
        return None, f"refused: {exc}"
    body = json.dumps(delivery["payload"], separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        signing.SIGNATURE_HEADER: signing.signature(sub["secret"], int(time.time()), body),
        signing.DELIVERY_HEADER: str(delivery["id"]),
        signing.EVENT_HEADER: str(delivery["event_type"]),
    }
    try:
        r = await ctx["webhook_client"].post(sub["url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"
    if 200 <= r.status_code < 300:
        return r.status_code, None
    return r.status_code, f"HTTP {r.status_code}"


async def _drain(ctx: dict[str, Any], sub: dict[str, Any]) -> tuple[int, bool]:
    """Send the subscription's deliveries in order: (how many went, whether one failed)."""
    pool, sent = ctx["pool"], 0
    while True:
        head = await db.head(pool, sub["id"])
        if head is None:
            return sent, False
        if not head["due"]:
            await _enqueue(ctx, sub["id"], f"t{int(head['next_attempt_at'].timestamp() * 1000)}",
                           head["next_attempt_at"])
            return sent, False
        code, error = await _send(ctx, sub, head)
        if error is None:
            await db.delivered(pool, delivery_id=head["id"], sub_id=sub["id"], code=code or 200)
            await db.renew_lease(pool, sub["id"], lease_s(ctx))
            sent += 1
            continue
        outcome = await db.failed(pool, delivery_id=head["id"], sub_id=sub["id"], code=code,
                                  error=error, retry_in_s=backoff_s(ctx, head["attempts"] + 1),
                                  pause_after_s=ctx["settings"].webhook_pause_after_s)
        log.warning("webhook delivery failed", subscription_id=str(sub["id"]),
                    host=db.host_of(sub["url"]), code=code, error=error[:120],
                    attempt=head["attempts"] + 1, paused=outcome["paused"])
        if not outcome["paused"]:
            when = outcome["next_attempt_at"]
            await _enqueue(ctx, sub["id"], f"t{int(when.timestamp() * 1000)}", when)
        return sent, True


async def deliver_webhooks(ctx: dict[str, Any], subscription_id: str) -> int:
    """Send what is due for one subscription, in order; how many deliveries went. Another
    worker holding the lease: nothing to do (it re-checks after letting go)."""
    sub_id, pool, sent = UUID(subscription_id), ctx["pool"], 0
    while True:
        sub = await db.take_lease(pool, sub_id, lease_s(ctx))
        if sub is None:
            return sent
        try:
            n, failed = await _drain(ctx, sub)
            sent += n
        finally:
            await db.release_lease(pool, sub_id)
        if failed:
            return sent
        # a delivery recorded while we held the lease, whose own job found it taken
        head = await db.head(pool, sub_id)
        if head is None or not head["due"]:
            return sent


async def sweep_webhooks(ctx: dict[str, Any]) -> int:
    """Wake every active subscription with a due delivery and no sender."""
    due = await db.due_subscriptions(ctx["pool"])
    tick = int(time.time() // 30)
    for sub_id in due:
        await _enqueue(ctx, sub_id, f"s{tick}")
    return len(due)


FUNCTIONS = [
    func(record_webhook_events, max_tries=10),
    # the HTTP call is bounded by WEBHOOK_TIMEOUT_S; a run sends a backlog one by one
    func(deliver_webhooks, max_tries=10, timeout=600),
]
CRON_JOBS = [
    cron(sweep_webhooks, second={0, 30}, run_at_startup=True, unique=True, timeout=25),
]
