"""Twilio delivery-status callbacks: signature checked, then notifications_log moves on.

Twilio signs the URL it called plus the form fields (X-Twilio-Signature, HMAC-SHA1 with the
auth token). Behind a proxy or load balancer the URL this process sees is not that one, so
the signature is checked against the public URL: TWILIO_STATUS_CALLBACK_URL when set (the
exact URL handed to Twilio), else PUBLIC_BASE_URL + the path.

Callbacks come late, twice and out of order; the status only moves forward (see
db.notifications.apply_status), and an unknown SID is acknowledged and ignored, since Twilio
does not retry a callback we refuse.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from server import metrics
from server.db import notifications as db
from server.errors import Forbidden, InvalidInput
from server.observability import redact
from server.routes import render
from server.settings import Settings

log = structlog.get_logger("webhooks")

STATUS_PATH = "/api/v1/webhooks/twilio/status"
UNSUBSCRIBED = 21610

# Twilio MessageStatus -> notifications_log.status
STATUSES = {
    "accepted": "SENT", "scheduled": "SENT", "queued": "SENT", "sending": "SENT",
    "sent": "SENT", "delivered": "DELIVERED", "read": "DELIVERED",
    "undelivered": "UNDELIVERED", "failed": "FAILED", "canceled": "FAILED",
}

# final statuses a callback reports, as opdq_notifications_total counts them (the worker
# counts "failed" when Twilio refuses the send itself)
CALLBACK_OUTCOMES = {"DELIVERED": "delivered", "UNDELIVERED": "undelivered",
                     "FAILED": "failed_callback"}


def public_url(settings: Settings, request: Request) -> str:
    """The URL Twilio called, as Twilio saw it."""
    if settings.twilio_status_callback_url:
        return str(settings.twilio_status_callback_url)
    query = request.url.query
    return settings.base_url + request.url.path + (f"?{query}" if query else "")


async def signed_form(request: Request, url: str) -> dict[str, str]:
    """The form Twilio posted, once its X-Twilio-Signature is checked against `url` (the
    URL Twilio called); 403 problem+json otherwise."""
    settings = render.state(request).settings
    raw = await request.body()
    params = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    signature = request.headers.get("x-twilio-signature", "")
    token = settings.twilio_auth_token
    if not token or not signature or not RequestValidator(token.get_secret_value()).validate(
            url, params, signature):
        log.warning("twilio callback with a bad signature refused", path=request.url.path)
        raise Forbidden("the X-Twilio-Signature does not match this request")
    return params


async def twilio_status(request: Request) -> Response:
    state = render.state(request)
    params = await signed_form(request, public_url(state.settings, request))
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not status:
        raise InvalidInput.field("MessageSid" if not sid else "MessageStatus", "is required")
    mapped = STATUSES.get(status)
    if mapped is None:
        return Response(status_code=204)  # inbound-only states ("receiving"): nothing to do
    raw_code = params.get("ErrorCode") or ""
    code = int(raw_code) if raw_code.isdigit() else None
    message = redact(params["ErrorMessage"]) if params.get("ErrorMessage") else None
    row = await db.apply_status(state.pool, sid, mapped, code, message)
    if row is None:
        log.info("twilio callback for an unknown message", sid=sid, status=status)
        return Response(status_code=204)
    if row["changed"] and mapped in CALLBACK_OUTCOMES:
        metrics.NOTIFICATIONS.labels(row["channel"].lower(), CALLBACK_OUTCOMES[mapped]).inc()
    if row["changed"] and code == UNSUBSCRIBED:
        await db.opt_out(state.pool, row["hospital_id"], row["patient_id"], row["channel"])
    log.info("twilio callback", sid=sid, twilio_status=status, status=row["status"],
             changed=row["changed"], error_code=code)
    return Response(status_code=204)


routes = [Route(STATUS_PATH, twilio_status, methods=["POST"])]
