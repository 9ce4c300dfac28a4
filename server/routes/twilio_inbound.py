"""Replies to outreach messages: Twilio's inbound webhook (SMS and WhatsApp).

A patient answers a CONFIRM_REQUEST or REMINDER_EXTRA with YES or NO. The reply is matched
to the booking whose reply-asking message this number received last (a BOOKED token, slot
still ahead): YES confirms it (the desk's call list shows it answered), NO cancels it like a
patient's own cancel, which frees the slot for the waitlist and sends the usual CANCELLED
message. Anything else is acknowledged and left to the desk. Twilio's signature is checked
as for delivery callbacks (against PUBLIC_BASE_URL + the path); a retried webhook (same
MessageSid) changes nothing. Never logs the number or the text.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.db import outreach as db
from server.domain.lifecycle import Action
from server.errors import Conflict, InvalidInput
from server.queue import Actor
from server.routes import render
from server.routes.webhooks import signed_form

log = structlog.get_logger("webhooks")

INBOUND_PATH = "/api/v1/webhooks/twilio/inbound"
YES_WORDS = frozenset({"YES", "Y", "YEAH", "OK", "CONFIRM", "HAAN", "HA", "हाँ", "हां", "हा"})
NO_WORDS = frozenset({"NO", "N", "NAHI", "NAHIN", "CANCEL", "नहीं", "नही"})
ACK = {
    "en": {"CONFIRMED": "Thank you, your visit is confirmed.",
           "CANCELLED": "", "IGNORED": ""},
    "hi": {"CONFIRMED": "धन्यवाद, आपका आना पक्का है।", "CANCELLED": "", "IGNORED": ""},
}


def parse_reply(body: str) -> str | None:
    """'yes', 'Yes!', ' y ' -> YES; 'no thanks' -> NO; anything else None."""
    words = body.strip().split()
    if not words:
        return None
    first = words[0].strip(".,!?").upper()
    if first in YES_WORDS:
        return "YES"
    if first in NO_WORDS:
        return "NO"
    return None


def twiml(text: str) -> Response:
    inner = f"<Message>{escape(text)}</Message>" if text else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>',
                    media_type="text/xml")


async def twilio_inbound(request: Request) -> Response:
    state = render.state(request)
    params = await signed_form(request, state.settings.base_url + INBOUND_PATH)
    sid = params.get("MessageSid") or params.get("SmsSid")
    sender = params.get("From") or ""
    if not sid or not sender:
        raise InvalidInput.field("MessageSid" if not sid else "From", "is required")
    if await db.reply_seen(state.pool, sid) is not None:
        return twiml("")  # Twilio retried: answered already
    reply = parse_reply(params.get("Body") or "")
    channel = "WHATSAPP" if sender.startswith("whatsapp:") else "SMS"
    phone = sender.removeprefix("whatsapp:")
    target = await db.reply_target(state.pool, [phone]) if reply else None
    if target is None:
        log.info("inbound message with nothing to answer", reply=reply or "other",
                 channel=channel)
        return twiml("")
    outcome = "CONFIRMED"
    if reply == "NO":
        try:
            await render.service(request).act(
                target["hospital_id"], Actor("patient"), target["token_id"], Action.CANCEL,
                reason="you replied NO", note="cancelled by the patient's reply NO")
            outcome = "CANCELLED"
        except Conflict:
            outcome = "IGNORED"  # moved on meanwhile (checked in, cancelled at the desk)
    await db.record_reply(state.pool, hospital_id=target["hospital_id"],
                          token_id=target["token_id"], reply=reply or "", channel=channel,
                          provider_id=sid, outcome=outcome)
    log.info("booking reply", token_id=str(target["token_id"]), reply=reply, outcome=outcome,
             channel=channel)
    lang = target["language"] if target["language"] in ACK else "en"
    return twiml(ACK[lang][outcome])


routes = [Route(INBOUND_PATH, twilio_inbound, methods=["POST"])]
