"""The outreach plan by risk tier: pure, so by table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.risk import outreach as o

SLOT = datetime(2026, 11, 27, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(("tier", "events"), [
    (1, ["REMINDER_DAY_BEFORE", "REMINDER_2H"]),
    (2, ["REMINDER_DAY_BEFORE", "REMINDER_2H"]),
    (3, ["CONFIRM_REQUEST", "REMINDER_DAY_BEFORE", "REMINDER_2H"]),
    (4, ["CONFIRM_REQUEST", "REMINDER_DAY_BEFORE", "REMINDER_EXTRA", "REMINDER_2H"]),
    (5, ["CONFIRM_REQUEST", "REMINDER_DAY_BEFORE", "REMINDER_EXTRA", "REMINDER_2H"]),
])
def test_each_tier_plans_its_touches(tier: int, events: list[str]) -> None:
    assert [t.event for t in o.plan(tier, SLOT)] == events
    assert o.on_call_list(tier) is (tier >= 4)


@pytest.mark.parametrize(("tier", "hours_before", "due"), [
    (2, 30, []),                                 # standard reminders are not outreach's
    (3, 49, []),                                 # too early
    (3, 47, ["CONFIRM_REQUEST"]),
    (3, 10, ["CONFIRM_REQUEST"]),                # booked late: at once
    (5, 30, ["CONFIRM_REQUEST"]),
    (5, 19, ["REMINDER_EXTRA"]),                 # both due: the later only
    (5, 2, []),                                  # too close to the slot
])
def test_what_is_due(tier: int, hours_before: float, due: list[str]) -> None:
    assert o.due(tier, SLOT, SLOT - timedelta(hours=hours_before)) == due


def test_a_hospital_policy_overrides_the_defaults() -> None:
    pol = o.Policy.from_json({"confirm_tier": 4, "confirm_lead_h": 72, "offer_minutes": 15,
                              "call_tier": "x", "extra_tier": True})
    assert (pol.confirm_tier, pol.confirm_lead_h, pol.offer_minutes) == (4, 72.0, 15)
    assert (pol.call_tier, pol.extra_tier) == (4, 4)     # bad values keep the default
    assert o.due(3, SLOT, SLOT - timedelta(hours=10), pol) == []
    assert o.due(4, SLOT, SLOT - timedelta(hours=60), pol) == ["CONFIRM_REQUEST"]
