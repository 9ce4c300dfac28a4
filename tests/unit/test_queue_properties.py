"""Stateful property test: one department, three doctors, driven only by the domain modules.

The model is what the Redis scripts must implement: lifecycle.next_status gates every action,
ordering.queue_score/skip_score give sorted-set scores, ordering.order decides who is called.
After every step no token is lost or duplicated and no doctor has two active tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
)

from server.domain.lifecycle import (
    ACTIVE,
    TERMINAL,
    TRANSITIONS,
    Action,
    InvalidTransition,
    Status,
    next_status,
)
from server.domain.ordering import QueuePolicy, order, queue_score, skip_score

DOCTORS = ("d1", "d2", "d3")
# Skewed towards d1 so its queue grows long enough for skips and ties to matter.
SOME_DOCTOR = st.sampled_from(["d1", "d1", "d1", "d2", "d3"])
T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
POLICY = QueuePolicy()
KINDS = {"walk-in": "WALK_IN", "online": "ONLINE", "emergency": "EMERGENCY"}
# CALL is only ever done by "next", which must pick the head of the queue. Where a reinstated
# or late patient goes is a place among the live queue's scores (the Lua scripts' reading of
# it), checked against the real scripts in tests/queue/test_desk.py and test_self_service.py.
DIRECT_ACTIONS = [a for a in Action
                  if a not in (Action.CALL, Action.REINSTATE, Action.RUNNING_LATE)]


@dataclass(frozen=True)
class Token:
    id: str
    doctor: str
    status: Status
    booking_type: str
    priority: int
    scheduled_time: datetime | None
    arrived_at: datetime | None
    score: float | None = None


def redis_key(item: tuple[str, float | None]) -> tuple[float, bytes]:
    """Independent statement of the ZSET rule: score, then member bytes."""
    member, score = item
    assert score is not None
    return (score, member.encode())


class Department:
    """In-memory stand-in for the Redis live view of one department."""

    def __init__(self) -> None:
        self.now = T0
        self.seq = 0
        self.tokens: dict[str, Token] = {}
        self.issued: list[str] = []
        self.waiting: dict[str, dict[str, float]] = {d: {} for d in DOCTORS}
        self.current: dict[str, str | None] = dict.fromkeys(DOCTORS)

    def snapshot(self) -> object:
        return (
            dict(self.tokens),
            {d: dict(w) for d, w in self.waiting.items()},
            dict(self.current),
        )

    def _score(self, tok: Token) -> float:
        assert tok.arrived_at is not None
        return queue_score(
            booking_type=tok.booking_type,
            priority=tok.priority,
            arrived_at=tok.arrived_at,
            scheduled_time=tok.scheduled_time,
            policy=POLICY,
        )

    def issue(self, kind: str, priority: int, doctor: str, slot_min: int) -> str:
        self.seq += 1
        tid = f"T{self.seq}"  # not zero-padded: ties are broken by bytes ("T10" < "T9")
        booking_type = KINDS[kind]
        if booking_type == "ONLINE":
            slot = self.now + timedelta(minutes=slot_min)
            tok = Token(tid, doctor, Status.BOOKED, booking_type, priority, slot, arrived_at=None)
        else:
            tok = Token(tid, doctor, Status.WAITING, booking_type, priority, None, self.now)
            score = self._score(tok)
            tok = replace(tok, score=score)
            self.waiting[doctor][tid] = score
        self.tokens[tid] = tok
        self.issued.append(tid)
        return tid

    def _unplace(self, tok: Token) -> None:
        if tok.status is Status.WAITING:
            del self.waiting[tok.doctor][tok.id]
        elif tok.status in ACTIVE:
            assert self.current[tok.doctor] == tok.id
            self.current[tok.doctor] = None

    def act(self, tid: str, action: Action, *, to: str = "", priority: int = 1) -> Token:
        """Apply one action the way the server does: ask the state machine, then move places."""
        tok = self.tokens[tid]
        new = next_status(tok.status, action)  # raises before anything changes
        waiting = self.waiting[tok.doctor]
        skip_behind: list[float] = []
        if action is Action.SKIP:
            # Put back `places` places from where it stands: only the tokens behind it count.
            mine = (tid, tok.score) if tok.status is Status.WAITING else None
            skip_behind = [
                s
                for m, s in waiting.items()
                if m != tid and (mine is None or redis_key((m, s)) > redis_key(mine))
            ]
        self._unplace(tok)
        if action is Action.CHECK_IN:
            tok = replace(tok, arrived_at=self.now)
        elif action is Action.TRANSFER:
            assert to in DOCTORS
            tok = replace(tok, doctor=to)
        elif action is Action.PRIORITY:
            tok = replace(tok, priority=priority)
        tok = replace(tok, status=new)
        if new is Status.WAITING:
            if action is Action.SKIP:
                fallback = tok.score if tok.score is not None else self.now.timestamp()
                tok = replace(tok, score=skip_score(skip_behind, POLICY.skip_places, fallback))
            elif action in (Action.CHECK_IN, Action.PRIORITY):
                tok = replace(tok, score=self._score(tok))
            # TRANSFER keeps the score: the patient keeps their effective time.
            assert tok.score is not None
            self.waiting[tok.doctor][tid] = tok.score
        elif new in ACTIVE:
            assert self.current[tok.doctor] in (None, tid), "a second active token"
            self.current[tok.doctor] = tid
        self.tokens[tid] = tok
        return tok

    def next(self, doctor: str) -> str | None:
        """The tablet's Next: complete the current token (if any), call the head of the queue."""
        if (cur := self.current[doctor]) is not None:
            self.act(cur, Action.COMPLETE)
        if not self.waiting[doctor]:
            return None
        chosen = order(self.waiting[doctor].items())[0]
        self.act(chosen, Action.CALL)
        return chosen


class QueueMachine(RuleBasedStateMachine):
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.dept = Department()

    @rule(
        target=tokens,
        kind=st.sampled_from(sorted(KINDS)),
        priority=st.sampled_from([1, 1, 1, 2, 3]),
        doctor=SOME_DOCTOR,
        slot_min=st.integers(min_value=-30, max_value=90),
    )
    def issue(self, kind: str, priority: int, doctor: str, slot_min: int) -> str:
        return self.dept.issue(kind, priority, doctor, slot_min)

    @rule(
        target=tokens,
        n=st.integers(min_value=2, max_value=6),
        doctor=SOME_DOCTOR,
        gap=st.sampled_from([0, 1]),
    )
    def rush(self, n: int, doctor: str, gap: int) -> MultipleResults[str]:
        """Several walk-ins at once; with gap 0 their scores tie and ids decide the order."""
        ids = []
        for _ in range(n):
            ids.append(self.dept.issue("walk-in", 1, doctor, 0))
            self.dept.now += timedelta(minutes=gap)
        return multiple(*ids)

    @rule(minutes=st.integers(min_value=0, max_value=25))
    def tick(self, minutes: int) -> None:
        self.dept.now += timedelta(minutes=minutes)

    @rule(doctor=SOME_DOCTOR)
    def next(self, doctor: str) -> None:
        dept = self.dept
        # Independent of the waiting sets: every WAITING token of this doctor, by (score, id).
        candidates = [
            (t.id, t.score)
            for t in dept.tokens.values()
            if t.status is Status.WAITING and t.doctor == doctor
        ]
        previous = dept.current[doctor]
        called = dept.next(doctor)
        if previous is not None:
            assert dept.tokens[previous].status is Status.COMPLETED
        if not candidates:
            assert called is None
        else:
            assert called == min(candidates, key=redis_key)[0]
            assert dept.tokens[called].status is Status.CALLED
            assert dept.current[doctor] == called

    @rule(
        tid=tokens,
        action=st.sampled_from(DIRECT_ACTIONS),
        to=st.sampled_from(DOCTORS),
        priority=st.sampled_from([1, 2, 3]),
    )
    def act(self, tid: str, action: Action, to: str, priority: int) -> None:
        self._attempt(tid, action, to, priority)

    @rule(
        doctor=SOME_DOCTOR,
        action=st.sampled_from(
            [Action.START, Action.RECALL, Action.SKIP, Action.SKIP, Action.NO_SHOW, Action.COMPLETE]
        ),
    )
    def act_on_current(self, doctor: str, action: Action) -> None:
        if (cur := self.dept.current[doctor]) is not None:
            self._attempt(cur, action, doctor, 1)

    def _attempt(self, tid: str, action: Action, to: str, priority: int) -> None:
        dept = self.dept
        before = dept.tokens[tid]
        others = {m: s for m, s in dept.waiting[before.doctor].items() if m != tid}
        snapshot = dept.snapshot()
        try:
            after = dept.act(tid, action, to=to, priority=priority)
        except InvalidTransition as exc:
            assert (before.status, action) not in TRANSITIONS
            assert exc.status is before.status
            assert dept.snapshot() == snapshot, "a refused action changed state"
            return
        assert after.status is TRANSITIONS[(before.status, action)]
        if action is Action.SKIP:
            self._check_skip_place(before, after, others)

    def _check_skip_place(self, before: Token, after: Token, others: dict[str, float]) -> None:
        """The skipped token now has min(places, behind) more tokens ahead (modulo tied ids)."""
        assert after.score is not None
        if before.status is Status.WAITING:
            mine = (before.id, before.score)
            ahead_before = sum(redis_key(o) < redis_key(mine) for o in others.items())
        else:
            ahead_before = 0
        target = ahead_before + min(POLICY.skip_places, len(others) - ahead_before)
        lo = sum(s < after.score for s in others.values())
        hi = sum(s <= after.score for s in others.values())
        assert lo <= target <= hi
        ahead_now = order(self.dept.waiting[after.doctor].items()).index(after.id)
        assert lo <= ahead_now <= hi

    @invariant()
    def at_most_one_active_per_doctor(self) -> None:
        for d in DOCTORS:
            active = [
                t.id for t in self.dept.tokens.values() if t.doctor == d and t.status in ACTIVE
            ]
            assert len(active) <= 1
            assert active == ([] if self.dept.current[d] is None else [self.dept.current[d]])

    @invariant()
    def every_token_in_exactly_its_place(self) -> None:
        dept = self.dept
        assert len(dept.issued) == len(set(dept.issued)) == len(dept.tokens)
        assert set(dept.issued) == set(dept.tokens)
        for tid, tok in dept.tokens.items():
            in_waiting = [d for d in DOCTORS if tid in dept.waiting[d]]
            as_current = [d for d in DOCTORS if dept.current[d] == tid]
            if tok.status is Status.WAITING:
                assert in_waiting == [tok.doctor] and not as_current
                assert dept.waiting[tok.doctor][tid] == tok.score
            elif tok.status in ACTIVE:
                assert as_current == [tok.doctor] and not in_waiting
            else:
                assert tok.status in TERMINAL or tok.status is Status.BOOKED
                assert not in_waiting and not as_current
        placed = sum(len(w) for w in dept.waiting.values()) + sum(
            c is not None for c in dept.current.values()
        )
        live = sum(t.status is Status.WAITING or t.status in ACTIVE for t in dept.tokens.values())
        assert placed == live


QueueMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueue = QueueMachine.TestCase
