"""Live alert rules: pure functions of a snapshot of one hospital's day (no I/O).

`evaluate(snapshot)` says which conditions hold now, each under a stable key; `plan(...)`
compares them with the alerts on record and says what to raise, resolve, update or forget.
The worker (workers/alerts.py) gathers the snapshot, applies the plan and announces it. An
alert is raised once while its key's condition holds, resolved when it ends; one a person
resolved stays quiet ("held") until the condition ends, and is raised again only if the
condition comes back after that.

The kinds (thresholds in `Thresholds`, per hospital in hospitals.alert_thresholds):
- LONG_WAIT: a patient still waiting `long_wait_over_eta_min` past the latest ETA shown
  (when that ETA was computed + its p90): the queue stalled or the estimate was wrong.
- BOTTLENECK: a department with `bottleneck_waiting` or more waiting, or the last of them
  expected beyond `bottleneck_p90_min`; or one doctor's queue far longer than an available
  colleague's (at least `imbalance_gap` more and twice as long), with the suggested move.
- DOCTOR_IDLE: on shift, not paused, nobody with them, patients waiting, and nothing done
  (call, start, completion, no-show, end of a pause) for `idle_min`.
- DOCTOR_LATE_START: on shift for longer than the department's late_start_alert_min, not
  paused, patients waiting, and nobody called since the shift began. Never for a shift from
  local 00:00: that is an all-day entry (00:00-23:59, the after-midnight part of a night
  shift), not a start anybody is late for; its doctor can be DOCTOR_IDLE (idle since the
  shift start if nothing was done), as one whose shift has begun.
- MESSAGES_FAILING: of the messages with an outcome in the last `messages_window_min`, at
  least `messages_min_count`, and `messages_fail_pct` % or more failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

LONG_WAIT = "LONG_WAIT"
BOTTLENECK = "BOTTLENECK"
DOCTOR_IDLE = "DOCTOR_IDLE"
DOCTOR_LATE_START = "DOCTOR_LATE_START"
MESSAGES_FAILING = "MESSAGES_FAILING"
KINDS = (LONG_WAIT, BOTTLENECK, DOCTOR_IDLE, DOCTOR_LATE_START, MESSAGES_FAILING)


@dataclass(frozen=True)
class Thresholds:
    """A hospital's alert thresholds; each bounded, so a bad setting cannot silence or flood."""

    long_wait_over_eta_min: int = 15
    bottleneck_waiting: int = 40
    bottleneck_p90_min: int = 120
    imbalance_gap: int = 6
    idle_min: int = 10
    messages_window_min: int = 30
    messages_min_count: int = 5
    messages_fail_pct: int = 20

    BOUNDS = {  # noqa: RUF012 - a class constant, not a field
        "long_wait_over_eta_min": (1, 240), "bottleneck_waiting": (2, 1000),
        "bottleneck_p90_min": (10, 600), "imbalance_gap": (2, 100), "idle_min": (2, 240),
        "messages_window_min": (5, 1440), "messages_min_count": (1, 1000),
        "messages_fail_pct": (1, 100),
    }

    @classmethod
    def from_settings(cls, raw: dict[str, Any] | None) -> Thresholds:
        """The stored settings over the defaults; unknown keys and values out of bounds are
        ignored (the default stands), never an error in a cron job."""
        values: dict[str, int] = {}
        for f in fields(cls):
            v = (raw or {}).get(f.name)
            lo, hi = cls.BOUNDS[f.name]
            if isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi:
                values[f.name] = v
        return cls(**values)


@dataclass(frozen=True)
class WaitingToken:
    id: UUID
    number: str
    department_id: UUID
    doctor_id: UUID | None
    priority: int
    booking_type: str
    checked_in_at: datetime | None
    eta_p90_min: int | None
    eta_updated_at: datetime | None
    queue_score: float | None = None


@dataclass(frozen=True)
class Doctor:
    id: UUID
    name: str
    department_id: UUID
    on_shift: bool                      # a shift of today covers now
    shift_start: datetime | None        # of that shift
    all_day: bool = False               # it starts at local 00:00: nobody is late to it
    paused: bool = False
    has_current: bool = False           # someone CALLED or IN_CONSULTATION
    called_since_shift_start: bool = False
    last_activity_at: datetime | None = None   # last call, start, end of a visit or pause
    late_start_alert_min: int = 15      # the department's setting


@dataclass(frozen=True)
class Department:
    id: UUID
    name: str


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    thresholds: Thresholds
    departments: list[Department]
    doctors: list[Doctor]
    waiting: list[WaitingToken]
    messages_done: int = 0              # messages with an outcome in the window
    messages_failed: int = 0


@dataclass(frozen=True)
class Condition:
    """An alert that should be open now."""

    key: str
    kind: str
    message: str
    severity: str = "WARNING"
    entity_type: str | None = None
    entity_id: UUID | None = None
    department_id: UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def span(minutes: int) -> str:
    """"45 min", "2 h 5 min": how a person says it."""
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m} min" if m else f"{h} h"


def long_waits(s: Snapshot) -> list[Condition]:
    out = []
    names = {d.id: d.name for d in s.doctors}
    grace = timedelta(minutes=s.thresholds.long_wait_over_eta_min)
    for t in s.waiting:
        if t.eta_updated_at is None or t.eta_p90_min is None:
            continue
        expected = t.eta_updated_at + timedelta(minutes=t.eta_p90_min)
        if s.now < expected + grace:
            continue
        over = _minutes(s.now - expected)
        waited = _minutes(s.now - t.checked_in_at) if t.checked_in_at else None
        doctor = names.get(t.doctor_id) if t.doctor_id else None
        text = f"{t.number} is still waiting, {span(over)} past the expected call"
        if waited is not None:
            text += f" (waiting {span(waited)})"
        if doctor:
            text += f" for {doctor}"
        out.append(Condition(
            key=f"{LONG_WAIT}:{t.id}", kind=LONG_WAIT, message=text, entity_type="TOKEN",
            entity_id=t.id, department_id=t.department_id,
            details={"token_id": str(t.id), "number": t.number,
                     "doctor_id": str(t.doctor_id) if t.doctor_id else None,
                     "expected_at": expected.isoformat()}))
    return out


def _available(d: Doctor) -> bool:
    return d.on_shift and not d.paused


def bottlenecks(s: Snapshot) -> list[Condition]:
    th = s.thresholds
    out = []
    for dep in s.departments:
        waiting = [t for t in s.waiting if t.department_id == dep.id]
        worst = max((t.eta_p90_min for t in waiting if t.eta_p90_min is not None), default=None)
        if len(waiting) >= th.bottleneck_waiting or (worst is not None
                                                     and worst >= th.bottleneck_p90_min):
            text = f"{dep.name}: {len(waiting)} waiting"
            if worst is not None:
                text += f", the last expected in about {span(worst)}"
            out.append(Condition(
                key=f"{BOTTLENECK}:dep:{dep.id}", kind=BOTTLENECK, message=text,
                entity_type="DEPARTMENT", entity_id=dep.id, department_id=dep.id,
                details={"waiting": len(waiting), "p90_max_min": worst}))
        out += _imbalance(s, dep, waiting)
    return out


def _imbalance(s: Snapshot, dep: Department, waiting: list[WaitingToken]) -> list[Condition]:
    """One doctor's queue far longer than an available colleague's: suggest moving half the
    difference (walk-ins from the back of the long queue; never an emergency)."""
    doctors = [d for d in s.doctors if d.department_id == dep.id and _available(d)]
    if len(doctors) < 2:
        return []
    queues = {d.id: sorted((t for t in waiting if t.doctor_id == d.id),
                           key=lambda t: (t.queue_score is None, t.queue_score or 0, str(t.id)))
              for d in doctors}
    # ties go by name, so the same queues always give the same suggestion
    longest = min(doctors, key=lambda d: (-len(queues[d.id]), d.name, str(d.id)))
    shortest = min((d for d in doctors if d.id != longest.id),
                   key=lambda d: (len(queues[d.id]), d.name, str(d.id)))
    n_long, n_short = len(queues[longest.id]), len(queues[shortest.id])
    if n_long - n_short < s.thresholds.imbalance_gap or n_long < 2 * n_short:
        return []
    movable = [t for t in reversed(queues[longest.id])
               if t.booking_type == "WALK_IN" and t.priority < 3]
    move = movable[:(n_long - n_short) // 2]
    if not move:
        return []
    text = (f"{longest.name} has {n_long} waiting, {shortest.name} {n_short}: "
            f"move {len(move)} to {shortest.name}")
    return [Condition(
        key=f"{BOTTLENECK}:queue:{longest.id}", kind=BOTTLENECK, message=text,
        entity_type="DOCTOR", entity_id=longest.id, department_id=dep.id,
        details={"from_doctor_id": str(longest.id), "from_waiting": n_long,
                 "to_waiting": n_short,
                 "suggestion": {"action": "transfer", "count": len(move),
                                "label": f"Move {len(move)} to {shortest.name}",
                                "to_doctor_id": str(shortest.id),
                                "to_doctor_name": shortest.name,
                                "token_ids": [str(t.id) for t in move],
                                "numbers": [t.number for t in move]}})]


def doctors(s: Snapshot) -> list[Condition]:
    out = []
    waiting: dict[UUID, int] = {}
    for t in s.waiting:
        if t.doctor_id:
            waiting[t.doctor_id] = waiting.get(t.doctor_id, 0) + 1
    for d in s.doctors:
        n = waiting.get(d.id, 0)
        if not _available(d) or not n or d.has_current or d.shift_start is None:
            continue
        # an all-day entry (from local 00:00) has no start to be late for: only idle
        if not d.called_since_shift_start and not d.all_day:
            late = _minutes(s.now - d.shift_start)
            if late > d.late_start_alert_min:
                out.append(Condition(
                    key=f"{DOCTOR_LATE_START}:{d.id}:{d.shift_start.isoformat()}",
                    kind=DOCTOR_LATE_START, entity_type="DOCTOR", entity_id=d.id,
                    department_id=d.department_id,
                    message=f"{d.name} has called nobody {span(late)} into the shift; "
                            f"{n} waiting",
                    details={"doctor_id": str(d.id), "shift_start": d.shift_start.isoformat(),
                             "waiting": n}))
            continue
        since = d.last_activity_at or d.shift_start
        idle = _minutes(s.now - since)
        if idle >= s.thresholds.idle_min:
            out.append(Condition(
                key=f"{DOCTOR_IDLE}:{d.id}", kind=DOCTOR_IDLE, entity_type="DOCTOR",
                entity_id=d.id, department_id=d.department_id,
                message=f"{d.name}: no patient called for {span(idle)}; {n} waiting",
                details={"doctor_id": str(d.id), "idle_since": since.isoformat(),
                         "waiting": n}))
    return out


def messages(s: Snapshot) -> list[Condition]:
    th = s.thresholds
    if s.messages_done < th.messages_min_count or not s.messages_done:
        return []
    pct = 100 * s.messages_failed / s.messages_done
    if pct < th.messages_fail_pct:
        return []
    return [Condition(
        key=MESSAGES_FAILING, kind=MESSAGES_FAILING, severity="CRITICAL", entity_type="HOSPITAL",
        message=f"{s.messages_failed} of {s.messages_done} messages failed in the last "
                f"{span(th.messages_window_min)}",
        details={"window_min": th.messages_window_min})]


def evaluate(s: Snapshot) -> list[Condition]:
    """Every alert condition that holds in the snapshot, one per key."""
    return [*long_waits(s), *bottlenecks(s), *doctors(s), *messages(s)]


@dataclass(frozen=True)
class OpenAlert:
    id: UUID
    details: dict[str, Any]


@dataclass
class Plan:
    raise_: list[Condition] = field(default_factory=list)
    resolve: list[UUID] = field(default_factory=list)     # open, condition ended
    clear: list[UUID] = field(default_factory=list)       # resolved by a person, condition ended
    update: list[tuple[UUID, Condition]] = field(default_factory=list)  # open, details moved

    def __bool__(self) -> bool:
        return bool(self.raise_ or self.resolve or self.clear or self.update)


def plan(conditions: list[Condition], open_: dict[str, OpenAlert],
         held: dict[str, UUID]) -> Plan:
    """What to do so that the record matches the conditions. `open_`: unresolved alerts by
    key; `held`: alerts a person resolved while their condition still held, by key."""
    now = {c.key: c for c in conditions}
    out = Plan()
    for key, c in now.items():
        if key in open_:
            if open_[key].details != c.details:  # not the message: its minutes tick
                out.update.append((open_[key].id, c))
        elif key not in held:
            out.raise_.append(c)
    out.resolve = [a.id for key, a in open_.items() if key not in now]
    out.clear = [i for key, i in held.items() if key not in now]
    return out
