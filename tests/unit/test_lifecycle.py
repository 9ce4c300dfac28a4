"""Token state machine: every (Status, Action) pair is the documented transition or refused."""

from __future__ import annotations

import itertools

import pytest

from server.domain.lifecycle import (
    ACTIVE,
    LIVE,
    SAME_DAY_ONLY,
    TERMINAL,
    TRANSITIONS,
    Action,
    InvalidTransition,
    Status,
    allowed_actions,
    next_status,
)

S, A = Status, Action

EXPECTED: dict[tuple[Status, Action], Status] = {
    (S.BOOKED, A.CHECK_IN): S.WAITING,
    (S.BOOKED, A.CANCEL): S.CANCELLED,
    (S.BOOKED, A.RESCHEDULE): S.RESCHEDULED,
    (S.BOOKED, A.TRANSFER): S.BOOKED,
    (S.BOOKED, A.PRIORITY): S.BOOKED,
    (S.BOOKED, A.NO_SHOW): S.NO_SHOW,
    (S.WAITING, A.CALL): S.CALLED,
    (S.WAITING, A.CANCEL): S.CANCELLED,
    (S.WAITING, A.RESCHEDULE): S.RESCHEDULED,
    (S.WAITING, A.NO_SHOW): S.NO_SHOW,
    (S.WAITING, A.TRANSFER): S.WAITING,
    (S.WAITING, A.PRIORITY): S.WAITING,
    (S.WAITING, A.SKIP): S.WAITING,
    (S.CALLED, A.START): S.IN_CONSULTATION,
    (S.CALLED, A.RECALL): S.CALLED,
    (S.CALLED, A.SKIP): S.WAITING,
    (S.CALLED, A.NO_SHOW): S.NO_SHOW,
    (S.CALLED, A.COMPLETE): S.COMPLETED,
    (S.IN_CONSULTATION, A.COMPLETE): S.COMPLETED,
    (S.WAITING, A.RUNNING_LATE): S.WAITING,
    (S.BOOKED, A.RUNNING_LATE): S.BOOKED,
    (S.NO_SHOW, A.REINSTATE): S.WAITING,
    (S.CANCELLED, A.REINSTATE): S.WAITING,
}

ALL_PAIRS = list(itertools.product(Status, Action))


def test_table_is_exactly_the_spec() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("status", "action"), ALL_PAIRS, ids=lambda x: str(x))
def test_every_pair(status: Status, action: Action) -> None:
    if (status, action) in EXPECTED:
        assert next_status(status, action) is EXPECTED[(status, action)]
        assert action in allowed_actions(status)
    else:
        with pytest.raises(InvalidTransition) as info:
            next_status(status, action)
        assert info.value.status is status
        assert info.value.action is action
        assert status.value in str(info.value)
        assert action not in allowed_actions(status)


def test_message_names_action_and_status() -> None:
    with pytest.raises(InvalidTransition, match=r"^cannot skip a token that is COMPLETED$"):
        next_status(S.COMPLETED, A.SKIP)


def test_plain_strings_are_accepted() -> None:
    assert next_status("WAITING", "call") is S.CALLED  # type: ignore[arg-type]


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_states_allow_nothing_but_a_reinstate(status: Status) -> None:
    back = {S.NO_SHOW, S.CANCELLED}
    assert allowed_actions(status) == (frozenset({A.REINSTATE}) if status in back
                                       else frozenset())


def test_status_sets() -> None:
    assert frozenset({S.CALLED, S.IN_CONSULTATION}) == ACTIVE
    assert ACTIVE <= LIVE
    assert frozenset(Status) == LIVE | TERMINAL
    assert not LIVE & TERMINAL
    # Only live tokens can move, except that a missed or cancelled one can be put back.
    assert all(src in LIVE or a is A.REINSTATE for (src, a) in TRANSITIONS)
    assert {a for a in Action if a in SAME_DAY_ONLY} == {A.CHECK_IN, A.REINSTATE,
                                                         A.RUNNING_LATE}


def test_enum_values() -> None:
    assert [a.value for a in Action] == [
        "check-in",
        "call",
        "start",
        "complete",
        "recall",
        "skip",
        "no-show",
        "cancel",
        "reschedule",
        "transfer",
        "priority",
        "reinstate",
        "running-late",
    ]
    assert all(s.value == s.name for s in Status)
