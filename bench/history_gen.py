"""A synthetic "imported history" CSV, deliberately NOT in the model's own form.

server.synthetic writes outcomes as a logistic model over the very features the model uses,
which flatters the model. This generator does not: outcomes are a mixture of patient types
(not a normal propensity on the logit), two failure causes combined in probability space
(forgetting, which reminders reduce, and barriers, which they do not), a saturating lead-time
curve with a step past 45 days (the model has a capped straight line), interactions (young
adults booked far ahead; habit after a miss), a drifting base rate (a trend plus a 60-day
cycle) and daily shocks. It is still synthetic: it says nothing about a real hospital.

    python -m bench.history_gen OUT.csv --rows 100000 --seed 5
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

DEPARTMENTS = (("General Medicine", 1.0), ("CARD", 0.8), ("Orthopaedics", 1.1),
               ("Dermatology", 1.3), ("Paediatrics", 0.9), ("Psychiatry", 1.5))
TYPES = ((0.65, 0.07), (0.25, 0.22), (0.10, 0.55))   # (share, forgetting hazard)
HEADER = ("patient_ref", "booked_at", "slot_at", "outcome", "age", "gender", "reminder_sent",
          "department")


@dataclass(frozen=True)
class Appointment:
    row: tuple[str, ...]
    p_no_show: float          # the generator's truth (before cancellation)
    cancelled: bool


def _lead_factor(lead: int) -> float:
    if lead == 0:
        return 0.2
    return (0.55 + 0.45 * (1 - math.exp(-lead / 8))) * (1.3 if lead > 45 else 1.0)


def generate(rows: int, seed: int, start: date = date(2025, 1, 6), days: int = 365
             ) -> list[Appointment]:
    rng = np.random.default_rng(seed)
    n_patients = max(50, rows // 4)
    shares = np.array([t[0] for t in TYPES])
    ptype = rng.choice(len(TYPES), n_patients, p=shares)
    age = np.clip(np.where(rng.random(n_patients) < 0.2, rng.integers(0, 18, n_patients),
                           rng.normal(48, 18, n_patients)), 0, 99).astype(int)
    gender = rng.choice(["M", "F", "other"], n_patients, p=[0.48, 0.5, 0.02])
    rate = rng.gamma(2.0, 2.0, n_patients) * (1 + (age >= 60))      # visits a year
    rate *= rows / max(1.0, float(rate.sum()) * days / 365)
    shock = rng.normal(0, 0.15, days + 120)                          # daily shocks
    out: list[Appointment] = []
    for i in range(n_patients):
        n = rng.poisson(rate[i] * days / 365)
        if n == 0:
            continue
        slot_days = np.sort(rng.integers(0, days, n))
        habit = 1.0
        for d in slot_days:
            day = start + timedelta(days=int(d))
            same_day = rng.random() < 0.22
            lead = 0 if same_day else int(min(120, rng.lognormal(2.2, 0.9)) + 1)
            booked = day - timedelta(days=lead)
            hour = int(rng.integers(8, 17))
            dept, dept_mult = DEPARTMENTS[int(rng.integers(len(DEPARTMENTS)))]
            reminder = rng.random() < (0.9 if lead >= 2 else 0.1)
            t = d / days
            drift = 1 + 0.3 * t + 0.2 * math.sin(2 * math.pi * d / 60)
            forget = TYPES[ptype[i]][1] * _lead_factor(lead) * dept_mult * habit * drift
            if 18 <= age[i] <= 30 and lead > 14:
                forget *= 1.5
            if age[i] >= 65:
                forget *= 0.7
            if reminder:
                forget *= 0.65
            wd = day.weekday()
            barrier = 0.03 * (1.3 if wd == 0 else 1.1 if wd == 4 else 1.0) * (
                1.2 if hour >= 15 else 1.0) * math.exp(shock[d])
            p = 1 - (1 - min(0.95, forget)) * (1 - min(0.5, barrier))
            cancelled = rng.random() < 0.04 + 0.002 * min(lead, 40)
            no_show = (not cancelled) and rng.random() < p
            if not cancelled:
                habit = min(2.0, habit * 1.35) if no_show else max(1.0, habit * 0.9)
            booked_at = datetime.combine(booked, datetime.min.time()) + timedelta(
                hours=int(rng.integers(7, 20)), minutes=int(rng.integers(0, 60)))
            if lead == 0:
                booked_at = datetime.combine(day, datetime.min.time()) + timedelta(
                    hours=max(7, hour - 2))
            slot = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)
            slot_text = day.isoformat() if rng.random() < 0.05 else slot.isoformat()
            outcome = "cancelled" if cancelled else "no_show" if no_show else "completed"
            out.append(Appointment((
                f"P{seed:02d}{i:06d}", booked_at.isoformat(), slot_text, outcome,
                "" if rng.random() < 0.03 else str(age[i]), str(gender[i]),
                "true" if reminder else "false", dept), p, cancelled))
    out.sort(key=lambda a: a.row[2])
    return out


def write(path: Path, appointments: list[Appointment]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(a.row for a in appointments)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    appts = generate(args.rows, args.seed)
    write(Path(args.out), appts)
    print(f"{len(appts)} appointments written to {args.out}")


if __name__ == "__main__":
    main()
