"""The demo hospital: a believable OPD with six weeks of history and a queue already waiting.

`opdq dev` and `opdq demo` load it so a fresh install shows every page with data in it: boards
with tokens, doctors with queues, a dashboard with charts and enough past visits for the
no-show model to train on. The past comes from `server.synthetic` (same seed, same history);
this module only turns it into rows: per-doctor timelines that never overlap, gap-free token
numbers, one history row per transition; the daily doctor metrics come from the real job
(server/reports.py).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np

from server.db import demo as demo_db
from server.domain.ordering import QueuePolicy, queue_score
from server.reports import compute_day_in
from server.security.passwords import hash_password
from server.synthetic import SynthHistory, SynthVisit, age_years, generate_history

DEMO_CODE = "DEMO"
DEMO_NAME = "City General Hospital"
DEMO_TZ = "Asia/Kolkata"

DEMO_LOGINS: dict[str, tuple[str, str]] = {
    "admin": ("demo.admin", "admin-demo-2026"),
    "receptionist": ("demo.reception", "reception-demo-2026"),
    "doctor": ("demo.doctor", "doctor-demo-2026"),
    "nurse": ("demo.nurse", "nurse-demo-2026"),
}
"""role -> (username, password). Usernames are unique across hospitals, hence the prefix:
a hospital created first with its own "admin" must not make the demo fail to load."""

HISTORY_DAYS = 42
VISITS_PER_DAY = 50
SENIOR_AGE = 60
_POLICY = QueuePolicy()  # the departments below keep the schema's default queue policy


@dataclass(frozen=True)
class _Dept:
    name: str
    code: str
    avg_min: float
    language: str
    cabins: tuple[str, ...]


@dataclass(frozen=True)
class _Doc:
    name: str
    dept: str
    cabin: str
    start: time
    end: time
    avg_min: float | None  # None: learns from the department default
    speed: float  # multiplies the synthetic consultation time: doctors differ


DEPARTMENTS = (
    _Dept("General Medicine", "GEN", 8.0, "hi", ("C-101", "C-102", "C-103")),
    _Dept("Cardiology", "CARD", 12.0, "en", ("C-201", "C-202")),
    _Dept("Orthopaedics", "ORTH", 10.0, "en", ("C-301", "C-302")),
)
_FULL = (time(9), time(17))
DOCTORS = (
    _Doc("Dr. Ananya Iyer", "GEN", "C-101", *_FULL, 7.5, 0.95),
    _Doc("Dr. Rajesh Kumar", "GEN", "C-102", *_FULL, None, 1.1),
    _Doc("Dr. Farah Siddiqui", "GEN", "C-103", time(10), time(14), None, 1.0),
    _Doc("Dr. Vikram Menon", "CARD", "C-201", *_FULL, 13.0, 1.05),
    _Doc("Dr. Sneha Kulkarni", "CARD", "C-202", *_FULL, None, 0.9),
    _Doc("Dr. Arvind Reddy", "ORTH", "C-301", *_FULL, 10.0, 1.0),
    _Doc("Dr. Meenakshi Sundaram", "ORTH", "C-302", *_FULL, None, 0.9),
)
_DOCTOR_LOGIN = 0  # index into DOCTORS of the demo doctor account
_NURSE_DEPT = "GEN"


@dataclass
class _Token:
    """A past token while its timeline is worked out; becomes a tokens row and history rows."""

    visit: SynthVisit
    dept_id: UUID
    doc: int
    patient_id: UUID
    priority: int
    created_at: datetime
    scheduled: datetime | None
    arrival: datetime | None  # None: never came (booked no-show) or cancelled
    id: UUID = field(default_factory=uuid4)
    called: datetime | None = None
    started: datetime | None = None
    completed: datetime | None = None
    no_show_at: datetime | None = None
    cancelled_at: datetime | None = None
    recalls: int = 0


def _at(day: date, t: time | timedelta, tz: ZoneInfo) -> datetime:
    if isinstance(t, timedelta):
        return datetime.combine(day, time(), tz) + t
    return datetime.combine(day, t, tz)


class _Builder:
    """Turns the synthetic history into rows; all randomness from one seeded generator."""

    def __init__(self, *, seed: int, today: date, now: datetime, hospital_id: UUID) -> None:
        self.tz = ZoneInfo(DEMO_TZ)
        self.rng = np.random.default_rng([seed, 0xDE30])
        self.today = today
        self.now = now
        self.hid = hospital_id
        self.dept_ids = {d.code: uuid4() for d in DEPARTMENTS}
        self.cabin_ids = {c: uuid4() for d in DEPARTMENTS for c in d.cabins}
        self.doc_ids = [uuid4() for _ in DOCTORS]
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def minutes(self, lo: float, hi: float) -> timedelta:
        return timedelta(minutes=float(self.rng.uniform(lo, hi)))

    # -- setup ---------------------------------------------------------------------------
    def setup(self, hashes: dict[str, str]) -> None:
        for d in DEPARTMENTS:
            self.rows["departments"].append({
                "id": self.dept_ids[d.code], "hospital_id": self.hid, "name": d.name,
                "code": d.code, "avg_consultation_min": Decimal(str(d.avg_min)),
                "language": d.language,
            })
            for number in d.cabins:
                self.rows["cabins"].append({
                    "id": self.cabin_ids[number], "hospital_id": self.hid,
                    "department_id": self.dept_ids[d.code], "number": number,
                    "floor": f"{number[2]}F",
                })
        for i, doc in enumerate(DOCTORS):
            self.rows["doctors"].append({
                "id": self.doc_ids[i], "hospital_id": self.hid,
                "department_id": self.dept_ids[doc.dept], "name": doc.name,
                "phone": f"+9198450{i + 1:05d}",
                "avg_consultation_min": None if doc.avg_min is None else Decimal(str(doc.avg_min)),
            })
        extra = {
            "doctor": {"doctor_id": self.doc_ids[_DOCTOR_LOGIN],
                       "full_name": DOCTORS[_DOCTOR_LOGIN].name},
            "nurse": {"department_id": self.dept_ids[_NURSE_DEPT],
                      "full_name": "Sister Mary Thomas"},
            "admin": {"full_name": "Demo Administrator"},
            "receptionist": {"full_name": "Pooja Nair"},
        }
        for role, (username, _) in DEMO_LOGINS.items():
            self.rows["users"].append({
                "hospital_id": self.hid, "username": username, "password_hash": hashes[role],
                "role": role, **extra[role],
            })

    def shift(self, doc: int, day: date) -> None:
        d = DOCTORS[doc]
        self.rows["shifts"].append({
            "hospital_id": self.hid, "doctor_id": self.doc_ids[doc],
            "cabin_id": self.cabin_ids[d.cabin], "date": day, "start_time": d.start,
            "end_time": d.end,
        })

    # -- patients ------------------------------------------------------------------------
    def patients(self, history: SynthHistory, start: date) -> list[UUID]:
        ids = []
        for p in history.patients:
            pid = uuid4()
            ids.append(pid)
            # registered before any booking in the history could have been made
            registered = start - timedelta(days=46 + int(self.rng.integers(0, 900)))
            self.rows["patients"].append({
                "id": pid, "hospital_id": self.hid, "uhid": p.uhid, "name": p.name,
                "phone": p.phone, "date_of_birth": p.date_of_birth, "gender": p.gender,
                "language": p.language, "sms_opt_in": True,
                "whatsapp_opt_in": bool(self.rng.random() < 0.5),
                "distance_km": Decimal(f"{p.distance_km:.2f}"), "commute_min": p.commute_min,
                "created_at": _at(registered, self.minutes(9 * 60, 18 * 60), self.tz),
            })
        return ids

    # -- the past ------------------------------------------------------------------------
    def past(self, history: SynthHistory, patient_ids: list[UUID]) -> None:
        by_dept_docs: dict[str, list[int]] = defaultdict(list)
        for i, d in enumerate(DOCTORS):
            by_dept_docs[d.dept].append(i)
        tokens: list[_Token] = []
        for v in history.visits:
            docs = [
                i for i in by_dept_docs[v.department_code]
                if DOCTORS[i].start.hour <= max(v.hour, 9) < DOCTORS[i].end.hour
            ]
            doc = docs[int(self.rng.integers(len(docs)))]
            tokens.append(self._past_token(v, doc, patient_ids[v.patient_key], history))

        days = sorted({t.visit.service_date for t in tokens})
        for day in days:
            for doc in range(len(DOCTORS)):
                self.shift(doc, day)
        per_doctor_day: dict[tuple[int, date], list[_Token]] = defaultdict(list)
        for t in tokens:
            per_doctor_day[(t.doc, t.visit.service_date)].append(t)
        for (doc, day), group in per_doctor_day.items():
            self._serve(doc, day, group)
        self._number_and_emit(tokens)

    def _past_token(
        self, v: SynthVisit, doc: int, patient_id: UUID, history: SynthHistory
    ) -> _Token:
        senior = age_years(history.patients[v.patient_key].date_of_birth, v.service_date)
        priority = 2 if senior >= SENIOR_AGE else 1
        if v.slot_time is None:  # walk-in: issued at the desk on arrival
            arrival = _at(v.service_date, time(v.hour), self.tz) + self.minutes(0, 59)
            return _Token(v, self.dept_ids[v.department_code], doc, patient_id, priority,
                          created_at=arrival, scheduled=None, arrival=arrival)
        scheduled = _at(v.service_date, v.slot_time, self.tz)
        if v.lead_time_days == 0:
            created = scheduled - self.minutes(30, 150)
        else:
            created = _at(v.booked_on, self.minutes(8 * 60, 22 * 60), self.tz)
        t = _Token(v, self.dept_ids[v.department_code], doc, patient_id, priority,
                   created_at=created, scheduled=scheduled, arrival=None)
        if v.cancelled:
            window = max((scheduled - timedelta(minutes=30) - created).total_seconds(), 120.0)
            t.cancelled_at = created + timedelta(seconds=float(self.rng.uniform(60, window)))
        elif not v.no_show:
            # most come a little early; some late, a few well past the grace period
            early = float(np.clip(self.rng.normal(-10, 12), -45, 40))
            t.arrival = max(scheduled + timedelta(minutes=early), created + timedelta(minutes=1))
        return t

    def _serve(self, doc: int, day: date, group: list[_Token]) -> None:
        """One doctor's day: served in queue order, one patient at a time, never overlapping."""
        d = DOCTORS[doc]
        shift_start, shift_end = _at(day, d.start, self.tz), _at(day, d.end, self.tz)
        present = [t for t in group if t.arrival is not None]
        present.sort(key=lambda t: queue_score(
            booking_type=t.visit.booking_type, priority=t.priority, arrived_at=t.arrival,
            scheduled_time=t.scheduled, policy=_POLICY,
        ))
        free = shift_start
        for t in present:
            assert t.arrival is not None
            ready = max(t.arrival, t.scheduled or t.arrival)
            if t.visit.no_show:  # walk-in who left: called, recalled, marked no-show
                ready += timedelta(minutes=t.visit.wait_min or float(self.rng.gamma(2.0, 12.0)))
                t.called = max(ready, free)
                t.recalls = 1
                t.no_show_at = t.called + self.minutes(3, 6)
                free = t.no_show_at
                continue
            t.called = max(ready + timedelta(minutes=t.visit.wait_min), free)
            t.started = t.called + self.minutes(0.5, 2.0)
            t.completed = t.started + timedelta(minutes=t.visit.consult_min * d.speed)
            free = t.completed
        for t in group:
            if t.arrival is None and t.cancelled_at is None:
                # booked, never checked in: the day-end sweep marks it
                t.no_show_at = shift_end + timedelta(minutes=15)

    def _number_and_emit(self, tokens: list[_Token]) -> None:
        """Gap-free numbers per department and day, in the order the tokens were issued."""
        groups: dict[tuple[str, date], list[_Token]] = defaultdict(list)
        for t in tokens:
            groups[(t.visit.department_code, t.visit.service_date)].append(t)
        for (code, day), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            group.sort(key=lambda t: t.created_at)
            for seq, t in enumerate(group, start=1):
                self._emit_past(t, code, seq)
            self.rows["token_counters"].append({
                "department_id": self.dept_ids[code], "service_date": day, "last_seq": len(group),
            })

    def _emit_past(self, t: _Token, code: str, seq: int) -> None:
        v = t.visit
        walk_in = v.slot_time is None
        steps: list[tuple[str, str | None, str, datetime, str | None]] = [
            ("issue", None, "WAITING", t.created_at, None) if walk_in
            else ("book", None, "BOOKED", t.created_at, None),
        ]
        if t.cancelled_at:
            status = "CANCELLED"
            steps.append(("cancel", "BOOKED", "CANCELLED", t.cancelled_at, "patient cancelled"))
        else:
            if not walk_in and t.arrival:
                steps.append(("check-in", "BOOKED", "WAITING", t.arrival, None))
            if t.called:
                steps.append(("call", "WAITING", "CALLED", t.called, None))
            if t.recalls and t.called:
                steps.append(("recall", "CALLED", "CALLED", t.called + timedelta(minutes=2), None))
            if t.started and t.completed:
                status = "COMPLETED"
                steps.append(("start", "CALLED", "IN_CONSULTATION", t.started, None))
                steps.append(("complete", "IN_CONSULTATION", "COMPLETED", t.completed, None))
            else:
                assert t.no_show_at is not None
                status = "NO_SHOW"
                came = t.called is not None
                steps.append((
                    "no-show", "CALLED" if came else "BOOKED", "NO_SHOW", t.no_show_at,
                    "did not answer the call" if came else "not checked in by end of day",
                ))
        self._token_row(
            t, code, seq, status=status, queue_score=None, updated_at=steps[-1][3],
            cancel_reason="patient cancelled" if t.cancelled_at else None,
        )
        for action, frm, to, at, reason in steps:
            self._history(t.id, t.doc, action, frm, to, at, reason)

    def _token_row(
        self, t: _Token, code: str, seq: int, *, status: str, queue_score: float | None,
        updated_at: datetime, cancel_reason: str | None,
    ) -> None:
        doc = DOCTORS[t.doc]
        self.rows["tokens"].append({
            "id": t.id, "hospital_id": self.hid, "department_id": t.dept_id,
            "doctor_id": self.doc_ids[t.doc], "cabin_id": self.cabin_ids[doc.cabin],
            "patient_id": t.patient_id, "service_date": t.visit.service_date, "seq": seq,
            "number": f"{code}-{seq:03d}", "booking_type": t.visit.booking_type,
            "priority": t.priority, "status": status, "queue_score": queue_score,
            "public_code": secrets.token_urlsafe(16), "scheduled_time": t.scheduled,
            "created_at": t.created_at, "checked_in_at": t.arrival, "called_at": t.called,
            "started_at": t.started, "completed_at": t.completed, "no_show_at": t.no_show_at,
            "cancelled_at": t.cancelled_at, "cancel_reason": cancel_reason,
            "recall_count": t.recalls, "updated_at": updated_at,
        })

    def _history(
        self, token_id: UUID, doc: int, action: str, frm: str | None, to: str, at: datetime,
        reason: str | None,
    ) -> None:
        self.rows["token_history"].append({
            "hospital_id": self.hid, "token_id": token_id, "action": action,
            "from_status": frm, "to_status": to, "actor_kind": "system", "reason": reason,
            "doctor_id": self.doc_ids[doc], "at": at,
        })

    # -- today ---------------------------------------------------------------------------
    def today_queue(self, history: SynthHistory, patient_ids: list[UUID]) -> None:
        """4-6 walk-ins waiting per doctor, a senior or two among them, arrived this morning."""
        day = self.today
        for doc in range(len(DOCTORS)):
            self.shift(doc, day)
        end = _at(day, time(10, 30), self.tz)
        if self.now.date() == day:  # arrivals are in the past when the demo is loaded today
            end = max(min(self.now, _at(day, time(11, 30), self.tz)), _at(day, time(0, 5), self.tz))
        begin = max(end - timedelta(minutes=120), _at(day, time(), self.tz))
        is_senior = {p.key: age_years(p.date_of_birth, day) >= SENIOR_AGE for p in history.patients}
        seniors = [k for k, senior in is_senior.items() if senior]
        others = [k for k, senior in is_senior.items() if not senior]
        picked_seniors = list(self.rng.choice(seniors, size=min(2, len(seniors)), replace=False))
        pool = [int(k) for k in self.rng.permutation(others)]
        span = (end - begin).total_seconds()
        by_dept: dict[str, list[_Token]] = defaultdict(list)
        for doc, d in enumerate(DOCTORS):
            count = int(self.rng.integers(4, 7))
            keys = [pool.pop() for _ in range(count)]
            if doc in (0, 3) and picked_seniors:  # one senior at GEN, one at CARD
                keys[-1] = int(picked_seniors.pop())
            arrivals = sorted(float(x) for x in self.rng.uniform(0, span, size=count))
            for key, offset in zip(keys, arrivals, strict=True):
                arrived = begin + timedelta(seconds=offset)
                visit = SynthVisit(
                    patient_key=key, department_code=d.dept, service_date=day, slot_time=None,
                    booking_type="WALK_IN", booked_on=day, lead_time_days=0, hour=arrived.hour,
                    dow=day.weekday(), first_visit=False, reminder_sent=False, p_no_show=0.0,
                    no_show=False, cancelled=False, consult_min=0.0, wait_min=0.0,
                )
                by_dept[d.dept].append(_Token(
                    visit, self.dept_ids[d.dept], doc, patient_ids[key],
                    2 if is_senior[key] else 1, created_at=arrived, scheduled=None,
                    arrival=arrived,
                ))
        for code, group in by_dept.items():
            group.sort(key=lambda t: t.created_at)
            for seq, t in enumerate(group, start=1):
                score = queue_score(booking_type="WALK_IN", priority=t.priority,
                                    arrived_at=t.created_at, scheduled_time=None, policy=_POLICY)
                self._token_row(t, code, seq, status="WAITING", queue_score=score,
                                updated_at=t.created_at, cancel_reason=None)
                self._history(t.id, t.doc, "issue", None, "WAITING", t.created_at, None)
            self.rows["token_counters"].append({
                "department_id": self.dept_ids[code], "service_date": day, "last_seq": len(group),
            })


# the order foreign keys need
_TABLES = (
    "departments", "cabins", "doctors", "shifts", "users", "patients", "tokens",
    "token_counters", "token_history",
)


async def load_demo(dsn: str, *, seed: int = 7, today: date | None = None) -> bool:
    """Create the demo hospital in one transaction; False (and nothing changed) if it exists.

    `today` is the hospital-local date whose queue is waiting (default: today in Kolkata);
    the history covers the 42 days before it.
    """
    tz = ZoneInfo(DEMO_TZ)
    now = datetime.now(tz)
    today = today or now.date()
    conn = await asyncpg.connect(dsn)
    try:
        if await demo_db.hospital_exists(conn, DEMO_CODE):
            return False
        start = today - timedelta(days=HISTORY_DAYS)
        history = generate_history(
            seed=seed, n_patients=200, start=start, days=HISTORY_DAYS,
            department_codes=tuple(d.code for d in DEPARTMENTS), visits_per_day=VISITS_PER_DAY,
        )
        # argon2 is deliberately slow: off the event loop
        hashes = {
            role: await asyncio.to_thread(hash_password, password)
            for role, (_, password) in DEMO_LOGINS.items()
        }
        async with conn.transaction():
            hid = await demo_db.claim_hospital(
                conn, name=DEMO_NAME, code=DEMO_CODE, timezone=DEMO_TZ, latitude=12.9716,
                longitude=77.5946, radius_m=300, language="en",
            )
            if hid is None:
                return False
            b = _Builder(seed=seed, today=today, now=now, hospital_id=hid)
            b.setup(hashes)
            patient_ids = b.patients(history, start)
            b.past(history, patient_ids)
            b.today_queue(history, patient_ids)
            for table in _TABLES:
                await demo_db.copy_rows(conn, table, b.rows[table])
            # the daily metrics of the history, by the job that computes them every night
            for day in range(HISTORY_DAYS):
                await compute_day_in(conn, hid, start + timedelta(days=day), DEMO_TZ, now)
        return True
    finally:
        await conn.close()
