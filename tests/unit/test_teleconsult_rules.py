"""The teleconsult suggestion's rules (server/risk/teleconsult.py), by table."""

from __future__ import annotations

import pytest

from server.risk import teleconsult as tc

CASES = [
    # visit reason, days since seen in the department, suggested, rule
    ("Follow-up after angioplasty", 20, True, "follow-up"),
    ("follow up", 0, True, "follow-up"),
    ("Review of blood test results", 45, True, "report review"),
    ("BP medication refill", 90, True, "stable chronic"),
    ("Follow-up", 91, False, None),            # seen too long ago
    ("Follow-up", None, False, None),          # never seen in this department
    ("Chest pain since morning", 3, False, None),
    ("reporter's back pain", 3, False, None),  # whole words only
    ("", 3, False, None),
    (None, 3, False, None),
]


@pytest.mark.parametrize(("reason", "days", "suggested", "rule"), CASES)
def test_default_rules(reason: str | None, days: int | None, suggested: bool,
                       rule: str | None) -> None:
    out = tc.suggest(reason, days, tc.DEFAULT)
    assert (out.suggested, out.rule) == (suggested, rule)
    if suggested and days not in (0, 1):
        assert out.reason is not None and f"{days} days ago" in out.reason


def test_reason_names_the_rule_and_the_last_visit() -> None:
    assert tc.suggest("follow-up", 12).reason == \
        "follow-up visit; seen in this department 12 days ago"
    assert tc.suggest("follow-up", 1).reason == \
        "follow-up visit; seen in this department 1 day ago"


def test_hospital_rules_replace_the_defaults() -> None:
    rules = tc.Rules.from_json({"within_days": 30, "rules": [
        {"name": "diabetes", "keywords": ["HbA1c", "sugar"], "reason": "diabetes review"}]})
    assert rules.within_days == 30
    assert tc.suggest("sugar check", 10, rules).reason == \
        "diabetes review; seen in this department 10 days ago"
    assert not tc.suggest("follow-up", 10, rules).suggested     # defaults replaced
    assert not tc.suggest("sugar check", 31, rules).suggested


def test_bad_or_disabled_settings() -> None:
    assert tc.Rules.from_json(None) == tc.DEFAULT
    assert tc.Rules.from_json("yes") == tc.DEFAULT
    odd = tc.Rules.from_json({"within_days": -4, "rules": [{"keywords": []}, 7, {"x": 1}]})
    assert odd.within_days == tc.DEFAULT.within_days and odd.rules == ()
    off = tc.Rules.from_json({"enabled": False})
    assert not tc.suggest("follow-up", 2, off).suggested
