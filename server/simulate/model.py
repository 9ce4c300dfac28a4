"""A clinic day as a discrete-event model, played through the server's own domain rules.

`run_day(plan)` plays a day drawn by `server.simulate.plan.plan_day` with the domain code
(queue order from `domain.ordering`, every transition checked by `domain.lifecycle`, consult
times learned with `domain.eta.update_stats`), so the same seed always gives the same day.
The offline scorer (`server.simulate.offline`) looks at what the server would have shown at
any moment (`Sample`).

Time is in minutes from the opening of the OPD (t = 0 is 09:00; walk-ins may come earlier).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from server.domain import assignment
from server.domain import lifecycle as lc
from server.domain.eta import ConsultStats, EtaInputs, pause_remaining, starts_in, update_stats
from server.domain.eta_today import TodayStats, today_now, update_today
from server.domain.ordering import order, queue_score, skip_score
from server.simulate.plan import (
    GIVE_UP_AFTER_MIN,
    OPENING,
    RECALL_AFTER_MIN,
    DayPlan,
    DoctorPlan,
    PatientPlan,
    PausePlan,
    consult_minutes,
)


@dataclass(frozen=True)
class Sample:
    """What the server would show one waiting token at one moment, and the inputs behind it."""

    pid: int
    at_min: float
    doctor: int
    position: int
    inputs: EtaInputs
    first: bool                          # taken when the token joined the queue
    started: bool = True                 # the doctor had begun calling (not late, not early)
    ahead_for_min: tuple[float, ...] = ()  # queue score - now, minutes: this token and those ahead


@dataclass
class _Token:
    plan: PatientPlan
    status: lc.Status
    doctor: int | None = None
    score: float = 0.0
    called_at: float | None = None
    started_at: float | None = None
    back_at: float | None = None         # an 'away' patient is back in the waiting room
    sample_gen: int = 0                  # the periodic-sample chain of the latest enqueue


@dataclass
class _Doctor:
    plan: DoctorPlan
    stats: ConsultStats
    waiting: dict[str, float] = field(default_factory=dict)   # token id -> score
    today: TodayStats = field(default_factory=TodayStats)     # consults of this day
    current: str | None = None
    started: bool = False
    last_call: float | None = None       # when the doctor last called someone
    paused_until: float | None = None    # announced end of a pause, None = open-ended
    paused_since: float | None = None
    paused: bool = False
    pause_pending: list[PausePlan] = field(default_factory=list)
    busy: bool = False                   # a consult, recall or Next is under way
    wake_scheduled: bool = False


@dataclass
class DayResult:
    plan: DayPlan
    outcome: dict[int, lc.Status]
    calls: dict[int, list[float]]        # pid -> times it was called
    samples: list[Sample]
    log: list[tuple[float, str, int, int | None]]  # (t, action, pid or -1, doctor)
    consults: list[tuple[int, float]]    # (doctor, minutes learned)
    end_min: float


def _dt(t: float) -> datetime:
    return OPENING + timedelta(minutes=t)


def _ms(t: float) -> int:
    """Epoch ms of time t, as the live doctor hash keeps times."""
    return int(_dt(t).timestamp() * 1000)


class Clinic:
    """The day being played: an event heap over the plan, state changes via the domain rules."""

    def __init__(self, plan: DayPlan, *, sample_every_min: float | None = 10.0) -> None:
        self.plan = plan
        self.cfg = plan.config
        self.sample_every = sample_every_min
        self.docs = [_Doctor(p, p.prior) for p in plan.doctors]
        self.tokens: dict[str, _Token] = {}
        self.by_pid = {p.pid: p for p in plan.patients}
        self.heap: list[tuple[float, int, int, str, tuple[object, ...]]] = []
        self._seq = 0
        self.now = -math.inf
        self.calls: dict[int, list[float]] = {}
        self.samples: list[Sample] = []
        self.log: list[tuple[float, str, int, int | None]] = []
        self.consults: list[tuple[int, float]] = []

    # -- plumbing ------------------------------------------------------------------------
    def at(self, t: float, kind: str, *args: object, late: bool = False) -> None:
        """Schedule; `late` events (samples) run after every change at the same instant."""
        self._seq += 1
        heapq.heappush(self.heap, (t, 1 if late else 0, self._seq, kind, args))

    def _move(self, tok: _Token, action: lc.Action) -> None:
        tok.status = lc.next_status(tok.status, action)  # raises on an impossible transition
        self.log.append((self.now, action.value, tok.plan.pid, tok.doctor))

    def ordered(self, d: int) -> list[str]:
        return order(self.docs[d].waiting.items())

    def eta_inputs(self, d: int) -> EtaInputs:
        """The inputs the server builds from its live doctor hash (presenters.eta_inputs)."""
        doc = self.docs[d]
        elapsed = None
        if doc.current is not None:
            cur = self.tokens[doc.current]
            since = cur.started_at if cur.started_at is not None else cur.called_at
            elapsed = max(0.0, self.now - (since if since is not None else self.now))
        now = _dt(self.now)
        paused = 0.0
        if doc.paused:
            paused = pause_remaining(
                now, paused_since=_dt(doc.paused_since) if doc.paused_since is not None else None,
                pause_until=_dt(doc.paused_until) if doc.paused_until is not None else None)
        begins = starts_in(now, OPENING, has_current=doc.current is not None,
                           last_call=_dt(doc.last_call) if doc.last_call is not None else None)
        return EtaInputs(dept_avg_min=self.cfg.dept_avg_min, stats=doc.stats,
                         current_elapsed_min=elapsed, paused_remaining_min=paused,
                         starts_in_min=begins, today=today_now(doc.today, _ms(self.now)),
                         senior_credit_min=self.cfg.policy.senior_credit_min)

    def _sample(self, tid: str, first: bool) -> None:
        tok = self.tokens[tid]
        if tok.status is not lc.Status.WAITING or tok.doctor is None:
            return
        ids = self.ordered(tok.doctor)
        position = ids.index(tid) + 1
        self.samples.append(Sample(tok.plan.pid, self.now, tok.doctor, position,
                                   self.eta_inputs(tok.doctor), first,
                                   self.docs[tok.doctor].started,
                                   self.ahead_for(tok.doctor, ids[:position])))

    def ahead_for(self, d: int, ids: list[str]) -> tuple[float, ...]:
        """Per token, its queue score minus now in minutes (domain.eta.jumpers), as the server
        reads them from the doctor's sorted set."""
        now_s = _dt(self.now).timestamp()
        return tuple((self.docs[d].waiting[t] - now_s) / 60 for t in ids)

    def _enqueue(self, tok: _Token, d: int, score: float, *, first: bool = True) -> None:
        tok.doctor, tok.score = d, score
        self.docs[d].waiting[tok.plan.token_id] = score
        tok.sample_gen += 1
        if self.sample_every is not None:
            self._sample(tok.plan.token_id, first)
            self.at(self.now + self.sample_every, "sample", tok.plan.token_id, tok.sample_gen,
                    late=True)
        self._wake(d)

    def _wake(self, d: int) -> None:
        """An idle doctor notices someone waiting and presses Next shortly after."""
        doc = self.docs[d]
        if (doc.started and not doc.paused and not doc.busy and doc.current is None
                and doc.waiting and not doc.wake_scheduled):
            doc.wake_scheduled = True
            self.at(self.now + doc.plan.react_min, "next", d)

    def choose_doctor(self) -> int:
        """The desk's choice for a department token (server: assignment.choose)."""
        cands = [assignment.Candidate(UUID(int=i + 1), self.eta_inputs(i), len(doc.waiting),
                                      on_shift=self.now < self.cfg.shift_min)
                 for i, doc in enumerate(self.docs)]
        chosen = assignment.choose(cands) or UUID(int=1)
        return chosen.int - 1

    # -- events --------------------------------------------------------------------------
    def _arrive(self, pid: int) -> None:
        p = self.by_pid[pid]
        tid = p.token_id
        if p.booking_type == "ONLINE":
            tok = self.tokens[tid]
            if tok.status is not lc.Status.BOOKED:
                return  # cancelled before coming
            self._move(tok, lc.Action.CHECK_IN)
            d = p.doctor if p.doctor is not None else 0
        else:
            tok = self.tokens[tid] = _Token(p, lc.Status.WAITING)
            self.log.append((self.now, "issue", pid, None))
            d = self.choose_doctor()
        score = queue_score(booking_type=p.booking_type, priority=p.priority,
                            arrived_at=_dt(self.now),
                            scheduled_time=_dt(p.slot_min) if p.slot_min is not None else None,
                            policy=self.cfg.policy)
        self._enqueue(tok, d, score)

    def _cancel(self, pid: int) -> None:
        tok = self.tokens.get(self.by_pid[pid].token_id)
        if tok is None or tok.status not in (lc.Status.BOOKED, lc.Status.WAITING):
            return
        if tok.status is lc.Status.WAITING and tok.doctor is not None:
            self.docs[tok.doctor].waiting.pop(tok.plan.token_id, None)
        self._move(tok, lc.Action.CANCEL)

    def _next(self, d: int) -> None:
        """The tablet's Next: complete the current patient (learning the consult), call the
        next in queue order; or complete and pause when a pause is due."""
        doc = self.docs[d]
        doc.wake_scheduled = False
        if doc.paused:
            return
        if doc.current is not None:
            cur = self.tokens[doc.current]
            self._move(cur, lc.Action.COMPLETE)
            began = cur.started_at if cur.started_at is not None else cur.called_at
            assert began is not None
            doc.today = update_today(doc.today, self.now - began, _ms(self.now),
                                     learned=doc.stats)
            doc.stats = update_stats(doc.stats, self.now - began)
            self.consults.append((d, self.now - began))
            doc.current = None
        doc.busy = False
        if doc.pause_pending:
            self._pause_now(d, doc.pause_pending.pop(0))
            return
        if not doc.waiting:
            return
        tid = self.ordered(d)[0]
        del doc.waiting[tid]
        tok = self.tokens[tid]
        self._move(tok, lc.Action.CALL)
        tok.called_at, tok.started_at = self.now, None
        self.calls.setdefault(tok.plan.pid, []).append(self.now)
        doc.current, doc.busy, doc.last_call = tid, True, self.now
        p = tok.plan
        present = p.absent is None or (p.absent == "away" and tok.back_at is not None
                                       and tok.back_at <= self.now)
        if present:
            if p.start_pressed:
                self.at(self.now + p.walk_min, "start", tid)
            began = self.now + p.walk_min
            self.at(began + consult_minutes(doc.plan, p, began), "next", d)
        else:
            self.at(self.now + RECALL_AFTER_MIN, "recall", tid)
            self.at(self.now + GIVE_UP_AFTER_MIN, "absent", tid)

    def _start(self, tid: str) -> None:
        tok = self.tokens[tid]
        self._move(tok, lc.Action.START)
        tok.started_at = self.now

    def _absent(self, tid: str) -> None:
        """Still not there: a first absence of someone who stepped out is skipped (held a
        few places back), anything else is a no-show; then the doctor calls the next."""
        tok = self.tokens[tid]
        assert tok.doctor is not None
        doc = self.docs[tok.doctor]
        if tok.plan.absent == "away" and tok.back_at is None:
            self._move(tok, lc.Action.SKIP)
            tok.back_at = tok.called_at + tok.plan.away_min if tok.called_at else self.now
            scores = list(doc.waiting.values())
            tok.score = skip_score(scores, self.cfg.policy.skip_places,
                                   _dt(self.now).timestamp())
            doc.current, doc.busy = None, False
            self._enqueue(tok, tok.doctor, tok.score, first=False)
        else:
            self._move(tok, lc.Action.NO_SHOW)
            doc.current, doc.busy = None, False
        self._wake(tok.doctor)

    def _pause(self, d: int, idx: int) -> None:
        doc = self.docs[d]
        pause = doc.plan.pauses[idx]
        if doc.busy or doc.wake_scheduled:
            doc.pause_pending.append(pause)   # after the patient in the cabin
        else:
            self._pause_now(d, pause)

    def _pause_now(self, d: int, pause: PausePlan) -> None:
        doc = self.docs[d]
        doc.paused, doc.paused_since = True, self.now
        doc.paused_until = self.now + pause.announced_min if pause.announced_min else None
        self.log.append((self.now, "pause", -1, d))
        self.at(self.now + pause.actual_min, "resume", d)

    def _resume(self, d: int) -> None:
        doc = self.docs[d]
        doc.paused, doc.paused_until, doc.paused_since = False, None, None
        self.log.append((self.now, "resume", -1, d))
        if doc.pause_pending:
            self._pause_now(d, doc.pause_pending.pop(0))
            return
        self._wake(d)

    def _doctor_start(self, d: int) -> None:
        self.docs[d].started = True
        self.log.append((self.now, "shift-start", -1, d))
        self._wake(d)

    def _periodic_sample(self, tid: str, gen: int) -> None:
        tok = self.tokens[tid]
        if tok.status is lc.Status.WAITING and gen == tok.sample_gen and self.sample_every:
            self._sample(tid, False)
            self.at(self.now + self.sample_every, "sample", tid, gen, late=True)

    # -- the day -------------------------------------------------------------------------
    def run(self) -> DayResult:
        for p in self.plan.patients:
            if p.booking_type == "ONLINE":
                self.tokens[p.token_id] = _Token(p, lc.Status.BOOKED, doctor=p.doctor)
            if p.arrive_min is not None:
                self.at(p.arrive_min, "arrive", p.pid)
            if p.cancel_min is not None:
                self.at(p.cancel_min, "cancel", p.pid)
        for doc in self.docs:
            self.at(doc.plan.late_min, "doctor", doc.plan.index)
            for i, pause in enumerate(doc.plan.pauses):
                self.at(pause.at_min, "pause", doc.plan.index, i)
        handlers: dict[str, Callable[..., None]] = {
            "arrive": self._arrive, "cancel": self._cancel, "next": self._next,
            "start": self._start, "absent": self._absent, "pause": self._pause,
            "resume": self._resume, "doctor": self._doctor_start,
            "sample": self._periodic_sample,
            "recall": lambda tid: self.log.append((self.now, "recall",
                                                   self.tokens[tid].plan.pid,
                                                   self.tokens[tid].doctor)),
        }
        while self.heap:
            t, _, _, kind, args = heapq.heappop(self.heap)
            self.now = t
            handlers[kind](*args)
        end = self.now
        for tok in self.tokens.values():  # the day-end sweep: booked, never checked in
            if tok.status is lc.Status.BOOKED:
                self._move(tok, lc.Action.NO_SHOW)
        outcome = {p.pid: self.tokens[p.token_id].status for p in self.plan.patients
                   if p.token_id in self.tokens}
        return DayResult(self.plan, outcome, self.calls, self.samples, self.log,
                         self.consults, end)


def run_day(plan: DayPlan, *, sample_every_min: float | None = 10.0) -> DayResult:
    """Play one planned day to its end (every patient seen, a no-show or cancelled)."""
    return Clinic(plan, sample_every_min=sample_every_min).run()
