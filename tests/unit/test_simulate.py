"""The clinic-day simulator: deterministic per seed, conserves patients, scores ETAs right."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest

from server.domain import lifecycle as lc
from server.domain.eta import ConsultStats, EtaInputs, etas, update_stats
from server.domain.eta_today import TodayStats
from server.simulate.model import _ms, run_day
from server.simulate.offline import Scored, score_day, summarize
from server.simulate.plan import (
    ClinicConfig,
    DayPlan,
    DoctorPlan,
    PatientPlan,
    consult_minutes,
    plan_day,
)

FINAL = {lc.Status.COMPLETED, lc.Status.NO_SHOW, lc.Status.CANCELLED}


def test_same_seed_same_day() -> None:
    a, b = plan_day(11), plan_day(11)
    assert a == b
    ra, rb = run_day(a), run_day(b)
    assert ra.log == rb.log and ra.calls == rb.calls and ra.samples == rb.samples
    assert plan_day(12) != a


@pytest.mark.parametrize("seed", range(1, 21))
def test_every_patient_ends_seen_no_show_or_cancelled(seed: int) -> None:
    plan = plan_day(seed)
    result = run_day(plan)
    assert set(result.outcome) == {p.pid for p in plan.patients}
    assert set(result.outcome.values()) <= FINAL
    for p in plan.patients:
        status = result.outcome[p.pid]
        if p.arrive_min is None:  # never came: a booked no-show or a cancellation
            assert status in (lc.Status.NO_SHOW, lc.Status.CANCELLED)
        if status is lc.Status.COMPLETED:
            assert p.pid in result.calls
    # one patient at a time per doctor: calls of a doctor never overlap a consult
    for d in range(plan.config.doctors):
        calls = [t for t, action, _, doc in result.log if action == "call" and doc == d]
        assert calls == sorted(calls)


def test_the_day_has_what_an_opd_day_has() -> None:
    plans = [plan_day(s) for s in range(1, 31)]
    patients = [p for plan in plans for p in plan.patients]
    kinds = {p.booking_type for p in patients}
    assert kinds == {"WALK_IN", "ONLINE", "EMERGENCY"}
    assert any(p.priority == 2 for p in patients)
    assert any(p.absent == "gone" for p in patients) and any(p.absent == "away" for p in patients)
    assert any(d.late_min > 0 for plan in plans for d in plan.doctors)
    assert any(d.pauses for plan in plans for d in plan.doctors)
    walk = [p.arrive_min for p in patients if p.booking_type == "WALK_IN" and p.arrive_min]
    morning = sum(t < 180 for t in walk) / len(walk)
    assert morning > 0.6  # the morning peak
    speeds = [d.mean_min for plan in plans for d in plan.doctors]
    assert max(speeds) / min(speeds) > 1.5  # doctors of different speeds


def test_consults_drift_during_the_day() -> None:
    doc = DoctorPlan(0, 10.0, 0.0, 0.05, 0.0, (), ConsultStats())
    pat = PatientPlan(0, "WALK_IN", 1, None, 0.0)
    assert consult_minutes(doc, pat, 0.0) == pytest.approx(10.0)
    assert consult_minutes(doc, pat, 120.0) == pytest.approx(11.0)


def _tiny_day() -> DayPlan:
    """One doctor at exactly 10 minutes a consult, three walk-ins at minutes 1, 2 and 3."""
    doc = DoctorPlan(index=0, mean_min=10.0, cv=0.0, drift_per_hour=0.0, late_min=0.0,
                     pauses=(), prior=ConsultStats(), react_min=0.0)
    patients = tuple(PatientPlan(pid=i, booking_type="WALK_IN", priority=1, doctor=None,
                                 arrive_min=float(i + 1), walk_min=0.0)
                     for i in range(3))
    return DayPlan(seed=0, config=ClinicConfig(doctors=1, dept_avg_min=10.0, buffer_min=5.0),
                   doctors=(doc,), patients=patients)


def test_offline_scorer_on_a_tiny_day() -> None:
    result = run_day(_tiny_day(), sample_every_min=10.0)
    assert result.calls == {0: [1.0], 1: [11.0], 2: [21.0]}
    scored = score_day(result)
    # A at 1 (idle doctor), B at 2 (A 1 min in), C at 3 (2nd in line), C again at 13 (B 2 in)
    assert [(s.pid, s.at_min, s.position, s.actual) for s in scored] == [
        (0, 1.0, 1, 0.0), (1, 2.0, 1, 9.0), (2, 3.0, 2, 18.0), (2, 13.0, 1, 8.0)]
    assert [s.naive for s in scored] == [15, 15, 30, 15]  # position x (10 + 5)
    learned = update_stats(ConsultStats(), 10.0)
    # at 1, nobody called yet a minute past the shift start: the doctor may be late; each
    # token's score (its arrival) minus now says how long a senior could still come first
    shown = [etas(EtaInputs(10.0, ConsultStats(), None, starts_in_min=-1.0), [1.0], [0.0])[0],
             etas(EtaInputs(10.0, ConsultStats(), 1.0), [1.0], [0.0])[0],
             etas(EtaInputs(10.0, ConsultStats(), 2.0), [1.0, 1.0], [-1.0, 0.0])[1],
             etas(EtaInputs(10.0, learned, 2.0, today=TodayStats(  # A's 10 min, a new doctor
                 1, math.log(10.0), _ms(11.0), ConsultStats())), [1.0], [-10.0])[0]]
    assert [(s.p50, s.p90) for s in scored] == [(e.p50_min, e.p90_min) for e in shown]
    acc = summarize(scored)
    assert acc.naive_mae == pytest.approx((15 + 6 + 12 + 7) / 4)
    assert acc.mae == pytest.approx(statistics.fmean(
        abs(e.p50_min - a) for e, a in zip(shown, (0, 9, 18, 8), strict=True)))
    assert shown[0].p50_min > 0 and acc.mae < acc.naive_mae
    assert summarize(scored[1:]).inside == 1.0


def test_shown_range_edges_allow_half_a_minute() -> None:
    base = Scored(seed=0, pid=0, at_min=0.0, position=2, p50=10, p90=15, naive=30, actual=0.0,
                  first=True, p10=8)
    cases = {15.4: "inside", 15.6: "after", 7.6: "inside", 7.4: "before"}
    for actual, where in cases.items():
        acc = summarize([dataclasses.replace(base, actual=actual)])
        got = "after" if acc.after_p90 else "before" if acc.before_lower else "inside"
        assert got == where, actual
    acc = summarize([dataclasses.replace(base, actual=a) for a in (10.0, 20.0)])
    assert acc.mae == 5.0 and acc.naive_mae == 15.0 and acc.mean_width == 15 - 8


def test_a_cancelled_token_has_no_truth_to_score() -> None:
    plan = _tiny_day()
    gone = dataclasses.replace(plan.patients[2], cancel_min=5.0)
    result = run_day(dataclasses.replace(plan, patients=(*plan.patients[:2], gone)))
    assert result.outcome[2] is lc.Status.CANCELLED
    assert {s.pid for s in score_day(result)} == {0, 1}
