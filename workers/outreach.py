"""Outreach that acts on the risk score, and waitlist offers that reach the patient.

- `plan_token` (after scoring) and the cron `schedule_outreach` (every 5 min) send each
  booking the touches its tier's plan has due (server/risk/outreach.py) through the normal
  send job: one message per (token, event, channel), opt-ins, language, WhatsApp first; the
  row records the tier and model version.
- `send_waitlist_offer`: the WAITLIST_OFFER message to a waitlisted patient, with the link of
  the /w/<code> page, through notify's claim/attempt/send (its own once-only key: entry,
  slot, channel).
- `pass_waitlist_offers` (cron, every minute): offers past their time lapse, and a slot
  whose offers all ended without a taker (declined or lapsed) goes to the next entry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import structlog
from arq import cron
from arq.worker import func

from server.db import outreach as db
from server.db import waitlist as wl_db
from server.notifications import templates
from server.presenters import utcnow
from server.risk import outreach, waitlist
from workers import job_ids, notify
from workers.tracing import enqueue, traced

log = structlog.get_logger("outreach")

HORIZON_H = 72.0   # the plan's earliest touch is confirm_lead_h (48 h by default) ahead


async def _send_due(ctx: dict[str, Any], row: dict[str, Any]) -> int:
    if row["status"] != "BOOKED" or row["replied"] or row["scheduled_time"] is None:
        return 0
    pol = outreach.Policy.from_json(row["outreach_policy"])
    n = 0
    for event in outreach.due(row["tier"], row["scheduled_time"], utcnow(), pol):
        n += await enqueue(ctx, "send_notification", str(row["hospital_id"]), str(row["id"]),
                           event, job_id=job_ids.send_notification(row["id"], event))
    return n


async def plan_token(ctx: dict[str, Any], token_id: UUID) -> int:
    """The touches due now for one booking (a new score may make one due at once)."""
    row = await db.target(ctx["pool"], token_id)
    return await _send_due(ctx, row) if row else 0


async def schedule_outreach(ctx: dict[str, Any]) -> int:
    """Every 5 minutes: the outreach touches that have come due (the send job's once-only
    claim keeps each single, however often this runs)."""
    n = 0
    for row in await db.candidates(ctx["pool"], HORIZON_H):
        n += await _send_due(ctx, row)
    return n


# ------------------------------------------------------------------------------ waitlist
async def offer(ctx: dict[str, Any], token_id: UUID) -> list[str]:
    """Offer a freed slot to the next best entry (the hospital's window) and send it."""
    pool = ctx["pool"]
    slot_h = await pool.fetchval("SELECT hospital_id FROM tokens WHERE id = $1", token_id)
    if slot_h is None:
        return []
    pol = outreach.Policy.from_json(await db.policy(pool, slot_h))
    offers = await waitlist.offer_slot(pool, token_id, utcnow(), ctx["settings"].secret(),
                                       ttl=timedelta(minutes=pol.offer_minutes))
    for o in offers:
        log.info("waitlist offer made", entry_id=str(o.entry_id), slot_token_id=str(o.token_id),
                 expires_at=o.expires_at.isoformat())
        await enqueue(ctx, "send_waitlist_offer", str(o.entry_id), str(o.token_id),
                      job_id=job_ids.waitlist_offer(o.entry_id, o.token_id))
    return [str(o.entry_id) for o in offers]


@traced
@notify.retry_on_outage
async def send_waitlist_offer(ctx: dict[str, Any], entry_id: str, token_id: str) -> str:
    """The offer message to the waitlisted patient: the slot, the window, the /w/ link."""
    eid, tid = UUID(entry_id), UUID(token_id)
    info = await wl_db.offer_message_context(ctx["pool"], eid, tid)
    if info is None:
        return "gone"
    if info["offer_status"] != "OFFERED" or info["expires_at"] <= utcnow():
        return "stale"
    settings = ctx["settings"]
    lang = templates.language_for(info["patient_language"], info["department_language"],
                                  info["default_language"])
    minutes = max(1, round((info["expires_at"] - utcnow()).total_seconds() / 60))
    code = waitlist.offer_code(settings.secret(), eid, tid)
    body = templates.render("WAITLIST_OFFER", lang, templates.MessageContext(
        full_name=info["patient_name"], token_number="", department=info["department_name"],
        link=waitlist.offer_url(settings.base_url, code),
        scheduled_at=info["scheduled_time"].astimezone(ZoneInfo(info["timezone"])),
        offer_minutes=minutes))
    plan = notify.channel_plan(info, ctx["notify_sender"], None)
    if not plan:
        log.info("waitlist offer not sent: patient not opted in", entry_id=entry_id)
        return "skipped"

    async def claim(conn: Any, channel: str, masked: str) -> dict[str, Any]:
        return await wl_db.claim_offer_message(
            conn, hospital_id=info["hospital_id"], patient_id=info["patient_id"], entry_id=eid,
            token_id=tid, channel=channel, language=lang, body=body, to_masked=masked)

    outcome = "failed"
    for ch in plan:
        outcome = await notify._deliver(ctx, info, "WAITLIST_OFFER", ch, lang, body, claim)
        if outcome != "fallback":
            return outcome
    return outcome


async def pass_waitlist_offers(ctx: dict[str, Any]) -> int:
    """Every minute: lapsed offers close; slots left without a taker go to the next entry."""
    pool, now = ctx["pool"], utcnow()
    for entry_id, token_id in await wl_db.lapsed_offers(pool, now):
        async with pool.acquire() as conn, conn.transaction():
            if await wl_db.lock_slot(conn, token_id):
                await wl_db.close_offer(conn, entry_id, token_id, "EXPIRED", now)
    n = 0
    for token_id in await wl_db.slots_to_pass_on(pool):
        n += len(await offer(ctx, token_id))
    return n


FUNCTIONS = [func(send_waitlist_offer, max_tries=notify.NOTIFY_MAX_TRIES)]
CRON_JOBS = [
    cron(schedule_outreach, minute=set(range(2, 60, 5)), second=40, unique=True),
    cron(pass_waitlist_offers, second=20, unique=True, timeout=50),
]
