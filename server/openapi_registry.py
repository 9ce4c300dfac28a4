"""The catalogue behind the OpenAPI document (server/openapi.py): one `Op` per method and
path of the HTTP API (API.md), with its summary, the pydantic models its route validates, its
success answer (a shape of server/openapi_shapes.py) and who may call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from server.domain.lifecycle import Action
from server.models import admin as admin_models
from server.models import integrations as integ
from server.models import push as push_models
from server.models import queue as q
from server.models import reports as reports_models
from server.models.hospital import HospitalPatch
from server.openapi_shapes import (
    NextResult,
    PublicToken,
    QueueView,
    Token,
    TokenList,
)
from server.routes.abdm import SHARE_PATH as ABDM_SHARE_PATH
from server.routes.admin import RESOURCES
from server.routes.alerts import AlertQuery
from server.routes.audit import AuditQuery
from server.routes.auth import LockoutQuery, LoginBody
from server.routes.notifications import MessageQuery
from server.routes.risk_insight import RoiQuery
from server.routes.risk_insight import SummaryQuery as RiskSummaryQuery
from server.routes.risk_models import CompareQuery
from server.routes.risk_outreach import OutreachQuery
from server.routes.summaries import SummaryQuery
from server.routes.twilio_inbound import INBOUND_PATH
from server.routes.waitlist import (
    OFFER_CODE_PATTERN,
    WaitlistCreate,
    WaitlistPatch,
    WaitlistQuery,
)
from server.routes.webhooks import STATUS_PATH
from server.security import links

API = "/api/v1"
OPENAPI_PATH = f"{API}/openapi.json"

Auth = Literal["none", "signed-in", "staff", "admin", "admin-login", "desk", "queue",
               "token-action", "board", "patient-code", "twilio", "alerts", "abdm-gateway"]


# --------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    tag: str
    auth: Auth
    ok: int = 200
    response: str = "OK"
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    returns: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    description: str = ""
    extra_params: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    raw_body: dict[str, Any] | None = None      # {media type: schema} of a non-JSON body
    csv: bool = False                           # also answers text/csv (`format=csv`)
    media: str = "application/json"             # the success answer's media type


# calling is the doctor's Next; running late is the patient's word, from their own page
ACTIONS = [a.value for a in Action if a not in (Action.CALL, Action.RUNNING_LATE)]
# actions with a body of their own are described at their own path (a concrete path is matched
# before the template), so each body is the one its action takes
ACTION_BODIES: dict[str, type[BaseModel]] = {Action.TRANSFER.value: q.TransferBody,
                                             Action.PRIORITY.value: q.PriorityBody}
PLAIN_ACTIONS = [a for a in ACTIONS if a not in ACTION_BODIES]
# path parameters that are no ids: their formats
PATH_PATTERNS = {"code": links.CODE_PATTERN, "offer_code": OFFER_CODE_PATTERN}


def _admin_ops() -> list[Op]:
    ops = []
    for res in RESOURCES:
        name = res.table.entity
        base = f"{API}/{res.path}"
        readers: Auth = "admin" if res.readers == ("admin",) else "staff"
        ops += [
            Op("GET", base, f"List {res.path}", "Admin", readers, query=res.filters,
               response=f"The hospital's {res.path}: `{{\"items\": [...]}}`."),
            Op("POST", base, f"Create a {name}", "Admin", "admin", 201, f"The new {name}.",
               body=res.create, errors=(409,)),
            Op("GET", f"{base}/{{id}}", f"Read a {name}", "Admin", readers,
               response=f"The {name}."),
            Op("PATCH", f"{base}/{{id}}", f"Change a {name}", "Admin", "admin",
               response=f"The changed {name}.", body=res.patch, errors=(409,)),
        ]
    return ops


def registry() -> list[Op]:
    return [
        Op("GET", OPENAPI_PATH, "This document", "Meta", "none",
           response="The OpenAPI 3.1 document of the API."),
        # auth
        Op("POST", f"{API}/auth/login", "Log in", "Auth", "none",
           response="`{token, expires_at, user}`; also sets the session cookie.",
           body=LoginBody, errors=(401, 429),
           description=(
               "Failed logins are throttled (429 with Retry-After): per username and client "
               "address after a few free failures with a doubling delay, per address past a "
               "high ceiling, and, for a username failing from many addresses, for the "
               "addresses that failed. A right password from an address that has not failed "
               "for that user is not refused (unless the address is over its ceiling); a "
               "success clears that address's failures for the user.")),
        Op("GET", f"{API}/auth/lockouts", "Recent login lock-outs", "Auth", "admin",
           response="`{\"items\": [...]}`, newest first (at most 200): each lock-out of a user "
                    "of the hospital, once per failure window: `id`, `user_id`, `username`, "
                    "`scope` (`pair`: one address, `user`: many addresses, `address`: the "
                    "address's ceiling), `address`, `failures`, `retry_after_s`, `message`, "
                    "`created_at`.",
           query=LockoutQuery),
        Op("POST", f"{API}/auth/logout", "Log out", "Auth", "none", 204,
           "Session revoked (if any) and cookie cleared."),
        Op("GET", f"{API}/me", "Who am I", "Auth", "signed-in",
           response="The user (or display key) and its hospital."),
        # admin
        *_admin_ops(),
        Op("GET", f"{API}/displays", "List display keys", "Admin", "admin",
           response="The hospital's display keys (never the keys themselves)."),
        Op("POST", f"{API}/displays", "Create a display key", "Admin", "admin", 201,
           "`{id, key, board_url, ...}`: the key is shown once.",
           body=admin_models.DisplayCreate),
        Op("GET", f"{API}/displays/{{id}}", "Read a display key", "Admin", "admin",
           response="The display key's record."),
        Op("PATCH", f"{API}/displays/{{id}}", "Rename a display key", "Admin", "admin",
           response="The changed record.", body=admin_models.DisplayPatch),
        Op("DELETE", f"{API}/displays/{{id}}", "Revoke a display key", "Admin", "admin", 204,
           "Revoked; boards using it are disconnected."),
        Op("GET", f"{API}/audit", "Audit trail", "Admin", "admin",
           response="`{\"items\": [...], \"next_cursor\"}` newest first: `id`, `source` "
                    "(setup, tokens), `at`, `actor` (`kind`, `id`, `username`, `role`, "
                    "`api_key`), `actor_id`, `api_key_id`, `entity`, `entity_id`, "
                    "`token_number`, `action`, `changes`. With `format=csv`, every matching "
                    "row (at most 10,000) as CSV.",
           query=AuditQuery, csv=True,
           description=("Setup changes (`source=setup`, the default), token history "
                        "(`source=tokens`: each transition with who, from and to status, "
                        "reason), or both (`all`); days in the hospital's calendar.")),
        Op("GET", f"{API}/hospital", "Hospital settings", "Admin", "staff",
           response="`id`, `name`, `code`, `timezone`, `address` ({lat, lon} or null), "
                    "`geofence` ({lat, lon, radius_m} or null), `geofence_check` "
                    "({address_inside, distance_m} or null), `languages` ({messages, board}), "
                    "`alert_thresholds` (effective values), `alert_threshold_limits` "
                    "({min, max, default} per threshold), "
                    "`reinstate` (per department), `costs` ({currency, sms, whatsapp, "
                    "slot_value}), `delay_notify_min`, `summary_hour`, `outreach_policy` "
                    "(effective values, its `teleconsult` rules included), `updated_at`."),
        Op("GET", f"{API}/daily-summaries", "Daily summaries", "Insight", "admin",
           response="`{\"items\": [...]}` newest first: `date`, `text` (as the admins read "
                    "it), `template_text`, `written_by` (template, model), `figures`, "
                    "`created_at`.",
           query=SummaryQuery,
           description=("Written by the workers each evening at the hospital's "
                        "`summary_hour` (local time), from a template; a language model, when "
                        "configured, may only reword it.")),
        Op("PATCH", f"{API}/hospital", "Change hospital settings", "Admin", "admin",
           response="The settings as GET shows them; each change audited.",
           body=HospitalPatch,
           description=("The address point must lie inside the geofence when both are "
                        "set (422 naming `geofence` or `address`, with the distance).")),
        # patients
        Op("POST", f"{API}/patients", "Register a patient", "Patients", "desk", 201,
           "The patient; the phone in E.164, a UHID generated when none is given.",
           body=q.PatientCreate, errors=(409,)),
        Op("GET", f"{API}/patients", "Find patients by name, phone or UHID", "Patients",
           "staff", response="`{\"items\": [...], \"patients\": [...]}` (the same list), "
                             "newest first (at most 50).", query=q.PatientQuery,
           description=("`q`: every typed word a prefix of a word of the name (case- and "
                        "accent-insensitive, any script), or 4+ digits of the phone, or the "
                        "UHID.")),
        Op("GET", f"{API}/patients/{{patient_id}}", "Read a patient", "Patients", "staff",
           response="The patient with `visits` (their tokens, newest first)."),
        Op("PATCH", f"{API}/patients/{{patient_id}}", "Correct a patient's record", "Patients",
           "desk", response="The patient; the change is audited with its old values.",
           body=q.PatientPatch),
        # tokens
        Op("POST", f"{API}/tokens", "Issue a token", "Tokens", "desk", 201,
           "The token. WALK_IN and EMERGENCY wait at once; ONLINE is BOOKED until check-in. "
           "Given a department, the on-shift doctor with the shortest expected wait gets it.",
           body=q.TokenCreate, returns=Token, errors=(409,),
           description=("409 `/problems/duplicate-token` (with `existing_token_id` and "
                        "`existing_token`) when the patient already has a BOOKED, WAITING or "
                        "CALLED token in the department that day, unless `allow_duplicate`.")),
        Op("GET", f"{API}/tokens", "The desk's list of a day", "Tokens", "staff",
           response="`{\"items\": [...], \"next_cursor\"}` newest first; CSV with "
                    "`format=csv` or `Accept: text/csv`.", query=q.TokenListQuery,
           returns=TokenList, csv=True,
           description=("`q` matches a token number (`CARD-045`, `45`), a prefix of any word "
                        "of the patient's name, or 4+ digits of the phone.")),
        Op("GET", f"{API}/tokens/{{token_id}}", "Read a token", "Tokens", "staff",
           response="The token with its live position and ETA.", returns=Token),
        Op("GET", f"{API}/tokens/{{token_id}}/history", "A token's history", "Tokens", "staff",
           response="`{\"history\": [...]}`: every transition with who, when and why."),
        Op("POST", f"{API}/tokens/{{token_id}}/{{action}}", "Act on a token", "Tokens",
           "token-action", response="The token after the action.", body=q.ActionBody,
           body_required=False, returns=Token, errors=(409,),
           description=(
               "One transition of the token lifecycle (DESIGN.md), with an optional "
               "`{\"reason\"}`. `transfer` and `priority` take bodies of their own (below). A "
               "transition the lifecycle refuses answers 409 naming the current status.")),
        Op("POST", f"{API}/tokens/{{token_id}}/transfer", "Transfer a token", "Tokens",
           "token-action", response="The token, now waiting for the other doctor.",
           body=q.TransferBody, returns=Token, errors=(409,),
           description=("The `{action}` transfer: to `doctor_id`, a doctor of the token's "
                        "department (422 naming doctor_id otherwise).")),
        Op("POST", f"{API}/tokens/{{token_id}}/priority", "Change a token's priority",
           "Tokens", "token-action", response="The token with its new priority and place.",
           body=q.PriorityBody, returns=Token, errors=(409,),
           description="The `{action}` priority: 1 normal, 2 senior, 3 emergency."),
        # doctors
        Op("POST", f"{API}/doctors/{{doctor_id}}/next", "Next (the tablet's button)", "Queue",
           "queue", response="Completes the current token (if any) and calls the next one.",
           body=q.NextBody, body_required=False, returns=NextResult, errors=(409,),
           description=("Send the `current_token_id` the tablet shows (null: nobody); a "
                        "second tablet or double tap that saw an older state gets 409.")),
        Op("POST", f"{API}/doctors/{{doctor_id}}/pause", "Pause the doctor", "Queue", "queue",
           response="`{doctor_id, status, pause_until, reason}`.", body=q.PauseBody,
           body_required=False, errors=(409,)),
        Op("POST", f"{API}/doctors/{{doctor_id}}/resume", "Resume the doctor", "Queue", "queue",
           response="`{doctor_id, status, ...}`.", body=q.PauseBody, body_required=False,
           errors=(409,)),
        Op("POST", f"{API}/doctors/{{doctor_id}}/leave", "Record a doctor's leave", "Queue",
           "admin", 201,
           "`{id, affected, moved, rescheduled, redistribution_status}`: the doctor's BOOKED "
           "and WAITING tokens in the window moved to colleagues, or rescheduled.",
           body=q.LeaveBody),
        Op("GET", f"{API}/doctors/{{doctor_id}}/queue", "A doctor's queue", "Queue", "staff",
           response="The doctor (with status), the current token and the waiting ones in "
                    "queue order.", returns=QueueView),
        Op("GET", f"{API}/departments/{{department_id}}/board", "A department's board",
           "Queue", "board",
           response="Per cabin: the doctor, the current token and the next ones, with "
                    "masked names and ETAs."),
        # public
        Op("GET", f"{API}/public/tokens/{{code}}", "The patient's token", "Public",
           "patient-code", response="Number, status, position, ETA, cabin and doctor name "
                                    "(nothing personal).", returns=PublicToken, errors=(429,)),
        Op("POST", f"{API}/public/tokens/{{code}}/check-in", "Self check-in", "Public",
           "patient-code", response="The token, now waiting.", body=q.GeoBody,
           returns=PublicToken, errors=(403, 409, 429),
           description="Refused (403, with `distance_m`) outside the hospital's geofence."),
        Op("POST", f"{API}/public/tokens/{{code}}/running-late", "I'll be late", "Public",
           "patient-code", response="The token, moved back by the consults that fit.",
           body=q.RunningLate, returns=PublicToken, errors=(409, 429),
           description="At most twice a day; a booked patient keeps the booking."),
        Op("POST", f"{API}/public/tokens/{{code}}/cancel", "Cancel my visit", "Public",
           "patient-code", response="The token, cancelled.", body_required=False,
           returns=PublicToken, errors=(409, 429)),
        Op("GET", f"{API}/public/push/key", "The web push key", "Public", "none",
           response="`{\"public_key\"}`: the VAPID public key (base64url) a page subscribes "
                    "with (PushManager.subscribe's applicationServerKey).", errors=(429,)),
        Op("POST", f"{API}/public/tokens/{{code}}/push", "Notify my browser", "Public",
           "patient-code", 201, "`{id, notify_at_position, expires_at}`: pushes when the token "
           "is this near the front and when it is called, until the end of its day.",
           body=push_models.PushSubscribe, errors=(409, 429),
           description="The browser's PushSubscription (https endpoint, p256dh and auth "
                       "keys); again with the same endpoint updates it. At most 5 browsers "
                       "per token; 409 for a visit that is over."),
        Op("DELETE", f"{API}/public/tokens/{{code}}/push", "Stop notifying my browser",
           "Public", "patient-code", 204, "No content.", body=push_models.PushUnsubscribe,
           body_required=False, errors=(429,)),
        # waitlist
        Op("POST", f"{API}/waitlist", "Put a patient on the waitlist", "Waitlist", "desk", 201,
           "The waitlist entry.", body=WaitlistCreate, errors=(409,)),
        Op("GET", f"{API}/waitlist", "The waitlist", "Waitlist", "staff",
           response="`{\"entries\": [...]}`.", query=WaitlistQuery),
        Op("PATCH", f"{API}/waitlist/{{entry_id}}", "Manage a waitlist entry", "Waitlist",
           "desk", response="The entry: `status` (WAITING, CANCELLED to take it off the "
           "list), `urgency` (0 routine, 1 soon, 2 urgent), `preferred_doctor_id`, "
           "`desired_date`; with its `offers`.", body=WaitlistPatch, errors=(409,)),
        Op("GET", f"{API}/public/waitlist/{{offer_code}}", "An offered slot", "Public",
           "patient-code", response="`status` (OPEN, EXPIRED, ACCEPTED, DECLINED, WITHDRAWN), "
           "`department`, `scheduled_time`, `timezone`, `expires_at`, `language` (nothing "
           "personal).", errors=(429,)),
        Op("POST", f"{API}/public/waitlist/{{offer_code}}/accept", "Accept an offered slot",
           "Public", "patient-code", 201, "The booked token: number, status, slot, doctor, "
           "cabin and the patient's link.", errors=(409, 429)),
        Op("POST", f"{API}/public/waitlist/{{offer_code}}/decline", "Decline an offered slot",
           "Public", "patient-code", response="`{\"status\": \"DECLINED\"}`; the slot "
           "passes to the next entry within a minute.", errors=(409, 429)),
        # no-show prevention
        Op("GET", f"{API}/risk/outreach", "The outreach call list", "Risk", "staff",
           response="`{\"date\", \"items\": [...]}` highest risk first: the token, "
           "patient (phone masked for doctors), `risk` (tier, score, badge, model_version, "
           "factors), `call` (on the desk's call list), `touches` planned (event, at, "
           "status), `sent`, `replies`, `answer` (YES/NO). `format=csv` or "
           "`Accept: text/csv`.", query=OutreachQuery, csv=True,
           description="The bookings of `date` (default: tomorrow) the outreach plan "
                       "targets (tier 3 and above by default)."),
        # operations
        Op("GET", f"{API}/reports/daily", "Daily figures per doctor", "Reports", "admin",
           response="`{\"items\": [...], \"next_cursor\"}`: a row per day x doctor, oldest "
                    "day first; CSV with `format=csv` or `Accept: text/csv` (the whole range, "
                    "not paged).", query=reports_models.ReportQuery,
           returns=reports_models.ReportList, csv=True,
           description=("Computed by the daily metrics job after each day closes "
                        "(docs/reports.md says how each figure is made). Admins only: "
                        "per-doctor performance is personnel data.")),
        Op("GET", f"{API}/reports/daily/summary", "Daily figures, all selected doctors "
           "together", "Reports", "admin",
           response="`{\"items\": [...]}`: a row per day; wait percentiles over every wait "
                    "of the day.", query=reports_models.SummaryQuery,
           returns=reports_models.DayTotals),
        Op("GET", f"{API}/dashboard/today", "Today's dashboard", "Admin", "admin",
           response="Queue lengths, waits, consult times and no-shows, by hour."),
        # insight: live alerts, messages
        Op("GET", f"{API}/alerts", "Live alerts", "Insight", "alerts",
           response="`{\"items\": [...], \"next_cursor\"}` newest first: `id`, `kind` "
                    "(LONG_WAIT, BOTTLENECK, DOCTOR_IDLE, DOCTOR_LATE_START, MESSAGES_FAILING, "
                    "and the per-message NOTIFICATION_* kinds), `severity`, `message`, "
                    "`department_id`, `details`, `created_at`, `status`, `resolved_at`, "
                    "`resolved_by`, `resolution` (auto, manual), `action` (BOTTLENECK: the "
                    "transfers that would even the queues).",
           query=AlertQuery,
           description=("Raised and resolved by the workers every minute; pushed live as "
                        "`alert.raised` / `alert.resolved` on `/ws/admin`.")),
        Op("POST", f"{API}/alerts/{{alert_id}}/resolve", "Resolve an alert", "Insight",
           "alerts", response="The alert, resolved by the caller (audited).", errors=(409,),
           description=("A live alert resolved while its condition still holds is not "
                        "raised again until the condition has ended.")),
        Op("GET", f"{API}/notifications", "Messages sent to patients", "Insight", "desk",
           response="`{\"items\": [...], \"next_cursor\"}` newest first: `channel`, "
                    "`event`, `status` (PENDING, SENT, DELIVERED, READ, FAILED, SKIPPED), "
                    "`error_code`, `error` (in words), `to` (masked), times, `can_resend`; "
                    "`body` for admins only.",
           query=MessageQuery),
        Op("POST", f"{API}/notifications/{{notification_id}}/resend",
           "Send a failed message again", "Insight", "desk", 202,
           "The message, PENDING again: the workers send it once more (audited).",
           errors=(409,),
           description=("Once per message; refused (409) for one that did not fail, was "
                        "resent already, or reached the patient on another channel.")),
        # no-show risk (docs/risk.md)
        Op("GET", f"{API}/risk/models", "No-show model versions", "No-show prevention", "staff",
           response="`{\"items\": [...]}` newest first: `version`, `kind` (prior, logistic), "
                    "`active`, `trained_at`, hold-out `auc`, `brier`, `ece`, `n_train`, "
                    "`n_test`, `base_rate`."),
        Op("GET", f"{API}/risk/models/compare", "Compare two model versions",
           "No-show prevention", "staff",
           response="`{a, b, bookings, changed, up, down, moves: {\"2->3\": n}}`: upcoming "
                    "bookings whose tier differs between the versions.",
           query=CompareQuery, errors=(404,),
           description="Re-scores each upcoming booking's latest stored features with both."),
        Op("GET", f"{API}/risk/summary", "A day's no-show risk per tier and department",
           "No-show prevention", "staff",
           response="`{date, total, tiers: {\"1\": n, ..., \"5\": n}, high, mean_score, "
                    "departments: [{department_id, name, total, tiers, high, mean_score}]}`: "
                    "the day's scored tokens (latest score), cancelled and rescheduled ones "
                    "left out; `high` = tiers 4 and 5.", query=RiskSummaryQuery),
        Op("GET", f"{API}/risk/roi", "What no-show prevention cost and recovered",
           "No-show prevention", "admin",
           response="`{from, to, currency, costs, messages: {sent, by_channel, by_event, cost}, "
                    "no_shows: {bookings, expected, observed, by_tier: [...]}, waitlist: "
                    "{refilled, value}, net}`. `format=csv` or `Accept: text/csv`.",
           query=RoiQuery, csv=True,
           description="Reminders, outreach touches and waitlist offers billed (sent) in the "
                       "period, priced with the hospital's costs; expected no-shows (sum of "
                       "the latest scores' probabilities) vs observed, per tier, over online "
                       "bookings with a known outcome; freed slots a waitlisted patient "
                       "accepted, times the slot value. A period longer than 366 days is "
                       "cut to its last 366 (the answer's `from` says so)."),
        # integrations (docs/integrations.md)
        Op("GET", f"{API}/api-keys", "List API keys", "Integrations", "admin-login",
           response="The hospital's API keys (never the keys themselves)."),
        Op("POST", f"{API}/api-keys", "Create an API key", "Integrations", "admin-login", 201,
           "`{id, key, key_prefix, name, role, ...}`: the key is shown once; send it as "
           "`Authorization: Bearer <key>`.", body=integ.ApiKeyCreate),
        Op("GET", f"{API}/api-keys/{{id}}", "Read an API key", "Integrations", "admin-login",
           response="The key's record (`last_used_at`, `revoked_at`)."),
        Op("DELETE", f"{API}/api-keys/{{id}}", "Revoke an API key", "Integrations",
           "admin-login", 204, "Revoked: refused from the next request on."),
        Op("GET", f"{API}/webhooks", "List webhook subscriptions", "Integrations",
           "admin-login", response="The hospital's subscriptions (never their secrets)."),
        Op("POST", f"{API}/webhooks", "Subscribe a URL to events", "Integrations",
           "admin-login", 201,
           "`{id, secret, url, events, status, ...}`: the secret is shown once.",
           body=integ.WebhookCreate,
           description=("Each delivery is a POST signed `X-OPDQ-Signature: t=<unix>,v1=<hex "
                        "HMAC-SHA256 of \"t.body\">` with `X-OPDQ-Delivery: <id>`, retried "
                        "with backoff until a 2xx, in event order. Private and loopback "
                        "addresses are refused (422 naming url).")),
        Op("GET", f"{API}/webhooks/{{id}}", "Read a webhook subscription", "Integrations",
           "admin-login", response="The subscription (`status`, `paused_reason`, "
                                   "`failing_since`)."),
        Op("PATCH", f"{API}/webhooks/{{id}}", "Change or pause a subscription", "Integrations",
           "admin-login", response="The changed subscription.", body=integ.WebhookPatch),
        Op("DELETE", f"{API}/webhooks/{{id}}", "Delete a subscription", "Integrations",
           "admin-login", 204, "Deleted with its deliveries."),
        Op("GET", f"{API}/webhooks/{{id}}/deliveries", "A subscription's deliveries",
           "Integrations", "admin-login", query=integ.DeliveriesQuery,
           response="`{\"items\": [...]}` newest first: `id` (the X-OPDQ-Delivery), "
                    "`event_seq`, `event_type`, `status` (PENDING, RETRYING, DELIVERED), "
                    "`attempts`, `response_code`, `error`, times."),
        Op("POST", STATUS_PATH, "Twilio delivery status", "Webhooks", "twilio", 204,
           "Recorded (or ignored when unknown).", errors=(403, 422),
           raw_body={"application/x-www-form-urlencoded": {"type": "object", "properties": {
               "MessageSid": {"type": "string"}, "MessageStatus": {"type": "string"},
               "ErrorCode": {"type": "string"}, "ErrorMessage": {"type": "string"}},
               "required": ["MessageSid", "MessageStatus"]}}),
        Op("POST", ABDM_SHARE_PATH, "ABDM Scan & Share: a patient's profile", "Webhooks",
           "abdm-gateway", 202, errors=(400, 404, 413, 415, 422),
           response="Accepted: the on-share body also sent to the gateway's "
                    "`/v1.0/patients/profile/on-share`: `acknowledgement.tokenNumber` (the "
                    "walk-in token) or `error`; `resp.requestId` the share's.",
           description="The gateway posts the profile shared at a counter's QR; the patient is "
                       "found (ABHA, or phone and name) or registered, and a walk-in token of "
                       "the counter's department issued. A repeated requestId answers the same "
                       "token. Shapes from memory of ABDM's HIP API (docs/integrations.md).",
           raw_body={"application/json": {"type": "object", "properties": {
               "requestId": {"type": "string", "minLength": 1, "maxLength": 100},
               "timestamp": {"type": "string"},
               "metaData": {"type": "object"},
               "profile": {"type": "object", "properties": {
                   "hipCode": {"type": "string"}, "context": {"type": "string"},
                   "patient": {"type": "object"}}, "required": ["patient"]}},
               "required": ["requestId", "profile"]}}),
        Op("POST", INBOUND_PATH, "Twilio inbound message (a reply)", "Webhooks", "twilio",
           response="TwiML: an acknowledgement, or empty.", errors=(403, 422),
           media="text/xml",
           description="YES confirms, NO cancels the booking whose confirm-by-reply message "
                       "this number received last.",
           raw_body={"application/x-www-form-urlencoded": {"type": "object", "properties": {
               "MessageSid": {"type": "string"}, "From": {"type": "string"},
               "Body": {"type": "string"}}, "required": ["MessageSid", "From"]}}),
    ]
