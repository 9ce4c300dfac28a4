"""Shapes of what the API and the events show (API.md "Token"), built from records.

Pure: takes rows and live fields, returns JSON-ready dicts. The live token JSON kept in Redis
holds only public fields (masked name), because events built from it reach display boards.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from server.domain.eta import Eta, EtaInputs, etas, pause_remaining, starts_in
from server.domain.eta_today import today_now
from server.domain.masking import display_name
from server.store.live import DoctorState


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def live_token(row: dict[str, Any], cabin: str | None = None) -> dict[str, Any]:
    """The token as the live view keeps it (keys.tokens): public fields only."""
    return {
        "id": str(row["id"]),
        "number": row["number"],
        "status": row["status"],
        "priority": row["priority"],
        "booking_type": row["booking_type"],
        "doctor_id": str(row["doctor_id"]) if row.get("doctor_id") else None,
        "department_id": str(row["department_id"]),
        "cabin": cabin if cabin is not None else row.get("cabin_number"),
        "display_name": display_name(row.get("patient_name") or ""),
        "created_at": _iso(row.get("created_at")),
        "called_at": _iso(row.get("called_at")),
        "recall_count": row.get("recall_count", 0),
        "skip_count": row.get("skip_count", 0),
        "late_count": row.get("late_count", 0),
    }


def live_doctor(doctor: dict[str, Any], stats: tuple[int, float, float],
                pause: dict[str, Any] | None, current: dict[str, Any] | None,
                now: datetime) -> DoctorState:
    """The doctor's live state as the record holds it (a rebuild writes it to Redis)."""
    def ms(at: datetime | None) -> int | None:
        return int(at.timestamp() * 1000) if at else None

    n, mean, m2 = stats
    until = (pause["started_at"] + timedelta(minutes=pause["expected_min"])).isoformat() \
        if pause and pause["expected_min"] else None
    called = current["called_at"] if current else None
    return DoctorState(
        name=doctor["name"], cabin=doctor["cabin"] or "",
        status="PAUSED" if pause else "AVAILABLE",
        current=str(current["id"]) if current else None,
        current_status=current["status"] if current else None,
        current_since_ms=ms(called or now) if current else None,
        started_ms=ms(current["started_at"]) if current else None,
        last_call_ms=ms(called),  # the double-tap guard outlives a lost live view
        paused_since_ms=ms(pause["started_at"]) if pause else None, pause_until=until,
        pause_reason=(pause["reason"] or "") if pause else None,
        consults=n, consult_mean=mean, consult_m2=m2)


def waited_min(row: dict[str, Any], now: datetime) -> int | None:
    """Minutes the patient has waited since check-in: until the consultation started, the
    visit ended, or now. A skip or recall changes none of these times, so it never resets the
    count; a reinstate keeps the first check-in (the patient has been here since)."""
    arrived = row.get("checked_in_at")
    if arrived is None:
        return None
    end = row.get("started_at")
    if end is None and row["status"] not in ("WAITING", "CALLED"):
        end = (row.get("completed_at") or row.get("no_show_at") or row.get("cancelled_at")
               or row.get("rescheduled_at"))
    if end is None:
        end = now
    return max(0, int((end - arrived).total_seconds() // 60))


def eta_view(eta: Eta | None, at: datetime) -> dict[str, Any] | None:
    if eta is None:
        return None
    return {"p50_min": eta.p50_min, "p90_min": eta.p90_min, "p10_min": eta.p10_min,
            "updated_at": at.isoformat()}


def risk_view(risk: dict[str, Any] | None, staff: bool) -> dict[str, Any] | None:
    """Score (the chance of a no-show, in %), badge, tier; for staff the top factors in
    words, strongest first (what the tablet shows on a tap of the badge), and the
    explainer's sentence when one was written (server/risk/explainer.py)."""
    if not risk:
        return None
    view = {"score": risk["score"], "badge": risk["badge"], "tier": risk.get("tier")}
    if staff:
        factors = risk.get("factors") or []
        view["factors"] = [f["phrase"] for f in factors if isinstance(f, dict) and
                           f.get("phrase")]
        if risk.get("explanation"):
            view["explanation"] = risk["explanation"]
    return view


def token_view(
    row: dict[str, Any], *, position: int | None = None, eta: dict[str, Any] | None = None,
    risk: dict[str, Any] | None = None, link: str | None = None, staff: bool = True,
    waited: int | None = None, allowed: list[str] | None = None,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(row["id"]),
        "number": row["number"],
        "status": row["status"],
        "priority": row["priority"],
        "booking_type": row["booking_type"],
        "patient": {"id": str(row["patient_id"]),
                    "display_name": display_name(row.get("patient_name") or "")},
        "doctor_id": str(row["doctor_id"]) if row.get("doctor_id") else None,
        "doctor_name": row.get("doctor_name"),
        "department_id": str(row["department_id"]),
        "cabin": row.get("cabin_number"),
        "position": position,
        "eta": eta,
        "risk": risk_view(risk, staff),
        "service_date": _iso(row["service_date"]),
        "scheduled_time": _iso(row.get("scheduled_time")),
        "visit_reason": row.get("visit_reason") if staff else None,
        "created_at": _iso(row["created_at"]),
        "checked_in_at": _iso(row.get("checked_in_at")),
        "called_at": _iso(row.get("called_at")),
        "started_at": _iso(row.get("started_at")),
        "completed_at": _iso(row.get("completed_at")),
        "recall_count": row.get("recall_count", 0),
        "late_count": row.get("late_count", 0),
        "reinstated": bool(row.get("reinstate_count")),
        "waited_min": waited,
        "allowed_actions": allowed if allowed is not None else [],
    }
    if staff:
        view["patient"].update(name=row.get("patient_name"), phone=row.get("patient_phone"),
                               language=row.get("patient_language"))
        view["patient_link"] = link
    return view


def queue_etas(
    *, doctor: DoctorState, n_waiting: int, dept_avg_min: float, now: datetime,
    show_probs: list[float] | None = None, shift_start: datetime | None = None,
    scores: list[float] | None = None,
    senior_credit_min: float = EtaInputs.senior_credit_min,
) -> list[Eta]:
    """ETAs of a doctor's waiting tokens, in queue order, from the live doctor state;
    `scores`: their queue scores (epoch seconds less credits), which say how long tokens
    still to come would sort ahead of each (domain.eta.jumpers)."""
    inputs = eta_inputs(doctor, dept_avg_min, now, shift_start, senior_credit_min)
    ahead = None if scores is None else [(s - now.timestamp()) / 60 for s in scores]
    return etas(inputs, show_probs or [1.0] * n_waiting, ahead)


def utcnow() -> datetime:
    return datetime.now(UTC)


def eta_inputs(doctor: DoctorState, dept_avg_min: float, now: datetime,
               shift_start: datetime | None = None,
               senior_credit_min: float = EtaInputs.senior_credit_min
               ) -> EtaInputs:
    """ETA inputs of a doctor from the live doctor state (keys.doctor) and today's shift
    start (None: no shift known): a doctor who has not begun yet counts from the shift start,
    a paused one from the pause's expected end (domain.eta.starts_in, pause_remaining); the
    consults of this sitting give today's pace (domain.eta_today.today_now)."""
    now_ms = now.timestamp() * 1000
    learned = doctor.learned()
    elapsed = None
    if doctor.current:
        since = doctor.started_ms or doctor.current_since_ms or now_ms
        elapsed = max(0.0, (now_ms - since) / 60000)
    paused = 0.0
    if doctor.status == "PAUSED":
        paused = pause_remaining(
            now, paused_since=_from_ms(doctor.paused_since_ms),
            pause_until=datetime.fromisoformat(doctor.pause_until) if doctor.pause_until
            else None)
    begins = starts_in(now, shift_start, has_current=bool(doctor.current),
                       last_call=_from_ms(doctor.last_call_ms))
    return EtaInputs(dept_avg_min=dept_avg_min, stats=learned.stats,
                     current_elapsed_min=elapsed, paused_remaining_min=paused,
                     starts_in_min=begins, today=today_now(learned.today, now_ms),
                     senior_credit_min=senior_credit_min)


def _from_ms(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None


def jsonable(value: Any) -> Any:
    """Record values as JSON: ids and times as strings, numerics as numbers."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value
