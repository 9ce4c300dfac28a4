"""A clinic day, drawn up front: what the discrete-event model (server.simulate.model) plays.

Pure and seeded. `plan_day(seed, config)` draws everything random up front: walk-ins peaking
in the morning, booked slots, seniors and emergencies, no-shows, patients away when called,
cancellations, doctors of different speeds whose consults drift during the day, pauses and
late starts. Drawing first and playing second is what lets the live driver
(`server.simulate.live`) replay the very same day against a running server.

Time is in minutes from the opening of the OPD (t = 0 is 09:00; walk-ins may come earlier).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from server.domain.eta import ConsultStats, update_stats
from server.domain.ordering import QueuePolicy

OPENING = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
"""Wall-clock of t = 0 for the ordering rules, which need aware datetimes (any day would do)."""
RECALL_AFTER_MIN = 1.0
"""A called patient who does not appear is called again after a minute ..."""
GIVE_UP_AFTER_MIN = 2.5
"""... and skipped (or marked no-show) when still absent this long after the first call."""


@dataclass(frozen=True)
class ClinicConfig:
    """One department's day; defaults describe a busy general OPD."""

    doctors: int = 3
    dept_avg_min: float = 10.0          # the department default the server is configured with
    buffer_min: float = 5.0             # the naive rule's buffer per token
    shift_min: float = 360.0            # 09:00 - 15:00
    pre_open_min: float = 20.0          # walk-ins may arrive this long before opening
    last_walk_in_min: float = 300.0     # the desk stops issuing walk-ins an hour before close
    walk_ins_per_doctor: float = 22.0   # Poisson mean
    booked_per_doctor: float = 8.0      # Poisson mean, on 15-minute slots
    slot_every_min: float = 15.0
    p_senior: float = 0.15
    p_emergency: float = 0.02
    p_booked_no_show: float = 0.15      # booked, never comes
    p_booked_cancel: float = 0.03       # booked, cancels before the slot
    p_walk_out: float = 0.03            # waits a while, leaves; a no-show when called
    p_away: float = 0.04                # not there at the first call; skipped, comes back
    p_desk_cancel: float = 0.02         # cancels at the desk while waiting
    speed_sd: float = 0.25              # doctors differ: lognormal sd of their mean
    day_sd: float = 0.2                 # and a doctor's pace differs from day to day
    drift_sd: float = 0.03              # per hour: some slow down, some speed up
    cv_range: tuple[float, float] = (0.3, 0.6)  # consult-time coefficient of variation
    p_late: float = 0.5
    late_mean_min: float = 12.0
    p_very_late: float = 0.1            # of the late ones: starts 30-75 min late (a ward round)
    very_late_range: tuple[float, float] = (30.0, 75.0)
    p_long_consult: float = 0.06        # a complex case: this many consults take ...
    long_consult_factor: float = 2.5    # ... this many times the doctor's mean (heavy tail)
    pauses_mean: float = 0.8            # Poisson mean per doctor per day
    p_pause_announced: float = 0.7      # with minutes given on the tablet
    p_new_doctor: float = 0.2           # no learned consult history yet
    history_range: tuple[int, int] = (20, 300)
    p_start_pressed: float = 0.8        # the doctor taps Start (else Next counts from the call)
    react_min: float = 0.5              # an idle doctor notices a new patient
    policy: QueuePolicy = field(default_factory=QueuePolicy)


@dataclass(frozen=True)
class PausePlan:
    at_min: float
    announced_min: int | None           # minutes typed on the tablet, None = open-ended
    actual_min: float


@dataclass(frozen=True)
class DoctorPlan:
    index: int
    mean_min: float                     # consult mean at opening
    cv: float
    drift_per_hour: float               # the mean is multiplied by (1 + drift * hours)
    late_min: float                     # starts calling at this time (0 = on time)
    pauses: tuple[PausePlan, ...]
    prior: ConsultStats                 # learned before today (update_stats over history)
    react_min: float = 0.5
    long_factor: float = 1.0            # a complex case's consult, times the mean


@dataclass(frozen=True)
class PatientPlan:
    pid: int
    booking_type: str                   # WALK_IN | ONLINE | EMERGENCY
    priority: int                       # 1 normal, 2 senior, 3 emergency
    doctor: int | None                  # ONLINE: the booked doctor; else chosen on arrival
    arrive_min: float | None            # None: never comes (a booked no-show)
    slot_min: float | None = None
    cancel_min: float | None = None     # cancels (booked or at the desk) at this time
    absent: str | None = None           # None | "away" (back after away_min) | "gone"
    away_min: float = 0.0
    walk_min: float = 0.5               # from the call to the cabin
    z: float = 0.0                      # consult noise, standard normal
    long_case: bool = False             # a complex case (ClinicConfig.p_long_consult)
    start_pressed: bool = True

    @property
    def token_id(self) -> str:
        return f"t{self.pid:05d}"


@dataclass(frozen=True)
class DayPlan:
    seed: int
    config: ClinicConfig
    doctors: tuple[DoctorPlan, ...]
    patients: tuple[PatientPlan, ...]


def consult_minutes(doc: DoctorPlan, pat: PatientPlan, at_min: float) -> float:
    """Lognormal consult of this doctor at this time of day (mean drifts, CV fixed), times
    `long_consult_factor` for a complex case: a heavier right tail than the lognormal the
    ETA model assumes."""
    mean = doc.mean_min * max(0.4, 1.0 + doc.drift_per_hour * at_min / 60.0)
    sigma = math.sqrt(math.log1p(doc.cv * doc.cv))
    return mean * math.exp(sigma * pat.z - sigma * sigma / 2) * (
        doc.long_factor if pat.long_case else 1.0)


# ---------------------------------------------------------------------------- planning
_WALK_IN_PROFILE = ((-30, 0, 1.0), (0, 60, 3.0), (60, 120, 3.2), (120, 180, 2.2),
                    (180, 240, 1.4), (240, 300, 0.9), (300, 360, 0.5))
"""(from, to, relative rate) of walk-in arrivals: a morning peak, a thin afternoon."""


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: small means only (a day's count), and no numpy in the pure model."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _walk_in_time(rng: random.Random, cfg: ClinicConfig) -> float:
    bins = [(max(a, -cfg.pre_open_min), min(b, cfg.last_walk_in_min), w)
            for a, b, w in _WALK_IN_PROFILE]
    bins = [(a, b, w * (b - a)) for a, b, w in bins if b > a]
    x = rng.random() * sum(w for _, _, w in bins)
    for a, b, w in bins:
        if x < w:
            return a + (b - a) * x / w
        x -= w
    return bins[-1][1]


def _doctor(rng: random.Random, i: int, cfg: ClinicConfig) -> DoctorPlan:
    usual = cfg.dept_avg_min * math.exp(rng.gauss(0.0, cfg.speed_sd))
    mean = usual * math.exp(rng.gauss(0.0, cfg.day_sd))
    cv = rng.uniform(*cfg.cv_range)
    drift = rng.gauss(0.0, cfg.drift_sd)
    late = 0.0
    if rng.random() < cfg.p_late:
        late = (rng.uniform(*cfg.very_late_range) if rng.random() < cfg.p_very_late
                else rng.expovariate(1.0 / cfg.late_mean_min))
    pauses = []
    for _ in range(_poisson(rng, cfg.pauses_mean)):
        announced = rng.choice((5, 10, 15, 20)) if rng.random() < cfg.p_pause_announced else None
        actual = (announced or 10) * math.exp(rng.gauss(0.0, 0.35))
        pauses.append(PausePlan(rng.uniform(60, cfg.shift_min - 60), announced, actual))
    pauses.sort(key=lambda p: p.at_min)
    prior = ConsultStats()
    if rng.random() >= cfg.p_new_doctor:  # a past at the usual pace, not today's
        sigma = math.sqrt(math.log1p(cv * cv))
        for _ in range(rng.randint(*cfg.history_range)):
            long = cfg.long_consult_factor if rng.random() < cfg.p_long_consult else 1.0
            prior = update_stats(prior, usual * long * math.exp(
                sigma * rng.gauss(0, 1) - sigma**2 / 2))
    return DoctorPlan(i, mean, cv, drift, late, tuple(pauses), prior, cfg.react_min,
                      cfg.long_consult_factor)


def plan_day(seed: int, config: ClinicConfig | None = None) -> DayPlan:
    """Everything random about one day, drawn from one seeded generator."""
    cfg = config or ClinicConfig()
    rng = random.Random(seed)
    doctors = tuple(_doctor(rng, i, cfg) for i in range(cfg.doctors))
    patients: list[PatientPlan] = []

    def common(pid: int) -> dict[str, object]:
        return {"pid": pid, "walk_min": rng.uniform(0.3, 1.5), "z": rng.gauss(0.0, 1.0),
                "start_pressed": rng.random() < cfg.p_start_pressed,
                "long_case": rng.random() < cfg.p_long_consult}

    n_walk = _poisson(rng, cfg.walk_ins_per_doctor * cfg.doctors)
    for _ in range(n_walk):
        pid = len(patients)
        arrive = _walk_in_time(rng, cfg)
        emergency = rng.random() < cfg.p_emergency
        senior = rng.random() < cfg.p_senior
        u = rng.random()
        absent = "gone" if u < cfg.p_walk_out else "away" if u < cfg.p_walk_out + cfg.p_away \
            else None
        cancel = arrive + rng.uniform(5, 60) if rng.random() < cfg.p_desk_cancel else None
        patients.append(PatientPlan(
            booking_type="EMERGENCY" if emergency else "WALK_IN",
            priority=3 if emergency else 2 if senior else 1, doctor=None, arrive_min=arrive,
            cancel_min=None if emergency else cancel, absent=None if emergency else absent,
            away_min=rng.uniform(3, 25), **common(pid)))  # type: ignore[arg-type]
    slots = [s * cfg.slot_every_min for s in range(int((cfg.shift_min - 30) / cfg.slot_every_min))]
    for d in range(cfg.doctors):
        k = min(len(slots), _poisson(rng, cfg.booked_per_doctor))
        for slot in sorted(rng.sample(slots, k)):
            pid = len(patients)
            u = rng.random()
            no_show = u < cfg.p_booked_no_show
            cancel = (slot - rng.uniform(30, 180)) if (
                not no_show and u < cfg.p_booked_no_show + cfg.p_booked_cancel) else None
            early = min(max(rng.gauss(-10.0, 12.0), -45.0), 40.0)
            arrive = None if no_show or cancel is not None else slot + early
            absent = "away" if rng.random() < cfg.p_away else None
            patients.append(PatientPlan(
                booking_type="ONLINE", priority=2 if rng.random() < cfg.p_senior else 1,
                doctor=d, arrive_min=arrive, slot_min=slot, cancel_min=cancel, absent=absent,
                away_min=rng.uniform(3, 25), **common(pid)))  # type: ignore[arg-type]
    return DayPlan(seed, cfg, doctors, tuple(patients))
