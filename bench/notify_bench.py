"""Notification worker benchmark: enqueue-to-send latency and jobs/s of one ARQ worker.

    python -m bench.notify_bench            # print JSON
    python -m bench.notify_bench --write    # and rewrite the figures in docs/notifications.md

Services: BENCH_DATABASE_URL / BENCH_REDIS_URL, else TEST_DATABASE_URL / TEST_REDIS_URL,
else embedded servers in a temporary folder. The bench works in its own database
(`opdq_notify_bench`, created next to the one named, emptied first) and empties the Redis
database it is given. Twilio is the tests' local fake (tests/workers/fake_twilio.py) driven
by the real twilio client, answering at once or after a Twilio-like delay.

Each figure comes with a baseline measured in the same run on the same worker settings: a
no-op ARQ job, so the ratio says what the notification work (PostgreSQL claim and record,
live-queue ETA, the HTTP call) costs on top of ARQ itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker, func

from server import embedded
from server.db.pool import create_pool as create_pg_pool
from server.db.pool import init_db
from server.observability import configure_logging
from server.queue import SYSTEM
from server.settings import Settings, load_settings
from server.store import keys
from server.store.client import create_redis
from tests.workers.fake_twilio import FakeTwilio
from workers import dispatch, notify, notify_fanout, routing
from workers.twilio_sender import build_sender

DOC = Path(__file__).resolve().parents[1] / "docs" / "notifications.md"
ACCOUNT_SID, AUTH_TOKEN = "AC" + "0" * 32, "bench-token"
DOCTORS, PER_DOCTOR = 10, 40            # 400 tokens: a busy OPD morning, 40 waiting a doctor
TWILIO_LIKE_S = 0.15                    # a typical Messages API answer time
LATENCY_RATE_HZ = 20.0                  # steady arrivals, well under one worker's capacity
LATENCY_N = 200
WORKER = {"max_jobs": 10, "poll_delay": 0.5}   # ARQ defaults, as WorkerSettings runs them
# ARQ starts jobs only at a poll once max_jobs are running, so jobs shorter than poll_delay
# cap a worker near max_jobs / poll_delay; sends mostly wait on Twilio, so more fit at once
TUNED = {"max_jobs": 50, "poll_delay": 0.1}


async def noop(ctx: dict[str, Any], enqueued_at: float) -> float:
    """The baseline job: ARQ's own cost, nothing else."""
    return time.time() - enqueued_at


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(values, 0.5) * 1000, 1),
            "p99_ms": round(pct(values, 0.99) * 1000, 1),
            "mean_ms": round(statistics.fmean(values) * 1000, 1), "n": len(values)}


async def bench_database(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP DATABASE IF EXISTS opdq_notify_bench WITH (FORCE)")
        await conn.execute("CREATE DATABASE opdq_notify_bench")
    finally:
        await conn.close()
    return _with_db(url, "opdq_notify_bench")


def _with_db(url: str, name: str) -> str:
    scheme, rest = url.split("://", 1)
    hostpart, _, tail = rest.partition("/")
    query = tail.partition("?")[2]
    return f"{scheme}://{hostpart}/{name}" + (f"?{query}" if query else "")


async def build_hospital(pool: asyncpg.Pool) -> tuple[UUID, list[UUID], list[UUID]]:
    """One department, DOCTORS doctors on shift all day, one patient per token."""
    h = await pool.fetchval("INSERT INTO hospitals (name, code) VALUES ('Bench', 'BENCH') "
                            "RETURNING id")
    dep = await pool.fetchval(
        "INSERT INTO departments (hospital_id, name, code) VALUES ($1, 'General', 'GEN') "
        "RETURNING id", h)
    today = await pool.fetchval("SELECT (now() AT TIME ZONE 'Asia/Kolkata')::date")
    doctors = []
    for i in range(DOCTORS):
        d = await pool.fetchval("INSERT INTO doctors (hospital_id, department_id, name) "
                                "VALUES ($1, $2, $3) RETURNING id", h, dep, f"Dr. Bench{i}")
        c = await pool.fetchval("INSERT INTO cabins (hospital_id, department_id, number) "
                                "VALUES ($1, $2, $3) RETURNING id", h, dep, f"C-{i + 1}")
        await pool.execute(
            "INSERT INTO shifts (hospital_id, doctor_id, cabin_id, date, start_time, end_time) "
            "VALUES ($1, $2, $3, $4, '00:00', '23:59:59')", h, d, c, today)
        doctors.append(d)
    patients = [r["id"] for r in await pool.fetch(
        """INSERT INTO patients (hospital_id, uhid, name, phone)
           SELECT $1, 'B' || lpad(g::text, 6, '0'), 'Bench Patient' || g,
                  '+9191' || lpad(g::text, 8, '0')
           FROM generate_series(1, $2) g RETURNING id""", h, DOCTORS * PER_DOCTOR * 3)]
    return h, doctors, patients


async def issue_all(ctx: dict[str, Any], h: UUID, doctors: list[UUID], patients: list[UUID],
                    start: int, n: int) -> list[str]:
    svc = ctx["notify_queue"]
    out = []
    for i in range(n):
        row = await svc.issue(h, SYSTEM, patient_id=patients[start + i], booking_type="WALK_IN",
                              priority=1, doctor_id=doctors[i % len(doctors)],
                              department_id=None, scheduled_time=None, visit_reason=None)
        out.append(str(row["id"]))
    return out


def worker(ctx: dict[str, Any], arq: ArqRedis, *, burst: bool,
           options: dict[str, Any] | None = None) -> Worker:
    functions = [*notify.FUNCTIONS, *notify_fanout.FUNCTIONS, func(noop, name="noop")]
    return Worker(functions=functions, redis_pool=arq, burst=burst, handle_signals=False,
                  ctx=dict(ctx), keep_result=3600, **(options or WORKER))


async def throughput(ctx: dict[str, Any], arq: ArqRedis, fake: FakeTwilio, h: UUID,
                     tokens: list[str], label: str, options: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """N queued jobs, one burst worker: jobs/s for no-op jobs and for sends."""
    n = len(tokens)
    for i in range(n):
        await arq.enqueue_job("noop", time.time(), _job_id=f"{label}:noop-{i}")
    t0 = time.perf_counter()
    await worker(ctx, arq, burst=True, options=options).main()
    noop_s = time.perf_counter() - t0
    before = len(fake.messages)
    for tid in tokens:
        await arq.enqueue_job("send_notification", str(h), tid, "TOKEN_CREATED",
                              _job_id=f"{label}:{tid}")
    t0 = time.perf_counter()
    await worker(ctx, arq, burst=True, options=options).main()
    send_s = time.perf_counter() - t0
    if len(fake.messages) - before != n:  # pragma: no cover - diagnostics
        import collections
        res = collections.Counter(repr(r.result)[:60] for r in await arq.all_job_results()
                                  if r.job_id and r.job_id.startswith(label))
        raise AssertionError((len(fake.messages) - before, n, res.most_common(5)))
    return {"jobs": n, "noop_jobs_per_s": round(n / noop_s, 1),
            "send_jobs_per_s": round(n / send_s, 1),
            "ratio_send_to_noop": round((n / send_s) / (n / noop_s), 3)}


async def _stop(w: Worker, task: asyncio.Task[None]) -> None:
    """Stop a running worker, letting the jobs it started finish first."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.gather(*w.tasks.values(), return_exceptions=True)


def _arrivals(fake: FakeTwilio, first: int, marker: str) -> dict[str, float]:
    """Phone -> arrival of the first accepted message containing `marker`, after `first`."""
    out: dict[str, float] = {}
    for r in fake.requests[first:]:
        if r.status == 201 and marker in r.body:
            out.setdefault(r.to, r.at)
    return out


async def latency(ctx: dict[str, Any], arq: ArqRedis, fake: FakeTwilio, h: UUID,
                  tokens: list[str]) -> dict[str, Any]:
    """A running worker, jobs arriving at a steady rate: enqueue -> job start (no-op) or
    -> the Twilio request (send)."""
    w = worker(ctx, arq, burst=False)
    task = asyncio.create_task(w.main())
    sent_at: dict[str, float] = {}
    first = len(fake.requests)
    try:
        noop_jobs = []
        for i in range(LATENCY_N):
            job = await arq.enqueue_job("noop", time.time(), _job_id=f"lat-noop-{i}")
            assert job
            noop_jobs.append(job)
            await asyncio.sleep(1 / LATENCY_RATE_HZ)
        noop_lat = [await j.result(timeout=30) for j in noop_jobs]
        phones = await _phones(ctx, tokens[:LATENCY_N])
        for tid in tokens[:LATENCY_N]:
            sent_at[tid] = time.time()
            await arq.enqueue_job("send_notification", str(h), tid, "TOKEN_CREATED",
                                  _job_id=f"lat:{tid}")
            await asyncio.sleep(1 / LATENCY_RATE_HZ)
        await fake.wait_for(lambda f: len(_arrivals(f, first, "your token")) >= len(sent_at),
                            within_s=120)
    finally:
        await _stop(w, task)
    arrived = _arrivals(fake, first, "your token")
    send_lat = [arrived[phones[tid]] - t for tid, t in sent_at.items()]
    return {"rate_per_s": LATENCY_RATE_HZ, "noop": summary_ms(noop_lat),
            "send": summary_ms(send_lat)}


async def event_to_send(ctx: dict[str, Any], arq: ArqRedis, fake: FakeTwilio, h: UUID,
                        doctors: list[UUID], patients: list[UUID], start: int
                        ) -> dict[str, Any]:
    """Issue a token (the queue event) -> dispatcher -> worker -> Twilio request. Every
    event is routed (AHEAD checks too); only the new tokens' creation texts are timed."""
    # the stream already holds the set-up's events: this measurement starts after them
    await ctx["redis_app"].xgroup_create(keys.stream(h), dispatch.GROUP, id="$", mkstream=True)
    dispatch.start(ctx, routers=[routing.notify_jobs_for])
    w = worker(ctx, arq, burst=False)
    task = asyncio.create_task(w.main())
    issued: dict[str, float] = {}
    first = len(fake.requests)
    n = LATENCY_N // 2
    try:
        for i in range(n):
            [tid] = await issue_all(ctx, h, doctors, patients, start + i, 1)
            issued[tid] = time.time()
            await asyncio.sleep(1 / (LATENCY_RATE_HZ / 2))
        phones = await _phones(ctx, list(issued))
        wanted = set(phones.values())
        await fake.wait_for(
            lambda f: wanted <= set(_arrivals(f, first, "your token")), within_s=120)
    finally:
        await dispatch.stop(ctx)
        await _stop(w, task)
    arrived = _arrivals(fake, first, "your token")
    lat = [arrived[phones[tid]] - t for tid, t in issued.items()]
    return {"rate_per_s": LATENCY_RATE_HZ / 2, "event_to_send": summary_ms(lat)}


async def _phones(ctx: dict[str, Any], token_ids: list[str]) -> dict[str, str]:
    rows = await ctx["pool"].fetch(
        "SELECT t.id::text AS id, p.phone FROM tokens t JOIN patients p ON p.id = t.patient_id "
        "WHERE t.id = ANY($1::uuid[])", token_ids)
    return {r["id"]: r["phone"] for r in rows}


async def machine(pool: asyncpg.Pool, ctx: dict[str, Any]) -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:  # noqa: ASYNC230 (once, before the measurements)
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = await ctx["redis_app"].info("server")
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}",
            "postgresql": (await pool.fetchval("SHOW server_version")).split()[0],
            "redis": info.get("redis_version")}


async def run(db_url: str, redis_url: str, data_dir: Path) -> dict[str, Any]:
    configure_logging("WARNING")  # one line per message would be the bench's own bottleneck
    db_url = await bench_database(db_url)
    await init_db(db_url)
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    await fake.start()
    settings: Settings = load_settings(
        database_url=db_url, redis_url=redis_url, secret_key="bench-secret", data_dir=data_dir,
        public_base_url="https://opd.example.org", twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN, twilio_sms_from="+15005550006",
        twilio_base_url=fake.url)
    pool = await create_pg_pool(db_url, min_size=2, max_size=5)   # a worker's pool
    redis = create_redis(redis_url)
    await redis.flushdb()
    arq = await create_pool(RedisSettings.from_dsn(redis_url))
    ctx: dict[str, Any] = {"pool": pool, "redis_app": redis, "settings": settings,
                           "redis": arq, "notify_sender": build_sender(settings)}
    await notify.setup(ctx)
    try:
        h, doctors, patients = await build_hospital(pool)
        n = DOCTORS * PER_DOCTOR
        tokens = await issue_all(ctx, h, doctors, patients, 0, n)
        out: dict[str, Any] = {"machine": await machine(pool, ctx),
                               "worker": WORKER, "tokens_waiting": n}
        out["throughput_instant_twilio"] = await throughput(ctx, arq, fake, h, tokens, "t0")
        await pool.execute("DELETE FROM notifications_log")   # the same texts, sent again
        fake.latency_s = TWILIO_LIKE_S
        out["throughput_twilio_150ms"] = await throughput(ctx, arq, fake, h, tokens, "t150")
        await pool.execute("DELETE FROM notifications_log")
        out["throughput_twilio_150ms_tuned"] = {
            "worker": TUNED,
            **await throughput(ctx, arq, fake, h, tokens, "t150x", TUNED)}
        await pool.execute("DELETE FROM notifications_log")
        fake.latency_s = 0.0
        out["latency_instant_twilio"] = await latency(ctx, arq, fake, h, tokens)
        out["latency_event_to_send"] = await event_to_send(ctx, arq, fake, h, doctors,
                                                           patients, n)
        return out
    finally:
        await notify.teardown(ctx)
        await arq.aclose()
        await redis.aclose()
        await pool.close()
        await fake.stop()


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _ratio(x: float, base: float) -> str:
    return f"{x / max(base, 0.1):.2f}"


def write_doc(result: dict[str, Any]) -> None:
    text = DOC.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    m, t = result["machine"], result
    a, b = t["throughput_instant_twilio"], t["throughput_twilio_150ms"]
    c = t["throughput_twilio_150ms_tuned"]
    lat, ev = t["latency_instant_twilio"], t["latency_event_to_send"]
    noop, send = lat["noop"], lat["send"]
    rows = [
        _row("figure", "no-op ARQ job (baseline)", "send_notification", "ratio"),
        _row("---", "---", "---", "---"),
        _row("jobs/s, fake Twilio answering at once", a["noop_jobs_per_s"],
             a["send_jobs_per_s"], a["ratio_send_to_noop"]),
        _row("jobs/s, fake Twilio answering in 150 ms", b["noop_jobs_per_s"],
             b["send_jobs_per_s"], b["ratio_send_to_noop"]),
        _row(f"same, max_jobs {c['worker']['max_jobs']}, poll_delay "
             f"{c['worker']['poll_delay']} s", c["noop_jobs_per_s"], c["send_jobs_per_s"],
             c["ratio_send_to_noop"]),
        _row(f"enqueue -> job start / Twilio request, p50 ms ({lat['rate_per_s']:.0f} jobs/s)",
             noop["p50_ms"], send["p50_ms"], _ratio(send["p50_ms"], noop["p50_ms"])),
        _row("same, p99 ms", noop["p99_ms"], send["p99_ms"],
             _ratio(send["p99_ms"], noop["p99_ms"])),
    ]
    table = "\n".join(rows)
    block = f"""{start}
Measured by `python -m bench.notify_bench --write` on {m['cpu']} ({m['cpus']} CPUs),
{m['os']}, Python {m['python']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}; one ARQ
worker (max_jobs {t['worker']['max_jobs']}, poll_delay {t['worker']['poll_delay']} s), a
worker's PostgreSQL pool of 5, {t['tokens_waiting']} tokens waiting over 10 doctors.

{table}

Queue event (token issued) -> dispatcher -> worker -> Twilio request, {ev['rate_per_s']:.0f}
tokens/s: p50 {ev['event_to_send']['p50_ms']} ms, p99 {ev['event_to_send']['p99_ms']} ms.
{end}"""
    if start in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite docs/notifications.md")
    args = parser.parse_args()
    db_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("TEST_REDIS_URL")
    with tempfile.TemporaryDirectory() as tmp:
        services = None
        if not db_url or not redis_url:
            services = embedded.start(Path(tmp) / "embedded", persist=False)
            db_url = db_url or services.database_url
            redis_url = redis_url or services.redis_url
        try:
            result = asyncio.run(run(db_url, redis_url, Path(tmp)))
        finally:
            if services:
                services.stop()
    print(json.dumps(result, indent=2))
    if args.write:
        write_doc(result)


if __name__ == "__main__":
    main()
