"""The feature vector and its words: pure functions, table-driven."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest

from server.risk import features as F

DAY = date(2026, 3, 2)  # a Monday


def visit(**kw: object) -> F.VisitInputs:
    base: dict[str, object] = {"service_date": DAY, "booked_on": date(2026, 2, 23),
                               "slot": datetime(2026, 3, 2, 9, 30)}
    base.update(kw)
    return F.VisitInputs(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "name", "value"), [
    ({}, "lead_days", 7.0),
    ({"booked_on": DAY}, "same_day", 1.0),
    ({"booked_on": date(2025, 12, 1)}, "lead_days", float(F.LEAD_CAP_DAYS)),
    ({"booked_on": date(2026, 3, 5)}, "lead_days", 0.0),          # never negative
    ({}, "monday_morning", 1.0),
    ({"slot": datetime(2026, 3, 2, 15, 15)}, "late_afternoon", 1.0),
    ({"slot": datetime(2026, 3, 2, 15, 15)}, "monday_morning", 0.0),
    ({"service_date": date(2026, 3, 7)}, "saturday", 1.0),
    ({"age": 24}, "age_18_35", 1.0),
    ({"age": 70}, "age_65_plus", 1.0),
    ({"age": 40}, "age_18_35", 0.0),
    ({}, "age_unknown", 1.0),
    ({"distance_km": 10.0}, "distance_log", math.log1p(1.0)),
    ({}, "distance_unknown", 1.0),
    ({}, "first_visit", 1.0),
    ({"history": F.History(dept_visits=2)}, "first_visit", 0.0),
    ({"reminders_sent": 1, "reminders_delivered": 1}, "reminder_delivered", 1.0),
    ({"weather": "HEAVY_RAIN"}, "rain", 1.0),
    ({"weather": "HEAT"}, "heat", 1.0),
    ({}, "history_logit", 0.0),                                    # no history: exactly 0
    ({"history": F.History(booked=3, booked_no_shows=2, last_visit=date(2026, 2, 1),
                           last_was_no_show=True)}, "recent_no_show", 1.0),
    ({"history": F.History(booked=3, booked_no_shows=2, last_visit=date(2025, 6, 1),
                           last_was_no_show=True)}, "recent_no_show", 0.0),
])
def test_feature_values(kw: dict[str, object], name: str, value: float) -> None:
    f = F.vectorize(visit(**kw))
    assert tuple(f) == F.FEATURE_NAMES
    assert f[name] == pytest.approx(value)


@pytest.mark.parametrize(("k", "n", "sign"), [(0, 5, -1), (3, 4, 1), (1, 5, 0)])
def test_smoothed_history_moves_from_the_prior(k: int, n: int, sign: int) -> None:
    prior = F.BetaPrior(1.0, 4.0)  # mean 20%
    f = F.vectorize(visit(history=F.History(booked=n, booked_no_shows=k)), prior)
    assert math.copysign(1, f["history_logit"]) == sign or (
        sign == 0 and abs(f["history_logit"]) < 1e-9)


@pytest.mark.parametrize(("counts", "mean", "strong"), [
    ([(1, 5)] * 50, 0.2, True),                     # everyone alike: a strong prior
    ([(0, 10)] * 40 + [(10, 10)] * 10, 0.2, False),  # two kinds of patient: a weak prior
    ([], F.DEFAULT_PRIOR.mean, None),
])
def test_fit_beta_prior(counts: list[tuple[int, int]], mean: float, strong: bool | None) -> None:
    prior = F.fit_beta_prior(counts)
    assert prior.mean == pytest.approx(mean, abs=1e-9)
    strength = prior.alpha + prior.beta
    if strong is True:
        assert strength == F.MAX_STRENGTH
    elif strong is False:
        assert strength == F.MIN_STRENGTH


def test_histories_count_only_earlier_days() -> None:
    d1, d2, d3 = date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)
    recs = [
        F.OutcomeRecord("p", "CARD", d1, "ONLINE", "NO_SHOW"),
        F.OutcomeRecord("p", "CARD", d2, "ONLINE", "COMPLETED"),
        F.OutcomeRecord("p", "GEN", d2, "WALK_IN", "COMPLETED"),   # same day: not seen by d2
        F.OutcomeRecord("p", "CARD", d3, "ONLINE", "CANCELLED"),
        F.OutcomeRecord("q", "CARD", d3, "ONLINE", "COMPLETED"),
        F.OutcomeRecord("p", "CARD", d3, "ONLINE", "COMPLETED"),
    ]
    h = F.histories_before(recs)
    assert h[0] == F.History()
    assert (h[1].booked, h[1].booked_no_shows, h[1].dept_visits) == (1, 1, 1)
    assert h[1].last_was_no_show and h[1].last_visit == d1
    assert (h[2].visits, h[2].dept_visits) == (1, 0)              # first visit to GEN
    assert (h[5].booked, h[5].booked_no_shows, h[5].visits, h[5].dept_visits) == (2, 1, 3, 2)
    assert h[5].cancellations == 0 and not h[5].last_was_no_show
    assert h[4] == F.History()


def test_history_is_what_was_known_at_booking() -> None:
    """A visit booked on d1 for d3 does not see the outcome of d2 (its score could not)."""
    d1, d2, d3 = date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)
    recs = [
        F.OutcomeRecord("p", "CARD", d1, "ONLINE", "COMPLETED", d1),
        F.OutcomeRecord("p", "CARD", d2, "ONLINE", "NO_SHOW", d1),
        F.OutcomeRecord("p", "CARD", d3, "ONLINE", "COMPLETED", d2),   # booked on d2
        F.OutcomeRecord("p", "CARD", d3, "ONLINE", "COMPLETED", d1),   # booked on d1
        F.OutcomeRecord("p", "CARD", d3, "ONLINE", "COMPLETED", d3),   # booked on the day
    ]
    h = F.histories_before(recs)
    assert h[1] == F.History()                         # booked on d1: d1 not over yet
    assert (h[2].booked, h[2].booked_no_shows) == (1, 0)            # d1 only
    assert (h[3].booked, h[3].booked_no_shows) == (0, 0)
    assert (h[4].booked, h[4].booked_no_shows) == (2, 1) and h[4].last_was_no_show


def test_at_booking_drops_what_came_later() -> None:
    v = visit(booked_on=date(2026, 2, 9), reminders_sent=2, reminders_delivered=1,
              weather="RAIN")
    b = F.at_booking(v)
    assert (b.reminders_sent, b.reminders_delivered, b.weather) == (0, 0, None)
    near = F.at_booking(visit(booked_on=DAY, weather="RAIN"))
    assert near.weather == "RAIN"                      # forecast known at booking
    assert not set(F.KNOWN_LATER) & set(F.MODEL_FEATURES)


@pytest.mark.parametrize(("group", "kw", "words"), [
    ("lead", {"booked_on": date(2026, 2, 9)}, "booked 21 days ahead"),
    ("lead", {"booked_on": DAY}, "booked the same day"),
    ("history", {"history": F.History(booked=3, booked_no_shows=2)}, "missed 2 of 3 past visits"),
    ("history", {"history": F.History(booked=1)}, "attended all 1 past visit"),
    ("history", {}, "no past booked visits"),
    ("first_visit", {}, "first visit to this department"),
    ("slot", {}, "Monday morning slot"),
    ("distance", {"distance_km": 35.2, "commute_min": 80}, "lives 35 km away (80 min commute)"),
    ("age", {"age": 24}, "aged 24"),
    ("weather", {"weather": "RAIN"}, "rain forecast"),
])
def test_phrases(group: str, kw: dict[str, object], words: str) -> None:
    assert F.phrase(group, visit(**kw)) == words


def test_every_group_names_real_features() -> None:
    named = [n for names in F.GROUPS.values() for n in names]
    assert sorted(named) == sorted(F.FEATURE_NAMES)


def test_features_module_does_no_io() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(F))
    imported = {a.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import | ast.ImportFrom)
                for a in (node.names if isinstance(node, ast.Import)
                          else [ast.alias(node.module or "")])}
    assert imported <= {"__future__", "math", "collections", "dataclasses", "datetime", "typing"}
