"""Expected wait per waiting token (p50/p90 minutes until called), learned consult times, pushes.

Owns the ETA model of DESIGN.md: per-doctor consult minutes learned online (Welford) and
blended with the department default while few are known, the elapsed current consult, the
chance each token ahead does not show, pauses; plus the naive reference it must beat and the
rule deciding when a changed ETA is worth a push to a phone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_CONSULT_MIN: float = 0.5
"""Lower clamp of a recorded consult: shorter ones are mis-taps (Start then Next at once)."""
PRIOR_CV: float = 0.5
"""Coefficient of variation assumed for the department default (consults vary by about half)."""
RESIDUAL_FLOOR: float = 0.25
"""A consult that ran past its mean is still expected to take this fraction of the mean more."""
Z90: float = 1.2815515655446004
"""Standard normal 0.9 quantile."""


@dataclass(frozen=True)
class ConsultStats:
    """Welford online statistics of one doctor's consult minutes (kept in Redis, O(1) update)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @property
    def variance(self) -> float | None:
        """Sample variance, or None with fewer than two consults (not yet estimable)."""
        return self.m2 / (self.n - 1) if self.n >= 2 else None


def update_stats(stats: ConsultStats, minutes: float, *, cap_min: float = 120.0) -> ConsultStats:
    """Add one finished consult; clamped to [0.5, cap] so a forgotten Next cannot skew the mean."""
    if math.isnan(minutes):
        raise ValueError("consult minutes must be a number")
    if cap_min < MIN_CONSULT_MIN:
        raise ValueError(f"cap_min must be >= {MIN_CONSULT_MIN}, got {cap_min}")
    x = min(max(minutes, MIN_CONSULT_MIN), cap_min)
    n = stats.n + 1
    delta = x - stats.mean
    mean = stats.mean + delta / n
    m2 = stats.m2 + delta * (x - mean)
    return ConsultStats(n=n, mean=mean, m2=max(m2, 0.0))


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
    """Doctor paused: expected minutes until resume (0 when not paused)."""
    shift_remaining_min: float | None = None
    """Minutes left in the shift (None = unknown). Not used to cap estimates: the caller flags
    tokens whose p50 exceeds it, since a patient is better told the truth than a clipped ETA."""
    prior_weight: float = 5.0
    """Pseudo-count of the department default when blending with the doctor's own consults."""

    def __post_init__(self) -> None:
        if not (self.dept_avg_min > 0 and math.isfinite(self.dept_avg_min)):
            raise ValueError(f"dept_avg_min must be > 0, got {self.dept_avg_min}")
        if not self.prior_weight >= 0:
            raise ValueError(f"prior_weight must be >= 0, got {self.prior_weight}")


@dataclass(frozen=True)
class Eta:
    """Minutes until called: median and 90th percentile (p90 >= p50 >= 0)."""

    p50_min: int
    p90_min: int


def _round(x: float) -> int:
    """Round half up (not Python's half-even) so the Lua/JS side can reproduce it trivially."""
    return math.floor(x + 0.5)


def blended_mean(inputs: EtaInputs) -> float:
    """(n*mean + w*dept_avg)/(n + w): the department default dominates until the doctor has
    a few consults of their own, then the doctor's mean takes over."""
    n, w = inputs.stats.n, inputs.prior_weight
    if n + w <= 0:
        return inputs.dept_avg_min
    return (n * inputs.stats.mean + w * inputs.dept_avg_min) / (n + w)


def blended_variance(inputs: EtaInputs) -> float:
    """Consult-time variance blended like the mean: the prior is (0.5 * dept_avg)^2 and the
    doctor's sample variance counts with weight n once n >= 2 (it is undefined before)."""
    prior_var = (PRIOR_CV * inputs.dept_avg_min) ** 2
    sample_var = inputs.stats.variance
    w = inputs.prior_weight
    if sample_var is None:
        return prior_var
    n = inputs.stats.n
    if n + w <= 0:
        return prior_var
    return (n * sample_var + w * prior_var) / (n + w)


def _q90(mean: float, var: float) -> float:
    """0.9 quantile of a lognormal with this mean and variance (waits are positive, right-skewed).

    sigma^2 = ln(1 + var/mean^2), mu = ln(mean) - sigma^2/2, q = exp(mu + z90*sigma).
    """
    if mean <= 1e-9:  # nothing ahead (or only tokens that will almost surely not show)
        return max(mean, 0.0)
    if var <= 0:
        return mean
    sigma2 = math.log1p(var / (mean * mean))
    return math.exp(math.log(mean) - sigma2 / 2 + Z90 * math.sqrt(sigma2))


def etas(inputs: EtaInputs, show_probs: Sequence[float]) -> list[Eta]:
    """One Eta per waiting token, in queue order: minutes until that token is called.

    wait_k = pause + R + sum_{i<k} S_i * C_i, with C_i independent consults of blended mean m
    and variance v, S_i ~ Bernoulli(show_probs[i]) independent of C_i, and R the remaining
    time of the current consult (0 when nobody is with the doctor). R is approximated by the
    mean residual life max(m - elapsed, 0.25*m) with the same coefficient of variation as one
    consult. So E[S C] = p m and Var[S C] = p v + p (1-p) m^2. The pause is deterministic.

    p50 = E[wait_k] rounded; p90 = 0.9 quantile of a lognormal matched to E and Var, at least
    p50. Since wait_k is pathwise non-decreasing in k, so are its true quantiles: a running
    maximum removes the rare dips of the lognormal approximation. Estimates are not capped
    by the shift end (see EtaInputs.shift_remaining_min).
    """
    m = blended_mean(inputs)
    v = blended_variance(inputs)
    mean = max(inputs.paused_remaining_min, 0.0)
    var = 0.0
    if inputs.current_elapsed_min is not None:
        elapsed = max(inputs.current_elapsed_min, 0.0)  # clock skew between hosts
        remaining = max(m - elapsed, RESIDUAL_FLOOR * m)
        mean += remaining
        var += v * (remaining / m) ** 2
    out: list[Eta] = []
    last_p90 = 0
    for p in show_probs:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"show probability must be in [0, 1], got {p}")
        p50 = _round(mean)
        p90 = max(_round(_q90(mean, var)), p50, last_p90)
        out.append(Eta(p50_min=p50, p90_min=p90))
        last_p90 = p90
        mean += p * m
        var += p * v + p * (1.0 - p) * m * m
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
    """Push to a phone only on a change the patient can see: position, or p50/p90 by >= 1 min.

    Recomputation happens on every queue change; this keeps SMS/WS pushes from chattering.
    """
    if old is None or old_position != new_position:
        return True
    return abs(new.p50_min - old.p50_min) >= 1 or abs(new.p90_min - old.p90_min) >= 1
