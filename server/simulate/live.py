"""Live mode: replay planned clinic days against a running server through its HTTP API.

For a person watching the boards move, and for benchmarks that need real traffic. Logs in as
the demo staff (server.demo.DEMO_LOGINS): the receptionist registers patients and issues
their tokens when they arrive (walk-ins to the department, so the server picks the doctor;
booked ones created up front and checked in on arrival); each doctor's tablet is played by
one task: Next with current_token_id, Start, recall, skip or no-show of an absent patient,
pause and resume, a late start. The demo doctor's own login plays its own tablet; the admin
plays the others. Behaviour comes from the same plan as the offline model
(`model.plan_day`), one plan per department, at a chosen speed-up (60: a minute in a second).

Nothing here is needed by the server; errors are counted and reported, never fatal, since
people may be pressing buttons on the same demo at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from server.simulate.plan import (
    GIVE_UP_AFTER_MIN,
    RECALL_AFTER_MIN,
    ClinicConfig,
    DayPlan,
    DoctorPlan,
    PatientPlan,
    consult_minutes,
    plan_day,
)

IDLE_POLL_MIN = 0.5
"""An idle doctor looks at the queue this often (simulated minutes), like react_min."""
_NAMES = ("Asha", "Ravi", "Meera", "Imran", "Lakshmi", "Arjun", "Fatima", "Suresh", "Divya",
          "Karthik", "Neha", "Gopal", "Swati", "Vijay", "Radha", "Anil")
_SURNAMES = ("Sharma", "Reddy", "Nair", "Khan", "Iyer", "Gupta", "Menon", "Das", "Patil", "Rao")


@dataclass
class Clock:
    """Simulated minutes <-> wall clock at a fixed speed-up."""

    speed: float
    sim_start: float
    real_start: float = field(default_factory=time.monotonic)
    wall_start: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> float:
        return self.sim_start + (time.monotonic() - self.real_start) * self.speed / 60.0

    def wall(self, sim_min: float) -> datetime:
        return self.wall_start + timedelta(minutes=(sim_min - self.sim_start) / self.speed)

    async def until(self, sim_min: float) -> None:
        delay = (sim_min - self.now()) * 60.0 / self.speed
        if delay > 0:
            await asyncio.sleep(delay)

    async def sleep(self, sim_minutes: float) -> None:
        await asyncio.sleep(max(sim_minutes, 0.0) * 60.0 / self.speed)


@dataclass
class Stats:
    """Requests by kind: count, errors, latencies (ms)."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for kind, lat in sorted(self.latency.items()):
            lat = sorted(lat)
            out[kind] = {"n": len(lat), "errors": self.errors.get(kind, 0),
                         "p50_ms": round(statistics.median(lat), 1),
                         "p99_ms": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1)}
        return out


class Api:
    """The server's HTTP API as the simulated staff use it."""

    def __init__(self, base_url: str, stats: Stats, verbose: bool) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=15.0)
        self.stats = stats
        self.verbose = verbose

    async def call(self, kind: str, method: str, path: str, token: str | None = None,
                   body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200, 201)
                   ) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        t = time.perf_counter()
        try:
            r = await self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            self.stats.errors[kind] += 1
            if self.verbose:
                print(f"  ! {kind}: {exc!r}", flush=True)
            return None
        self.stats.latency[kind].append((time.perf_counter() - t) * 1000)
        if r.status_code not in ok:
            self.stats.errors[kind] += 1
            if self.verbose:
                print(f"  ! {kind} {r.status_code}: {r.text[:160]}", flush=True)
            return None
        return r.json() if r.content else {}

    async def login(self, username: str, password: str) -> str:
        got = await self.call("login", "POST", "/api/v1/auth/login",
                              body={"username": username, "password": password})
        if not got:
            raise SystemExit(f"cannot log in as {username}: is the demo loaded?")
        return str(got["token"])

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.5)
        raise SystemExit(f"the server at {self.http.base_url} did not become ready")


@dataclass
class Desk:
    """What the simulated staff know about each planned patient's token."""

    token_of: dict[tuple[int, int], str] = field(default_factory=dict)   # (dept, pid) -> id
    patient_of: dict[str, tuple[int, PatientPlan]] = field(default_factory=dict)
    back_at: dict[str, float] = field(default_factory=dict)   # an away patient is back


class LiveDay:
    """One simulated day of every demo department, played against the server."""

    def __init__(self, api: Api, clock: Clock, tokens: dict[str, str], depts: list[dict[str, Any]],
                 plans: list[DayPlan], doctor_ids: list[list[str]], own_doctor: str | None,
                 verbose: bool) -> None:
        self.api, self.clock, self.tok = api, clock, tokens
        self.depts, self.plans, self.doctor_ids = depts, plans, doctor_ids
        self.own_doctor = own_doctor
        self.desk = Desk()
        self.verbose = verbose
        self.arrivals_done = False

    def say(self, text: str) -> None:
        if self.verbose:
            t = self.clock.now()
            sign = "-" if t < 0 else ""
            print(f"{sign}{int(abs(t)) // 60:02d}:{int(abs(t)) % 60:02d} {text}", flush=True)

    def staff_for(self, doctor_id: str) -> str:
        return self.tok["doctor"] if doctor_id == self.own_doctor else self.tok["admin"]

    # -- the desk --------------------------------------------------------------------------
    async def new_patient(self, dept: int, p: PatientPlan, seed: int) -> str | None:
        rng = random.Random(seed * 1_000_003 + dept * 10_007 + p.pid)
        body = {"name": f"{rng.choice(_NAMES)} {rng.choice(_SURNAMES)}",
                "phone": f"+9198{rng.randrange(10**8):08d}"}
        got = await self.api.call("patient", "POST", "/api/v1/patients", self.tok["desk"], body)
        return str(got["id"]) if got else None

    async def book(self, dept: int, plan: DayPlan) -> None:
        """Booked slots exist before the day starts: ONLINE tokens for today's slots."""
        for p in plan.patients:
            if p.booking_type != "ONLINE" or p.doctor is None or p.slot_min is None:
                continue
            slot = self.clock.wall(p.slot_min)
            if slot <= datetime.now(UTC):
                continue  # the slot is already gone (a day started late): not bookable
            pid = await self.new_patient(dept, p, plan.seed)
            if pid is None:
                continue
            got = await self.api.call("book", "POST", "/api/v1/tokens", self.tok["desk"], {
                "patient_id": pid, "doctor_id": self.doctor_ids[dept][p.doctor],
                "booking_type": "ONLINE", "priority": p.priority,
                "scheduled_time": slot.isoformat()})
            if got:
                self.desk.token_of[(dept, p.pid)] = got["id"]
                self.desk.patient_of[got["id"]] = (dept, p)

    async def arrive(self, dept: int, p: PatientPlan, seed: int) -> None:
        if p.booking_type == "ONLINE":
            tid = self.desk.token_of.get((dept, p.pid))
            if tid and await self.api.call("check-in", "POST",
                                           f"/api/v1/tokens/{tid}/check-in", self.tok["desk"],
                                           {}):
                self.say(f"booked patient checked in ({self.depts[dept]['code']})")
            return
        pid = await self.new_patient(dept, p, seed)
        if pid is None:
            return
        body = {"patient_id": pid, "department_id": self.depts[dept]["id"],
                "booking_type": p.booking_type, "priority": p.priority}
        got = await self.api.call("issue", "POST", "/api/v1/tokens", self.tok["desk"], body,
                                  ok=(201, 409))
        if got and "id" not in got:  # 409: nobody on shift now; the desk picks a doctor
            body["doctor_id"] = self.doctor_ids[dept][p.pid % len(self.doctor_ids[dept])]
            got = await self.api.call("issue", "POST", "/api/v1/tokens", self.tok["desk"], body)
        if got:
            self.desk.token_of[(dept, p.pid)] = got["id"]
            self.desk.patient_of[got["id"]] = (dept, p)
            self.say(f"{got['number']} issued ({p.booking_type.lower()}, "
                     f"priority {p.priority}) -> {got.get('cabin') or '?'}")

    async def cancel(self, dept: int, p: PatientPlan) -> None:
        tid = self.desk.token_of.get((dept, p.pid))
        if tid:
            await self.api.call("cancel", "POST", f"/api/v1/tokens/{tid}/cancel",
                                self.tok["desk"], {"reason": "patient left"}, ok=(200, 409))

    async def run_desk(self) -> None:
        events: list[tuple[float, int, str, int, PatientPlan]] = []
        for d, plan in enumerate(self.plans):
            for p in plan.patients:
                if p.arrive_min is not None:
                    events.append((p.arrive_min, 0, "arrive", d, p))
                if p.cancel_min is not None:
                    events.append((p.cancel_min, 1, "cancel", d, p))
        events.sort(key=lambda e: (e[0], e[1], e[3], e[4].pid))
        for t, _, kind, d, p in events:
            if t < self.clock.sim_start:
                continue
            await self.clock.until(t)
            if kind == "arrive":
                await self.arrive(d, p, self.plans[d].seed)
            else:
                await self.cancel(d, p)
        self.arrivals_done = True

    # -- a doctor's tablet -----------------------------------------------------------------
    async def run_doctor(self, dept: int, doc: DoctorPlan) -> None:
        doctor_id = self.doctor_ids[dept][doc.index]
        staff = self.staff_for(doctor_id)
        base = f"/api/v1/doctors/{doctor_id}"
        await self.clock.until(max(doc.late_min, self.clock.sim_start))
        self.say(f"{self.depts[dept]['code']} doctor {doc.index + 1} starts")
        pauses = [p for p in doc.pauses if p.at_min >= self.clock.sim_start]
        current: str | None = None
        fallback = random.Random(hash((self.plans[dept].seed, doc.index)) & 0xFFFF)
        while True:
            now = self.clock.now()
            if pauses and pauses[0].at_min <= now:
                pause = pauses.pop(0)
                if current:
                    await self.api.call("complete", "POST", f"/api/v1/tokens/{current}/complete",
                                        staff, {}, ok=(200, 409))
                    current = None
                minutes = max(1, round((pause.announced_min or 0) / self.clock.speed))
                await self.api.call("pause", "POST", f"{base}/pause", staff,
                                    {"reason": "break", **({"minutes": minutes}
                                                           if pause.announced_min else {})})
                self.say(f"{self.depts[dept]['code']} doctor {doc.index + 1} pauses")
                await self.clock.sleep(pause.actual_min)
                await self.api.call("resume", "POST", f"{base}/resume", staff, {})
                continue
            got = await self.api.call("next", "POST", f"{base}/next", staff,
                                      {"current_token_id": current}, ok=(200, 409))
            if got is None:
                await self.clock.sleep(IDLE_POLL_MIN)
                continue
            if "called" not in got:  # 409: the queue moved on elsewhere; take its word
                current = (got.get("current_token_id") or None)
                await self.clock.sleep(IDLE_POLL_MIN)
                continue
            called = got["called"]
            current = called["id"] if called else None
            if not called:
                if self.arrivals_done and self.clock.now() > max(
                        (p.arrive_min or 0) for p in self.plans[dept].patients):
                    queue = await self.api.call("queue", "GET", f"{base}/queue", staff)
                    if queue is not None and not queue["waiting"]:
                        return
                await self.clock.sleep(IDLE_POLL_MIN)
                continue
            self.say(f"{called['number']} called to {called.get('cabin') or '?'}")
            if not await self.serve(doc, staff, called, fallback):
                current = None  # skipped or a no-show: nobody with the doctor

    async def serve(self, doc: DoctorPlan, staff: str, called: dict[str, Any],
                    fallback: random.Random) -> bool:
        """The called patient walks in and is seen (True: still the current token, for the
        next Next to complete), or is absent: recalled, then skipped (first absence of
        someone who stepped out) or marked a no-show (False)."""
        tid = called["id"]
        known = self.desk.patient_of.get(tid)
        p = known[1] if known else PatientPlan(-1, "WALK_IN", 1, None, 0.0,
                                               z=fallback.gauss(0.0, 1.0))
        now = self.clock.now()
        back = self.desk.back_at.get(tid)
        present = p.absent is None or (p.absent == "away" and back is not None and back <= now)
        if present:
            await self.clock.sleep(p.walk_min)
            if p.start_pressed:
                await self.api.call("start", "POST", f"/api/v1/tokens/{tid}/start", staff, {},
                                    ok=(200, 409))
            await self.clock.sleep(consult_minutes(doc, p, self.clock.now()))
            return True
        await self.clock.sleep(RECALL_AFTER_MIN)
        await self.api.call("recall", "POST", f"/api/v1/tokens/{tid}/recall", staff, {},
                            ok=(200, 409))
        await self.clock.sleep(GIVE_UP_AFTER_MIN - RECALL_AFTER_MIN)
        if p.absent == "away" and back is None:
            self.desk.back_at[tid] = now + p.away_min
            await self.api.call("skip", "POST", f"/api/v1/tokens/{tid}/skip", staff,
                                {"reason": "not in the waiting room"}, ok=(200, 409))
            self.say(f"{called['number']} skipped (not there)")
        else:
            await self.api.call("no-show", "POST", f"/api/v1/tokens/{tid}/no-show", staff,
                                {"reason": "did not answer the call"}, ok=(200, 409))
            self.say(f"{called['number']} no-show")
        return False

    async def sweep(self) -> None:
        """Day end: booked patients who never checked in are no-shows."""
        for tid in self.desk.token_of.values():
            _, p = self.desk.patient_of[tid]
            if p.booking_type == "ONLINE" and p.arrive_min is None and p.cancel_min is None:
                await self.api.call("no-show", "POST", f"/api/v1/tokens/{tid}/no-show",
                                    self.tok["admin"], {"reason": "not checked in by end of day"},
                                    ok=(200, 409))

    async def run(self) -> None:
        for d, plan in enumerate(self.plans):
            await self.book(d, plan)
        tasks = [asyncio.create_task(self.run_desk())]
        for d, plan in enumerate(self.plans):
            tasks += [asyncio.create_task(self.run_doctor(d, doc)) for doc in plan.doctors]
        await asyncio.gather(*tasks)
        await self.sweep()


async def run_live(base_url: str, *, speed: float = 60.0, seed: int = 1, days: int = 1,
                   minutes: float | None = None, verbose: bool = True) -> dict[str, Any]:
    """Play `days` planned days (0 = keep going) against the demo hospital at base_url."""
    from server.demo import DEMO_LOGINS

    stats = Stats()
    api = Api(base_url, stats, verbose)
    try:
        await api.wait_ready()
        tok = {"admin": await api.login(*DEMO_LOGINS["admin"]),
               "desk": await api.login(*DEMO_LOGINS["receptionist"]),
               "doctor": await api.login(*DEMO_LOGINS["doctor"])}
        me = await api.call("me", "GET", "/api/v1/me", tok["doctor"])
        own = str((me or {}).get("doctor_id") or (me or {}).get("user", {}).get("doctor_id"))
        depts = (await api.call("departments", "GET", "/api/v1/departments", tok["admin"])
                 or {}).get("items", [])
        depts = [d for d in depts if d.get("active", True)]
        doctors = (await api.call("doctors", "GET", "/api/v1/doctors", tok["admin"])
                   or {}).get("items", [])
        ids = [[str(doc["id"]) for doc in doctors if doc["department_id"] == d["id"]
                and doc.get("active", True)] for d in depts]
        depts = [d for d, i in zip(depts, ids, strict=True) if i]
        ids = [i for i in ids if i]
        day = 0
        started = time.monotonic()
        while days == 0 or day < days:
            plans = [plan_day(seed * 1000 + day * 10 + k, ClinicConfig(
                doctors=len(ids[k]), dept_avg_min=float(d["avg_consultation_min"])))
                for k, d in enumerate(depts)]
            start = min(min((p.arrive_min or 0) for p in plan.patients) for plan in plans)
            clock = Clock(speed, start)
            live = LiveDay(api, clock, tok, depts, plans, ids, own, verbose)
            run = live.run()
            if minutes is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(run, timeout=minutes * 60.0 / speed)
                break
            await run
            day += 1
        return {"wall_s": round(time.monotonic() - started, 1), "requests": stats.summary()}
    finally:
        await api.http.aclose()
