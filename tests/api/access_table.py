"""Who may call what: one row per endpoint, one expected status per kind of caller.

Rows are (method, path_template, body_factory, {role: status}). The template is filled with
`str.format(**world)` from helpers.staff_world (add keys there for new endpoints); the body
factory takes the same world and returns the JSON body (or None). test_access_matrix.py runs
every row for every role in ROLES. Append rows for new endpoints here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from tests.api.helpers import unique

ROLES = ("admin", "receptionist", "doctor", "nurse", "display", "anonymous")
STAFF_ROLES = ("admin", "receptionist", "doctor", "nurse")

World = dict[str, Any]
BodyFactory = Callable[[World], dict[str, Any] | None]


class Case(NamedTuple):
    method: str
    path: str
    body: BodyFactory | None
    expect: dict[str, int]


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
    # audit trail
    Case("GET", f"{API}/audit", None, admin_only()),
]
