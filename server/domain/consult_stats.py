"""A doctor's learned consult-time statistics: the type both the ETA model (domain.eta, which
updates them) and today's pace (domain.eta_today, which starts from them) read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsultStats:
    """Welford online statistics of one doctor's consult minutes (kept in Redis, O(1) update).

    `n` is the effective number of consults behind mean and m2: the true count up to
    STATS_MEMORY, then it stays there as older consults fade (see update_stats).
    """

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @property
    def variance(self) -> float | None:
        """Sample variance, or None with fewer than two consults (not yet estimable)."""
        return self.m2 / (self.n - 1) if self.n >= 2 else None
