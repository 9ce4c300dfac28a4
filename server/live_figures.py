"""Figures of the whole installation, read when /metrics is scraped: waiting patients per
department (Redis sorted sets, grouped by the doctors' departments in PostgreSQL) and how
late the background jobs run (the ARQ queue in Redis).

Read at scrape time rather than kept up to date on every change: a scrape every 15-60 s
costs one small query and two Redis round trips, nothing on the hot path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import asyncpg
from arq.constants import default_queue_name, in_progress_key_prefix
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.asyncio import Redis

from server.store import keys

# the oldest due jobs looked at to find the first one no worker has started
LAG_SCAN = 50
TIMEOUT_S = 5.0

DOCTORS_SQL = """
SELECT d.id AS doctor_id, d.hospital_id, h.code AS hospital, dep.code AS department
FROM doctors d JOIN departments dep ON dep.id = d.department_id
JOIN hospitals h ON h.id = d.hospital_id
WHERE d.active
"""


@dataclass
class Snapshot:
    waiting: dict[tuple[str, str], int] = field(default_factory=dict)
    job_lag_s: float = 0.0
    jobs_due: int = 0
    ok: bool = False


async def waiting_by_department(pool: asyncpg.Pool, redis: Redis) -> dict[tuple[str, str], int]:
    rows = await pool.fetch(DOCTORS_SQL)
    async with redis.pipeline(transaction=False) as pipe:
        for r in rows:
            pipe.zcard(keys.queue(r["hospital_id"], r["doctor_id"]))
        counts = await pipe.execute()
    out: dict[tuple[str, str], int] = {}
    for r, n in zip(rows, counts, strict=True):
        label = (r["hospital"], r["department"])
        out[label] = out.get(label, 0) + int(n)
    return out


async def job_lag(redis: Redis, now_ms: int | None = None) -> tuple[float, int]:
    """(seconds the oldest due job not yet started has waited, jobs due). ARQ keeps a job in
    its queue (score = when it may run, in ms) until it finishes, so started ones are skipped."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    due = await redis.zcount(default_queue_name, "-inf", now_ms)
    if not due:
        return 0.0, 0
    oldest = await redis.zrangebyscore(default_queue_name, "-inf", now_ms, start=0,
                                       num=LAG_SCAN, withscores=True)
    async with redis.pipeline(transaction=False) as pipe:
        for job_id, _ in oldest:
            pipe.exists(in_progress_key_prefix + _text(job_id))
        started = await pipe.execute()
    for (_, score), running in zip(oldest, started, strict=True):
        if not running:
            return max(0.0, (now_ms - score) / 1000), int(due)
    return 0.0, int(due)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class LiveFigures(Collector):
    """Serves the last snapshot; the /metrics handler refreshes it before rendering."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    async def refresh(self, pool: asyncpg.Pool, redis: Redis, jobs: Redis | None = None
                      ) -> None:
        """`jobs`: the Redis of ARQ's queue when it is not `redis` (JOBS_REDIS_URL)."""
        snap = Snapshot()
        try:
            async with asyncio.timeout(TIMEOUT_S):
                snap.waiting = await waiting_by_department(pool, redis)
                snap.job_lag_s, snap.jobs_due = await job_lag(jobs or redis)
            snap.ok = True
        except Exception:  # PostgreSQL or Redis does not answer: opdq_ready says so
            snap.ok = False
        self.snapshot = snap

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.snapshot
        up = GaugeMetricFamily("opdq_ready",
                               "1 if PostgreSQL and Redis answered this scrape (as /readyz "
                               "checks), so queue lengths and job lag below are current")
        up.add_metric([], 1.0 if snap.ok else 0.0)
        yield up
        if not snap.ok:
            return
        waiting = GaugeMetricFamily("opdq_queue_waiting",
                                    "Patients waiting, by hospital and department code",
                                    labels=["hospital", "department"])
        for (hospital, department), n in sorted(snap.waiting.items()):
            waiting.add_metric([hospital, department], n)
        yield waiting
        lag = GaugeMetricFamily("opdq_job_lag_seconds",
                                "How long the oldest due background job has waited unstarted")
        lag.add_metric([], snap.job_lag_s)
        yield lag
        due = GaugeMetricFamily("opdq_jobs_due", "Background jobs due to run or running")
        due.add_metric([], snap.jobs_due)
        yield due
