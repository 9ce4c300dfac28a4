"""A bounded schemathesis run against the API's own OpenAPI document: no 5xx, answers that
match the document, and every request the document calls valid accepted.

A real uvicorn (tests/livesrv.py) serves a test hospital; the `st` command line fuzzes every
operation of /api/v1/openapi.json as its admin, a few examples per operation, in the examples,
coverage (boundary and invalid values of every keyword) and fuzzing phases, with the checks:

- not_a_server_error: never a 5xx;
- status_code_conformance, content_type_conformance, response_schema_conformance: the answer
  is one the document describes;
- positive_data_acceptance: a request valid by the document is not refused with 400/422
  (401, 403, 404, 409 and 429 are what a valid request may still get).

tests/api/fuzz_hooks.py teaches the fuzzer the few rules the document can only say in words.
OPDQ_FUZZ_EXAMPLES, OPDQ_FUZZ_SEED and OPDQ_FUZZ_CHECKS widen or vary the run (defaults: 5,
a fixed seed so a failure reproduces, and the checks above).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from server.embedded import free_port
from tests.api.helpers import (
    auth,
    create_hospital,
    make_cabin,
    make_department,
    make_display_key,
    make_doctor,
    make_user,
    session_token,
)
from tests.conftest import Services
from tests.livesrv import LiveServer, server_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("OPDQ_FUZZ_EXAMPLES", "5"))
SEED = os.environ.get("OPDQ_FUZZ_SEED", "20261126")
CHECKS = os.environ.get("OPDQ_FUZZ_CHECKS", ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "positive_data_acceptance"]))
TIMEZONE = "Asia/Kolkata"
BUDGET_S = 240   # the run takes well under a minute; this only stops a runaway


async def _world(pool: asyncpg.Pool) -> dict[str, Any]:
    """A hospital open today: a department with two doctors on shift, an admin, a spare
    user, a patient with a waiting token (and its link), a display key."""
    h = await create_hospital(pool, "FUZZ")
    dep = await make_department(pool, h, "CARD")
    doctors, cabins = [], []
    for i in range(2):
        doctor = await make_doctor(pool, h, dep, name=f"Dr. Fuzz{i}")
        cabin = await make_cabin(pool, h, dep, f"C-{i + 1}")
        await pool.execute(
            """INSERT INTO shifts (hospital_id, doctor_id, cabin_id, date, start_time, end_time)
               VALUES ($1, $2, $3, (now() AT TIME ZONE $4)::date, '00:00', '23:59:59')""",
            h, doctor, cabin, TIMEZONE)
        doctors.append(doctor)
        cabins.append(cabin)
    admin = await make_user(pool, h, "admin")
    spare = await make_user(pool, h, "receptionist")
    patient = await pool.fetchval(
        """INSERT INTO patients (hospital_id, uhid, name, phone) VALUES ($1, 'UH000001',
           'Asha Rao', '+919812345678') RETURNING id""", h)
    display_id, _ = await make_display_key(pool, h, dep)
    return {"hospital_id": h, "department_id": dep, "doctors": doctors, "cabins": cabins,
            "admin": admin, "spare": spare, "patient_id": patient, "display_id": display_id,
            "token": await session_token(pool, admin)}


def _config(world: dict[str, Any], token_id: str, code: str) -> str:
    """schemathesis.toml: the admin's credential, and real ids for path parameters half the
    time (the other half a random id must get a 404)."""
    def values(*ids: Any) -> str:
        return json.dumps([str(i) for i in ids])

    ids = [world["department_id"], *world["doctors"], *world["cabins"], world["spare"],
           world["display_id"], world["patient_id"], token_id]
    dictionaries = {"any": values(*ids), "doctor": values(*world["doctors"]),
                    "department": values(world["department_id"]),
                    "patient": values(world["patient_id"]), "token": values(token_id),
                    "code": values(code)}
    bindings = {"id": "any", "doctor_id": "doctor", "department_id": "department",
                "patient_id": "patient", "token_id": "token", "code": "code"}
    lines = [f'headers = {{ Authorization = "Bearer {world["token"]}" }}', ""]
    for name, vals in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {vals}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{p}" = {{ dictionary = "{d}", probability = 0.5 }}'
              for p, d in bindings.items()]
    return "\n".join(lines) + "\n"


async def test_schemathesis_finds_nothing(services: Services, pool: asyncpg.Pool,
                                          tmp_path: Path,
                                          capfd: pytest.CaptureFixture[str]) -> None:
    world = await _world(pool)
    port = free_port()
    server = LiveServer(port, server_env(services.database_url, services.redis_url, port,
                                         PUBLIC_RATE_PER_MINUTE="1000000"))
    await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient(base_url=server.url,
                                     headers=auth(world["token"])) as client:
            r = await client.post("/api/v1/tokens", json={
                "patient_id": str(world["patient_id"]), "doctor_id": str(world["doctors"][0]),
                "booking_type": "WALK_IN"})
            assert r.status_code == 201, r.text
            token = r.json()
        (tmp_path / "schemathesis.toml").write_text(
            _config(world, token["id"], token["patient_link"].rsplit("/", 1)[1]))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.api.fuzz_hooks",
               "OPDQ_FUZZ_WORLD": json.dumps({
                   "url": server.url, "token": world["token"], "timezone": TIMEZONE,
                   "patient_id": str(world["patient_id"]),
                   "doctor_id": str(world["doctors"][0]),
                   "department_id": str(world["department_id"]),
                   "cabin_id": str(world["cabins"][0]),
                   "doctors": [str(d) for d in world["doctors"]]})}
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "schemathesis.cli",
            "--config-file", str(tmp_path / "schemathesis.toml"), "--no-color",
            "run", f"{server.url}/api/v1/openapi.json",
            # logging out would end the fuzzer's own session
            "--exclude-path", "/api/v1/auth/logout",
            "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES),
            "--seed", SEED, "--generation-database", "none",
            "--checks", CHECKS, "--request-timeout", "20",
            # one worker: CPython 3.11 can fail ast.parse in concurrent threads ("AST
            # constructor recursion depth mismatch"), which hypothesis calls while drawing
            "--workers", "1",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), BUDGET_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        elapsed = time.monotonic() - started
        # the run stayed signed in to the end: it tested what it meant to
        async with httpx.AsyncClient(base_url=server.url) as client:
            me = await client.get("/api/v1/me", headers=auth(world["token"]))
    finally:
        await asyncio.to_thread(server.stop)
    text = out.decode(errors="replace")
    summary = text[text.rfind("SUMMARY"):] if "SUMMARY" in text else text[-3000:]
    server_log = capfd.readouterr().err
    print(f"schemathesis: {elapsed:.1f} s\n{summary}")
    assert proc.returncode == 0, text[-20000:]
    tested = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", summary)
    cases = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert tested and cases, summary
    selected, total, ran = map(int, tested.groups())
    assert ran == selected == total - 1 >= 50, summary     # all but logout
    assert int(cases.group(1)) == int(cases.group(2)) >= 1000, summary
    # nothing reached PostgreSQL unvalidated (errors.py answers that 422 as a last defence)
    assert "input refused by postgresql" not in server_log
    assert "unhandled error" not in server_log
    assert me.status_code == 200, me.text
