"""`python -m workers.run`: the worker process (Procfile `worker`), which outlives its
dependencies.

A plain `arq workers.main.WorkerSettings` exits when Redis goes away (its poll loop raises
ConnectionError), and under a Procfile runner that exit stops the web process too. Here the
same WorkerSettings run under a small supervisor, in one process and one event loop:

- start-up opens PostgreSQL (schema, pool) and Redis (the ARQ pool, the jobs' client), each
  retried with backoff until it answers; a refused password or a bad URL is a real error
  and exits;
- then it starts the notification dispatcher (which waits out outages on its own) and an
  ARQ Worker on the shared connections. When that Worker's loop dies of an outage, the
  supervisor waits for Redis (backoff), then starts a fresh Worker: its cron jobs start
  over (those marked run_at_startup, the reconciler among them, run at once) and jobs the
  old one had started finish on their own. When PostgreSQL comes back after an outage,
  `reconcile_queues` is enqueued at once;
- SIGTERM / SIGINT stop it cleanly (exit 0); any other exception is a bug and exits 1.

Readiness: ready = PostgreSQL and Redis answer and an ARQ Worker runs. Both are probed every
PROBE_EVERY_S. Every change is logged once ("worker not ready" naming the dependency and
the error; "worker ready" with how long it was not). With `--ready-file PATH` (or
WORKER_READY_FILE) the file exists exactly while the worker is ready, holds a JSON status,
and is touched at every probe: a health check is `test -f PATH` (add an age check, e.g.
`find PATH -mmin -1`, to catch a stuck process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import inspect
import json
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import prometheus_client
import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker

from server.observability import configure_logging
from server.settings import Settings, get_settings
from workers import job_ids
from workers import main as worker_main
from workers.outages import is_outage

log = structlog.get_logger("worker.run")

PROBE_EVERY_S = 2.0
PROBE_TIMEOUT_S = 5.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.25, 15.0
STEADY_S = 30.0        # a job loop that ran this long resets the restart backoff
# WorkerSettings attributes the supervisor provides itself
_OWN = {"on_startup", "on_shutdown", "redis_settings", "redis_pool", "cron_jobs", "ctx",
        "handle_signals", "burst"}


class Backoff:
    """Exponential with jitter: lo, 2 lo, 4 lo ... up to hi."""

    def __init__(self, lo: float = BACKOFF_MIN_S, hi: float = BACKOFF_MAX_S) -> None:
        self.lo, self.hi, self.n = lo, hi, 0

    def next(self) -> float:
        delay = min(self.hi, self.lo * 2 ** self.n)
        self.n += 1
        return delay * random.uniform(0.75, 1.0)

    def reset(self) -> None:
        self.n = 0


class Readiness:
    """What the worker's dependencies look like; logs each change once, keeps the file."""

    PARTS = ("postgres", "redis", "jobs")

    def __init__(self, ready_file: Path | None) -> None:
        self.ready_file = ready_file
        self.state: dict[str, bool | None] = dict.fromkeys(self.PARTS)   # None: not known yet
        self.errors: dict[str, str] = {}
        self.ready = False
        self.changed_at = time.monotonic()
        self._clear_file()  # a previous run's

    def set(self, part: str, ok: bool, error: BaseException | None = None) -> None:
        if self.state[part] is ok:
            return
        self.state[part] = ok
        if ok:
            self.errors.pop(part, None)
        elif part != "jobs":  # the job loop's end is logged by the supervisor, with its cause
            self.errors[part] = f"{type(error).__name__}: {error}"[:200] if error else "down"
            log.warning("worker not ready", dependency=part, error=self.errors[part])
        ready = all(v is True for v in self.state.values())
        if ready == self.ready:
            return
        took = round(time.monotonic() - self.changed_at, 1)
        self.ready, self.changed_at = ready, time.monotonic()
        if ready:
            log.info("worker ready", not_ready_s=took)
            self._write_file()
        else:
            self._clear_file()

    def touch(self) -> None:
        if self.ready and self.ready_file:
            with contextlib.suppress(OSError):
                os.utime(self.ready_file)

    def _write_file(self) -> None:
        if not self.ready_file:
            return
        tmp = self.ready_file.with_name(self.ready_file.name + ".tmp")
        tmp.write_text(json.dumps({"ready": True, "pid": os.getpid(),
                                   "since": datetime.now(UTC).isoformat()}))
        tmp.replace(self.ready_file)

    def _clear_file(self) -> None:
        if self.ready_file:
            with contextlib.suppress(FileNotFoundError):
                self.ready_file.unlink()


class Supervisor:
    """Runs WorkerSettings (jobs, crons, the dispatcher) until stop(), through outages."""

    def __init__(self, settings: Settings | None = None, *,
                 worker_settings: Any = worker_main.WorkerSettings,
                 ready_file: Path | None = None, probe_every_s: float = PROBE_EVERY_S,
                 backoff: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S)) -> None:
        self.settings = settings or get_settings()
        if not self.settings.database_url or not self.settings.redis_url:
            raise SystemExit("DATABASE_URL and REDIS_URL must be set for the worker")
        self.worker_settings = worker_settings
        self.readiness = Readiness(ready_file)
        self.probe_every_s = probe_every_s
        self.backoff = backoff
        self.ctx: dict[str, Any] = {"settings": self.settings}
        self.worker: Worker | None = None
        self.workers_started = 0
        self._stopping = asyncio.Event()
        self._orphans: set[asyncio.Task[Any]] = set()
        self._pg_was_down = False
        self._restarts = Backoff(*backoff)

    # ------------------------------------------------------------------ public
    def stop(self) -> None:
        if not self._stopping.is_set():
            log.info("worker stopping")
        self._stopping.set()

    async def serve(self) -> None:
        """run() with SIGTERM and SIGINT wired to stop()."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        try:
            await self.run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def run(self) -> None:
        probe: asyncio.Task[None] | None = None
        try:
            if not await self._open():
                return
            probe = asyncio.create_task(self._probe_loop(), name="worker-probe")
            await self._supervise()
        finally:
            if probe:
                probe.cancel()
                await asyncio.gather(probe, return_exceptions=True)
            await self._close()

    # ------------------------------------------------------------------ start-up
    async def _open(self) -> bool:
        """Open every dependency, each retried until it answers; False when stopped first."""
        backoff = Backoff(*self.backoff)
        steps: list[tuple[str, str, Callable[[], Awaitable[None]]]] = [
            ("postgres", "pool", lambda: worker_main.open_postgres(self.ctx)),
            ("redis", "redis", self._open_arq),
            ("redis", "redis_app", lambda: worker_main.open_redis(self.ctx)),
        ]
        while True:
            failed = False
            for part, key, step in steps:
                if key in self.ctx:
                    continue
                try:
                    await step()
                except Exception as exc:
                    if not is_outage(exc):
                        raise
                    self.readiness.set(part, False, exc)  # logged once per dependency
                    failed = True
            if not failed:
                break
            if await self._sleep(backoff.next()):
                return False
        self.readiness.set("postgres", True)
        self.readiness.set("redis", True)
        await worker_main.start_services(self.ctx)
        return True

    async def _open_arq(self) -> None:
        rs = RedisSettings.from_dsn(self.settings.jobs_url or "")  # never a cluster
        self.ctx["redis"] = await create_pool(dataclasses.replace(rs, conn_retries=0))

    # ------------------------------------------------------------------ the ARQ worker
    def _new_worker(self) -> Worker:
        ws = self.worker_settings
        options = {k: getattr(ws, k) for k in inspect.signature(Worker).parameters
                   if k not in _OWN and hasattr(ws, k)}
        # fresh cron state: run_at_startup jobs (the reconciler) run again, and no catch-up
        # burst for the minutes the old worker missed
        crons = [dataclasses.replace(c, next_run=None) for c in getattr(ws, "cron_jobs", [])]
        return Worker(**options, cron_jobs=crons, redis_pool=self.ctx["redis"], ctx=self.ctx,
                      handle_signals=False)

    async def _supervise(self) -> None:
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                worker = self.worker = self._new_worker()
                self.workers_started += 1
                main = worker.main_task = asyncio.create_task(worker.main(), name="arq-worker")
                started = time.monotonic()
                self.readiness.set("jobs", True)
                await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not main.done():
                    await self._stop_worker(worker, main)
                    return
                self.readiness.set("jobs", False)
                self._orphan(worker)
                exc = main.exception()
                if exc is None:
                    return  # burst mode: the queue is empty
                if not is_outage(exc):
                    raise exc
                self.readiness.set("redis", False, exc)
                log.warning("job loop lost Redis; starting a fresh one when it is back",
                            error=f"{type(exc).__name__}: {exc}"[:200])
                if time.monotonic() - started > STEADY_S:
                    self._restarts.reset()       # it had run fine: the next wait starts short
                if not await self._wait_for_redis():
                    return
        finally:
            stopping.cancel()

    async def _wait_for_redis(self) -> bool:
        """Until Redis answers (False when stopped first). The backoff carries over from
        one lost loop to the next, so a Redis that answers PING but fails the loop at once
        (a read-only replica) is not hammered."""
        while True:
            if await self._sleep(self._restarts.next()):
                return False
            try:
                await asyncio.wait_for(self.ctx["redis"].ping(), PROBE_TIMEOUT_S)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                continue
            self.readiness.set("redis", True)
            return True

    def _orphan(self, worker: Worker) -> None:
        """Jobs the dead worker had started run to their end (their outcome is written
        through the shared pool, which reconnects); their errors are collected here."""
        for task in worker.tasks.values():
            if task.done():
                self._orphan_done(task)
            else:
                self._orphans.add(task)
                task.add_done_callback(self._orphan_done)

    def _orphan_done(self, task: asyncio.Task[Any]) -> None:
        self._orphans.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("a job of the previous job loop ended without its bookkeeping",
                     error=type(task.exception()).__name__)

    async def _stop_worker(self, worker: Worker, main: asyncio.Task[None]) -> None:
        """arq's own SIGTERM handling: running jobs are cancelled (ARQ runs them again),
        the loop ends; the shared connections are closed later, by _close."""
        worker.handle_sig(signal.SIGTERM)
        await cancel_all([main, *worker.tasks.values()])
        self.readiness.set("jobs", False)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker.pool.delete(worker.health_check_key), 1.0)

    # ------------------------------------------------------------------ probes
    async def _probe_loop(self) -> None:
        while True:
            if await self._sleep(self.probe_every_s):
                return
            await self._probe("postgres", lambda: self.ctx["pool"].fetchval("SELECT 1"))
            if self.readiness.state["jobs"]:  # else _supervise is already waiting for it
                await self._probe("redis", lambda: self.ctx["redis"].ping())
            self.readiness.touch()

    async def _probe(self, part: str, check: Callable[[], Awaitable[Any]]) -> None:
        try:
            await asyncio.wait_for(check(), PROBE_TIMEOUT_S)
        except Exception as exc:
            if not is_outage(exc):
                log.exception("probe failed", dependency=part)
            self.readiness.set(part, False, exc)
            if part == "postgres":
                self._pg_was_down = True
            return
        self.readiness.set(part, True)
        if part == "postgres" and self._pg_was_down:
            self._pg_was_down = False
            await self._reconcile_now()

    async def _reconcile_now(self) -> None:
        """PostgreSQL is back: compare the live queues with the record now, not at the next
        minute (an action whose commit failed may have left a queue behind)."""
        with contextlib.suppress(Exception):
            await self.ctx["redis"].enqueue_job(
                "reconcile_queues", _job_id=job_ids.reconcile_resume(int(time.time() * 1000)))

    # ------------------------------------------------------------------ helpers
    async def _sleep(self, seconds: float) -> bool:
        """Sleep, or wake early on stop(); True when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _close(self) -> None:
        await cancel_all(list(self._orphans))
        await worker_main.shutdown(self.ctx)
        arq: ArqRedis | None = self.ctx.pop("redis", None)
        if arq is not None:
            await arq.aclose()
        self.readiness.set("jobs", False)
        self.readiness._clear_file()


async def cancel_all(tasks: Sequence[asyncio.Task[Any]], every_s: float = 1.0) -> None:
    """Cancel the tasks and wait for their end, cancelling again any that is still running
    after every_s: a client library may swallow one cancel (redis-py retries the TimeoutError
    Python 3.11's asyncio.timeout can make of it)."""
    pending = [t for t in tasks if not t.done()]
    while pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=every_s)
        pending = [t for t in pending if not t.done()]
    for task in tasks:  # collected: no "exception was never retrieved"
        if not task.cancelled():
            task.exception()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workers.run",
                                     description="the OPD queue's background worker")
    parser.add_argument("--ready-file", type=Path, default=None,
                        help="exists while the worker is ready (default: WORKER_READY_FILE)")
    parser.add_argument("--probe-interval", type=float, default=PROBE_EVERY_S,
                        help="seconds between dependency probes")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)  # arq's lines included
    if settings.worker_metrics_port:  # notification outcomes, rebuilds (docs/operations.md)
        prometheus_client.start_http_server(settings.worker_metrics_port,
                                            addr=settings.worker_metrics_host)
    supervisor = Supervisor(settings, ready_file=args.ready_file or settings.worker_ready_file,
                            probe_every_s=args.probe_interval)
    asyncio.run(supervisor.serve())


if __name__ == "__main__":
    main()
