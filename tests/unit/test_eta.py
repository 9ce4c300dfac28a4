"""ETA model: learned consult times, blending, p50/p90 shape, and the push rule."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from server.domain import eta as eta_module
from server.domain import eta_today
from server.domain.eta import (
    LATE_OVERDUE_MIN,
    LATE_START_MEAN_MIN,
    LATE_WINDOW_MIN,
    OPEN_PAUSE_MIN,
    PAUSE_OVERRUN_MIN,
    RESIDUAL_FLOOR,
    STATS_MEMORY,
    ConsultStats,
    Eta,
    EtaInputs,
    blended_mean,
    blended_variance,
    etas,
    naive_eta,
    pause_remaining,
    residual,
    should_push,
    starts_in,
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
    **kw: Any,
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
    w = 5.0 * (1 - 5 / STATS_MEMORY)  # the department default fades as the memory fills
    assert blended_mean(inputs(five, dept=10.0)) == pytest.approx((5 * 20 + w * 10) / (5 + w))
    many = learn([20.0, 22.0] * 5000)
    assert blended_mean(inputs(many, dept=10.0)) == pytest.approx(21.0, abs=0.05)
    assert blended_variance(inputs(many, dept=10.0)) == pytest.approx(1.0, abs=0.1)
    full = learn([20.0] * STATS_MEMORY)
    assert blended_mean(inputs(full, dept=10.0)) == pytest.approx(20.0)  # no default left


def test_old_consults_fade() -> None:
    """After a full memory, each consult weighs 1/memory: the mean follows a doctor whose
    pace changes, and n stays at the memory."""
    stats = learn([10.0] * 200)
    assert stats.n == STATS_MEMORY
    for _ in range(STATS_MEMORY):
        stats = update_stats(stats, 20.0)
    expected = 20.0 - 10.0 * (1 - 1 / STATS_MEMORY) ** STATS_MEMORY  # geometric forgetting
    assert stats.mean == pytest.approx(expected)
    assert stats.n == STATS_MEMORY


def test_rebuilt_stats_are_brought_to_the_memory() -> None:
    """Stats rebuilt from 30 days of the record keep their mean and variance, not their n."""
    rebuilt = ConsultStats(n=300, mean=12.0, m2=16.0 * 299)
    after = update_stats(rebuilt, 12.0)
    assert after.n == STATS_MEMORY
    assert after.mean == pytest.approx(12.0)
    assert after.variance == pytest.approx(16.0 * (STATS_MEMORY - 2) / (STATS_MEMORY - 1))
    with pytest.raises(ValueError):
        update_stats(rebuilt, 12.0, memory=1)


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


def test_p50_is_the_median_of_the_whole_wait() -> None:
    """k tokens ahead cost about k x (consult + the minute each call takes), less the few who
    are not there when called: the median of the wait, never the bare k x consult."""
    result = etas(inputs(elapsed=None), [1.0] * 4)
    assert [e.p50_min for e in result] == [0, 11, 22, 33]
    assert all(e.p90_min > e.p50_min > e.p10_min for e in result[1:])


def test_a_token_not_there_costs_the_recall_not_a_consult(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Tokens ahead that will not show still take the call and the wait before moving on
    (ABSENT_CALL_MIN each), far less than a consult; everyone there takes a full cycle."""
    absent = etas(inputs(elapsed=None), [0.0] * 4)
    assert absent[3].p10_min == absent[3].p50_min  # nothing uncertain ahead but the rare bump
    assert 3 * eta_module.ABSENT_CALL_MIN <= absent[3].p50_min <= 4 * eta_module.ABSENT_CALL_MIN
    usual = etas(inputs(elapsed=None), [1.0] * 6)[5].p50_min
    monkeypatch.setattr(eta_module, "PRESENT_WHEN_CALLED", 1.0)
    everyone = etas(inputs(elapsed=None), [1.0] * 6)[5].p50_min
    assert everyone > usual  # some of those waiting are away when called: the wait is shorter


def test_interruptions_widen_the_upper_end_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A break or an emergency only ever adds time: the upside spread moves p90, not p10/p50."""
    before = etas(inputs(elapsed=3.0), [1.0] * 5)
    monkeypatch.setattr(eta_module, "UPSIDE_PER_MIN", 0.0)
    monkeypatch.setattr(eta_module, "UPSIDE_BASE", 0.0)
    without = etas(inputs(elapsed=3.0), [1.0] * 5)
    assert [(e.p10_min, e.p50_min) for e in before] == [(e.p10_min, e.p50_min) for e in without]
    assert all(b.p90_min >= w.p90_min for b, w in zip(before, without, strict=True))
    assert before[4].p90_min > without[4].p90_min


def test_the_current_consults_remainder_is_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next call comes earlier or later than one lognormal allows (a quick case, an absent
    patient recalled, a complex case): position 1's range is widened at both ends."""
    wide = etas(inputs(elapsed=4.0), [1.0])[0]
    monkeypatch.setattr(eta_module, "RESIDUAL_VAR_FACTOR", 1.0)
    narrow = etas(inputs(elapsed=4.0), [1.0])[0]
    assert wide.p10_min < narrow.p10_min and wide.p90_min > narrow.p90_min


def test_p90_counts_the_call_overhead_and_interruptions(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """The wait includes what the plain sum of consult means leaves out."""
    full = etas(inputs(elapsed=3.0), [1.0] * 6)
    monkeypatch.setattr(eta_module, "INTERRUPT_PER_MIN", 0.0)
    no_bumps = etas(inputs(elapsed=3.0), [1.0] * 6)
    monkeypatch.setattr(eta_module, "CALL_OVERHEAD_MIN", 0.0)
    bare = etas(inputs(elapsed=3.0), [1.0] * 6)
    assert all(f.p90_min >= n.p90_min >= b.p90_min and f.p50_min >= n.p50_min >= b.p50_min
               for f, n, b in zip(full, no_bumps, bare, strict=True))
    assert full[-1].p90_min > no_bumps[-1].p90_min > bare[-1].p90_min
    assert full[-1].p50_min > no_bumps[-1].p50_min > bare[-1].p50_min


def test_paused_adds_minutes() -> None:
    base = etas(inputs(elapsed=2.0), [1.0] * 3)
    paused = etas(inputs(elapsed=2.0, paused=7.0), [1.0] * 3)
    # the pause, plus a little: interruptions are counted per minute of the wait
    assert all(7 <= p.p50_min - b.p50_min <= 9 for b, p in zip(base, paused, strict=True))
    assert all(p.p90_min > b.p90_min for b, p in zip(base, paused, strict=True))


def test_elapsed_current_consult_reduces_first_wait() -> None:
    fresh = etas(inputs(elapsed=0.0), [1.0])[0]
    later = etas(inputs(elapsed=6.0), [1.0])[0]
    overrun = etas(inputs(elapsed=30.0), [1.0])[0]
    assert (fresh.p50_min, later.p50_min) == (9, 4)  # medians of a right-skewed remainder
    assert overrun.p50_min >= 3  # a consult that ran long still needs at least 25% (2.5)
    assert later.p90_min <= fresh.p90_min
    # the p90 knows a long consult runs on (lognormal tail): ~5 more minutes, not 2.5
    assert overrun.p90_min >= 10


@pytest.mark.parametrize("elapsed", [2.0, 6.0, 12.0, 25.0])
def test_residual_matches_a_lognormal(elapsed: float) -> None:
    """The closed form against a seeded Monte Carlo of the same lognormal consults."""
    m, v = 10.0, 25.0
    sigma2 = math.log1p(v / m**2)
    rng = np.random.default_rng(7)
    x = np.exp(math.log(m) - sigma2 / 2 + math.sqrt(sigma2) * rng.standard_normal(2_000_000))
    left = x[x > elapsed] - elapsed
    mean, var = residual(m, v, elapsed)
    assert mean == pytest.approx(float(left.mean()), rel=0.03)
    assert var == pytest.approx(float(left.var()), rel=0.1)
    assert residual(m, v, 0.0) == (m, v)
    assert residual(m, v, 1e6)[0] == RESIDUAL_FLOOR * m  # beyond anything seen


def test_show_probabilities_shorten_waits() -> None:
    sure = etas(inputs(elapsed=0.0), [1.0] * 5)
    unsure = etas(inputs(elapsed=0.0), [0.6] * 5)
    assert unsure[0] == sure[0]  # nobody ahead but the current patient
    assert all(u.p50_min < s.p50_min for u, s in zip(unsure[1:], sure[1:], strict=True))
    assert all(u.p90_min < s.p90_min for u, s in zip(unsure[1:], sure[1:], strict=True))
    assert [e.p50_min for e in unsure] == [9, 17, 25, 32, 40]


def test_pace_uncertainty_keeps_far_ranges_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Independent consults alone make the relative spread shrink like 1/sqrt(k) down a long
    queue; the common pace term keeps it from collapsing for a well-known, steady doctor."""
    stats = learn([9.0, 11.0] * 50)  # CV 0.1
    with_pace = etas(inputs(stats, elapsed=None), [1.0] * 31)
    monkeypatch.setattr(eta_module, "PACE_CV", 0.0)
    without = etas(inputs(stats, elapsed=None), [1.0] * 31)
    spread = [(w.p90_min - w.p50_min) / w.p50_min for w in (with_pace[3], with_pace[30])]
    bare = [(w.p90_min - w.p50_min) / w.p50_min for w in (without[3], without[30])]
    assert spread[1] > bare[1] + 0.2
    assert spread[1] / spread[0] > bare[1] / bare[0]


def test_learned_fast_doctor_beats_department_default() -> None:
    fast = learn([4.0, 5.0, 6.0] * 10)
    result = etas(inputs(fast, elapsed=0.0), [1.0] * 3)
    assert result[2].p50_min < etas(inputs(elapsed=0.0), [1.0] * 3)[2].p50_min




@given(
    st.lists(st.floats(min_value=0, max_value=300), max_size=40),
    st.one_of(st.none(), st.floats(min_value=-5, max_value=500)),
    st.floats(min_value=0.5, max_value=90),
    st.floats(min_value=0, max_value=60),
    st.floats(min_value=0, max_value=20),
    st.lists(st.floats(min_value=0, max_value=1), max_size=40),
)
@example([], None, 0.5, 0.0, 5e-324, [1.0])   # a vanishing prior weight once divided by zero
@example([], 10.0, 0.5, 0.0, 1e-300, [1.0, 1.0])   # ... or gave inf * 0 = NaN
@example([], 1.0, 0.5, 0.0, 5e-324, [])   # ... or a blended mean of 0
@example([2.0, 2.0], 1.0, 3.0, 0.0, 5e-324, [])   # ... or a spread of 0 in the remainder
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


NINE = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def test_a_shift_from_midnight_has_no_start_to_be_late_for() -> None:
    """An all-day entry (00:00-23:59): half an hour after midnight its doctor, who has called
    nobody yet, is not a doctor half an hour late (the patients' ETAs get no lateness)."""
    midnight = datetime(2030, 1, 7, 0, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert starts_in(midnight + timedelta(minutes=30), midnight, has_current=False,
                     last_call=None) is None
    assert starts_in(midnight - timedelta(minutes=30), midnight, has_current=False,
                     last_call=None) is None


def test_starts_in_counts_to_the_shift_start_until_the_first_call() -> None:
    at = NINE - timedelta(minutes=30)
    assert starts_in(at, NINE, has_current=False, last_call=None) == 30.0
    late = NINE + timedelta(minutes=20)
    assert starts_in(late, NINE, has_current=False, last_call=None) == -20.0
    # begun: someone called today (even a little before the start), or someone in the cabin
    assert starts_in(late, NINE, has_current=False, last_call=NINE - timedelta(minutes=5)) is None
    assert starts_in(at, NINE, has_current=True, last_call=None) is None
    # yesterday's last call does not count; no shift, or long past it: taken to be there
    assert starts_in(at, NINE, has_current=False, last_call=NINE - timedelta(days=1)) == 30.0
    assert starts_in(at, None, has_current=False, last_call=None) is None
    assert starts_in(NINE + timedelta(minutes=LATE_WINDOW_MIN + 1), NINE, has_current=False,
                     last_call=None) is None


def test_no_soon_before_the_doctor_starts() -> None:
    """Half an hour before the shift: the next patient's range starts at the shift start and
    the p90 allows for a late doctor; the queue behind counts from there."""
    before = etas(inputs(starts_in_min=30.0), [1.0] * 3)
    started = etas(inputs(), [1.0] * 3)
    assert before[0].p10_min >= 30 and before[0].p50_min >= 30
    assert before[0].p90_min >= 30 + LATE_START_MEAN_MIN
    assert all(b.p50_min >= s.p50_min + 30 for b, s in zip(before, started, strict=True))
    late = etas(inputs(starts_in_min=-15.0), [1.0])[0]  # 15 minutes late, nobody called
    assert late.p50_min > 0 and late.p90_min >= LATE_OVERDUE_MIN


def test_pause_remaining_from_its_expected_end() -> None:
    since = NINE
    until = NINE + timedelta(minutes=15)
    assert pause_remaining(NINE + timedelta(minutes=5), paused_since=since,
                           pause_until=until) == 10.0
    # an open pause: OPEN_PAUSE_MIN from its start, documented as an assumption
    assert pause_remaining(NINE + timedelta(minutes=4), paused_since=since,
                           pause_until=None) == OPEN_PAUSE_MIN - 4
    # past its end the doctor is still away: never "any moment now"
    assert pause_remaining(NINE + timedelta(minutes=40), paused_since=since,
                           pause_until=until) == PAUSE_OVERRUN_MIN
    assert pause_remaining(NINE + timedelta(minutes=40), paused_since=since,
                           pause_until=None) == PAUSE_OVERRUN_MIN


@given(st.floats(0, 60), st.integers(1, 12))
def test_the_range_is_ordered(start: float, k: int) -> None:
    for e in etas(inputs(starts_in_min=start, elapsed=2.0), [1.0] * k):
        assert e.p10_min <= e.p50_min <= e.p90_min


def test_today_starts_a_sitting_and_keeps_the_log_mean() -> None:
    """Consults of one sitting: count and mean log minutes (clamped like update_stats); a
    gap of more than TODAY_GAP_MIN starts a new one."""
    t0 = 1_700_000_000_000
    today = eta_today.TodayStats()
    for i, minutes in enumerate((5.0, 20.0, 0.1)):
        today = eta_today.update_today(today, minutes, t0 + i * 60_000)
    assert today.n == 3 and today.last_ms == t0 + 120_000
    assert today.log_mean == pytest.approx((math.log(5) + math.log(20) + math.log(0.5)) / 3)
    gap = int(eta_today.TODAY_GAP_MIN * 60_000)
    known = ConsultStats(40, 11.0, 900.0)
    fresh = eta_today.update_today(today, 8.0, today.last_ms + gap + 1, learned=known)
    assert fresh == eta_today.TodayStats(1, math.log(8.0), today.last_ms + gap + 1, known)
    # the sitting's start stays what was known before its first consult
    assert eta_today.update_today(fresh, 9.0, fresh.last_ms + 60_000,
                                  learned=ConsultStats(40, 9.0, 100.0)).start == known
    assert eta_today.update_today(today, 8.0, today.last_ms + gap).n == 4
    assert eta_today.today_now(today, today.last_ms + gap) == today
    assert eta_today.today_now(today, today.last_ms + gap + 1) == eta_today.TodayStats()
    with pytest.raises(ValueError):
        eta_today.update_today(today, math.nan, t0)


def test_todays_pace_pulls_the_learned_mean_more_as_consults_come() -> None:
    """A doctor known at 10 min taking 20 today: each consult of today moves the expected
    consult further toward 20, never past it; a doctor on pace is left where they were."""
    known = learn([8.0, 12.0] * 20)  # mean 10, full memory
    base = inputs(known, elapsed=None)
    m, v = blended_mean(base), blended_variance(base)
    paces = [eta_module.paced(inputs(known, elapsed=None, today=eta_today.TodayStats(
        k, math.log(20.0), 0)), m, v)[0] for k in (1, 3, 10, 40)]
    assert m < paces[0] < paces[1] < paces[2] < paces[3] < 20.0
    assert paces[3] > 16.0
    on_pace = math.log(m) - math.log1p(v / (m * m)) / 2 - eta_today.TODAY_LOG_BIAS
    same = eta_module.paced(inputs(known, elapsed=None, today=eta_today.TodayStats(
        10, on_pace, 0)), m, v)[0]
    assert same == pytest.approx(m)
    # the far ETAs follow today's pace, the front (the current consult) barely
    slow = etas(inputs(known, elapsed=None, today=eta_today.TodayStats(10, math.log(20.0), 0)),
                [1.0] * 6)
    usual = etas(inputs(known, elapsed=None), [1.0] * 6)
    assert slow[5].p50_min > usual[5].p50_min + 10


def test_todays_pace_counts_todays_consults_once_and_trusts_them_more_for_a_new_doctor() -> None:
    """The prior of today's pace is what was known when the sitting began: a doctor known at
    10 min taking 20 today is expected at the same pace whether or not the running mean has
    already taken in today's consults (they are not counted twice); and five consults of 20
    minutes say more about a doctor with no history than about one known from forty at 10."""
    known = learn([8.0, 12.0] * 20)
    today = eta_today.TodayStats(10, math.log(20.0), 0, known)
    running = known
    for _ in range(10):
        running = update_stats(running, 20.0)
    once = inputs(running, today=today)
    m, v = blended_mean(once), blended_variance(once)
    on_history = eta_module.paced(inputs(known, today=today), m, v)[0]
    assert eta_module.paced(once, m, v)[0] == pytest.approx(on_history)
    assert 15.0 < on_history < 20.0
    five, usual = [20.0] * 5, [5.0, 15.0] * 20   # consults that vary by half
    new = inputs(learn(five), today=eta_today.TodayStats(5, math.log(20.0), 0, ConsultStats()))
    old = inputs(learn(usual + five),
                 today=eta_today.TodayStats(5, math.log(20.0), 0, learn(usual)))
    new_pace = eta_module.paced(new, blended_mean(new), blended_variance(new))[0]
    old_pace = eta_module.paced(old, blended_mean(old), blended_variance(old))[0]
    assert new_pace > 16.0 and 10.0 < old_pace < new_pace - 2.0
    # learn() starts a sitting with the stats before its first consult
    learned = eta_module.learn(eta_module.Learned(known, eta_today.TodayStats()), 20.0, 0)
    assert learned.today.start == known and learned.stats.n == known.n


def test_tokens_still_to_come_that_sort_ahead_delay_a_recent_or_early_token() -> None:
    """A senior arriving within the credit of a walk-in's arrival, or anyone arriving before
    a booked token's slot, is called first: a walk-in who has just joined, or a booked token
    checked in half an hour before its slot, is expected later than one whose place nobody
    can take any more (an emergency's score, or a walk-in who joined long ago)."""
    base = inputs(learn([8.0, 12.0] * 20), elapsed=3.0)
    settled = etas(base, [1.0] * 6, [-1e7] * 6)
    assert settled == etas(base, [1.0] * 6)
    assert settled == etas(base, [1.0] * 6, [-60.0] * 6)
    just_joined = etas(base, [1.0] * 6, [-60.0] * 5 + [0.0])
    early = etas(base, [1.0] * 6, [-60.0] * 5 + [30.0])
    assert settled[5].p50_min < just_joined[5].p50_min < early[5].p50_min
    assert early[5].p50_min - settled[5].p50_min == pytest.approx(
        eta_module.JUMP_RATE * (30 * (1 - eta_module.SENIOR_SHARE)
                                + 50 * eta_module.SENIOR_SHARE), abs=2)
    assert early[:5] == settled[:5]
    # the window ends when the token is called: the front barely moves
    front = etas(base, [1.0], [600.0])[0].p50_min - settled[0].p50_min
    assert 0 <= front <= eta_module.JUMP_RATE * 7 + 1
    # a department of a longer senior credit: the recent walk-in waits longer still
    longer = etas(inputs(learn([8.0, 12.0] * 20), elapsed=3.0, senior_credit_min=60.0),
                  [1.0] * 6, [-60.0] * 5 + [0.0])
    assert longer[5].p50_min > just_joined[5].p50_min
