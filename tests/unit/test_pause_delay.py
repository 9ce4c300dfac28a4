"""The pause's message rule (domain.delay): who is told of a delay, and when."""

from __future__ import annotations

import pytest

from server.domain.delay import (
    DEFAULT_THRESHOLD_MIN,
    pause_shift_min,
    to_tell_of_delay,
    to_tell_of_resume,
)

WAITING = ["a", "b", "c"]


@pytest.mark.parametrize(("expected", "elapsed", "shift"), [
    (None, 8 / 60, 8 / 60),     # an open pause of 8 seconds moves the ETAs by 8 seconds
    (5, 0.1, 5.0),              # a 5-minute break, just started
    (5, 17.0, 17.0),            # ... that ran over
    (30, 1.0, 30.0),            # the announced length counts from the start
    (None, -1.0, 0.0),          # a clock a little behind the record's
])
def test_a_pause_moves_the_etas_by_its_length_or_its_overrun(
        expected: int | None, elapsed: float, shift: float) -> None:
    assert pause_shift_min(expected, elapsed) == pytest.approx(shift)


def test_a_short_pause_tells_nobody() -> None:
    assert to_tell_of_delay(WAITING, set(), pause_shift_min(None, 8 / 60),
                            DEFAULT_THRESHOLD_MIN) == []
    assert to_tell_of_delay(WAITING, set(), 14.9, 15) == []


def test_a_move_at_the_threshold_tells_each_waiting_patient_once() -> None:
    assert to_tell_of_delay(WAITING, set(), 15, 15) == WAITING
    assert to_tell_of_delay(WAITING, {"a", "c"}, 40, 15) == ["b"]   # only who was not told
    assert to_tell_of_delay(WAITING, set(WAITING), 60, 15) == []


def test_the_threshold_is_the_hospitals() -> None:
    assert to_tell_of_delay(WAITING, set(), 20, 30) == []
    assert to_tell_of_delay(WAITING, set(), 20, 10) == WAITING


def test_on_resume_only_those_told_and_still_waiting_hear_again() -> None:
    assert to_tell_of_resume(WAITING, {"b", "z"}) == ["b"]   # z was called meanwhile
    assert to_tell_of_resume(WAITING, set()) == []
