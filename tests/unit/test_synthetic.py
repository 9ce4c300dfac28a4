"""The synthetic clinic history: deterministic, plausible, and true to its documented model."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import phonenumbers
import pytest

from server.synthetic import SynthVisit, best_possible_auc, generate_history

START = date(2026, 1, 5)  # a Monday


@pytest.fixture(scope="module")
def large() -> list[SynthVisit]:
    """Big enough that rates are estimated to about a percent."""
    return generate_history(
        seed=11, n_patients=3000, start=START, days=120, visits_per_day=300,
        department_codes=("GEN", "CARD", "ORTH"),
    ).visits


def _booked(visits: list[SynthVisit]) -> list[SynthVisit]:
    return [v for v in visits if v.booking_type == "ONLINE"]


def test_same_seed_same_history_other_seed_other_history() -> None:
    a = generate_history(seed=3, start=START)
    b = generate_history(seed=3, start=START)
    c = generate_history(seed=4, start=START)
    assert a == b
    assert a.visits != c.visits
    assert [p.name for p in a.patients] != [p.name for p in c.patients]


def test_default_size_generates_fast() -> None:
    t0 = time.perf_counter()
    history = generate_history(seed=1, n_patients=200, start=START, days=42)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert len(history.patients) == 200
    assert 1000 < len(history.visits) < 2000


def test_shape_of_visits() -> None:
    history = generate_history(seed=5, start=START, department_codes=("GEN", "CARD", "ORTH"))
    visits = history.visits
    assert visits == sorted(visits, key=lambda v: (v.service_date, v.hour))
    assert {v.department_code for v in visits} == {"GEN", "CARD", "ORTH"}
    assert not any(v.service_date.weekday() == 6 for v in visits)  # Sundays closed
    for v in visits:
        assert v.dow == v.service_date.weekday()
        assert (v.booking_type, v.slot_time is None) in {("WALK_IN", True), ("ONLINE", False)}
        assert (v.service_date - v.booked_on).days == v.lead_time_days >= 0
        if v.booking_type == "WALK_IN":
            assert v.lead_time_days == 0 and not v.reminder_sent and not v.cancelled
        else:
            assert v.slot_time is not None and v.hour == v.slot_time.hour
        assert 0.0 < v.p_no_show < 1.0
        assert not (v.no_show and v.cancelled)
        showed = not v.no_show and not v.cancelled
        assert (v.consult_min > 0) == showed and (v.wait_min > 0) == showed
    # patients come back: their own record carries information
    visits_per_patient = np.bincount([v.patient_key for v in visits], minlength=200)
    assert np.median(visits_per_patient) >= 4


def test_rates_are_plausible(large: list[SynthVisit]) -> None:
    booked = _booked(large)
    walk_ins = [v for v in large if v.booking_type == "WALK_IN"]
    counted = [v for v in booked if not v.cancelled]
    assert 0.45 < len(booked) / len(large) < 0.65
    assert 0.15 <= np.mean([v.no_show for v in counted]) <= 0.21
    assert 0.15 <= np.mean([v.p_no_show for v in booked]) <= 0.21
    assert np.mean([v.no_show for v in walk_ins]) < 0.04
    assert 0.015 < np.mean([v.p_no_show for v in walk_ins]) < 0.03
    assert 0.02 < np.mean([v.cancelled for v in booked]) < 0.04
    assert 0.57 < np.mean([v.reminder_sent for v in booked]) < 0.63
    # outcomes are drawn from p: observed and expected no-shows agree
    assert abs(sum(v.no_show for v in counted) - sum(v.p_no_show for v in counted)) < 0.03 * len(
        counted
    )


def test_reminder_relative_risk_is_about_077(large: list[SynthVisit]) -> None:
    booked = _booked(large)
    reminded = np.mean([v.p_no_show for v in booked if v.reminder_sent])
    not_reminded = np.mean([v.p_no_show for v in booked if not v.reminder_sent])
    assert reminded / not_reminded == pytest.approx(0.77, abs=0.05)


def test_documented_effects_point_the_right_way(large: list[SynthVisit]) -> None:
    booked = [v for v in _booked(large) if not v.reminder_sent]

    def mean_p(pred: object) -> float:
        return float(np.mean([v.p_no_show for v in booked if pred(v)]))  # type: ignore[operator]

    assert mean_p(lambda v: v.lead_time_days >= 20) > mean_p(lambda v: v.lead_time_days <= 2)
    assert mean_p(lambda v: v.first_visit) > mean_p(lambda v: not v.first_visit)
    assert mean_p(lambda v: v.hour >= 15) > mean_p(lambda v: 11 <= v.hour < 15)


def test_best_possible_auc_in_range() -> None:
    for seed in (1, 2, 3):
        auc = best_possible_auc(generate_history(seed=seed, start=START).visits)
        assert 0.6 < auc < 0.95


def test_auc_is_rank_based_with_ties() -> None:
    base = generate_history(seed=2, start=START).visits[:50]

    def with_p(v: SynthVisit, p: float, no_show: bool) -> SynthVisit:
        return SynthVisit(**{**v.__dict__, "p_no_show": p, "no_show": no_show,
                             "cancelled": False})

    perfect = [with_p(v, 0.9 if i % 3 == 0 else 0.1, i % 3 == 0) for i, v in enumerate(base)]
    assert best_possible_auc(perfect) == 1.0
    constant = [with_p(v, 0.2, i % 3 == 0) for i, v in enumerate(base)]
    assert best_possible_auc(constant) == 0.5
    with pytest.raises(ValueError):
        best_possible_auc([with_p(v, 0.2, False) for v in base])


def test_patients_have_valid_unique_contacts() -> None:
    history = generate_history(seed=9, n_patients=2000, start=START, days=7)
    phones = [p.phone for p in history.patients]
    assert len(set(phones)) == len(phones)
    assert len({p.uhid for p in history.patients}) == len(phones)
    for phone in phones:
        parsed = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(parsed), phone
        assert parsed.country_code == 91
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone
    for p in history.patients:
        assert p.gender in {"F", "M"} and p.language in {"en", "hi"}
        assert p.distance_km >= 0 and p.commute_min >= 0
        assert 0 < (START - p.date_of_birth).days < 90 * 366
        assert len(p.name.split()) == 2
