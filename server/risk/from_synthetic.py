"""Synthetic history (server.synthetic) as the model's training rows, without a database.

The benchmark and the model tests judge the model against the generator's true
probabilities; they build rows here with the same feature code the database path uses.
"""

from __future__ import annotations

from datetime import datetime, time

from server.risk import features as F
from server.risk.model import TrainingRow
from server.synthetic import SynthHistory, SynthVisit, age_years


def status_of(v: SynthVisit) -> str:
    return "CANCELLED" if v.cancelled else "NO_SHOW" if v.no_show else "COMPLETED"


def rows_from_history(history: SynthHistory, *, with_reminders: bool = True
                      ) -> list[tuple[SynthVisit, TrainingRow]]:
    """Every visit with an outcome, paired with its training row (input order kept).

    `with_reminders=False` scores each visit as if no reminder had been sent: the risk a
    reminder decision is made on.
    """
    visits = history.visits
    records = [F.OutcomeRecord(v.patient_key, v.department_code, v.service_date,
                               v.booking_type, status_of(v), v.booked_on) for v in visits]
    hist = F.histories_before(records)
    out = []
    for v, h in zip(visits, hist, strict=True):
        if v.cancelled:
            continue
        p = history.patients[v.patient_key]
        sent = int(v.reminder_sent and with_reminders)
        inputs = F.VisitInputs(
            service_date=v.service_date, booked_on=v.booked_on,
            slot=datetime.combine(v.service_date, v.slot_time or time(v.hour)),
            booking_type=v.booking_type, age=age_years(p.date_of_birth, v.service_date),
            distance_km=p.distance_km, commute_min=p.commute_min,
            reminders_sent=sent, reminders_delivered=sent, history=h,
        )
        out.append((v, TrainingRow(v.patient_key, inputs, v.no_show)))
    return out
