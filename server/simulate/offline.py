"""Offline mode: play seeded days through the pure model and score the ETAs the server shows.

Each `Sample` of a day holds exactly the inputs the server has at that moment (learned stats,
today's consults, elapsed current consult, pause, shift start, the queue's scores; show
probability 1.0, as walk-ins have no risk score), so `domain.eta.etas` gives what the
patient's page would say. It is compared with when
the token was really called next, and so are two references: the naive one
(`domain.eta.naive_eta`: position x (department average + buffer)) and a strong one
(`strong_eta`: position x the doctor's running mean consult, no buffer).

The shown range is [p10, p90]: a patient should be called before it one time in ten at most
(stepped out, missed the call) and after it one time in ten at most.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from server.domain.eta import Eta, EtaInputs, etas, naive_eta
from server.simulate.model import DayResult, run_day
from server.simulate.plan import ClinicConfig, plan_day

MINUTE_TOLERANCE = 0.5
"""ETAs are shown in whole minutes: a call at 12.4 min is "within 12 min" as shown, so a call
counts as after p90 only when it comes more than half a minute later (same for the lower edge)."""


def shown_range(eta: Eta) -> tuple[float, float]:
    return float(eta.p10_min), float(eta.p90_min)


def strong_eta(position: int, inputs: EtaInputs) -> float:
    """The strong reference: position x the doctor's running mean consult time as the server
    has learned it (the department default before any consult), no buffer; it knows nothing
    of the elapsed consult, pauses or the shift start."""
    mean = inputs.stats.mean if inputs.stats.n > 0 else inputs.dept_avg_min
    return position * mean


@dataclass(frozen=True)
class Scored:
    """One shown ETA and the truth: minutes from the moment shown until the token's next call."""

    seed: int
    pid: int
    at_min: float
    position: int
    p50: int
    p90: int
    naive: int
    actual: float
    first: bool
    started: bool = True       # shown after the doctor's first call of the day
    p10: int = 0
    strong: float = 0.0        # the strong reference (strong_eta)


@dataclass(frozen=True)
class Accuracy:
    n: int
    mae: float                 # ours (p50)
    median_ae: float
    naive_mae: float
    naive_median_ae: float
    bias: float                # mean of p50 - actual (negative: optimistic)
    naive_bias: float
    inside: float              # share called within [p10, p90]
    after_p90: float           # share called after p90
    before_lower: float        # share called before p10
    mean_width: float          # p90 - p10, minutes
    strong_mae: float = 0.0    # the strong reference (strong_eta)
    strong_median_ae: float = 0.0
    strong_bias: float = 0.0

    @property
    def mae_gain(self) -> float:
        """How much lower our mean absolute error is than the naive one (0.15 = 15%)."""
        return 1.0 - self.mae / self.naive_mae if self.naive_mae else 0.0

    @property
    def strong_gain(self) -> float:
        """How much lower our mean absolute error is than the strong reference's."""
        return 1.0 - self.mae / self.strong_mae if self.strong_mae else 0.0


class _EtaCache:
    """etas() of one queue at one instant is shared by every token sampled then."""

    def __init__(self) -> None:
        self.cache: dict[tuple[EtaInputs, tuple[float, ...]], list[Eta]] = {}

    def eta(self, inputs: EtaInputs, position: int, ahead_for_min: tuple[float, ...]) -> Eta:
        got = self.cache.get((inputs, ahead_for_min))
        if got is None:
            got = etas(inputs, [1.0] * position, ahead_for_min)
            self.cache[(inputs, ahead_for_min)] = got
        return got[position - 1]


def score_day(result: DayResult) -> list[Scored]:
    """Every sample of the day with its next call; samples never followed by a call (the
    token was cancelled) have no truth and are left out."""
    cfg = result.plan.config
    cache = _EtaCache()
    out = []
    for s in result.samples:
        nxt = next((c for c in result.calls.get(s.pid, ()) if c >= s.at_min), None)
        if nxt is None:
            continue
        e = cache.eta(s.inputs, s.position, s.ahead_for_min)
        out.append(Scored(result.plan.seed, s.pid, s.at_min, s.position, e.p50_min, e.p90_min,
                          naive_eta(s.position, cfg.dept_avg_min, cfg.buffer_min),
                          nxt - s.at_min, s.first, s.started, e.p10_min,
                          strong_eta(s.position, s.inputs)))
    return out


def summarize(scored: Sequence[Scored]) -> Accuracy:
    if not scored:
        raise ValueError("nothing to score")
    ours = [abs(s.p50 - s.actual) for s in scored]
    naive = [abs(s.naive - s.actual) for s in scored]
    strong = [abs(s.strong - s.actual) for s in scored]
    inside = after = before = 0
    width = 0.0
    for s in scored:
        lo, hi = shown_range(Eta(s.p50, s.p90, s.p10))
        width += hi - lo
        if s.actual > hi + MINUTE_TOLERANCE:
            after += 1
        elif s.actual < lo - MINUTE_TOLERANCE:
            before += 1
        else:
            inside += 1
    n = len(scored)
    return Accuracy(
        n=n, mae=statistics.fmean(ours), median_ae=statistics.median(ours),
        naive_mae=statistics.fmean(naive), naive_median_ae=statistics.median(naive),
        bias=statistics.fmean(s.p50 - s.actual for s in scored),
        naive_bias=statistics.fmean(s.naive - s.actual for s in scored),
        inside=inside / n, after_p90=after / n, before_lower=before / n, mean_width=width / n,
        strong_mae=statistics.fmean(strong), strong_median_ae=statistics.median(strong),
        strong_bias=statistics.fmean(s.strong - s.actual for s in scored))


def simulate_days(seeds: Iterable[int], config: ClinicConfig | None = None,
                  sample_every_min: float = 10.0) -> list[Scored]:
    out: list[Scored] = []
    for seed in seeds:
        out += score_day(run_day(plan_day(seed, config), sample_every_min=sample_every_min))
    return out


def evaluate(days: int = 200, first_seed: int = 1, config: ClinicConfig | None = None
             ) -> tuple[Accuracy, list[Scored]]:
    scored = simulate_days(range(first_seed, first_seed + days), config)
    return summarize(scored), scored


def by_position(scored: Sequence[Scored], edges: Sequence[int] = (1, 2, 4, 7, 11, 16, 1000)
                ) -> list[tuple[str, Accuracy]]:
    """Accuracy per position band (the error grows with the distance to the call)."""
    rows = []
    for lo, hi in itertools.pairwise(edges):
        part = [s for s in scored if lo <= s.position < hi]
        if part:
            label = f"{lo}" if hi == lo + 1 else f"{lo}-{hi - 1}" if hi < 1000 else f"{lo}+"
            rows.append((label, summarize(part)))
    return rows


def report(acc: Accuracy) -> str:
    """A few lines for the command line."""
    return "\n".join([
        f"shown ETAs scored: {acc.n:,}",
        f"mean abs error    ours {acc.mae:5.1f} min   naive {acc.naive_mae:5.1f} min   "
        f"strong {acc.strong_mae:5.1f} min (ours {acc.mae_gain:.0%} / {acc.strong_gain:.0%} "
        "lower)",
        f"median abs error  ours {acc.median_ae:5.1f} min   naive {acc.naive_median_ae:5.1f} min",
        f"bias (p50-actual) ours {acc.bias:+5.1f} min   naive {acc.naive_bias:+5.1f} min",
        f"called inside [p10, p90] {acc.inside:.0%}, after p90 {acc.after_p90:.1%}, "
        f"before the range {acc.before_lower:.1%}; mean width {acc.mean_width:.1f} min",
    ])
