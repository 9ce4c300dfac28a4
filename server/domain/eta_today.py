"""Today's pace of a doctor: the consults of this sitting against what was known before it.

A doctor's pace differs from day to day (tired, hurried, a hard list) by more than the
learned mean (domain.eta.update_stats, which fades old consults slowly) follows within a
morning. So the live doctor hash also keeps this sitting's consults (count and mean log
minutes, `TodayStats`) and the learned stats as they were when the sitting began (its
`start`): the prior of a normal model of log(today's pace), which today's consults update
(`today_pace`). The prior is the learned mean before today, not the running one, which
already holds today's consults: counting them twice (once in the prior, once as today's)
over-trusted them. Tuned on simulated days, seeds 1-100 (bench/eta_accuracy.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from server.domain.consult_stats import ConsultStats

MIN_CONSULT_MIN: float = 0.5
"""Lower clamp of a recorded consult: shorter ones are mis-taps (Start then Next at once)."""

TODAY_GAP_MIN: float = 180.0
"""Consults further apart than this belong to different sittings (another day, an evening
OPD): today's pace starts afresh (TodayStats)."""
TODAY_PACE_VAR: float = 0.03
"""Prior variance of log(today's pace / the doctor's usual pace): days differ by about 17-20%
(the simulator's day-to-day sd is 0.2, so this is in its form, and tuned on it), while one
consult's log varies by 0.3-0.55, complex cases more."""
DOCTOR_SPREAD_VAR: float = 0.05
"""Prior variance of log(a doctor's usual pace / the department default): how much doctors
of one department differ. It counts while the doctor's own consults are few (a new doctor),
fading with them like the department default's weight."""
TODAY_LOG_BIAS: float = -0.05
"""Log correction of today's lognormal mean estimate exp(mean log + s^2/2): s^2 from the
learned variance counts the complex cases, which the log-mean of a few consults rarely has."""


@dataclass(frozen=True)
class TodayStats:
    """The doctor's consults of this sitting: how many and the mean of their log minutes (the
    geometric mean is robust to a complex case), when the last one ended (epoch ms), and the
    learned stats when the sitting began (`start`; None: not known, as in a hash written
    before it was kept, when the running stats stand in)."""

    n: int = 0
    log_mean: float = 0.0
    last_ms: int | None = None
    start: ConsultStats | None = None


def update_today(today: TodayStats, minutes: float, at_ms: int, *, cap_min: float = 120.0,
                 learned: ConsultStats | None = None) -> TodayStats:
    """Add one finished consult (clamped like update_stats); a consult more than
    TODAY_GAP_MIN after the last one starts a new sitting, whose `start` is `learned`: the
    stats before this consult."""
    if math.isnan(minutes):
        raise ValueError("consult minutes must be a number")
    x = math.log(min(max(minutes, MIN_CONSULT_MIN), cap_min))
    if today.last_ms is None or at_ms - today.last_ms > TODAY_GAP_MIN * 60000 or today.n <= 0:
        return TodayStats(1, x, at_ms, learned)
    n = today.n + 1
    return TodayStats(n, today.log_mean + (x - today.log_mean) / n,
                      max(at_ms, today.last_ms), today.start)


def today_now(today: TodayStats, now_ms: float) -> TodayStats:
    """Today's stats as an ETA input at now_ms: none once the last consult is more than
    TODAY_GAP_MIN old (yesterday's, or this morning's for an evening sitting)."""
    if today.n <= 0 or today.last_ms is None or now_ms - today.last_ms > TODAY_GAP_MIN * 60000:
        return TodayStats()
    return today


def today_pace(today: TodayStats, m0: float, s2: float, known: float, prior_weight: float
               ) -> float:
    """Expected consult minutes at today's pace. The prior of log(pace) is log(m0), m0 the
    blended mean when the sitting began, with variance P = TODAY_PACE_VAR + (DOCTOR_SPREAD_VAR
    w + s^2) / (n + w) (days differ; the usual pace is known from n consults and the
    department default's weight w); s^2 = ln(1 + v0/m0^2), a consult's log variance. The k
    consults of today, log-mean L, say L + s^2/2 + TODAY_LOG_BIAS; the posterior mean in logs
    weighs them w_k = k P / (k P + s^2), the normal shrinkage of noisy readings to a prior."""
    k = today.n
    if k <= 0 or m0 <= 0:
        return m0
    if s2 <= 1e-12:
        return math.exp(today.log_mean)
    prior_var = TODAY_PACE_VAR + ((DOCTOR_SPREAD_VAR * prior_weight + s2)
                                  / (known + prior_weight) if known + prior_weight > 0
                                  else DOCTOR_SPREAD_VAR)
    w = k * prior_var / (k * prior_var + s2)
    return math.exp(w * (today.log_mean + s2 / 2 + TODAY_LOG_BIAS) + (1.0 - w) * math.log(m0))
