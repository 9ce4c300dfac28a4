"""Who may take which action on a token: one rule for the routes that check it on the locked
row and for the `allowed_actions` the pages draw their buttons from (API.md, "The desk's
day"), so no page keeps its own copy of the lifecycle table."""

from __future__ import annotations

from datetime import date
from typing import Any

from server.auth.principal import Principal, can_act_on_queue
from server.domain import lifecycle as lc

A = lc.Action

# what the front desk does to any token of the hospital
DESK_ACTIONS = frozenset({A.CHECK_IN, A.CANCEL, A.TRANSFER, A.PRIORITY, A.RESCHEDULE,
                          A.REINSTATE})
# of those, what the doctor's tablet does too (DESIGN.md), in the doctor's own queue
DOCTOR_DESK_ACTIONS = frozenset({A.TRANSFER, A.REINSTATE})
# never a staff button: calling is the doctor's Next; running late is the patient's word
NOT_STAFF = frozenset({A.CALL, A.RUNNING_LATE})


def refusal(p: Principal, action: lc.Action, row: dict[str, Any]) -> str | None:
    """Why `p` may not take `action` on the token `row`, or None when they may."""
    if action in NOT_STAFF:
        return f"staff do not {action.value} tokens this way"
    if p.role == "admin":
        return None
    if p.role == "receptionist" and action in DESK_ACTIONS:
        return None
    if p.role == "doctor" and action in DESK_ACTIONS - DOCTOR_DESK_ACTIONS:
        return f"the desk or the nurse may {action.value} tokens, not a doctor"
    if row["doctor_id"] and can_act_on_queue(p, doctor_id=row["doctor_id"],
                                             department_id=row["department_id"]):
        return None
    if p.role == "nurse" and p.department_id == row["department_id"]:
        return None
    return f"you may not {action.value} tokens of this queue"


def _today_only(action: lc.Action, row: dict[str, Any], today: date) -> bool:
    return action not in lc.SAME_DAY_ONLY or row["service_date"] == today


def staff_actions(p: Principal, row: dict[str, Any], today: date) -> list[str]:
    """The actions `p` may take on the token now, in the lifecycle's order. Memoised on what
    the rule reads (a queue's list asks it once per token with a handful of distinct
    answers): who `p` is to the token's queue, its status, whether it is of today."""
    key = (p.kind, p.role, p.doctor_id is not None and p.doctor_id == row["doctor_id"],
           p.department_id is not None and p.department_id == row["department_id"],
           bool(row["doctor_id"]), row["status"], row["service_date"] == today)
    found = _STAFF_ACTIONS.get(key)
    if found is None:
        found = _STAFF_ACTIONS[key] = tuple(staff_actions_uncached(p, row, today))
    return list(found)


def staff_actions_uncached(p: Principal, row: dict[str, Any], today: date) -> list[str]:
    allowed = lc.allowed_actions(lc.Status(row["status"]))
    return [a.value for a in lc.Action
            if a in allowed and _today_only(a, row, today) and refusal(p, a, row) is None]


# bounded by its key's few values (kinds x roles x 2^4 x statuses)
_STAFF_ACTIONS: dict[tuple[Any, ...], tuple[str, ...]] = {}


def patient_actions(row: dict[str, Any], today: date) -> list[str]:
    """What the patient may do from their page now."""
    out = []
    for a in lc.Action:
        if a not in lc.PATIENT_ACTIONS or a not in lc.allowed_actions(lc.Status(row["status"])):
            continue
        if not _today_only(a, row, today) or row["service_date"] < today:
            continue
        if a is A.RUNNING_LATE and row.get("late_count", 0) >= lc.LATE_LIMIT:
            continue
        out.append(a.value)
    return out
