"""Expected wait per waiting token (p50/p90 minutes until called), learned consult times, pushes.

Owns the ETA model of DESIGN.md: per-doctor consult minutes learned online (Welford, with
old consults fading) and blended with the department default while few are known, the
elapsed current consult, the minute each call costs on top of the consult, the chance each
token ahead does not show, the uncertainty of the doctor's pace today, pauses; plus the naive
reference it must beat and the rule deciding when a changed ETA is worth a push to a phone.
Tuned and scored on simulated clinic days: `python -m bench.eta_accuracy` (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from server.domain.consult_stats import ConsultStats
from server.domain.eta_today import MIN_CONSULT_MIN, TodayStats, today_pace, update_today

MIN_KNOWN: float = 1e-6
"""Consults' worth of knowledge below which the pace is unknown."""
PRIOR_CV: float = 0.5
"""Coefficient of variation assumed for the department default (consults vary by about half)."""
RESIDUAL_FLOOR: float = 0.25
"""A consult that ran past its mean is still expected to take this fraction of the mean more."""
STATS_MEMORY: int = 40
"""Consults remembered at full weight (about a day of one doctor); older ones fade
geometrically, so the learned mean follows the doctor's pace today rather than last month's."""
CALL_OVERHEAD_MIN: float = 1.0
"""Minutes each token ahead costs on top of its consult: the learned consult runs from Start,
but the doctor's next call also waits for the patient to walk in (or to be recalled)."""
PACE_CV: float = 0.3
"""Relative uncertainty of the doctor's pace today against the learned mean (days differ,
doctors tire or hurry). It scales every consult ahead at once, so unlike the consult-to-
consult noise it does not average out over a long queue: it is what makes far p90s wide."""
PAUSE_CV: float = 0.4
"""Relative sd of a pause's remaining minutes: "back in 10 minutes" is a rough promise."""
INTERRUPT_PER_MIN: float = 0.01
"""Rate, per minute of a token's wait, of things that put one more consult's worth of time
ahead of it: a break (about one per doctor-day), an emergency, a senior's credit, a held
patient returning a few places ahead. A Poisson process of them adds rate x wait x cycle to
the mean and rate x wait x E[cycle^2] to the variance: small near the front, wide far back."""
LATE_START_MEAN_MIN: float = 8.0
"""Before the shift start, the doctor's expected lateness on top of it (many start on time,
some 10-20 minutes late, a few half an hour or more). The p50 counts from the shift start
itself (the median lateness is about nothing); the mean and the spread widen p90."""
LATE_START_SD_MIN: float = 15.0
"""Spread of that lateness: a heavy right tail (a ward round, a late train)."""
LATE_OVERDUE_MIN: float = 10.0
"""A doctor already late (the shift start passed, nobody called yet) is expected this many
minutes more, with the same spread: a late start is often a long one."""
LATE_WINDOW_MIN: float = 120.0
"""Past this long after the shift start without a call, the doctor is taken to be present
and idle (an empty queue, a shift entered as 00:00-23:59): no lateness is added."""
OPEN_PAUSE_MIN: float = 10.0
"""An open-ended pause (no minutes given on the tablet) is assumed to last this long from
its start: a short break, until told otherwise."""
PAUSE_OVERRUN_MIN: float = 3.0
"""A pause past its announced (or assumed) end is still expected to last this much longer:
the doctor has not pressed Resume, so it has not ended."""
PRESENT_WHEN_CALLED: float = 0.93
"""Share of waiting tokens who are there at their first call: the others stepped out (held
back a few places) or left (a no-show). Multiplies each token's show probability."""
ABSENT_CALL_MIN: float = 2.5
"""Minutes a token who is not there still costs the doctor: the call, a recall, the wait
before moving on (the tablet's no-show or skip)."""
RESIDUAL_VAR_FACTOR: float = 2.5
"""The current consult's remainder varies this many times more than the lognormal says: the
doctor's Next comes early (a quick case, an absent patient recalled) or late (a complex case)
more often than one lognormal of the consult times allows. Widens the range near the front."""
UPSIDE_PER_MIN: float = 0.03
"""The interruptions (INTERRUPT_PER_MIN) only ever add time, so their spread widens the
upper end alone: the rate used for that spread, per minute of the wait, counts the rarer
long ones (a break, an emergency ahead) that the mean rate averages away."""
UPSIDE_BASE: float = 0.05
"""The same, as a count of cycle-long delays that may come whatever the wait: even the next
call can wait for a pause or an emergency."""
Z_UPPER: float = 1.35
"""Standard normal z of the shown upper end (p91 of the lognormal): the real tail is heavier
than the lognormal's, so its 0.9 quantile is called after one time in ten too often."""
JUMP_RATE: float = 0.6
"""Tokens still to come that sort ahead of a waiting one (a senior within its credit, anyone
before a booked token's slot), per consult cycle of the doctor: each costs a cycle, so a
window of w minutes in which arrivals would jump the token adds JUMP_RATE w minutes."""
SENIOR_SHARE: float = 0.15
"""Share of the arrivals who are seniors (their credit lets them jump a recent arrival)."""
Z90: float = 1.2815515655446004
"""Standard normal 0.9 quantile."""


def update_stats(stats: ConsultStats, minutes: float, *, cap_min: float = 120.0,
                 memory: int = STATS_MEMORY) -> ConsultStats:
    """Add one finished consult; clamped to [0.5, cap] so a forgotten Next cannot skew the mean.

    Exact Welford while n < memory. Beyond, the past counts as memory - 1 consults of the same
    mean and variance, so each new consult weighs 1/memory: an exponentially weighted mean and
    variance that follow a doctor who slows down or speeds up. Stats rebuilt from 30 days of
    the record (n in the hundreds) are brought down to the memory on their first update.
    """
    if math.isnan(minutes):
        raise ValueError("consult minutes must be a number")
    if cap_min < MIN_CONSULT_MIN:
        raise ValueError(f"cap_min must be >= {MIN_CONSULT_MIN}, got {cap_min}")
    if memory < 2:
        raise ValueError(f"memory must be >= 2, got {memory}")
    x = min(max(minutes, MIN_CONSULT_MIN), cap_min)
    n0, m2_0 = stats.n, stats.m2
    if n0 >= memory:  # fade: keep the variance, count the past as memory - 1 consults
        m2_0 = m2_0 * (memory - 2) / (n0 - 1)
        n0 = memory - 1
    n = n0 + 1
    delta = x - stats.mean
    mean = stats.mean + delta / n
    m2 = m2_0 + delta * (x - mean)
    return ConsultStats(n=n, mean=mean, m2=max(m2, 0.0))


@dataclass(frozen=True)
class Learned:
    """What a doctor's finished consults have taught: all of them (ConsultStats) and this
    sitting's (TodayStats); kept in the doctor's live hash."""

    stats: ConsultStats
    today: TodayStats


def learn(before: Learned, minutes: float, at_ms: int) -> Learned:
    """One more finished consult of `minutes`, ended at `at_ms` (a new sitting's `start`: the
    stats before it)."""
    return Learned(update_stats(before.stats, minutes),
                   update_today(before.today, minutes, at_ms, learned=before.stats))


@dataclass(frozen=True)
class EtaInputs:
    """Everything the ETA of one doctor's queue depends on, gathered by the caller."""

    dept_avg_min: float
    """Department default consult minutes (> 0)."""
    stats: ConsultStats
    """Consult times learned for this doctor."""
    current_elapsed_min: float | None
    """Minutes since the current token was called/started; None when nobody is with the doctor."""
    paused_remaining_min: float = 0.0
    """Doctor paused: expected minutes until resume (0 when not paused; `pause_remaining`)."""
    starts_in_min: float | None = None
    """The doctor has not begun calling today: minutes until the shift start, negative once
    it has passed (a late start); None once the doctor has called someone, or with no shift
    known (`starts_in`)."""
    prior_weight: float = 5.0
    """Pseudo-count of the department default when blending with the doctor's own consults."""
    today: TodayStats = field(default_factory=TodayStats)
    """The doctor's consults of this sitting (`today_now`): today's pace, against the learned
    mean's slower memory."""
    senior_credit_min: float = 20.0
    """The department's senior credit (QueuePolicy): how long after a token a senior arriving
    still sorts ahead of it."""

    def __post_init__(self) -> None:
        if not (self.dept_avg_min > 0 and math.isfinite(self.dept_avg_min)):
            raise ValueError(f"dept_avg_min must be > 0, got {self.dept_avg_min}")
        if not self.prior_weight >= 0:
            raise ValueError(f"prior_weight must be >= 0, got {self.prior_weight}")


@dataclass(frozen=True)
class Eta:
    """Minutes until called: median, 90th and 10th percentiles (p90 >= p50 >= p10 >= 0).

    The range a patient is shown is [p10, p90]: called before it or after it one time in
    ten each (docs/benchmarks.md measures both ends); p50 is the single best guess."""

    p50_min: int
    p90_min: int
    p10_min: int = 0


def _round(x: float) -> int:
    """Round half up (not Python's half-even) so the Lua/JS side can reproduce it trivially."""
    return math.floor(x + 0.5)


def _prior_weight(inputs: EtaInputs) -> float:
    """The department default's pseudo-count, fading as the doctor's own consults fill the
    memory: w (1 - n/STATS_MEMORY). A doctor with a full memory is judged on their own pace
    alone, as the default would otherwise outlive every consult it was meant to stand in for."""
    n = min(inputs.stats.n, STATS_MEMORY)
    return inputs.prior_weight * (1.0 - n / STATS_MEMORY)


def blended_mean(inputs: EtaInputs) -> float:
    """(n*mean + w'*dept_avg)/(n + w'), w' the fading prior weight: the department default
    dominates until the doctor has a few consults of their own, then the doctor's mean takes
    over entirely."""
    n, w = min(inputs.stats.n, STATS_MEMORY), _prior_weight(inputs)
    if n + w < MIN_KNOWN:  # no knowledge (a vanishing weight would underflow to m = 0)
        return inputs.dept_avg_min
    return (n * inputs.stats.mean + w * inputs.dept_avg_min) / (n + w)


def blended_variance(inputs: EtaInputs) -> float:
    """Consult-time variance blended like the mean: the prior is (0.5 * dept_avg)^2 and the
    doctor's sample variance counts with weight n once n >= 2 (it is undefined before)."""
    prior_var = (PRIOR_CV * inputs.dept_avg_min) ** 2
    sample_var = inputs.stats.variance
    w = _prior_weight(inputs)
    if sample_var is None:
        return prior_var
    n = min(inputs.stats.n, STATS_MEMORY)
    if n + w < MIN_KNOWN:
        return prior_var
    return (n * sample_var + w * prior_var) / (n + w)


def paced(inputs: EtaInputs, m: float, v: float) -> tuple[float, float]:
    """Consult mean and variance at today's pace (`eta_today.today_pace`): the prior is the
    blended mean when the sitting began (`TodayStats.start`; the running one when that is not
    known), today's consults move it. v scales with the mean (the CV is kept)."""
    if inputs.today.n <= 0 or m <= 0:
        return m, v
    start = inputs if inputs.today.start is None else replace(inputs, stats=inputs.today.start)
    m0, v0 = blended_mean(start), blended_variance(start)
    pace = today_pace(inputs.today, m0, math.log1p(v0 / (m0 * m0)),
                      min(start.stats.n, STATS_MEMORY), _prior_weight(start))
    return pace, v * (pace / m) ** 2


def _quantile(mean: float, var: float, z: float) -> float:
    """Quantile at standard-normal z of a lognormal with this mean and variance (waits are
    positive, right-skewed): sigma^2 = ln(1 + var/mean^2), mu = ln(mean) - sigma^2/2,
    q = exp(mu + z sigma)."""
    if mean <= 1e-9:  # nothing ahead (or only tokens that will almost surely not show)
        return max(mean, 0.0)
    if var <= 0:
        return mean
    sigma2 = math.log1p(var / (mean * mean))
    return math.exp(math.log(mean) - sigma2 / 2 + z * math.sqrt(sigma2))


def _phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def residual(m: float, v: float, elapsed: float) -> tuple[float, float]:
    """Mean and variance of the minutes left of a consult that has run `elapsed` minutes, when
    consults are lognormal with mean m and variance v (mu, sigma their log-parameters):
    E[X | X > e] = m Phi(sigma - z) / Phi(-z) and E[X^2 | X > e] = m^2 e^(sigma^2)
    Phi(2 sigma - z) / Phi(-z), with z = (ln e - mu) / sigma. A consult that ran long is
    expected to run on, and how long is less certain than for a fresh one. The mean is never
    taken below RESIDUAL_FLOOR * m nor below the plain m - elapsed."""
    floor = max(m - max(elapsed, 0.0), RESIDUAL_FLOOR * m)
    if elapsed <= 0 or v <= 0:
        return floor, v
    sigma2 = math.log1p(v / (m * m))
    if sigma2 < 1e-12:  # consults all but identical: the plain remainder is the answer
        return floor, v
    sigma = math.sqrt(sigma2)
    z = (math.log(elapsed) - math.log(m) + sigma2 / 2) / sigma
    tail = _phi(-z)
    if tail < 1e-9:  # far beyond any consult seen: nothing sensible to condition on
        return floor, v * (floor / m) ** 2
    first = m * _phi(sigma - z) / tail
    second = m * m * math.exp(sigma2) * _phi(2 * sigma - z) / tail
    return max(first - elapsed, floor), max(second - first * first, 0.0)


def starts_in(now: datetime, shift_start: datetime | None, *, has_current: bool,
              last_call: datetime | None) -> float | None:
    """Minutes until the doctor begins calling (EtaInputs.starts_in_min): the shift start
    minus now while the doctor has called nobody since LATE_WINDOW_MIN before it, negative
    once the start has passed; None once the doctor has called someone (or is with someone),
    with no shift today, or when the start is more than LATE_WINDOW_MIN past (the doctor is
    taken to be there, idle). A shift from local midnight is an all-day entry (00:00-23:59),
    not a start anybody is late for: just after midnight its doctor is as idle as at noon."""
    if shift_start is None or has_current or (shift_start.hour, shift_start.minute) == (0, 0):
        return None
    if last_call is not None and last_call >= shift_start - timedelta(minutes=LATE_WINDOW_MIN):
        return None  # called someone today (perhaps before the start): begun
    minutes = (shift_start - now).total_seconds() / 60
    return None if minutes < -LATE_WINDOW_MIN else minutes


def pause_remaining(now: datetime, *, paused_since: datetime | None,
                    pause_until: datetime | None) -> float:
    """Expected minutes until a paused doctor resumes (EtaInputs.paused_remaining_min).

    A pause given minutes on the tablet ends at `pause_until`; an open one is assumed to last
    OPEN_PAUSE_MIN from its start. Past that end the doctor has still not pressed Resume, so
    it is PAUSE_OVERRUN_MIN more, never 0 (which would show "any moment now" to a room whose
    doctor is away)."""
    if pause_until is None:
        since = paused_since or now
        pause_until = since + timedelta(minutes=OPEN_PAUSE_MIN)
    return max((pause_until - now).total_seconds() / 60, PAUSE_OVERRUN_MIN)


def _lead_in(starts_in_min: float | None) -> tuple[float, float, float]:
    """(fixed, mean, variance) of the minutes before a doctor who has not begun calls anyone:
    the time to the shift start is fixed, the lateness on top uncertain (LATE_START_*)."""
    if starts_in_min is None or starts_in_min < -LATE_WINDOW_MIN:
        return 0.0, 0.0, 0.0
    if starts_in_min >= 0:
        return starts_in_min, LATE_START_MEAN_MIN, LATE_START_SD_MIN**2
    return 0.0, LATE_OVERDUE_MIN, LATE_START_SD_MIN**2


def jumpers(inputs: EtaInputs, ahead_for_min: float, wait: float) -> float:
    """Expected minutes that tokens still to come add ahead of a waiting one: JUMP_RATE times
    the minutes of the coming wait during which an arrival would sort ahead of it, which is
    `ahead_for_min` (its score minus now: positive for a booked token checked in before its
    slot) for anyone and that plus the senior credit for a senior."""
    anyone = min(max(ahead_for_min, 0.0), wait)
    senior = min(max(ahead_for_min + inputs.senior_credit_min, 0.0), wait)
    return JUMP_RATE * ((1.0 - SENIOR_SHARE) * anyone + SENIOR_SHARE * senior)


def etas(inputs: EtaInputs, show_probs: Sequence[float],
         ahead_for_min: Sequence[float] | None = None) -> list[Eta]:
    """One Eta per waiting token, in queue order: minutes until that token is called.
    `ahead_for_min`: per token, its queue score minus now in minutes (`jumpers`; None: no
    arrivals to come are counted).

    The wait of the k-th token is modelled as
    W_k = D + L + pause + R + sum_{i<k} S_i (C_i + o) + interruptions, with D the minutes to
    the shift start of a doctor who has not begun (known) and L the lateness on top
    (`_lead_in`), C_i consults of blended mean m and variance v at today's pace (`paced`),
    o = CALL_OVERHEAD_MIN, S_i ~ Bernoulli(p_i), p_i = show_probs[i] x PRESENT_WHEN_CALLED,
    a token not there costing a = ABSENT_CALL_MIN instead (the recall and the wait before
    moving on), R the remainder of the current consult (mean from `residual`, its variance times
    RESIDUAL_VAR_FACTOR; 0 when nobody is with the doctor), so each token ahead adds
    p(m+o) + (1-p)a to the mean and p v + p(1-p)(m+o-a)^2 to the variance. Consults of one
    day share the doctor's pace, uncertain by a relative sd sqrt(PACE_CV^2 + v/(m^2 (n+w)))
    (the second term: how well m is known): it adds that variance times sum_{i != j} c_i c_j
    (the diagonal is already in v). The pause has a relative sd of PAUSE_CV. Interruptions
    are Poisson at INTERRUPT_PER_MIN per minute of the wait, each one cycle (m + o) long;
    so are the tokens still to come that will sort ahead of this one (`jumpers`: a mean of
    J minutes, variance J (m + o)).
    Constants tuned on simulated days, seeds 1-100 (bench/eta_accuracy.py).

    W_k - D is taken as a lognormal matched to its mean and variance; p10, p50 and p90 are
    D plus its quantiles. The interruptions only ever add time, so their spread (at the
    wider UPSIDE_PER_MIN rate, plus UPSIDE_BASE) enters the upper end alone, which is the
    lognormal's Z_UPPER quantile: the real tail is heavier than the lognormal's. So p50 is
    the median of the whole model, not the plain sum of consult means: it includes the
    minute per call and the interruptions, which the sum leaves out and which made the old
    p50 err early by several minutes.

    All three are non-decreasing in k (W_k is pathwise non-decreasing, so are its true
    quantiles; a running maximum removes the rare dips of the lognormal approximation).
    Estimates are not capped by the shift end: a patient is better told the truth than a
    clipped ETA.
    """
    m = blended_mean(inputs)
    v = blended_variance(inputs)
    n_known = min(inputs.stats.n, STATS_MEMORY) + _prior_weight(inputs)
    # a pseudo-count below MIN_KNOWN is none at all (and would overflow the ratio)
    pace_var = PACE_CV**2 + (v / (m * m * n_known) if n_known >= MIN_KNOWN else PRIOR_CV**2)
    m, v = paced(inputs, m, v)
    cycle = m + CALL_OVERHEAD_MIN
    fixed, mean, var = _lead_in(inputs.starts_in_min)
    pause = max(inputs.paused_remaining_min, 0.0)
    mean += pause
    var += (PAUSE_CV * pause) ** 2  # the lead-in, the pause, the consults: independent
    consult = 0.0   # expected consult minutes ahead, all scaled by the uncertain pace
    consult_sq = 0.0  # sum of their squares: the diagonal, already in each consult's own v
    if inputs.current_elapsed_min is not None:
        elapsed = max(inputs.current_elapsed_min, 0.0)  # clock skew between hosts
        remaining, remaining_var = residual(m, v, elapsed)
        remaining_var *= RESIDUAL_VAR_FACTOR
        mean += remaining
        var += remaining_var
        consult += remaining
        consult_sq += remaining * remaining
    out: list[Eta] = []
    last = (0, 0, 0)
    for i, shows in enumerate(show_probs):
        if not 0.0 <= shows <= 1.0:
            raise ValueError(f"show probability must be in [0, 1], got {shows}")
        p = shows * PRESENT_WHEN_CALLED
        bumps = INTERRUPT_PER_MIN * (fixed + mean)  # expected interruptions during the wait
        jump = 0.0 if ahead_for_min is None else jumpers(inputs, ahead_for_min[i], fixed + mean)
        total = mean + bumps * cycle + jump
        shared = pace_var * (consult * consult - consult_sq)  # between consults, i != j
        core_var = var + shared + jump * cycle  # a Poisson count of cycles
        upside = UPSIDE_PER_MIN * (fixed + mean) + UPSIDE_BASE
        upper_var = core_var + upside * (cycle * cycle + v)
        p10 = max(_round(fixed + _quantile(total, core_var, -Z90)), last[0])
        p50 = max(_round(fixed + _quantile(total, core_var, 0.0)), p10, last[1])
        p90 = max(_round(fixed + _quantile(total, upper_var, Z_UPPER)), p50, last[2])
        out.append(Eta(p50_min=p50, p90_min=p90, p10_min=p10))
        last = (p10, p50, p90)
        mean += p * cycle + (1.0 - p) * ABSENT_CALL_MIN
        consult += p * m
        consult_sq += (p * m) ** 2
        var += p * v + p * (1.0 - p) * (cycle - ABSENT_CALL_MIN) ** 2
    return out


def naive_eta(position: int, dept_avg_min: float, buffer_min: float) -> int:
    """The reference the model must beat (DESIGN.md): position x (average consult + buffer).

    The buffer is per token ahead, as the naive rule in the seed documents has it.
    """
    if position < 1:
        raise ValueError(f"position counts from 1, got {position}")
    return _round(position * (dept_avg_min + buffer_min))


def should_push(
    old: Eta | None, new: Eta, old_position: int | None, new_position: int | None
) -> bool:
    """Push to a phone only on a change the patient can see: position, or the range's ends
    (p10/p90) or p50 by >= 1 min.

    Recomputation happens on every queue change; this keeps SMS/WS pushes from chattering.
    """
    if old is None or old_position != new_position:
        return True
    return (abs(new.p50_min - old.p50_min) >= 1 or abs(new.p90_min - old.p90_min) >= 1
            or abs(new.p10_min - old.p10_min) >= 1)
