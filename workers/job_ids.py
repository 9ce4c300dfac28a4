"""Every ARQ job id the workers enqueue under, built here and nowhere else.

ARQ enqueues nothing while it still knows a job id (queued, running, or its result kept for
keep_result), so an id built from what makes the job unique turns a second ask (an event read
twice, a cron run that overlaps, a retry) into a no-op. Each builder says what it is unique
for. The prefixes are part of that contract: a worker of the previous release must build the
same id for the same job, so change a format only with a deploy that drains the queue.
"""

from __future__ import annotations

from typing import Any


def send_notification(token_id: Any, event: str, channel: str | None = None,
                      once_key: str = "") -> str:
    """One message per (token, event[, channel][, once_key]): the notifications_log claim's
    own key (once_key: a pause's id, so a second pause's DELAY is a new job)."""
    return (f"notify:{token_id}:{event}" + (f":{channel}" if channel else "")
            + (f":once={once_key}" if once_key else ""))


def notify_ahead(hospital_id: Any, seq: Any) -> str:
    """One fan-out per queue.updated event: its hospital and stream sequence number."""
    return f"ahead:{hospital_id}:{seq}"


def doctor_delay(doctor_id: Any, seq: Any) -> str:
    """One fan-out per doctor.status event: the doctor and the event's sequence number."""
    return f"delay:{doctor_id}:{seq}"


def pause_over(doctor_id: Any, seq: Any) -> str:
    """One resume fan-out per doctor.status event: the doctor and the event's sequence."""
    return f"resumed:{doctor_id}:{seq}"


def long_pause(doctor_id: Any, slot: int) -> str:
    """One look at an open pause per doctor per minute (check_long_pauses)."""
    return f"pause:{doctor_id}:{slot}"


def late_start(doctor_id: Any, slot: int) -> str:
    """One fan-out per late doctor per time slot (check_late_starts' 5-minute windows)."""
    return f"late:{doctor_id}:{slot}"


def sweep_row(row_id: Any, attempts: int, updated_ms: int) -> str:
    """One re-send per state of a stuck notifications_log row (its attempts and updated_at)."""
    return f"sweep:{row_id}:{attempts}:{updated_ms}"


def sweep_unannounced(token_id: Any, event: str) -> str:
    """One catch-up per (token, event) that never got a row: the message's own identity."""
    return f"sweep:{token_id}:{event}"


def resend(row_id: Any) -> str:
    """One staff resend per notifications_log row (the API lets a row be resent once)."""
    return f"resend:{row_id}"


def score_token(token_id: Any) -> str:
    """One scoring per booking: re-scoring later goes through rescore_booked, not an event."""
    return f"risk-score:{token_id}"


def offer_freed_slot(token_id: Any) -> str:
    """One waitlist offer per freed slot: the cancelled or missed booked token."""
    return f"waitlist-offer:{token_id}"


def waitlist_offer(entry_id: Any, token_id: Any) -> str:
    """One offer message per (waitlist entry, freed slot): the offer's own key."""
    return f"waitlist-offer-send:{entry_id}:{token_id}"


def explain_risk(assessment_id: Any) -> str:
    """One explanation per assessment: its words never change once written."""
    return f"explain:{assessment_id}"


def reconcile_resume(stamp_ms: int | str) -> str:
    """Unique on purpose (a ms stamp; "*" matches all): each recovery gets a run of its own."""
    return f"reconcile_queues:resume:{stamp_ms}"


def webhook_record(hospital_id: Any, seq: Any) -> str:
    """One recording run per event a webhook may want: its hospital and sequence number (a
    run records everything new in the stream, so a later run finds this one's work done)."""
    return f"webhooks:record:{hospital_id}:{seq}"


def webhook_deliver(subscription_id: Any, tag: str) -> str:
    """One sending run per subscription and reason: `r<seq>` after recording up to seq,
    `t<ms>` for a retry due then, `s<n>` for the sweeper's nth half minute."""
    return f"webhooks:deliver:{subscription_id}:{tag}"


def push_called(token_id: Any) -> str:
    """One web push fan-out per called token (a recall sends nothing, as for SMS)."""
    return f"push:called:{token_id}"


def push_ahead(hospital_id: Any, seq: Any) -> str:
    """One web push fan-out per queue.updated event: its hospital and sequence number."""
    return f"push:ahead:{hospital_id}:{seq}"


def push_send(subscription_id: Any, kind: str) -> str:
    """One push per (subscription, kind): the push_sends claim's own key."""
    return f"push:send:{subscription_id}:{kind}"
