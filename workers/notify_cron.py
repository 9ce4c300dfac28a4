"""The notification jobs run by the clock (workers/notify.py has the jobs that send): each
looks at the record and enqueues the sends and fan-outs due, under deterministic job ids, so
however often it runs, each message is enqueued once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import structlog
from arq import cron

from server.db import notifications as db
from workers import job_ids
from workers.notify import BACKOFF_CAP_S, LEASE_S
from workers.tracing import enqueue
from workers.twilio_sender import SMS

log = structlog.get_logger("notify")

REMINDERS = (("REMINDER_DAY_BEFORE", 2 * 3600.0, 24 * 3600.0),
             ("REMINDER_2H", 0.0, 2 * 3600.0))

SWEEP_GRACE_S = 60.0           # the normal path's head start before the sweeper steps in
SWEEP_WINDOW_S = 3600.0        # calls and new tokens this recent are checked for a message
SWEEP_LIMIT = 500


async def check_long_pauses(ctx: dict[str, Any]) -> int:
    """Every minute: open pauses, whose move on the ETAs grows while they last."""
    slot = int(ctx.get("now", lambda: datetime.now(UTC))().timestamp() // 60)
    pauses = await db.open_pauses(ctx["pool"])
    for h, d in pauses:
        await enqueue(ctx, "notify_pause_delay", str(h), str(d),
                      job_id=job_ids.long_pause(d, slot))
    return len(pauses)


async def schedule_reminders(ctx: dict[str, Any]) -> int:
    """Booked tokens the day before and 2 h before their slot (the unique index keeps each
    reminder single, however often this runs)."""
    n = 0
    for event, lead_min_s, lead_max_s in REMINDERS:
        for h, tid in await db.reminder_candidates(ctx["pool"], event, lead_min_s, lead_max_s):
            n += await enqueue(ctx, "send_notification", str(h), str(tid), event,
                               job_id=job_ids.send_notification(str(tid), event))
    return n


async def check_late_starts(ctx: dict[str, Any]) -> int:
    """Doctors late to start with patients waiting: DELAY for the patients. The staff's
    DOCTOR_LATE_START alert is workers/alerts.py's (raised and resolved with the others)."""
    slot = int(time.time() // 300)  # one fan-out per doctor per 5 minutes
    now = ctx.get("now", lambda: datetime.now(UTC))()  # a clock tests can set
    late = await db.late_doctors(ctx["pool"], now)
    for d in late:
        await enqueue(ctx, "notify_doctor_delay", str(d["hospital_id"]), str(d["doctor_id"]),
                      job_id=job_ids.late_start(d["doctor_id"], slot))
    return len(late)


async def sweep_whatsapp_fallbacks(ctx: dict[str, Any]) -> int:
    """WhatsApp messages a delivery callback reported failed (63016 and the like): SMS."""
    n = 0
    for h, tid, event, once_key in await db.whatsapp_fallbacks(ctx["pool"]):
        n += await enqueue(ctx, "send_notification", str(h), str(tid), event, SMS, once_key,
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
        n += await enqueue(ctx, "send_notification", str(row["hospital_id"]),
                           str(row["token_id"]), row["event"], row["channel"],
                           row["once_key"],
                           job_id=job_ids.sweep_row(row["id"], row["attempts"], stamp))
    for h, tid, event in await db.unannounced(pool, grace, SWEEP_WINDOW_S, SWEEP_LIMIT):
        n += await enqueue(ctx, "send_notification", str(h), str(tid), event,
                           job_id=job_ids.sweep_unannounced(tid, event))
    if n:
        log.warning("notifications swept up", jobs=n)
    return n


CRON_JOBS = [
    cron(schedule_reminders, minute=set(range(0, 60, 5)), second=30),
    cron(check_late_starts, minute=set(range(1, 60, 5)), second=30),
    cron(check_long_pauses, second=20),
    cron(sweep_whatsapp_fallbacks, second=15),
    cron(sweep_notifications, second=45, unique=True, timeout=50),
]
