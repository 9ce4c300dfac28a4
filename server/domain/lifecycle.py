"""The token state machine: statuses, actions and the only transitions allowed between them.

Every mutating endpoint and Lua-backed operation asks this module first, so a refused
transition is refused the same way everywhere (HTTP 409 naming the current status).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Status(StrEnum):
    """Where a token is in its life; values are stored as-is in PostgreSQL and Redis."""

    BOOKED = "BOOKED"
    WAITING = "WAITING"
    CALLED = "CALLED"
    IN_CONSULTATION = "IN_CONSULTATION"
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"
    CANCELLED = "CANCELLED"
    RESCHEDULED = "RESCHEDULED"


class Action(StrEnum):
    """What staff (or the patient, for check-in) can do to a token; values match the API paths."""

    CHECK_IN = "check-in"
    CALL = "call"
    START = "start"
    COMPLETE = "complete"
    RECALL = "recall"
    SKIP = "skip"
    NO_SHOW = "no-show"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    TRANSFER = "transfer"
    PRIORITY = "priority"
    REINSTATE = "reinstate"
    RUNNING_LATE = "running-late"


_S = Status
_A = Action

TRANSITIONS: Mapping[tuple[Status, Action], Status] = MappingProxyType(
    {
        # Booked online, not yet at the hospital.
        (_S.BOOKED, _A.CHECK_IN): _S.WAITING,
        (_S.BOOKED, _A.CANCEL): _S.CANCELLED,
        (_S.BOOKED, _A.RESCHEDULE): _S.RESCHEDULED,
        (_S.BOOKED, _A.TRANSFER): _S.BOOKED,
        (_S.BOOKED, _A.PRIORITY): _S.BOOKED,
        # a booked patient who never checked in by the end of the day (the record of a
        # booked no-show, which the no-show risk model learns from)
        (_S.BOOKED, _A.NO_SHOW): _S.NO_SHOW,
        # In the waiting room.
        (_S.WAITING, _A.CALL): _S.CALLED,
        (_S.WAITING, _A.CANCEL): _S.CANCELLED,
        # the doctor went on leave and no colleague is on shift to take the patient
        (_S.WAITING, _A.RESCHEDULE): _S.RESCHEDULED,
        (_S.WAITING, _A.NO_SHOW): _S.NO_SHOW,
        (_S.WAITING, _A.TRANSFER): _S.WAITING,
        (_S.WAITING, _A.PRIORITY): _S.WAITING,
        (_S.WAITING, _A.SKIP): _S.WAITING,  # hold: moved back a few places
        # the patient said they will be late: moved back by the consults that fit
        (_S.WAITING, _A.RUNNING_LATE): _S.WAITING,
        (_S.BOOKED, _A.RUNNING_LATE): _S.BOOKED,
        # Called to the cabin.
        (_S.CALLED, _A.START): _S.IN_CONSULTATION,
        (_S.CALLED, _A.RECALL): _S.CALLED,  # announced again
        (_S.CALLED, _A.SKIP): _S.WAITING,
        (_S.CALLED, _A.NO_SHOW): _S.NO_SHOW,
        # A tablet that presses Next without Start completes a CALLED token.
        (_S.CALLED, _A.COMPLETE): _S.COMPLETED,
        # With the doctor.
        (_S.IN_CONSULTATION, _A.COMPLETE): _S.COMPLETED,
        # Put back: the patient came back after being missed, or changed their mind the
        # same day (the queue action checks "the same day").
        (_S.NO_SHOW, _A.REINSTATE): _S.WAITING,
        (_S.CANCELLED, _A.REINSTATE): _S.WAITING,
    }
)
"""The complete table of allowed transitions; any pair not listed is refused."""

ACTIVE: frozenset[Status] = frozenset({Status.CALLED, Status.IN_CONSULTATION})
"""Statuses that occupy the doctor; at most one token per doctor may be in one of them."""

LIVE: frozenset[Status] = frozenset(
    {Status.BOOKED, Status.WAITING, Status.CALLED, Status.IN_CONSULTATION}
)
"""Statuses of tokens that still belong to today's queue (and to rebuilds of it)."""

TERMINAL: frozenset[Status] = frozenset(
    {Status.COMPLETED, Status.NO_SHOW, Status.CANCELLED, Status.RESCHEDULED}
)
"""Statuses that end a visit; only a same-day reinstate leads out of NO_SHOW and CANCELLED."""

SAME_DAY_ONLY: frozenset[Action] = frozenset(
    {Action.REINSTATE, Action.CHECK_IN, Action.RUNNING_LATE})
"""Actions allowed on a token of the hospital's today only."""

SAME_DAY_FROM: frozenset[Status] = frozenset(s for (s, a) in TRANSITIONS if a in SAME_DAY_ONLY)
"""Statuses whose allowed actions depend on whether the token is of today."""

PATIENT_ACTIONS: frozenset[Action] = frozenset(
    {Action.CHECK_IN, Action.RUNNING_LATE, Action.CANCEL})
"""What a patient may do themself, with the code of their link."""

LATE_LIMIT = 2
"""How often a patient may say "running late" in one day."""


class InvalidTransition(Exception):
    """A refused action; carries the current status so the API can name it in its 409."""

    def __init__(self, status: Status, action: Action) -> None:
        self.status = status
        self.action = action
        super().__init__(f"cannot {action.value} a token that is {status.value}")


_ALLOWED: Mapping[Status, frozenset[Action]] = MappingProxyType(
    {s: frozenset(a for (s2, a) in TRANSITIONS if s2 is s) for s in Status}
)


def next_status(status: Status, action: Action) -> Status:
    """Return the status after `action`, or raise InvalidTransition; the single gatekeeper."""
    try:
        return TRANSITIONS[(Status(status), Action(action))]
    except KeyError:
        raise InvalidTransition(Status(status), Action(action)) from None


def allowed_actions(status: Status) -> frozenset[Action]:
    """Actions a UI may offer for a token in `status` (so buttons match what the server allows)."""
    return _ALLOWED[Status(status)]
