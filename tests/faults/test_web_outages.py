"""A real web process (uvicorn) outlives PostgreSQL outages: it starts while the database is
down, answers 503 + Retry-After (never a 500 or a dropped connection) while it is away,
reports not-ready, and carries on when it returns, without a restart."""

from __future__ import annotations

import asyncio
import subprocess

import asyncpg
import httpx

from server.embedded import free_port
from server.runner import uvicorn_command
from tests.conftest import Services
from tests.faults.services import PgRelay, until
from tests.livesrv import server_env
from tests.queue.conftest import build_world


async def test_the_web_process_outlives_postgresql(services: Services, schema_ready: str,
                                                   pool: asyncpg.Pool) -> None:
    w = await build_world(pool)
    proxy = PgRelay(services.database_url)               # PostgreSQL is down: nothing listens
    port = free_port()
    env = server_env(proxy.url, services.redis_url, port)
    proc = await asyncio.create_subprocess_exec(
        *uvicorn_command("127.0.0.1", port), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    body = {"patient_id": str(w.patients[0]), "booking_type": "WALK_IN",
            "doctor_id": str(w.doctors[0])}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            async def status(path: str) -> int | None:
                try:
                    return (await c.get(path)).status_code
                except httpx.TransportError:
                    return None

            await asyncio.sleep(1.5)                     # it keeps waiting for the database,
            assert proc.returncode is None                   # it does not exit
            await proxy.start()                        # PostgreSQL is back
            await until(lambda: _is(status("/readyz"), 200), 30, "ready")

            issued = await c.post("/api/v1/tokens", json=body, headers=w.h())
            assert issued.status_code == 201, issued.text

            await proxy.stop()                            # PostgreSQL goes away mid-day
            r = await c.post("/api/v1/tokens", headers={**w.h(), "Idempotency-Key": "k1"},
                             json={**body, "patient_id": str(w.patients[1])})
            assert r.status_code == 503, r.text          # an answer, not a dropped connection
            assert r.headers["retry-after"]
            assert r.headers["content-type"] == "application/problem+json"
            q = await c.get(f"/api/v1/doctors/{w.doctors[0]}/queue", headers=w.h())
            assert q.status_code == 503
            assert await status("/readyz") == 503
            assert proc.returncode is None

            await proxy.start()                        # back: no restart needed
            await until(lambda: _is(status("/readyz"), 200), 30, "ready")
            r = await c.post("/api/v1/tokens", headers={**w.h(), "Idempotency-Key": "k1"},
                             json={**body, "patient_id": str(w.patients[1])})
            assert r.status_code == 201, r.text
            q = (await c.get(f"/api/v1/doctors/{w.doctors[0]}/queue", headers=w.h())).json()
            assert [t["id"] for t in q["waiting"]] == [issued.json()["id"], r.json()["id"]]
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)   # the proxy serves its last words meanwhile
        await proxy.stop()


async def _is(value, expected) -> bool:
    return await value == expected
