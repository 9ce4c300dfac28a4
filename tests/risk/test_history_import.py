"""`opdq history import` and `opdq risk train` on a real database: a file is imported whole or
not at all, twice is once, and the model trains on it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from bench import history_gen
from server.risk import history_import as H
from server.risk_cli import import_file, train_now
from tests.queue.conftest import build_world
from workers import risk as jobs

TZ = ZoneInfo("Asia/Kolkata")


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hist") / "history.csv"
    history_gen.write(path, history_gen.generate(3000, seed=2, days=150))
    return path


async def test_import_is_idempotent_and_trains(pool: asyncpg.Pool, schema_ready: str,
                                               history_csv: Path) -> None:
    w = await build_world(pool)
    first = await import_file(schema_ready, "CITY", history_csv)
    n = first["rows"]
    assert n > 2500 and first["inserted"] == n and first["updated"] == 0
    assert "CARD" not in first["departments_created"]          # matched by code
    assert len(first["departments_created"]) == 5
    assert await pool.fetchval("SELECT count(*) FROM risk_history") == n

    again = await import_file(schema_ready, "CITY", history_csv)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, n)
    assert again["departments_created"] == []
    assert await pool.fetchval("SELECT count(*) FROM risk_history") == n

    out = await train_now(schema_ready, "CITY")
    assert set(out) == {"model_version", "auc", "brier", "ece", "n_train", "n_test"}
    assert out["model_version"].startswith("logistic-")
    outcomes = await pool.fetchval(
        "SELECT count(*) FROM risk_history WHERE outcome <> 'CANCELLED'")
    assert out["n_train"] + out["n_test"] == outcomes and out["n_test"] > 0
    assert out["auc"] > 0.6 and out["ece"] < 0.1
    active = await pool.fetchval(
        "SELECT version FROM risk_models WHERE hospital_id = $1 AND active", w.hospital_id)
    assert active == out["model_version"]


async def test_a_changed_row_is_updated(pool: asyncpg.Pool, schema_ready: str,
                                        tmp_path: Path) -> None:
    await build_world(pool)
    head = ",".join(H.HEADER)
    f = tmp_path / "h.csv"
    f.write_text(f"{head}\nA1,2026-01-02T10:00,2026-01-09T11:00,completed,40,F,true,CARD\n")
    assert (await import_file(schema_ready, "CITY", f))["inserted"] == 1
    f.write_text(f"{head}\nA1,2026-01-02T10:00,2026-01-09T11:00,no_show,40,F,true,CARD\n")
    assert (await import_file(schema_ready, "CITY", f))["updated"] == 1
    assert await pool.fetchval("SELECT outcome FROM risk_history") == "NO_SHOW"


async def test_bad_lines_are_named_and_nothing_is_imported(
        pool: asyncpg.Pool, schema_ready: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    await build_world(pool)
    f = tmp_path / "bad.csv"
    f.write_text("\n".join([
        ",".join(H.HEADER),
        "A1,2026-01-02T10:00,2026-01-09T11:00,completed,40,F,true,CARD",
        "A2,2026-01-02T10:00,2026-01-09,maybe,40,F,true,CARD",          # line 3
        "A3,2026-01-02,2026-01-09T11:00+05:30,no_show,,M,false,Skin",
        "A4,2026-01-12T10:00,2026-01-09T11:00,completed,40,F,true,CARD",  # line 5
    ]) + "\n")
    with pytest.raises(SystemExit, match="2 bad line"):
        await import_file(schema_ready, "CITY", f)
    err = capsys.readouterr().err
    assert "bad.csv:3: outcome" in err and "bad.csv:5: booked_at is after slot_at" in err
    assert await pool.fetchval("SELECT count(*) FROM risk_history") == 0
    assert await pool.fetchval("SELECT count(*) FROM departments WHERE code = 'SKIN'") == 0


def test_parse_rules() -> None:
    head = ",".join(H.HEADER)
    p = H.parse([head, "R9,2026-03-01,2026-03-04,No_Show,7,other,,Eye Clinic"], TZ)
    (r,) = p.rows
    assert (r.outcome, r.gender, r.reminder_sent, r.slot_at, r.age) == (
        "NO_SHOW", "O", None, None, 7)
    assert str(r.service_date) == "2026-03-04" and r.booked_at.tzinfo is TZ
    dup = H.parse([head] + ["R9,2026-03-01,2026-03-04,completed,7,M,true,EYE"] * 2, TZ)
    assert len(dup.rows) == 1 and dup.duplicates == 1
    with pytest.raises(H.HeaderError):
        H.parse(["patient,booked"], TZ)
    assert H.department_code("Eye Clinic", set()) == "EYECLINIC"
    assert H.department_code("Eye Clinic", {"EYECLINIC"}) == "EYECLINIC2"
    assert H.department_code("1st floor", set()) == "STFLOOR"


async def test_imported_history_counts_in_a_new_booking_score(
        pool: asyncpg.Pool, schema_ready: str, tmp_path: Path, client: httpx.AsyncClient,
        job_ctx: dict[str, Any]) -> None:
    """A patient registered with the UHID the old system knew brings their record along: the
    live score of their first booking here sees the imported missed visits."""
    w = await build_world(pool)
    today = datetime.now(TZ).date()
    lines = [",".join(H.HEADER)]
    for ago, outcome in ((100, "no_show"), (80, "completed"), (60, "no_show"), (40, "no_show")):
        day = today - timedelta(days=ago)
        booked = day - timedelta(days=7)
        lines.append(f"HX-9001,{booked}T10:00,{day}T11:00,{outcome},45,F,true,CARD")
    lines.append(f"HX-9001,{today}T09:00,{today + timedelta(days=9)}T11:00,no_show,45,F,,CARD")
    f = tmp_path / "old.csv"
    f.write_text("\n".join(lines) + "\n")       # the last row: after the booking, not counted
    assert (await import_file(schema_ready, "CITY", f))["inserted"] == 5

    r = await client.post("/api/v1/patients", headers=w.h(), json={
        "name": "Imported Patient", "phone": "+919800000777", "uhid": "HX-9001"})
    assert r.status_code == 201, r.text
    scheduled = datetime.combine(today + timedelta(days=3), time(11, 0), TZ).isoformat()
    scores = {}
    for who in (r.json()["id"], str(w.patients[3])):
        tok = await client.post("/api/v1/tokens", headers=w.h(), json={
            "patient_id": who, "doctor_id": str(w.doctors[0]), "booking_type": "ONLINE",
            "scheduled_time": scheduled})
        assert tok.status_code == 201, tok.text
        aid = await jobs.score_token(job_ctx, tok.json()["id"])
        scores[who] = await pool.fetchrow(
            "SELECT score, tier, factors, features FROM risk_assessments WHERE id = $1", aid)
    imported, fresh = scores[r.json()["id"]], scores[str(w.patients[3])]
    inputs = imported["features"]["inputs"]
    assert (inputs["past_booked_visits"], inputs["past_no_shows"]) == (4, 3)
    assert inputs["first_visit"] is False
    assert imported["features"]["vector"]["recent_no_show"] == 1.0
    assert "missed 3 of 4 past visits" in [x["phrase"] for x in imported["factors"]]
    assert imported["tier"] > fresh["tier"] and imported["score"] > fresh["score"]
