"""`opdq history import` and `opdq risk train` on a real database: a file is imported whole or
not at all, twice is once, and the model trains on it."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from bench import history_gen
from server.risk import history_import as H
from server.risk_cli import import_file, train_now
from tests.queue.conftest import build_world

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
