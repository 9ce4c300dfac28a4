"""The notification fan-outs: an event that concerns several patients (a doctor late to
start, a pause, its end, a queue whose head moved) becomes one send job per patient to tell
(workers/notify.py's `send_notification`), under deterministic job ids, so a repeated run
enqueues nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from arq.worker import func

from server.db import notifications as db
from server.domain import delay as delay_rule
from workers import job_ids
from workers.notify import NOTIFY_MAX_TRIES, retry_on_outage
from workers.tracing import enqueue, traced

AHEAD_QUIET_S = 60             # a token issued this recently was just told its position


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
    await enqueue(ctx, "send_notification", hospital_id, token_id, "AHEAD",
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
        await enqueue(ctx, "send_notification", hospital_id, str(tid), event, None, once_key,
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


FUNCTIONS = [
    func(notify_ahead, max_tries=NOTIFY_MAX_TRIES),
    func(notify_doctor_delay, max_tries=NOTIFY_MAX_TRIES),
    func(notify_pause_delay, max_tries=NOTIFY_MAX_TRIES),
    func(notify_pause_over, max_tries=NOTIFY_MAX_TRIES),
]
