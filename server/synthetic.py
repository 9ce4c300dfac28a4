"""Seeded synthetic clinic history: patients, visits and the true no-show chance of each visit.

The demo hospital, the tests and the risk benchmark all need a past whose ground truth is
known, so a model can be judged against the best any model could do (`best_possible_auc`).
Pure: no I/O; the same seed always gives the same history.

Model of truth for a booked (ONLINE) visit, on the logit scale:

    logit p0 = BASE_LOGIT (-1.7) + propensity     (patient, normal, sd 0.9)
             + 0.04 * (min(lead_days, 30) - 7)    (long lead: plans change)
             + age effect                         (young adults +0.35 .. seniors -0.25)
             + 0.35 * (log1p(km / 10) - log1p(0.6))   (far away: harder to come)
             + day/hour effect    (+0.25 Monday before 11:00, +0.2 from 15:00, +0.1 Saturday)
             + 0.3 if first visit to the department

Effects are centred on a typical visit (7 days' lead, 6 km, an adult of 36-50), so the
base keeps its meaning: about 20% no-shows before reminders, 15-20% after.

A reminder multiplies the no-show ODDS by one factor R (p = R*p0 / (1 - p0 + R*p0)). R is
solved per history (bisection) so that, over its booked visits, the mean p with a reminder is
REMINDER_RELATIVE_RISK (0.77) times the mean p without: the relative risk the literature
reports, rather than an odds ratio that would mean a different risk at every base rate.
Reminders are sent to 60% of booked visits at random, so the measured relative risk between
reminded and not-reminded visits estimates the same 0.77.

Walk-ins are at the desk when their token is issued, so their no-show (left before being
called) is rare: logit p = logit(0.02) + 0.4 * propensity. Cancellations (3% of booked
visits, at random) have no outcome: `no_show` is False and they are left out of the AUC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta

import numpy as np

BASE_LOGIT = -1.7
PROPENSITY_SD = 0.9
LEAD_PER_DAY = 0.04
LEAD_CAP_DAYS = 30
TYPICAL_LEAD_DAYS = 7
FIRST_VISIT_LOGIT = 0.3
REMINDER_SHARE = 0.6
REMINDER_RELATIVE_RISK = 0.77
CANCEL_SHARE = 0.03
WALK_IN_BASE_P = 0.02
ONLINE_SHARE = 0.55

DEPARTMENT_CONSULT_MIN: dict[str, float] = {"GEN": 8.0, "CARD": 12.0, "ORTH": 10.0}
"""Mean consultation minutes per department code; others get DEFAULT_CONSULT_MIN."""
DEFAULT_CONSULT_MIN = 10.0

_FIRST_F = (
    "Priya", "Anjali", "Sunita", "Kavita", "Pooja", "Neha", "Meera", "Lakshmi", "Deepa",
    "Asha", "Rekha", "Shalini", "Divya", "Fatima", "Ayesha", "Geeta", "Sarita", "Radha",
    "Kamala", "Nandini", "Swati", "Preeti", "Anita", "Jyoti", "Lalitha", "Harpreet",
)
_FIRST_M = (
    "Rahul", "Amit", "Suresh", "Ramesh", "Vijay", "Arjun", "Rajesh", "Sanjay", "Anil",
    "Manoj", "Ravi", "Karthik", "Venkatesh", "Imran", "Mohammed", "Sunil", "Deepak", "Ajay",
    "Prakash", "Gopal", "Harish", "Naveen", "Sandeep", "Rakesh", "Mahesh", "Gurpreet",
)
_LAST_HINDI = (
    "Sharma", "Verma", "Gupta", "Singh", "Yadav", "Mishra", "Pandey", "Tiwari", "Chauhan",
    "Agarwal", "Srivastava", "Chaudhary", "Joshi", "Saxena", "Thakur", "Khan",
)
_LAST_OTHER = (
    "Reddy", "Rao", "Nair", "Iyer", "Menon", "Pillai", "Gowda", "Hegde", "Shetty", "Patil",
    "Kulkarni", "Desai", "Naidu", "Krishnan", "Das", "Banerjee", "Fernandes", "Shaikh",
)
_MOBILE_PREFIXES = ("98", "99", "97", "96", "95", "94", "93", "91", "90", "70")
"""Leading digits whose every 10-digit number `phonenumbers` classes as an Indian MOBILE."""

_WALK_IN_HOURS = np.arange(8, 16)
_WALK_IN_HOUR_W = np.array([6, 9, 8, 6, 4, 3, 2, 1], dtype=float)
_SLOT_MINUTES = np.arange(9 * 60, 17 * 60, 15)  # 09:00 .. 16:45
_SLOT_W = np.where(_SLOT_MINUTES < 13 * 60, 1.6, 1.0)


@dataclass(frozen=True)
class SynthPatient:
    key: int
    name: str
    phone: str
    uhid: str
    date_of_birth: date
    gender: str
    language: str
    distance_km: float
    commute_min: int
    propensity: float


@dataclass(frozen=True)
class SynthVisit:
    patient_key: int
    department_code: str
    service_date: date
    slot_time: time | None
    booking_type: str
    booked_on: date
    lead_time_days: int
    hour: int
    dow: int
    first_visit: bool
    reminder_sent: bool
    p_no_show: float  # the true probability `no_show` was drawn from
    no_show: bool
    cancelled: bool
    consult_min: float  # 0 when the patient was not seen
    wait_min: float  # arrival (or slot) to call, before any queueing; 0 when not seen


@dataclass(frozen=True)
class SynthHistory:
    patients: list[SynthPatient]
    visits: list[SynthVisit]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def age_years(dob: date, on: date) -> int:
    """Completed years; the age effect and the demo's senior priority both use it."""
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def _age_effect(age: np.ndarray) -> np.ndarray:
    """Young adults miss most (work, exams), children a little (a parent must come), seniors
    least; zero for adults of 36-50."""
    return np.select(
        [age < 18, age < 36, age < 51, age < 65],
        [0.05, 0.35, 0.0, -0.1],
        default=-0.25,
    )


def _distance_effect(km: np.ndarray) -> np.ndarray:
    """Far away is harder to come from; zero at the typical 6 km, growing with log distance."""
    return 0.35 * (np.log1p(km / 10.0) - math.log1p(0.6))


def _day_hour_effect(dow: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Monday mornings and late afternoons slightly higher; Saturdays a little higher."""
    return (
        0.25 * ((dow == 0) & (hour < 11))
        + 0.2 * (hour >= 15)
        + 0.1 * (dow == 5)
    )


def _solve_reminder_odds_ratio(p0: np.ndarray, target_rr: float) -> float:
    """Odds multiplier whose mean relative risk over `p0` is `target_rr` (bisection)."""
    if p0.size == 0:
        return target_rr
    mean_p0 = float(p0.mean())
    lo, hi = 0.01, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        rr = float((mid * p0 / (1 - p0 + mid * p0)).mean()) / mean_p0
        lo, hi = (mid, hi) if rr < target_rr else (lo, mid)
    return (lo + hi) / 2


def _patients(rng: np.random.Generator, n: int, start: date) -> list[SynthPatient]:
    genders = rng.choice(np.array(["F", "M"]), size=n)
    # ages: a mix of children, adults and a sizeable senior group, as OPDs see
    age_groups = rng.choice(4, size=n, p=[0.12, 0.38, 0.30, 0.20])
    lo = np.array([1, 18, 36, 60])[age_groups]
    hi = np.array([18, 36, 60, 88])[age_groups]
    ages_days = rng.integers(lo * 365, hi * 365)
    distance = np.minimum(rng.lognormal(math.log(6.0), 0.8, size=n), 80.0)
    commute = np.maximum(5, np.round(8 + 2.6 * distance + rng.normal(0, 6, size=n))).astype(int)
    propensity = rng.normal(0.0, PROPENSITY_SD, size=n)
    hindi_surname = rng.random(n) < 0.45
    hindi_speaker = rng.random(n) < np.where(hindi_surname, 0.6, 0.1)
    phones: set[str] = set()
    out: list[SynthPatient] = []
    for i in range(n):
        first_pool = _FIRST_F if genders[i] == "F" else _FIRST_M
        last_pool = _LAST_HINDI if hindi_surname[i] else _LAST_OTHER
        first_name = first_pool[rng.integers(len(first_pool))]
        name = f"{first_name} {last_pool[rng.integers(len(last_pool))]}"
        while True:
            prefix = _MOBILE_PREFIXES[rng.integers(len(_MOBILE_PREFIXES))]
            phone = f"+91{prefix}{int(rng.integers(10**8)):08d}"
            if phone not in phones:
                phones.add(phone)
                break
        out.append(SynthPatient(
            key=i,
            name=name,
            phone=phone,
            uhid=f"UH{i + 1:06d}",
            date_of_birth=start - timedelta(days=int(ages_days[i])),
            gender=str(genders[i]),
            language="hi" if hindi_speaker[i] else "en",
            distance_km=round(float(distance[i]), 2),
            commute_min=int(commute[i]),
            propensity=float(propensity[i]),
        ))
    return out


def generate_history(
    *,
    seed: int,
    n_patients: int = 200,
    start: date,
    days: int = 42,
    department_codes: Sequence[str] = ("GEN", "CARD"),
    visits_per_day: int = 40,
) -> SynthHistory:
    """A clinic's past from `start` for `days` days (Sundays closed); deterministic per seed.

    Each open day sees about `visits_per_day` visits (Mondays busier, Saturdays lighter) by
    distinct patients, drawn with per-patient activity weights so some patients come often:
    their own record then says something about them.
    """
    if n_patients < 1 or days < 1 or not department_codes:
        raise ValueError("need at least one patient, one day and one department")
    rng = np.random.default_rng(seed)
    codes = list(department_codes)
    patients = _patients(rng, n_patients, start)

    activity = rng.gamma(2.5, 1.0, size=n_patients)
    activity /= activity.sum()
    # each patient's habit of booking ahead; mean ONLINE_SHARE
    online_pref = rng.beta(4 * ONLINE_SHARE, 4 * (1 - ONLINE_SHARE), size=n_patients)
    home_dept = rng.integers(len(codes), size=n_patients)
    new_to_dept = rng.random((n_patients, len(codes))) < 0.35
    dobs = [p.date_of_birth for p in patients]

    # one row per visit, as parallel lists, then vectorised effects
    pk: list[int] = []
    dept: list[int] = []
    sdate: list[date] = []
    for d in range(days):
        day = start + timedelta(days=d)
        dow = day.weekday()
        if dow == 6:
            continue
        volume = visits_per_day * (1.15 if dow == 0 else 0.7 if dow == 5 else 1.0)
        k = min(n_patients, max(1, int(rng.poisson(volume))))
        who = rng.choice(n_patients, size=k, replace=False, p=activity)
        own = rng.random(k) < 0.8
        other = rng.integers(len(codes), size=k)
        pk.extend(int(x) for x in who)
        dept.extend(int(h) for h in np.where(own, home_dept[who], other))
        sdate.extend([day] * k)

    n = len(pk)
    keys = np.array(pk, dtype=int)
    online = rng.random(n) < online_pref[keys]
    short_lead = rng.random(n) < 0.25
    lead = np.where(
        online,
        np.where(short_lead, rng.integers(0, 2, size=n),
                 np.minimum(45, 1 + rng.geometric(1 / 8.0, size=n))),
        0,
    ).astype(int)
    slot_min = rng.choice(_SLOT_MINUTES, size=n, p=_SLOT_W / _SLOT_W.sum())
    walk_hour = rng.choice(_WALK_IN_HOURS, size=n, p=_WALK_IN_HOUR_W / _WALK_IN_HOUR_W.sum())
    hour = np.where(online, slot_min // 60, walk_hour).astype(int)
    dow_arr = np.array([d.weekday() for d in sdate], dtype=int)
    age = np.array([age_years(dobs[k], d) for k, d in zip(pk, sdate, strict=True)])
    distance = np.array([patients[k].distance_km for k in pk])
    propensity = np.array([patients[k].propensity for k in pk])
    reminder = online & (rng.random(n) < REMINDER_SHARE)
    cancelled = online & (rng.random(n) < CANCEL_SHARE)
    u_outcome = rng.random(n)
    consult_noise = rng.lognormal(-0.35**2 / 2, 0.35, size=n)
    wait = np.where(online, rng.gamma(2.0, 5.0, size=n), rng.gamma(2.0, 12.0, size=n)) + 1.0

    # first visit: new to the department and no earlier (not cancelled) visit to it here
    first = np.zeros(n, dtype=bool)
    seen: set[tuple[int, int]] = set()
    order = sorted(range(n), key=lambda i: (sdate[i], hour[i], pk[i]))
    for i in order:
        first[i] = bool(new_to_dept[pk[i], dept[i]]) and (pk[i], dept[i]) not in seen
        if not cancelled[i]:
            seen.add((pk[i], dept[i]))

    logit_wo_first = (
        BASE_LOGIT + propensity
        + LEAD_PER_DAY * (np.minimum(lead, LEAD_CAP_DAYS) - TYPICAL_LEAD_DAYS)
        + _age_effect(age) + _distance_effect(distance) + _day_hour_effect(dow_arr, hour)
    )
    walk_logit = math.log(WALK_IN_BASE_P / (1 - WALK_IN_BASE_P)) + 0.4 * propensity
    p0 = _sigmoid(logit_wo_first + FIRST_VISIT_LOGIT * first)
    odds_ratio = _solve_reminder_odds_ratio(p0[online], REMINDER_RELATIVE_RISK)
    p_booked = np.where(reminder, odds_ratio * p0 / (1 - p0 + odds_ratio * p0), p0)
    p = np.where(online, p_booked, _sigmoid(walk_logit))
    no_show = (u_outcome < p) & ~cancelled
    showed = ~no_show & ~cancelled

    dept_mean = np.array([DEPARTMENT_CONSULT_MIN.get(c, DEFAULT_CONSULT_MIN) for c in codes])
    consult = np.where(showed, dept_mean[dept] * consult_noise * np.where(first, 1.3, 1.0), 0.0)
    wait = np.where(showed, wait, 0.0)

    visits = [
        SynthVisit(
            patient_key=pk[i],
            department_code=codes[dept[i]],
            service_date=sdate[i],
            slot_time=time(int(slot_min[i]) // 60, int(slot_min[i]) % 60) if online[i] else None,
            booking_type="ONLINE" if online[i] else "WALK_IN",
            booked_on=sdate[i] - timedelta(days=int(lead[i])),
            lead_time_days=int(lead[i]),
            hour=int(hour[i]),
            dow=int(dow_arr[i]),
            first_visit=bool(first[i]),
            reminder_sent=bool(reminder[i]),
            p_no_show=float(p[i]),
            no_show=bool(no_show[i]),
            cancelled=bool(cancelled[i]),
            consult_min=round(float(consult[i]), 2),
            wait_min=round(float(wait[i]), 2),
        )
        for i in order
    ]
    return SynthHistory(patients=patients, visits=visits)


def best_possible_auc(visits: Sequence[SynthVisit]) -> float:
    """ROC AUC of the true p_no_show against the drawn outcomes (cancelled visits left out).

    No model can beat it on average: the ceiling a risk benchmark reports its AUC against.
    Rank-based (Mann-Whitney U with average ranks for ties), so no sklearn is needed.
    """
    kept = [v for v in visits if not v.cancelled]
    scores = np.array([v.p_no_show for v in kept], dtype=float)
    labels = np.array([v.no_show for v in kept], dtype=bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both shows and no-shows")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # average rank of each distinct score: ranks are 1-based and ties share their mean
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    ranks = avg_rank[inverse]
    u = float(ranks[labels].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)
