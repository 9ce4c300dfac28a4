"""The feature vector of a booked visit, from plain inputs: no I/O, no clock.

Training and scoring build features with the same functions, so a model never sees a
feature computed one way in training and another way live. History features count only
visits BEFORE the visit's service date, so a training row never learns from its own outcome or
from anything after it.

Train and score on the same information. A score is made when the booking is made (the
decision to send an extra reminder, the outreach tier): at that moment no reminder has been
sent, and the outcomes between the booking and the visit are not known yet. A training row
therefore sees what was known at ITS booking (`histories_before` counts days strictly before
the booking date, `at_booking` drops reminders and a weather forecast not yet made), never a
REMINDER_EXTRA that the score itself caused. Reminders stay in the vector (`describe`, old
stored models) but are not model columns (`MODEL_FEATURES`).

The patient's own no-show rate is smoothed towards the hospital's rate with a Beta prior
(empirical Bayes, `fit_beta_prior`): one missed visit out of one is weak evidence, ten out of
twenty is strong. It enters the model on the logit scale, relative to the prior mean, so a
patient without history contributes exactly zero.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

LEAD_CAP_DAYS = 30
"""Beyond a month ahead, plans change no more than they already have: lead is capped."""
FORECAST_DAYS = 3
"""A day's weather is known (forecast) at most this many days ahead of it."""

BOOKED = ("ONLINE",)
OUTCOMES = ("COMPLETED", "NO_SHOW")
RAINY = ("RAIN", "HEAVY_RAIN", "STORM")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class History:
    """The patient's record before the visit's service date."""

    booked: int = 0                 # booked (ONLINE) visits with an outcome
    booked_no_shows: int = 0
    visits: int = 0                 # every visit with an outcome (walk-ins too)
    dept_visits: int = 0            # visits with an outcome in this visit's department
    cancellations: int = 0
    last_visit: date | None = None  # last visit with an outcome
    last_was_no_show: bool = False


@dataclass(frozen=True)
class VisitInputs:
    """Everything known about one visit when it is scored; times are hospital-local."""

    service_date: date
    booked_on: date                 # local date the token was created
    slot: datetime | None           # local slot time (booked) or issue time (walk-in)
    booking_type: str = "ONLINE"
    age: int | None = None
    distance_km: float | None = None
    commute_min: int | None = None
    reminders_sent: int = 0
    reminders_delivered: int = 0
    weather: str | None = None      # weather_data.condition of the day, when known
    history: History = field(default_factory=History)

    @property
    def lead_days(self) -> int:
        """Days from booking to the visit (scheduled date - created date), never negative."""
        return max(0, (self.service_date - self.booked_on).days)

    @property
    def first_visit(self) -> bool:
        return self.history.dept_visits == 0


@dataclass(frozen=True)
class BetaPrior:
    """Beta(alpha, beta) prior of a patient's no-show rate at one hospital."""

    alpha: float = 0.9
    beta: float = 4.1

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def smoothed(self, no_shows: int, visits: int) -> float:
        return (no_shows + self.alpha) / (visits + self.alpha + self.beta)


DEFAULT_PRIOR = BetaPrior()
"""18% mean with the weight of five visits: a typical OPD before the hospital has history."""

MIN_STRENGTH, MAX_STRENGTH = 2.0, 50.0


def fit_beta_prior(counts: Sequence[tuple[int, int]]) -> BetaPrior:
    """Method-of-moments Beta prior from per-patient (no_shows, visits).

    The spread of observed rates is the spread of true rates plus binomial noise; what is
    left after removing the noise sets the prior's strength (how many visits it is worth).
    """
    rows = [(k, n) for k, n in counts if n > 0]
    total = sum(n for _, n in rows)
    if total == 0:
        return DEFAULT_PRIOR
    m = sum(k for k, _ in rows) / total
    m = min(max(m, 0.01), 0.9)
    weights = [n for _, n in rows]
    rates = [k / n for k, n in rows]
    var = sum(w * (r - m) ** 2 for w, r in zip(weights, rates, strict=True)) / total
    noise = m * (1 - m) * len(rows) / total    # mean binomial variance of a rate
    true_var = var - noise
    strength = MAX_STRENGTH if true_var <= 0 else m * (1 - m) / true_var - 1
    strength = min(max(strength, MIN_STRENGTH), MAX_STRENGTH)
    return BetaPrior(alpha=m * strength, beta=(1 - m) * strength)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def age_years(dob: date | None, on: date) -> int | None:
    if dob is None:
        return None
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


# ---------------------------------------------------------------------------- the vector
FEATURE_NAMES: tuple[str, ...] = (
    "history_logit", "history_visits_log", "recent_no_show", "days_since_last_log",
    "cancellations_log",
    "lead_days", "same_day",
    "age_child", "age_18_35", "age_51_64", "age_65_plus", "age_unknown",
    "distance_log", "commute_log", "distance_unknown",
    "monday_morning", "late_afternoon", "saturday",
    "first_visit", "reminder_sent", "reminder_delivered",
    "rain", "heat",
)
"""The vector's values, in order; each model stores the columns it uses."""

KNOWN_LATER: tuple[str, ...] = ("reminder_sent", "reminder_delivered")
"""Never known when a booking is scored (reminders are sent after it, some BECAUSE of it)."""
MODEL_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n not in KNOWN_LATER)
"""The columns new models use: what is known at the booking."""

GROUPS: dict[str, tuple[str, ...]] = {
    "history": ("history_logit", "history_visits_log"),
    "recency": ("recent_no_show", "days_since_last_log"),
    "cancellations": ("cancellations_log",),
    "lead": ("lead_days", "same_day"),
    "age": ("age_child", "age_18_35", "age_51_64", "age_65_plus", "age_unknown"),
    "distance": ("distance_log", "commute_log", "distance_unknown"),
    "slot": ("monday_morning", "late_afternoon", "saturday"),
    "first_visit": ("first_visit",),
    "reminders": ("reminder_sent", "reminder_delivered"),
    "weather": ("rain", "heat"),
}
"""Features that explain one thing to a person are summed into one factor."""


def vectorize(v: VisitInputs, prior: BetaPrior = DEFAULT_PRIOR) -> dict[str, float]:
    """The feature values of one visit, keyed by FEATURE_NAMES (in that order)."""
    h = v.history
    history_logit = 0.0
    if h.booked:
        history_logit = _logit(prior.smoothed(h.booked_no_shows, h.booked)) - _logit(prior.mean)
    since = (v.service_date - h.last_visit).days if h.last_visit else None
    age = v.age
    hour = v.slot.hour if v.slot else 10
    dow = v.service_date.weekday()
    lead = v.lead_days
    f = {
        "history_logit": history_logit,
        "history_visits_log": math.log1p(h.booked),
        "recent_no_show": float(h.last_was_no_show and since is not None and since <= 90),
        "days_since_last_log": math.log1p(min(since, 365)) if since is not None else 0.0,
        "cancellations_log": math.log1p(h.cancellations),
        "lead_days": float(min(lead, LEAD_CAP_DAYS)),
        "same_day": float(lead == 0),
        "age_child": float(age is not None and age < 18),
        "age_18_35": float(age is not None and 18 <= age < 36),
        "age_51_64": float(age is not None and 51 <= age < 65),
        "age_65_plus": float(age is not None and age >= 65),
        "age_unknown": float(age is None),
        "distance_log": math.log1p(v.distance_km / 10) if v.distance_km is not None else 0.0,
        "commute_log": math.log1p(v.commute_min / 30) if v.commute_min is not None else 0.0,
        "distance_unknown": float(v.distance_km is None),
        "monday_morning": float(dow == 0 and hour < 11),
        "late_afternoon": float(hour >= 15),
        "saturday": float(dow == 5),
        "first_visit": float(v.first_visit),
        "reminder_sent": float(v.reminders_sent > 0),
        "reminder_delivered": float(v.reminders_delivered > 0),
        "rain": float(v.weather in RAINY),
        "heat": float(v.weather == "HEAT"),
    }
    assert tuple(f) == FEATURE_NAMES
    return f


def describe(v: VisitInputs) -> dict[str, object]:
    """The raw, non-identifying inputs stored beside the vector (and given to the explainer)."""
    h = v.history
    return {
        "lead_days": v.lead_days, "age": v.age, "distance_km": v.distance_km,
        "commute_min": v.commute_min, "weekday": WEEKDAYS[v.service_date.weekday()],
        "hour": v.slot.hour if v.slot else None, "booking_type": v.booking_type,
        "first_visit": v.first_visit, "past_booked_visits": h.booked,
        "past_no_shows": h.booked_no_shows, "past_cancellations": h.cancellations,
        "reminders_sent": v.reminders_sent, "reminders_delivered": v.reminders_delivered,
        "weather": v.weather,
    }


# ---------------------------------------------------------------------------- in words
def phrase(group: str, v: VisitInputs) -> str:
    """A factor group said as a receptionist would say it."""
    h = v.history
    if group == "history":
        if not h.booked:
            return "no past booked visits"
        if not h.booked_no_shows:
            return f"attended all {h.booked} past visit{'s' * (h.booked != 1)}"
        return f"missed {h.booked_no_shows} of {h.booked} past visits"
    if group == "recency":
        if h.last_visit is None:
            return "not seen here before"
        days = (v.service_date - h.last_visit).days
        return ("missed the last visit" if h.last_was_no_show
                else f"last visit {days} day{'s' * (days != 1)} ago")
    if group == "cancellations":
        return (f"cancelled {h.cancellations} past booking{'s' * (h.cancellations != 1)}"
                if h.cancellations else "no past cancellations")
    if group == "lead":
        lead = v.lead_days
        return "booked the same day" if lead == 0 else (
            f"booked {lead} day{'s' * (lead != 1)} ahead")
    if group == "age":
        return "age not recorded" if v.age is None else f"aged {v.age}"
    if group == "distance":
        if v.distance_km is None:
            return "distance not recorded"
        extra = f" ({v.commute_min} min commute)" if v.commute_min is not None else ""
        return f"lives {v.distance_km:.0f} km away{extra}"
    if group == "slot":
        day = WEEKDAYS[v.service_date.weekday()]
        when = "morning" if (v.slot.hour if v.slot else 10) < 12 else "afternoon"
        if v.slot and v.slot.hour >= 15:
            when = "late afternoon"
        return f"{day} {when} slot"
    if group == "first_visit":
        return ("first visit to this department" if v.first_visit
                else "has visited this department before")
    if group == "reminders":
        if v.reminders_delivered:
            return "reminder delivered"
        return "reminder sent" if v.reminders_sent else "no reminder sent yet"
    if group == "weather":
        return {"RAIN": "rain forecast", "HEAVY_RAIN": "heavy rain forecast",
                "STORM": "storm forecast", "HEAT": "heat forecast"}.get(
                    v.weather or "", "weather unremarkable")
    raise KeyError(group)


def at_booking(v: VisitInputs) -> VisitInputs:
    """The inputs as they were known when the visit was booked (and scored): no reminder yet,
    and the day's weather only if it was close enough to have a forecast."""
    weather = v.weather if v.lead_days <= FORECAST_DAYS else None
    return replace(v, reminders_sent=0, reminders_delivered=0, weather=weather)


# ---------------------------------------------------------------------------- history
@dataclass(frozen=True)
class OutcomeRecord:
    """One past token, as training reads it: whose, where, when booked, how it ended."""

    patient: Hashable
    department: Hashable
    service_date: date
    booking_type: str
    status: str
    booked_on: date | None = None   # None: known only by its service date

    @property
    def known_from(self) -> date:
        """The day its score was made: the history it may see ends the day before."""
        b = self.booked_on
        return self.service_date if b is None or b > self.service_date else b


@dataclass
class _Running:
    h: History = field(default_factory=History)
    depts: dict[Hashable, int] = field(default_factory=dict)


def histories_before(records: Sequence[OutcomeRecord]) -> list[History]:
    """For each record (input order), the patient's History as known when it was booked:
    outcomes of days strictly before its booking date (`known_from`).

    Visits on the same day do not see each other, and a visit booked three weeks ahead does
    not see what happened in those three weeks: its score, made at booking, could not.
    """
    asks = sorted(range(len(records)), key=lambda i: records[i].known_from)
    folds = sorted(range(len(records)), key=lambda i: records[i].service_date)
    state: dict[Hashable, _Running] = {}
    out: list[History] = [History()] * len(records)
    j = 0
    for k in asks:
        r = records[k]
        while j < len(folds) and records[folds[j]].service_date < r.known_from:
            done = records[folds[j]]
            run = state.setdefault(done.patient, _Running())
            run.h = fold(run.h, done)
            if done.status in OUTCOMES:
                run.depts[done.department] = run.depts.get(done.department, 0) + 1
            j += 1
        run = state.get(r.patient)
        if run:
            out[k] = replace(run.h, dept_visits=run.depts.get(r.department, 0))
    return out


def fold(h: History, r: OutcomeRecord) -> History:
    """The history after one more past token (dept_visits is kept by the caller)."""
    if r.status == "CANCELLED" and r.booking_type in BOOKED:
        return replace(h, cancellations=h.cancellations + 1)
    if r.status not in OUTCOMES:
        return h
    missed = r.status == "NO_SHOW"
    booked = r.booking_type in BOOKED
    later = h.last_visit is None or r.service_date >= h.last_visit
    return replace(
        h,
        booked=h.booked + booked,
        booked_no_shows=h.booked_no_shows + (booked and missed),
        visits=h.visits + 1,
        last_visit=r.service_date if later else h.last_visit,
        last_was_no_show=missed if later else h.last_was_no_show,
    )


# ---------------------------------------------------------------------------- from rows
def history_from_row(row: Mapping[str, Any]) -> History:
    """A History from db.risk.history_before's aggregate row."""
    return History(
        booked=int(row.get("booked") or 0), booked_no_shows=int(row.get("booked_no_shows") or 0),
        visits=int(row.get("visits") or 0), dept_visits=int(row.get("dept_visits") or 0),
        cancellations=int(row.get("cancellations") or 0), last_visit=row.get("last_visit"),
        last_was_no_show=bool(row.get("last_was_no_show")),
    )


def inputs_from_row(row: Mapping[str, Any], history: History) -> VisitInputs:
    """VisitInputs from a db.risk visit row (hospital-local times already)."""
    distance = row.get("distance_km")
    age = row.get("age")
    if age is None:
        age = age_years(row.get("date_of_birth"), row["service_date"])
    return VisitInputs(
        service_date=row["service_date"], booked_on=row["booked_on"], slot=row["slot_local"],
        booking_type=row["booking_type"], age=age,
        distance_km=float(distance) if distance is not None else None,
        commute_min=row.get("commute_min"), reminders_sent=int(row.get("reminders_sent") or 0),
        reminders_delivered=int(row.get("reminders_delivered") or 0),
        weather=row.get("weather"), history=history,
    )


def record_from_row(row: Mapping[str, Any]) -> OutcomeRecord:
    return OutcomeRecord(row["patient_id"], row["department_id"], row["service_date"],
                         row["booking_type"], row["status"], row.get("booked_on"))
