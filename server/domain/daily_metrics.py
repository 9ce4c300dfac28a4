"""One doctor's day in figures: the row of `doctor_performance_metrics` (docs/reports.md).

Pure: it takes the day's token rows, their history, the doctor's shifts and pauses, and
returns the figures; the job (server/reports.py) reads and writes. Every figure is defined
here and in docs/reports.md, in the same words:

- a patient's *wait* runs from arrival (check-in, or issue for a walk-in) to their first call;
- the doctor is *busy* from each call to whatever ends that attendance (complete, no-show,
  skip back to the queue, cancel); busy spells are merged, so overlaps never count twice;
- *pause* is time paused inside the shifts; *idle* is shift time neither busy nor paused
  (a late start is idle); *utilisation* is busy time inside the shifts over the shift time
  that was not paused;
- *first-call delay* is the first call of the day minus the later of the shift start and the
  first patient's arrival (a doctor with nobody waiting is not late); negative when early;
- *overtime* is how far the last attendance ended after the last shift's end.

Attendances the day-end close ended (a consult left open, a patient still called at
midnight) have no known end: they count as busy until the later of their start and the last
shift's end, and such a consult is left out of the mean consult time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

Interval = tuple[datetime, datetime]

ACTIVE = ("CALLED", "IN_CONSULTATION")
WALK_IN_KINDS = ("WALK_IN", "EMERGENCY")


@dataclass(frozen=True)
class TokenFacts:
    id: UUID
    status: str
    booking_type: str
    created_at: datetime
    checked_in_at: datetime | None
    called_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    no_show_at: datetime | None


@dataclass(frozen=True)
class Step:
    """One token_history row: the token went from `from_status` to `to_status` at `at`."""

    token_id: UUID
    from_status: str | None
    to_status: str
    at: datetime


@dataclass(frozen=True)
class DayInput:
    day_start: datetime          # local midnight opening the service day
    day_end: datetime            # local midnight closing it
    shifts: Sequence[Interval]
    pauses: Sequence[tuple[datetime, datetime | None]]
    tokens: Sequence[TokenFacts]
    history: Sequence[Step]
    late_start_min: int          # the department's late-start threshold
    now: datetime                # a day still running is cut here


@dataclass(frozen=True)
class DayFigures:
    tokens_total: int
    tokens_completed: int
    tokens_no_show: int
    tokens_cancelled: int
    avg_wait_min: float | None
    wait_p50_min: float | None
    wait_p90_min: float | None
    wait_samples_min: list[float]
    avg_consultation_min: float | None
    first_call_delay_min: int | None
    late_start: bool
    last_patient_at: datetime | None
    overtime_min: int | None
    shift_min: int
    busy_min: int
    pause_min: int
    idle_min: int
    utilisation: float | None


# ------------------------------------------------------------------------- small helpers
def minutes(d: timedelta) -> float:
    return d.total_seconds() / 60


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, PostgreSQL's
    percentile_cont): the same figure whichever of them recomputes it."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of intervals as disjoint, sorted intervals (empty ones dropped)."""
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(xs: Sequence[Interval], ys: Sequence[Interval]) -> list[Interval]:
    """The intersection of two unions of intervals."""
    return merge((max(a, c), min(b, d)) for a, b in merge(xs) for c, d in merge(ys))


def total_min(intervals: Iterable[Interval]) -> float:
    return sum(minutes(b - a) for a, b in merge(intervals))


def _round(v: float | None, places: int = 2) -> float | None:
    return None if v is None else round(v, places)


# ------------------------------------------------------------------------- the figures
def arrival(t: TokenFacts) -> datetime | None:
    if t.checked_in_at is not None:
        return t.checked_in_at
    return t.created_at if t.booking_type in WALK_IN_KINDS else None


def attendances(t: TokenFacts, steps: Sequence[Step], *, cut: datetime, unknown_end: datetime
                ) -> tuple[list[Interval], datetime | None]:
    """The token's busy spells and its first call. From the history when there is one (a
    skipped and re-called patient has two spells); from the row otherwise (imported data).
    A spell still open at `cut`, or ended after it, ends at `unknown_end` (at least its
    start)."""
    spells: list[tuple[datetime, datetime | None]] = []
    first_call: datetime | None = None
    opened: datetime | None = None
    for s in steps:
        if s.to_status == "CALLED" and opened is None:
            opened = s.at
            first_call = first_call or s.at
        elif opened is not None and s.to_status not in ACTIVE:
            spells.append((opened, s.at))
            opened = None
    if not steps and t.called_at is not None:
        first_call = opened = t.called_at
        if (end := t.completed_at or t.no_show_at) is not None:
            spells.append((opened, end))
            opened = None
    if opened is not None:  # still with the doctor: the day runs on, or nobody closed it
        spells.append((opened, None))
    return [(a, b if b is not None and b <= cut else max(a, unknown_end))
            for a, b in spells], first_call


def compute(d: DayInput) -> DayFigures:
    cut = min(d.now, d.day_end)
    shifts = merge(d.shifts)
    last_shift_end = shifts[-1][1] if shifts else cut
    # while the day runs, an open attendance lasts until now; once it is over, one the
    # day-end close ended (or nobody did) counts until the last shift's end
    unknown_end = cut if d.now < d.day_end else min(last_shift_end, cut)
    by_token: dict[UUID, list[Step]] = {t.id: [] for t in d.tokens}
    for s in sorted(d.history, key=lambda s: s.at):
        if s.token_id in by_token:
            by_token[s.token_id].append(s)

    busy: list[Interval] = []
    waits: list[float] = []
    first_calls: list[datetime] = []
    consults: list[float] = []
    for t in d.tokens:
        spells, first_call = attendances(t, by_token[t.id], cut=cut, unknown_end=unknown_end)
        busy += spells
        came = arrival(t)
        if first_call is not None:
            first_calls.append(first_call)
            if came is not None:
                waits.append(max(0.0, minutes(first_call - came)))
        if t.status == "COMPLETED" and t.completed_at is not None and t.completed_at <= cut:
            began = t.started_at or t.called_at
            if began is not None:
                consults.append(minutes(t.completed_at - began))
    busy = merge(busy)

    pauses = merge((a, min(b or cut, cut)) for a, b in d.pauses)
    shift_min = total_min(shifts)
    pause_in = total_min(intersect(pauses, shifts))
    busy_in = total_min(intersect(busy, shifts))
    occupied = total_min(intersect(busy + pauses, shifts))
    available = shift_min - pause_in

    delay: int | None = None
    arrivals = [a for t in d.tokens if (a := arrival(t)) is not None]
    if first_calls and shifts:
        ready = max(shifts[0][0], min(arrivals)) if arrivals else shifts[0][0]
        delay = round(minutes(min(first_calls) - ready))
    last = busy[-1][1] if busy else None
    overtime = None if last is None or not shifts else max(0, round(minutes(last - last_shift_end)))

    return DayFigures(
        tokens_total=len(d.tokens),
        tokens_completed=sum(t.status == "COMPLETED" for t in d.tokens),
        tokens_no_show=sum(t.status == "NO_SHOW" for t in d.tokens),
        tokens_cancelled=sum(t.status == "CANCELLED" for t in d.tokens),
        avg_wait_min=_round(sum(waits) / len(waits)) if waits else None,
        wait_p50_min=_round(percentile(waits, 0.5)),
        wait_p90_min=_round(percentile(waits, 0.9)),
        wait_samples_min=[round(w, 2) for w in sorted(waits)],
        avg_consultation_min=_round(sum(consults) / len(consults)) if consults else None,
        first_call_delay_min=delay,
        late_start=delay is not None and delay > d.late_start_min,
        last_patient_at=last,
        overtime_min=overtime,
        shift_min=round(shift_min),
        busy_min=round(total_min(busy)),
        pause_min=round(pause_in),
        idle_min=round(shift_min - occupied),
        utilisation=_round(min(1.0, busy_in / available), 3) if available > 0 else None,
    )
