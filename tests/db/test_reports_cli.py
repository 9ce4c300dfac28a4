"""`opdq metrics compute`: the daily metrics of a date range, on demand, from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date, timedelta

import asyncpg

from server.demo import load_demo

TODAY = date(2026, 3, 10)


async def test_metrics_compute_rebuilds_a_range(pool: asyncpg.Pool, schema_ready: str) -> None:
    await load_demo(schema_ready, today=TODAY)
    before = {(r["doctor_id"], r["metric_date"]): r["wait_p90_min"] for r in await pool.fetch(
        "SELECT doctor_id, metric_date, wait_p90_min FROM doctor_performance_metrics")}
    first, last = TODAY - timedelta(days=7), TODAY - timedelta(days=1)
    await pool.execute("DELETE FROM doctor_performance_metrics WHERE metric_date >= $1", first)

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "metrics", "compute", "--from", first.isoformat(),
        "--to", last.isoformat(), "--hospital", "DEMO",
        env={**os.environ, "DATABASE_URL": schema_ready}, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    done = json.loads(out.decode().strip().splitlines()[-1])
    days = await pool.fetchval(
        "SELECT count(DISTINCT service_date) FROM tokens WHERE service_date BETWEEN $1 AND $2",
        first, last)
    assert done == {"days": days, "rows": days * 7}
    after = {(r["doctor_id"], r["metric_date"]): r["wait_p90_min"] for r in await pool.fetch(
        "SELECT doctor_id, metric_date, wait_p90_min FROM doctor_performance_metrics")}
    assert after == before   # the same figures as the demo load's own run
