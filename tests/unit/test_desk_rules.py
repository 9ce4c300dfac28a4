"""The desk's pure rules: name search keys, search box parsing, who may do what, waited time,
and how far "running late" moves a patient back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.auth import token_rules
from server.auth.principal import Principal
from server.domain import lifecycle as lc
from server.domain.names import parse_search, search_key
from server.domain.ordering import late_places
from server.presenters import waited_min

TODAY = date(2026, 11, 26)
TODAY_PLUS_1 = TODAY + timedelta(days=1)
DOCTOR, OTHER, DEPT = uuid4(), uuid4(), uuid4()


def key_matches(name: str, query: str) -> bool:
    """What `name_key LIKE ALL (patterns)` answers, in Python."""
    key = search_key(name)
    terms = parse_search(query)
    return bool(terms.name_patterns) and all(
        (" " + p[2:-1]) in key for p in terms.name_patterns)


@pytest.mark.parametrize(("name", "query", "found"), [
    ("Rahul Sharma", "sha", True), ("Rahul Sharma", "SHARMA", True),
    ("Rahul Sharma", "arma", False), ("José Núñez", "nunez", True),
    ("Renée O'Brien", "brien", True), ("Anne-Marie Roy", "marie", True),
    ("राहुल शर्मा", "शर्", True), ("राहुल शर्मा", "शिर", False),
    ("ராஜா குமார்", "குமா", True), ("Rahul Sharma", "rahul sh", True),
    ("Rahul Sharma", "rahul x", False),
])
def test_name_search(name: str, query: str, found: bool) -> None:
    assert key_matches(name, query) is found


def test_indic_marks_are_kept() -> None:
    """Vowel signs and viramas spell the word: folding them away would mix names up."""
    assert search_key("शर्मा") != search_key("शरम")


@pytest.mark.parametrize(("q", "number", "seq", "digits"), [
    ("CARD-045", "CARD-045", None, None), ("card 45", "CARD-045", None, None),
    ("45", None, 45, None), ("98123", None, None, "98123"),
    ("+91 98123 45678", None, None, "919812345678"), ("Sharma", None, None, None),
])
def test_search_box(q: str, number: str | None, seq: int | None, digits: str | None) -> None:
    terms = parse_search(q)
    assert (terms.number, terms.seq, terms.phone_digits) == (number, seq, digits)


def who(role: str, **kw: Any) -> Principal:
    return Principal(kind="user", hospital_id=uuid4(), user_id=uuid4(), role=role, **kw)


def token(status: str, day: date = TODAY, **kw: Any) -> dict[str, Any]:
    return {"status": status, "service_date": day, "doctor_id": DOCTOR, "department_id": DEPT,
            "late_count": 0, **kw}


def test_no_staff_action_that_the_lifecycle_refuses() -> None:
    for role in ("admin", "receptionist", "nurse", "doctor"):
        p = who(role, doctor_id=DOCTOR, department_id=DEPT)
        for status in lc.Status:
            for action in token_rules.staff_actions(p, token(status), TODAY):
                lc.next_status(status, lc.Action(action))   # raises if refused


def test_reinstate_today_only_and_not_by_another_doctor() -> None:
    missed = token("NO_SHOW")
    assert "reinstate" in token_rules.staff_actions(who("receptionist"), missed, TODAY)
    assert "reinstate" in token_rules.staff_actions(who("doctor", doctor_id=DOCTOR), missed,
                                                    TODAY)
    assert token_rules.staff_actions(who("doctor", doctor_id=OTHER), missed, TODAY) == []
    yesterday = token("NO_SHOW", TODAY - timedelta(days=1))
    assert "reinstate" not in token_rules.staff_actions(who("admin"), yesterday, TODAY)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(["user", "display"]),
       role=st.sampled_from(["admin", "receptionist", "nurse", "doctor", None]),
       p_doctor=st.sampled_from([None, DOCTOR, OTHER]), p_dept=st.sampled_from([None, DEPT]),
       status=st.sampled_from(list(lc.Status)), t_doctor=st.sampled_from([None, DOCTOR, OTHER]),
       t_dept=st.sampled_from([DEPT, OTHER]), day=st.sampled_from([TODAY, TODAY_PLUS_1]))
def test_memoised_staff_actions_answer_as_the_rule_does(
        kind: str, role: str | None, p_doctor: Any, p_dept: Any, status: lc.Status,
        t_doctor: Any, t_dept: Any, day: date) -> None:
    """The list is memoised on what the rule reads; a key missing a field it reads would
    hand one queue's buttons to another's token."""
    p = Principal(kind=kind, hospital_id=DEPT, role=role,  # type: ignore[arg-type]
                  doctor_id=p_doctor, department_id=p_dept)
    row = token(status, day, doctor_id=t_doctor, department_id=t_dept)
    assert token_rules.staff_actions(p, row, TODAY) == \
        token_rules.staff_actions_uncached(p, row, TODAY)


def test_patient_actions() -> None:
    assert token_rules.patient_actions(token("WAITING"), TODAY) == ["cancel", "running-late"]
    assert token_rules.patient_actions(token("WAITING", late_count=2), TODAY) == ["cancel"]
    assert token_rules.patient_actions(token("BOOKED"), TODAY) == [
        "check-in", "cancel", "running-late"]
    tomorrow = token("BOOKED", TODAY + timedelta(days=1))
    assert token_rules.patient_actions(tomorrow, TODAY) == ["cancel"]
    for status in ("CALLED", "IN_CONSULTATION", "COMPLETED", "NO_SHOW", "CANCELLED"):
        assert token_rules.patient_actions(token(status), TODAY) == []


T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(("row", "minutes"), [
    ({"status": "BOOKED", "checked_in_at": None}, None),
    ({"status": "WAITING", "checked_in_at": T0}, 30),
    ({"status": "CALLED", "checked_in_at": T0, "called_at": T0 + timedelta(minutes=20)}, 30),
    ({"status": "IN_CONSULTATION", "checked_in_at": T0,
      "started_at": T0 + timedelta(minutes=25)}, 25),
    ({"status": "COMPLETED", "checked_in_at": T0, "started_at": T0 + timedelta(minutes=12),
      "completed_at": T0 + timedelta(minutes=22)}, 12),
    ({"status": "NO_SHOW", "checked_in_at": T0, "no_show_at": T0 + timedelta(minutes=18)}, 18),
])
def test_waited_min(row: dict[str, Any], minutes: int | None) -> None:
    assert waited_min(row, T0 + timedelta(minutes=30)) == minutes


@pytest.mark.parametrize(("late", "mean", "places"), [
    (10, 10.0, 1), (20, 10.0, 2), (30, 10.0, 3), (10, 12.0, 1), (30, 7.0, 4), (10, 45.0, 1)])
def test_late_places(late: int, mean: float, places: int) -> None:
    assert late_places(late, mean) == places
