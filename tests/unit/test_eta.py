"""ETA model: learned consult times, blending, p50/p90 shape, and the push rule."""

from __future__ import annotations

import itertools
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.eta import (
    ConsultStats,
    Eta,
    EtaInputs,
    blended_mean,
    blended_variance,
    etas,
    naive_eta,
    should_push,
    update_stats,
)


def learn(minutes: list[float], **kw: float) -> ConsultStats:
    stats = ConsultStats()
    for m in minutes:
        stats = update_stats(stats, m, **kw)
    return stats


def inputs(
    stats: ConsultStats | None = None,
    elapsed: float | None = None,
    dept: float = 10.0,
    paused: float = 0.0,
    **kw: float,
) -> EtaInputs:
    return EtaInputs(
        dept_avg_min=dept,
        stats=stats or ConsultStats(),
        current_elapsed_min=elapsed,
        paused_remaining_min=paused,
        **kw,
    )


def test_welford_matches_batch_statistics() -> None:
    xs = [4.0, 7.5, 12.0, 9.0, 6.25, 15.0]
    stats = learn(xs)
    assert stats.n == len(xs)
    assert stats.mean == pytest.approx(statistics.fmean(xs))
    assert stats.variance == pytest.approx(statistics.variance(xs))
    assert ConsultStats().variance is None
    assert learn([5.0]).variance is None


@pytest.mark.parametrize(
    ("minutes", "cap", "recorded"),
    [(0.0, 120.0, 0.5), (-3.0, 120.0, 0.5), (600.0, 120.0, 120.0), (50.0, 30.0, 30.0), (8, 120, 8)],
)
def test_update_stats_clamps_outliers(minutes: float, cap: float, recorded: float) -> None:
    assert update_stats(ConsultStats(), minutes, cap_min=cap).mean == recorded


def test_update_stats_rejects_nan() -> None:
    with pytest.raises(ValueError):
        update_stats(ConsultStats(), float("nan"))


def test_blend_with_no_history_is_department_default() -> None:
    assert blended_mean(inputs(dept=12.0)) == 12.0
    assert blended_variance(inputs(dept=12.0)) == pytest.approx((0.5 * 12.0) ** 2)
    assert blended_mean(inputs(dept=12.0, prior_weight=0.0)) == 12.0


def test_blend_formula_and_convergence() -> None:
    five = learn([20.0] * 5)
    assert blended_mean(inputs(five, dept=10.0)) == pytest.approx(15.0)  # (5*20 + 5*10) / 10
    many = learn([20.0, 22.0] * 5000)
    assert blended_mean(inputs(many, dept=10.0)) == pytest.approx(21.0, abs=0.01)
    assert blended_variance(inputs(many, dept=10.0)) == pytest.approx(1.0, abs=0.05)


def test_inputs_validated() -> None:
    with pytest.raises(ValueError):
        inputs(dept=0.0)
    with pytest.raises(ValueError):
        inputs(prior_weight=-1.0)
    with pytest.raises(ValueError):
        etas(inputs(), [1.2])


def test_empty_queue_and_idle_doctor() -> None:
    assert etas(inputs(), []) == []
    first = etas(inputs(elapsed=None), [1.0, 1.0])[0]
    assert first == Eta(0, 0)  # nobody with the doctor: the first waiting token is next now


def test_p50_is_sum_of_means() -> None:
    result = etas(inputs(elapsed=None), [1.0] * 4)
    assert [e.p50_min for e in result] == [0, 10, 20, 30]
    assert all(e.p90_min > e.p50_min for e in result[1:])


def test_paused_adds_minutes() -> None:
    base = etas(inputs(elapsed=2.0), [1.0] * 3)
    paused = etas(inputs(elapsed=2.0, paused=7.0), [1.0] * 3)
    assert [p.p50_min - b.p50_min for b, p in zip(base, paused, strict=True)] == [7, 7, 7]


def test_elapsed_current_consult_reduces_first_wait() -> None:
    fresh = etas(inputs(elapsed=0.0), [1.0])[0]
    later = etas(inputs(elapsed=6.0), [1.0])[0]
    overrun = etas(inputs(elapsed=30.0), [1.0])[0]
    assert (fresh.p50_min, later.p50_min) == (10, 4)
    assert overrun.p50_min == 3  # a consult that ran long still needs 25% of the mean (2.5)
    assert later.p90_min <= fresh.p90_min


def test_show_probabilities_shorten_waits() -> None:
    sure = etas(inputs(elapsed=0.0), [1.0] * 5)
    unsure = etas(inputs(elapsed=0.0), [0.6] * 5)
    assert unsure[0] == sure[0]  # nobody ahead but the current patient
    assert all(u.p50_min < s.p50_min for u, s in zip(unsure[1:], sure[1:], strict=True))
    assert [e.p50_min for e in unsure] == [10, 16, 22, 28, 34]


def test_learned_fast_doctor_beats_department_default() -> None:
    fast = learn([4.0, 5.0, 6.0] * 10)
    result = etas(inputs(fast, elapsed=0.0), [1.0] * 3)
    assert result[2].p50_min < etas(inputs(elapsed=0.0), [1.0] * 3)[2].p50_min


def test_shift_end_does_not_cap() -> None:
    assert etas(inputs(elapsed=0.0, shift_remaining_min=5.0), [1.0] * 3)[2].p50_min == 30


@given(
    st.lists(st.floats(min_value=0, max_value=300), max_size=40),
    st.one_of(st.none(), st.floats(min_value=-5, max_value=500)),
    st.floats(min_value=0.5, max_value=90),
    st.floats(min_value=0, max_value=60),
    st.floats(min_value=0, max_value=20),
    st.lists(st.floats(min_value=0, max_value=1), max_size=40),
)
def test_eta_shape(
    consults: list[float],
    elapsed: float | None,
    dept: float,
    paused: float,
    weight: float,
    probs: list[float],
) -> None:
    result = etas(
        inputs(learn(consults), elapsed=elapsed, dept=dept, paused=paused, prior_weight=weight),
        probs,
    )
    assert len(result) == len(probs)
    for e in result:
        assert e.p90_min >= e.p50_min >= 0
    for a, b in itertools.pairwise(result):
        assert b.p50_min >= a.p50_min
        assert b.p90_min >= a.p90_min


@pytest.mark.parametrize(
    ("position", "avg", "buffer", "expected"),
    [(1, 10.0, 5.0, 15), (3, 10.0, 5.0, 45), (2, 7.5, 5.0, 25), (4, 8.25, 0.0, 33)],
)
def test_naive_eta(position: int, avg: float, buffer: float, expected: int) -> None:
    assert naive_eta(position, avg, buffer) == expected


def test_naive_eta_position_counts_from_one() -> None:
    with pytest.raises(ValueError):
        naive_eta(0, 10.0, 5.0)


@pytest.mark.parametrize(
    ("old", "new", "old_pos", "new_pos", "push"),
    [
        (None, Eta(10, 15), None, 3, True),  # first estimate
        (Eta(10, 15), Eta(10, 15), 3, 3, False),  # nothing moved
        (Eta(10, 15), Eta(10, 15), 3, 2, True),  # moved up the queue
        (Eta(10, 15), Eta(11, 15), 3, 3, True),  # p50 by a minute
        (Eta(10, 15), Eta(10, 14), 3, 3, True),  # p90 by a minute
        (Eta(10, 15), Eta(10, 15), 1, None, True),  # left the waiting list (called)
        (Eta(10, 15), Eta(10, 15), None, None, False),
    ],
)
def test_should_push(
    old: Eta | None, new: Eta, old_pos: int | None, new_pos: int | None, push: bool
) -> None:
    assert should_push(old, new, old_pos, new_pos) is push
