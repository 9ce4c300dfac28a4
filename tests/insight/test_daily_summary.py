"""The admins' daily summary on a generated day: figures checked against numbers computed
here from the same rows; written once at the hospital's evening hour (simulated clock); the
optional model's wording used only when it keeps to the template's numbers, each call in
agent_audit_logs, no patient identifier sent; read back through the API."""

from __future__ import annotations

import itertools
import json
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from server.settings import Settings
from tests.api.helpers import auth, make_department, make_doctor, staff_world
from tests.risk import fake_openai
from workers.summary import write_daily_summaries

TZ = ZoneInfo("Asia/Kolkata")
DAY = date(2026, 3, 10)
_PATIENTS = itertools.count(1)


def local(hh: int, mm: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm), TZ)


def p_cont(values: list[float], q: float) -> float:
    """PostgreSQL's percentile_cont, computed independently: linear between ranks."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (pos - lo)


async def _patient(pool: asyncpg.Pool, h: UUID, i: int) -> UUID:
    return await pool.fetchval(
        """INSERT INTO patients (hospital_id, uhid, name, phone) VALUES ($1, $2, $3, $4)
           RETURNING id""", h, f"UH{i:06d}", f"Secret Patient {i}", f"+9198765{i:05d}")


async def _token(pool: asyncpg.Pool, h: UUID, dep: UUID, doc: UUID, seq: int, status: str,
                 wait_min: int | None, show_p: float | None = None) -> None:
    arrived = local(9) + timedelta(minutes=seq)
    tid = await pool.fetchval(
        """INSERT INTO tokens (hospital_id, department_id, doctor_id, patient_id, service_date,
                               seq, number, booking_type, status, public_code, created_at,
                               checked_in_at, called_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'WALK_IN', $8, $9, $10, $10, $11) RETURNING id""",
        h, dep, doc, await _patient(pool, h, next(_PATIENTS)), DAY, seq,
        f"T-{seq:03d}", status, secrets.token_hex(8), arrived,
        arrived + timedelta(minutes=wait_min) if wait_min is not None else None)
    if show_p is not None:
        await pool.execute(
            """INSERT INTO risk_assessments (hospital_id, token_id, patient_id, model_version,
                   score, badge, tier, show_probability)
               SELECT $1, $2, patient_id, 'prior-1', 50, 'Medium', 3, $3 FROM tokens
               WHERE id = $2""", h, tid, show_p)


async def _alert(pool: asyncpg.Pool, h: UUID, kind: str, at: datetime, key: str | None) -> None:
    await pool.execute(
        """INSERT INTO system_alerts (hospital_id, kind, message, created_at, alert_key,
                                      resolved_at, cleared_at)
           VALUES ($1, $2, 'x', $3, $4, $3, $3)""", h, kind, at, key)


@pytest.fixture
async def day(pool: asyncpg.Pool) -> dict[str, Any]:
    """A generated day: two departments; waits, no-shows with risk scores, alerts."""
    w = await staff_world(pool, "DS1")
    h, cardio = w["hospital_id"], w["department_id"]
    await pool.execute("UPDATE hospitals SET name = 'City Hospital', timezone = $2 "
                       "WHERE id = $1", h, "Asia/Kolkata")
    await pool.execute("UPDATE departments SET name = 'Cardiology' WHERE id = $1", cardio)
    ortho = await make_department(pool, h, code="ORTH", name="Orthopaedics")
    ortho_doc = await make_doctor(pool, h, ortho)
    doc = w["doctor_id"]
    cardio_waits = [10, 20, 30, 40, 50, 60]
    for i, wait in enumerate(cardio_waits, start=1):
        await _token(pool, h, cardio, doc, i, "COMPLETED", wait,
                     show_p={1: 0.9, 2: 0.8}.get(i))
    await _token(pool, h, cardio, doc, 7, "NO_SHOW", None, show_p=0.4)
    await _token(pool, h, cardio, doc, 8, "NO_SHOW", None, show_p=0.7)
    await _token(pool, h, cardio, doc, 9, "CANCELLED", None)
    await _token(pool, h, cardio, doc, 10, "RESCHEDULED", None)
    for i in range(1, 4):
        await _token(pool, h, ortho, ortho_doc, i, "COMPLETED", 5)
    await _token(pool, h, ortho, ortho_doc, 4, "WAITING", None)
    await _alert(pool, h, "LONG_WAIT", local(11), "k1")
    await _alert(pool, h, "LONG_WAIT", local(12), "k2")
    await _alert(pool, h, "BOTTLENECK", local(13), "k3")
    await _alert(pool, h, "LONG_WAIT", local(23, 30, DAY - timedelta(days=1)), "k0")
    await _alert(pool, h, "NOTIFICATION_FAILED", local(14), None)   # per message: not live
    waits = [*cardio_waits, 5, 5, 5]
    return {**w, "expect": {
        "issued": 13, "seen": 9, "no_show": 2, "cancelled": 1, "still_waiting": 1,
        "wait_mean_min": round(sum(waits) / len(waits)), "wait_p90_min": round(p_cont(waits, .9)),
        "scored": 4, "scored_no_show": 2, "expected_no_show": 0.6 + 0.3 + 0.1 + 0.2,
        "busiest": {"name": "Cardiology", "issued": 9,
                    "wait_p90_min": round(p_cont(cardio_waits, .9))},
        "alerts": {"LONG_WAIT": 2, "BOTTLENECK": 1}}}


def with_openai(settings: Settings, base_url: str, timeout_s: float = 5.0) -> Settings:
    return settings.model_copy(update={
        "openai_api_key": SecretStr("sk-test"), "openai_base_url": AnyHttpUrl(base_url),
        "openai_timeout_s": timeout_s, "openai_model": "gpt-4o-mini"})


async def _summary(pool: asyncpg.Pool) -> dict[str, Any]:
    (row,) = await pool.fetch("SELECT * FROM daily_summaries")
    return dict(row)


async def test_written_once_at_the_evening_hour_from_the_template(
        day: dict[str, Any], pool: asyncpg.Pool, settings: Settings,
        client: httpx.AsyncClient) -> None:
    ctx = {"pool": pool, "settings": settings}
    assert await write_daily_summaries(ctx, now=local(19, 59).astimezone(UTC)) == 0
    assert await write_daily_summaries(ctx, now=local(20, 2).astimezone(UTC)) == 1
    assert await write_daily_summaries(ctx, now=local(21, 2).astimezone(UTC)) == 0  # once
    s = await _summary(pool)
    f = s["figures"]
    for k, v in day["expect"].items():
        assert f[k] == pytest.approx(v), k
    assert s["written_by"] == "template" and s["text"] == s["template_text"]
    text = s["text"]
    assert text.startswith("Tuesday 10 March 2026, City Hospital: 13 tokens issued, 9 seen, "
                           "2 no-shows, 1 cancelled.")
    assert f"Waits: {day['expect']['wait_mean_min']} min on average" in text
    assert "Of 4 bookings with a risk score, 2 did not come against 1.2 expected." in text
    assert "Busiest: Cardiology (9 tokens, 9 in 10 called within 55 min)." in text
    assert text.endswith("3 live alerts (2 long waits, 1 bottleneck).")
    # the template's use is logged too, as the explainer's is
    (log,) = await pool.fetch("SELECT * FROM agent_audit_logs")
    assert log["purpose"] == "daily_summary" and log["status"] == "FALLBACK"
    # the admins read it through the API; nobody else does
    r = await client.get("/api/v1/daily-summaries", headers=auth(day["tokens"]["admin"]))
    assert r.status_code == 200
    (item,) = r.json()["items"]
    assert item["date"] == "2026-03-10" and item["text"] == text
    for role in ("receptionist", "doctor", "nurse"):
        r = await client.get("/api/v1/daily-summaries", headers=auth(day["tokens"][role]))
        assert r.status_code == 403


async def test_model_rewording_kept_to_the_numbers_and_audited(
        day: dict[str, Any], pool: asyncpg.Pool, settings: Settings) -> None:
    reworded = ("City Hospital saw 9 of 13 patients on Tuesday; 2 no-shows against 1.2 "
                "expected, 1 cancelled, 1 still waiting. Mean wait 25 min, 9 in 10 within "
                "52 min; Cardiology was busiest. 3 live alerts (2 long waits, 1 bottleneck).")
    async with fake_openai.running("ok", answer={"text": reworded}) as fake:
        ctx = {"pool": pool, "settings": with_openai(settings, fake.base_url)}
        assert await write_daily_summaries(ctx, now=local(20, 30).astimezone(UTC)) == 1
    s = await _summary(pool)
    assert s["written_by"] == "model" and s["text"] == reworded
    assert s["template_text"] != reworded
    (log,) = await pool.fetch("SELECT * FROM agent_audit_logs")
    assert log["status"] == "OK" and log["purpose"] == "daily_summary"
    assert log["prompt_tokens"] == 120 and log["completion_tokens"] == 40
    assert log["latency_ms"] is not None and float(log["estimated_cost_usd"]) > 0
    # no patient identifier went out (nor the hospital's name)
    (raw,) = fake.raw
    sent = raw.decode()
    patients = await pool.fetch("SELECT name, phone, uhid FROM patients")
    for p in patients:
        for ident in (p["name"], p["phone"], p["uhid"]):
            assert ident not in sent
    assert "City Hospital" not in json.loads(sent)["messages"][1]["content"].split('"figures"')[1]


@pytest.mark.parametrize(("mode", "answer", "status"), [
    ("ok", {"text": "13 tokens, 9 seen, and 47 patients delighted."}, "INVALID"),
    ("garbage", None, "INVALID"),
    ("error", None, "ERROR"),
    ("hang", None, "TIMEOUT"),
])
async def test_a_failing_or_inventive_model_falls_back_to_the_template(
        day: dict[str, Any], pool: asyncpg.Pool, settings: Settings, mode: str,
        answer: dict[str, Any] | None, status: str) -> None:
    async with fake_openai.running(mode, answer=answer) as fake:
        ctx = {"pool": pool, "settings": with_openai(settings, fake.base_url, timeout_s=0.3)}
        assert await write_daily_summaries(ctx, now=local(20, 30).astimezone(UTC)) == 1
    s = await _summary(pool)
    assert s["written_by"] == "template" and s["text"] == s["template_text"]
    (log,) = await pool.fetch("SELECT * FROM agent_audit_logs")
    assert log["status"] == status, log["error"]
