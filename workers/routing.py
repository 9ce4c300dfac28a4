"""What a queue event means for the workers: pure routers, event -> [JobSpec].

The dispatcher (workers/dispatch.py) reads the event streams and enqueues what `route`
returns; the jobs themselves live in workers/notify.py, workers/notify_fanout.py and
workers/risk.py. Nothing here does I/O or imports a job module, so each of those can import
this one without a circle.

Job ids come from workers/job_ids.py and are deterministic (the event's seq, or the token and
notification kind), so an event read twice enqueues nothing new while ARQ still knows the job.
Jobs take ids only.

Recalls (token.called with recall: true) send nothing: the patient already had CALL_NOW for
this token (one message per token, event and channel, ever) and the board announces it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.integrations.events import WEBHOOK_EVENTS
from workers import job_ids

MAX_AHEAD = 50             # departments.notify_ahead is at most 50


@dataclass(frozen=True)
class JobSpec:
    function: str
    args: tuple[Any, ...]
    job_id: str


Router = Callable[[dict[str, Any]], list[JobSpec]]


def _send(h: str, token_id: str, event: str) -> JobSpec:
    return JobSpec("send_notification", (h, token_id, event),
                   job_ids.send_notification(token_id, event))


def notify_jobs_for(event: dict[str, Any]) -> list[JobSpec]:
    """Patient notifications an event calls for. `event` carries "hospital_id" (added by
    the dispatcher from the stream's key) besides type, seq, ts and data."""
    h, etype, seq = event.get("hospital_id"), event.get("type"), event.get("seq")
    data = event.get("data") or {}
    token = data.get("token") or {}
    tid, status = token.get("id"), token.get("status")
    if not h:
        return []
    if etype == "token.created" and tid and status in ("WAITING", "BOOKED"):
        return [_send(h, tid, "TOKEN_CREATED")]
    if etype == "token.called" and tid and not data.get("recall"):
        return [_send(h, tid, "CALL_NOW")]
    if etype == "token.updated" and tid and status in ("CANCELLED", "RESCHEDULED"):
        return [_send(h, tid, status)]
    if etype == "queue.updated":
        waiting = data.get("waiting")  # Lua's cjson turns an empty list into {}
        if not isinstance(waiting, list) or not waiting or not data.get("department_id"):
            return []
        ordered = sorted((w for w in waiting if w.get("id")),
                         key=lambda w: w.get("position") or 0)
        ids = tuple(str(w["id"]) for w in ordered[:MAX_AHEAD])
        return [JobSpec("notify_ahead", (h, str(data["department_id"]), ids),
                        job_ids.notify_ahead(h, seq))]
    # a pause: the job applies the delay rule (domain.delay: the hospital's threshold, once
    # per pause; check_long_pauses looks again while it lasts); a resume: the new ETA to those
    # told of the delay
    if etype == "doctor.status" and data.get("doctor_id"):
        d = str(data["doctor_id"])
        if data.get("status") == "PAUSED":
            return [JobSpec("notify_pause_delay", (h, d), job_ids.doctor_delay(d, seq))]
        if data.get("status") == "AVAILABLE":
            return [JobSpec("notify_pause_over", (h, d), job_ids.pause_over(d, seq))]
    return []


def risk_jobs_for(event: dict[str, Any]) -> list[JobSpec]:
    """Score a new booking; offer the slot of a booked token that was cancelled or missed
    (offer_freed_slot checks it really was BOOKED before)."""
    data = event.get("data") or {}
    token = data.get("token") or {}
    tid, status = token.get("id"), token.get("status")
    if not tid:
        return []
    if event.get("type") == "token.created" and status == "BOOKED":
        return [JobSpec("score_token", (tid,), job_ids.score_token(tid))]
    if (event.get("type") == "token.updated" and status in ("CANCELLED", "NO_SHOW",
                                                             "RESCHEDULED")
            and token.get("booking_type") == "ONLINE"):
        return [JobSpec("offer_freed_slot", (tid,), job_ids.offer_freed_slot(tid))]
    return []


def resend_jobs_for(event: dict[str, Any]) -> list[JobSpec]:
    """A failed message staff asked to send again (POST /api/v1/notifications/{id}/resend):
    the usual send job on the row's channel; the row, back to PENDING, is claimed as ever."""
    h, data = event.get("hospital_id"), event.get("data") or {}
    if event.get("type") != "notification.resend" or not h:
        return []
    row, tid, kind, channel = (data.get(k) for k in ("notification_id", "token_id", "event",
                                                     "channel"))
    if not (row and tid and kind and channel):
        return []
    once_key = data.get("once_key") or ""  # a pause's DELAY / RESUMED: that pause's row
    return [JobSpec("send_notification", (h, tid, kind, channel, once_key), job_ids.resend(row))]


def webhook_jobs_for(event: dict[str, Any]) -> list[JobSpec]:
    """Record the event for the hospital's webhook subscriptions (workers/webhooks.py reads
    the stream itself, in order, from its own cursor; this only wakes it)."""
    h, seq = event.get("hospital_id"), event.get("seq")
    if not h or seq is None or event.get("type") not in WEBHOOK_EVENTS:
        return []
    return [JobSpec("record_webhook_events", (h,), job_ids.webhook_record(h, seq))]


def push_jobs_for(event: dict[str, Any]) -> list[JobSpec]:
    """Web push (workers/push.py) on the decisions that send AHEAD and CALL_NOW: the same
    waiting list, the same non-recall call; each subscription's own position is applied by
    the job."""
    out: list[JobSpec] = []
    for spec in notify_jobs_for(event):
        if spec.function == "notify_ahead":
            out.append(JobSpec("push_ahead", spec.args,
                               job_ids.push_ahead(spec.args[0], event.get("seq"))))
        elif spec.function == "send_notification" and spec.args[2] == "CALL_NOW":
            h, tid = spec.args[0], spec.args[1]
            out.append(JobSpec("push_called", (h, tid), job_ids.push_called(tid)))
    return out


# Every router sees every event; their jobs are enqueued in this order. Append, don't nest.
ROUTERS: list[Router] = [
    notify_jobs_for,
    risk_jobs_for,
    resend_jobs_for,
    webhook_jobs_for,
    push_jobs_for,
]


def route(event: dict[str, Any], routers: list[Router] | None = None) -> list[JobSpec]:
    """The jobs of every router (ROUTERS unless given), in the routers' order."""
    return [spec for router in (ROUTERS if routers is None else routers)
            for spec in router(event)]
