"""Who may call what: one row per endpoint, one expected status per kind of caller.

Rows are (method, path_template, body_factory, {role: status}). The template is filled with
`str.format(**world)` from test_access_matrix.queue_world (helpers.staff_world plus the live
queue's ids; add keys there for new endpoints); the body factory takes the same world and
returns the JSON body (or None). test_access_matrix.py runs every row for every role in ROLES.
Append rows for new endpoints here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import httpx

from tests.api.helpers import auth, unique
from tests.push_keys import browser_keys

ROLES = ("admin", "receptionist", "doctor", "nurse", "display", "anonymous")
STAFF_ROLES = ("admin", "receptionist", "doctor", "nurse")

World = dict[str, Any]
BodyFactory = Callable[[World], dict[str, Any] | None]
Setup = Callable[[httpx.AsyncClient, World], Awaitable[None]]


class Case(NamedTuple):
    method: str
    path: str
    body: BodyFactory | None
    expect: dict[str, int]
    # the call changes the state it needs (a token's status, a doctor's pause): every caller
    # gets a world of its own, prepared by `setup` when given
    fresh: bool = False
    setup: Setup | None = None


def staff_read(ok: int = 200) -> dict[str, int]:
    """Any staff user of the hospital; not a board, not the anonymous public."""
    return {role: ok for role in STAFF_ROLES} | {"display": 403, "anonymous": 401}


def only(roles: tuple[str, ...], ok: int) -> dict[str, int]:
    out = {role: (ok if role in roles else 403) for role in ROLES}
    out["anonymous"] = 401
    return out


def admin_only(ok: int = 200) -> dict[str, int]:
    return only(("admin",), ok)


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def signed_in(ok: int = 200) -> dict[str, int]:
    """Staff and boards alike."""
    return dict.fromkeys(ROLES, ok) | {"anonymous": 401}


def _department(w: World) -> dict[str, Any]:
    return {"name": "ENT", "code": unique("E")}


def _cabin(w: World) -> dict[str, Any]:
    return {"department_id": str(w["department_id"]), "number": unique("C-")}


def _doctor(w: World) -> dict[str, Any]:
    return {"name": "Dr. Iyer", "department_id": str(w["department_id"])}


def _shift(w: World) -> dict[str, Any]:
    return {"doctor_id": str(w["doctor_id"]), "cabin_id": str(w["cabin_id"]),
            "date": "2030-02-01", "start": "14:00", "end": "17:00"}


def _user(w: World) -> dict[str, Any]:
    return {"username": unique("staff"), "password": "long-enough-pw", "role": "receptionist"}


def _display(w: World) -> dict[str, Any]:
    return {"department_id": str(w["department_id"]), "name": "Lobby"}


def _const(body: dict[str, Any]) -> BodyFactory:
    return lambda w: body


API = "/api/v1"

CASES: list[Case] = [
    # auth
    Case("POST", f"{API}/auth/login",
         lambda w: {"username": w["usernames"]["admin"], "password": "correct-horse-battery"},
         everyone(200)),
    Case("GET", f"{API}/me", None, signed_in(200)),
    Case("POST", f"{API}/auth/logout", None, everyone(204)),
    Case("GET", f"{API}/auth/lockouts", None, admin_only()),
    # departments
    Case("GET", f"{API}/departments", None, staff_read()),
    Case("POST", f"{API}/departments", _department, admin_only(201)),
    Case("GET", f"{API}/departments/{{department_id}}", None, staff_read()),
    Case("PATCH", f"{API}/departments/{{department_id}}", _const({"buffer_min": 4}),
         admin_only()),
    # cabins
    Case("GET", f"{API}/cabins", None, staff_read()),
    Case("POST", f"{API}/cabins", _cabin, admin_only(201)),
    Case("GET", f"{API}/cabins/{{cabin_id}}", None, staff_read()),
    Case("PATCH", f"{API}/cabins/{{cabin_id}}", _const({"floor": "2"}), admin_only()),
    # doctors
    Case("GET", f"{API}/doctors", None, staff_read()),
    Case("POST", f"{API}/doctors", _doctor, admin_only(201)),
    Case("GET", f"{API}/doctors/{{doctor_id}}", None, staff_read()),
    Case("PATCH", f"{API}/doctors/{{doctor_id}}", _const({"phone": "+919812345678"}),
         admin_only()),
    # shifts
    Case("GET", f"{API}/shifts", None, staff_read()),
    Case("POST", f"{API}/shifts", _shift, admin_only(201)),
    Case("GET", f"{API}/shifts/{{shift_id}}", None, staff_read()),
    Case("PATCH", f"{API}/shifts/{{shift_id}}", _const({"end": "13:30"}), admin_only()),
    # users
    Case("GET", f"{API}/users", None, admin_only()),
    Case("POST", f"{API}/users", _user, admin_only(201)),
    Case("GET", f"{API}/users/{{user_id}}", None, admin_only()),
    Case("PATCH", f"{API}/users/{{user_id}}", _const({"full_name": "Asha K"}), admin_only()),
    # display keys
    Case("GET", f"{API}/displays", None, admin_only()),
    Case("POST", f"{API}/displays", _display, admin_only(201)),
    Case("GET", f"{API}/displays/{{display_id}}", None, admin_only()),
    Case("PATCH", f"{API}/displays/{{display_id}}", _const({"name": "Lobby 2"}), admin_only()),
    Case("DELETE", f"{API}/displays/{{display_id}}", None, admin_only(204)),
    # audit trail (setup changes and token history, JSON or CSV)
    Case("GET", f"{API}/audit", None, admin_only()),
    Case("GET", f"{API}/audit?source=all&format=csv", None, admin_only()),
    # hospital settings: read by every staff role, changed by admins
    Case("GET", f"{API}/hospital", None, staff_read()),
    Case("PATCH", f"{API}/hospital", _const({"summary_hour": 19}), admin_only()),
    Case("GET", f"{API}/daily-summaries", None, admin_only()),
    # reports: per-doctor performance, admins only (receptionists, nurses and doctors: 403)
    Case("GET", f"{API}/reports/daily", None, admin_only()),
    Case("GET", f"{API}/reports/daily?format=csv", None, admin_only()),
    Case("GET", f"{API}/reports/daily/summary", None, admin_only()),
]


# ---------------------------------------------------------------------------------------
# the live queue: patients, tokens, doctors' queues, boards, patient links. The world is
# test_access_matrix.queue_world: staff_world plus patient_id, patient_uhid, doctor2_id (same
# department), today's shifts, and tokens of the doctor: called_id (current), waiting_id,
# booked_id (ONLINE, today) with code (its signed patient code).
# ---------------------------------------------------------------------------------------
DESK = ("admin", "receptionist", "nurse")      # the department's nurse
QUEUE = ("admin", "doctor", "nurse")           # the queue's own doctor, the department's nurse
GEO_INSIDE = {"lat": 12.9716, "lon": 77.5946}  # queue_world's hospital


def _patient(w: World) -> dict[str, Any]:
    return {"name": "Ravi Kumar", "phone": "+91 98123 45678"}


def _token(w: World) -> dict[str, Any]:
    return {"patient_id": str(w["patient_id"]), "doctor_id": str(w["doctor_id"]),
            "booking_type": "WALK_IN", "allow_duplicate": True}


async def _missed(client: httpx.AsyncClient, w: World) -> None:
    r = await client.post(f"/api/v1/tokens/{w['called_id']}/no-show",
                          headers=auth(w["tokens"]["admin"]))
    assert r.status_code == 200, r.text


def _transfer(w: World) -> dict[str, Any]:
    return {"doctor_id": str(w["doctor2_id"])}


def _next(w: World) -> dict[str, Any]:
    return {"current_token_id": str(w["called_id"])}


def _leave(w: World) -> dict[str, Any]:
    return {"start": "2030-01-07T09:00:00+05:30", "end": "2030-01-07T13:00:00+05:30",
            "reason": "conference"}


async def _paused(client: httpx.AsyncClient, w: World) -> None:
    r = await client.post(f"/api/v1/doctors/{w['doctor_id']}/pause",
                          headers=auth(w["tokens"]["admin"]))
    assert r.status_code == 200, r.text


def _token_action(token: str, action: str, who: tuple[str, ...],
                  body: BodyFactory | None = None) -> Case:
    return Case("POST", f"{API}/tokens/{{{token}}}/{action}", body, only(who, 200), fresh=True)


CASES += [
    # patients
    Case("POST", f"{API}/patients", _patient, only(DESK, 201)),
    Case("GET", f"{API}/patients?phone=%2B919800000001", None, staff_read()),
    Case("GET", f"{API}/patients?uhid={{patient_uhid}}", None, staff_read()),
    Case("GET", f"{API}/patients?q=meera", None, staff_read()),
    Case("GET", f"{API}/patients/{{patient_id}}", None, staff_read()),
    Case("PATCH", f"{API}/patients/{{patient_id}}", _const({"language": "hi"}), only(DESK, 200),
         fresh=True),
    # tokens
    Case("GET", f"{API}/tokens", None, staff_read()),
    Case("GET", f"{API}/tokens?q=meera&status=WAITING", None, staff_read()),
    Case("POST", f"{API}/tokens", _token, only(DESK, 201)),
    Case("GET", f"{API}/tokens/{{waiting_id}}", None, staff_read()),
    Case("GET", f"{API}/tokens/{{waiting_id}}/history", None, staff_read()),
    _token_action("booked_id", "check-in", DESK),
    _token_action("waiting_id", "cancel", DESK, _const({"reason": "went home"})),
    _token_action("booked_id", "reschedule", DESK),
    _token_action("waiting_id", "priority", DESK, _const({"priority": 2})),
    # the doctor's tablet transfers too (DESIGN.md), in the doctor's own queue
    _token_action("waiting_id", "transfer", (*DESK, "doctor"), _transfer),
    _token_action("called_id", "start", QUEUE),
    _token_action("called_id", "complete", QUEUE),
    _token_action("called_id", "recall", QUEUE),
    _token_action("called_id", "skip", QUEUE),
    _token_action("called_id", "no-show", QUEUE),
    # the desk takes a missed patient back; so may the doctor's tablet, in its own queue
    Case("POST", f"{API}/tokens/{{called_id}}/reinstate", None, only((*DESK, "doctor"), 200),
         fresh=True, setup=_missed),
    # a doctor's queue
    Case("POST", f"{API}/doctors/{{doctor_id}}/next", _next, only(QUEUE, 200), fresh=True),
    Case("POST", f"{API}/doctors/{{doctor_id}}/pause", None, only(QUEUE, 200), fresh=True),
    Case("POST", f"{API}/doctors/{{doctor_id}}/resume", None, only(QUEUE, 200), fresh=True,
         setup=_paused),
    Case("POST", f"{API}/doctors/{{doctor_id}}/leave", _leave, admin_only(201)),
    Case("GET", f"{API}/doctors/{{doctor_id}}/queue", None, staff_read()),
    Case("GET", f"{API}/departments/{{department_id}}/board", None, signed_in(200)),
    # the patient's link: anyone holding the code, whatever else they send
    Case("GET", f"{API}/public/tokens/{{code}}", None, everyone(200)),
    Case("POST", f"{API}/public/tokens/{{code}}/check-in", _const(GEO_INSIDE), everyone(200),
         fresh=True),
    Case("POST", f"{API}/public/tokens/{{code}}/running-late", _const({"minutes": 10}),
         everyone(200), fresh=True),
    Case("POST", f"{API}/public/tokens/{{code}}/cancel", None, everyone(200), fresh=True),
]


# ---------------------------------------------------------------------------------------
# insight: live alerts (admins and nurses; the desk and the tablets are refused) and the
# messages view (the desk's roles). queue_world holds alert_id (an open alert of the
# department) and notification_id (a failed SMS of waiting_id).
# ---------------------------------------------------------------------------------------
ALERTS = ("admin", "nurse")

CASES += [
    Case("GET", f"{API}/alerts", None, only(ALERTS, 200)),
    Case("GET", f"{API}/alerts?status=resolved", None, only(ALERTS, 200)),
    Case("POST", f"{API}/alerts/{{alert_id}}/resolve", None, only(ALERTS, 200), fresh=True),
    Case("GET", f"{API}/notifications", None, only(DESK, 200)),
    Case("GET", f"{API}/notifications?token_id={{waiting_id}}", None, only(DESK, 200)),
    Case("POST", f"{API}/notifications/{{notification_id}}/resend", None, only(DESK, 202),
         fresh=True),
]

# ---------------------------------------------------------------------------------------
# integrations (docs/integrations.md): managed by the hospital's admins, logged in. The world
# holds api_key_id and webhook_id (test_access_matrix.queue_world).
# ---------------------------------------------------------------------------------------
CASES += [
    Case("GET", f"{API}/api-keys", None, admin_only()),
    Case("POST", f"{API}/api-keys", _const({"name": "HIS", "role": "receptionist"}),
         admin_only(201)),
    Case("GET", f"{API}/api-keys/{{api_key_id}}", None, admin_only()),
    Case("DELETE", f"{API}/api-keys/{{api_key_id}}", None, admin_only(204)),
    Case("GET", f"{API}/webhooks", None, admin_only()),
    Case("POST", f"{API}/webhooks", _const({"url": "https://hooks.example.com/opdq",
                                            "events": ["token.called"]}), admin_only(201)),
    Case("GET", f"{API}/webhooks/{{webhook_id}}", None, admin_only()),
    Case("PATCH", f"{API}/webhooks/{{webhook_id}}", _const({"status": "PAUSED"}), admin_only()),
    Case("GET", f"{API}/webhooks/{{webhook_id}}/deliveries", None, admin_only()),
    Case("DELETE", f"{API}/webhooks/{{webhook_id}}", None, admin_only(204)),
]

# ---------------------------------------------------------------------------------------
# no-show model versions (any staff; an unknown version is 404 to them)
CASES += [
    Case("GET", f"{API}/risk/models", None, staff_read()),
    Case("GET", f"{API}/risk/models/compare?a=v1&b=v2", None, staff_read(404)),
]

# ---------------------------------------------------------------------------------------
# no-show prevention: the waitlist (the desk keeps it; any staff reads it), the outreach call
# list (any staff; the phone masked for doctors), offers by code (a made-up code: 404 for all)
# ---------------------------------------------------------------------------------------
OFFER = "A" * 43 + "." + "B" * 16


def _waitlist_entry(w: World) -> dict[str, Any]:
    return {"patient_id": str(w["patient_id"]), "department_id": str(w["department_id"]),
            "desired_date": w["tomorrow"]}


CASES += [
    Case("GET", f"{API}/waitlist", None, staff_read()),
    Case("POST", f"{API}/waitlist", _waitlist_entry, only(DESK, 201), fresh=True),
    Case("PATCH", f"{API}/waitlist/{{waitlist_id}}", _const({"urgency": 2}), only(DESK, 200),
         fresh=True),
    Case("GET", f"{API}/public/waitlist/{OFFER}", None, everyone(404)),
    Case("POST", f"{API}/public/waitlist/{OFFER}/accept", None, everyone(404)),
    Case("POST", f"{API}/public/waitlist/{OFFER}/decline", None, everyone(404)),
    Case("GET", f"{API}/risk/outreach", None, staff_read()),
    Case("GET", f"{API}/risk/outreach?format=csv", None, staff_read()),
    # the day's risk per tier and department: any staff; prevention's cost and return: admins
    Case("GET", f"{API}/risk/summary", None, staff_read()),
    Case("GET", f"{API}/risk/summary?date={{tomorrow}}", None, staff_read()),
    Case("GET", f"{API}/risk/roi", None, admin_only()),
    Case("GET", f"{API}/risk/roi?format=csv", None, admin_only()),
]


# ---------------------------------------------------------------------------------------
# web push for the patient's page: the key for anyone, a subscription for the code's holder
# ---------------------------------------------------------------------------------------
def _push_subscription(w: World) -> dict[str, Any]:
    return browser_keys("https://push.example.com/send/matrix").subscription


CASES += [
    Case("GET", f"{API}/public/push/key", None, everyone(200)),
    Case("POST", f"{API}/public/tokens/{{code}}/push", _push_subscription, everyone(201)),
    Case("DELETE", f"{API}/public/tokens/{{code}}/push",
         _const({"endpoint": "https://push.example.com/send/matrix"}), everyone(204)),
]

# ---------------------------------------------------------------------------------------
# ABDM Scan & Share: the gateway's own bearer, never a staff session; not served unless
# configured (the matrix's app is not: tests/integrations/test_abdm.py runs it configured)
CASES += [
    Case("POST", f"{API}/abdm/v1.0/patients/profile/share",
         _const({"requestId": "matrix-1", "profile": {"hipCode": "HIP", "patient": {
             "name": "Asha Rao", "phoneNumber": "9812345678"}}}), everyone(404)),
]
