"""Which doctor a department token goes to: the one whose queue would call it soonest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from server.domain.eta import EtaInputs, etas


@dataclass(frozen=True)
class Candidate:
    doctor_id: UUID
    eta_inputs: EtaInputs
    waiting: int
    on_shift: bool = True


def expected_wait(c: Candidate) -> float:
    """p50 minutes until a token joining the back of this queue would be called."""
    return float(etas(c.eta_inputs, [1.0] * (c.waiting + 1))[-1].p50_min)


def choose(candidates: Sequence[Candidate]) -> UUID | None:
    """Shortest expected wait among doctors on shift; ties by shorter queue, then id."""
    pool = [c for c in candidates if c.on_shift]
    if not pool:
        return None
    best = min(pool, key=lambda c: (expected_wait(c), c.waiting, str(c.doctor_id)))
    return best.doctor_id
