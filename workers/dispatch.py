"""Queue events -> ARQ jobs, off the web request's path.

Each worker process runs one Dispatcher (started by WorkerSettings.on_startup). It reads
every hospital's event stream (keys.stream) in the Redis consumer group GROUP, so each event
is handled by one worker of the fleet; an entry is acknowledged only once its jobs are
enqueued, and the entries a dead worker left pending are taken over (XAUTOCLAIM) after
CLAIM_IDLE_MS. One reader task per hospital: the streams live on different Cluster slots,
so one XREADGROUP over all of them would not survive a move to Redis Cluster.

What an event means is decided by workers/routing.py (ROUTERS, pure functions event ->
[JobSpec]). Job ids are deterministic (workers/job_ids.py), so an event read twice (a replay
after a crash) enqueues nothing new while ARQ still knows the job, and the notifications_log
claim catches anything later. Jobs take ids only.

The entry's `rid` (the web request that announced the event) goes to each job as its
`request_id` keyword (workers/tracing.py), so the request's id follows it into the worker.

A reader never stays down: Redis unreachable, it retries with backoff; its group gone (Redis
restarted empty, FLUSHALL), it recreates it at once from "0"; anything else, it logs and
starts over; a reader task that ends anyway is restarted at once (Dispatcher._read, run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from server.db import doctors as doctors_db
from server.store import keys
from workers.outages import OUTAGES, is_outage
from workers.routing import Router, route
from workers.tracing import carry

log = structlog.get_logger("notify.dispatch")

GROUP = keys.DISPATCH_GROUP
BLOCK_MS = 2000            # one XREADGROUP waits this long for new entries
BATCH = 100
REFRESH_S = 30.0           # how often the hospital list is read again from PostgreSQL
CLAIM_IDLE_MS = 30_000     # an entry pending this long belongs to a dead (or stuck) worker
CLAIM_EVERY_S = 15.0
CONSUMER_IDLE_MS = 3_600_000   # consumers gone this long with nothing pending are removed
RETRY_MIN_S, RETRY_MAX_S = 0.1, 2.0   # a reader's wait after a failure, doubling


def _group_lost(exc: ResponseError) -> bool:
    """NOGROUP (the key or the group is gone), or Redis 7's answer to a read blocked on a key
    that was deleted (FLUSHALL): "UNBLOCKED the stream key no longer exists"."""
    text = str(exc)
    return text.startswith(("NOGROUP", "UNBLOCKED")) or "no longer exists" in text


class Dispatcher:
    def __init__(self, pool: asyncpg.Pool, redis: Redis, arq: ArqRedis, *,
                 consumer: str | None = None, routers: list[Router] | None = None,
                 block_ms: int = BLOCK_MS, refresh_s: float = REFRESH_S,
                 claim_idle_ms: int = CLAIM_IDLE_MS, claim_every_s: float = CLAIM_EVERY_S,
                 retry_min_s: float = RETRY_MIN_S, retry_max_s: float = RETRY_MAX_S) -> None:
        self.pool, self.redis, self.arq = pool, redis, arq
        self.consumer = consumer or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.routers = routers
        self.block_ms, self.refresh_s = block_ms, refresh_s
        self.claim_idle_ms, self.claim_every_s = claim_idle_ms, claim_every_s
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.handled = 0           # stream entries acknowledged (tests and the bench wait on it)
        self.enqueued = 0          # jobs ARQ accepted (not known already)
        self.failures = 0          # reader failures other than an outage (tests wait on it)
        self.retry_min_s, self.retry_max_s = retry_min_s, retry_max_s
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Keep one reader per hospital; re-read the hospital list every refresh_s, and at
        once when a reader ended (it should not: each one retries on its own)."""
        try:
            while True:
                try:
                    await self._refresh()
                except Exception:  # a bug: keep the readers we have, try again later
                    log.exception("dispatcher refresh failed")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.refresh_s)
        finally:
            for task in self.tasks.values():
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            self.tasks.clear()

    async def _refresh(self) -> None:
        try:
            current = {str(h) for h in await doctors_db.all_hospital_ids(self.pool)}
        except (asyncpg.PostgresError, *OUTAGES) as exc:
            log.warning("hospital list unavailable; keeping the old one",
                        error=type(exc).__name__)
            current = set(self.tasks)
        for h in list(self.tasks):
            task = self.tasks[h]
            if h not in current or task.done():
                if task.done():
                    error = None if task.cancelled() else task.exception()
                    log.error("dispatcher reader ended; restarting", hospital_id=h,
                              error=repr(error) if error else "cancelled")
                task.cancel()
                del self.tasks[h]
        for h in current - set(self.tasks):
            task = asyncio.create_task(self._read(h), name=f"notify-dispatch:{h}")
            task.add_done_callback(self._reader_ended)
            self.tasks[h] = task

    def _reader_ended(self, task: asyncio.Task[None]) -> None:
        if self.tasks.get(task.get_name().rpartition(":")[2]) is task:
            self._wake.set()  # not one we stopped: restart it now, not at the next refresh

    async def _ensure_group(self, stream: str) -> None:
        # from the stream's start: entries written before the group existed are routed too
        # (after a FLUSHALL: everything the new stream holds), and jobs drop what the record
        # has moved past (a token since called, cancelled...)
        try:
            await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # it exists already
                raise

    async def _read(self, h: str) -> None:
        """Read the hospital's stream for ever. Redis down: wait (backoff) and read again.
        The group gone (Redis lost its data; Redis 7 also unblocks a read whose key was
        deleted): recreate it at once. Anything else: log, back off, start over. After any
        failure the consumer first re-reads its own pending entries (read, not yet
        acknowledged when the failure hit), then new ones."""
        stream = keys.stream(h)
        need_group, backlog = True, True
        last_claim, delay, down_since, lost_at = 0.0, 0.0, 0.0, 0.0
        me = asyncio.current_task()
        while True:
            if me and me.cancelling():
                # redis-py can swallow a cancel (it retries the TimeoutError Python 3.11's
                # asyncio.timeout makes of it): stop() must still stop us
                raise asyncio.CancelledError
            try:
                if need_group:
                    await self._ensure_group(stream)
                    need_group = False
                if time.monotonic() - last_claim >= self.claim_every_s:
                    last_claim = time.monotonic()
                    await self._reclaim(h, stream)
                resp = await self.redis.xreadgroup(
                    GROUP, self.consumer, {stream: "0" if backlog else ">"}, count=BATCH,
                    block=None if backlog else self.block_ms)
                entries = [e for _, batch in resp or [] for e in batch]
                if backlog and not entries:
                    backlog = False
                if entries:
                    await self._handle(h, stream, entries)
                if down_since:
                    log.info("event stream back", hospital_id=h,
                             after_s=round(time.monotonic() - down_since, 1))
                delay, down_since = 0.0, 0.0
            except Exception as exc:
                backlog = True
                if isinstance(exc, ResponseError) and _group_lost(exc):
                    log.warning("consumer group lost (Redis lost its data); recreating it",
                                hospital_id=h, error=str(exc)[:80])
                    need_group = True
                    if time.monotonic() - lost_at < 1.0:  # again at once: don't spin
                        delay = await self._pause(delay)
                    lost_at = time.monotonic()
                    continue
                if is_outage(exc):
                    if not down_since:
                        down_since = time.monotonic()
                        log.warning("event stream unavailable; retrying", hospital_id=h,
                                    error=type(exc).__name__)
                else:
                    await self._failed(h, exc)
                    need_group = True
                delay = await self._pause(delay)

    async def _failed(self, h: str, exc: BaseException) -> None:
        log.error("dispatcher reader failed; retrying", hospital_id=h, error=repr(exc))
        self.failures += 1
        async with self._changed:
            self._changed.notify_all()

    async def _pause(self, delay: float) -> float:
        """Sleep a growing delay (retry_min_s doubling up to retry_max_s); the next one."""
        delay = min(self.retry_max_s, max(self.retry_min_s, delay * 2))
        await asyncio.sleep(delay * random.uniform(0.8, 1.0))
        return delay

    async def _reclaim(self, h: str, stream: str) -> None:
        """Take over entries another consumer read and never acknowledged."""
        start = "0-0"
        while True:
            res = await self.redis.xautoclaim(stream, GROUP, self.consumer,
                                              min_idle_time=self.claim_idle_ms,
                                              start_id=start, count=BATCH)
            start, entries = res[0], res[1]
            live = [(i, f) for i, f in entries if i and f]
            if live:
                log.info("taking over unacknowledged events", hospital_id=h, n=len(live))
                await self._handle(h, stream, live)
            if start in ("0-0", b"0-0"):
                break
        for c in await self.redis.xinfo_consumers(stream, GROUP):
            if (c["name"] != self.consumer and not c["pending"]
                    and c["idle"] > CONSUMER_IDLE_MS):
                await self.redis.xgroup_delconsumer(stream, GROUP, c["name"])

    async def _handle(self, h: str, stream: str, entries: list[tuple[str, dict[str, str]]]
                      ) -> None:
        """Route each entry, enqueue its jobs, acknowledge it. An enqueue that fails leaves
        the entry pending (it comes back through _reclaim); a bad entry is logged and
        acknowledged, so one poison event cannot stall the stream."""
        done: list[str] = []
        try:
            for entry_id, fields in entries:
                try:
                    event = {**json.loads(fields["e"]), "hospital_id": h}
                    specs = route(event, self.routers)
                except Exception:
                    log.exception("event could not be routed; skipped", hospital_id=h,
                                  entry=entry_id)
                    done.append(entry_id)
                    continue
                rid = fields.get("rid")   # the web request that announced the event
                with structlog.contextvars.bound_contextvars(
                        **({"request_id": rid} if rid else {})):
                    for spec in specs:
                        job = await self.arq.enqueue_job(spec.function, *spec.args,
                                                         _job_id=spec.job_id, **carry())
                        self.enqueued += job is not None
                    if specs:
                        log.debug("event routed", hospital_id=h, seq=event.get("seq"),
                                  type=event.get("type"), jobs=[s.job_id for s in specs])
                done.append(entry_id)
        finally:
            if done:
                await self.redis.xack(stream, GROUP, *done)
                self.handled += len(done)
                async with self._changed:
                    self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[Dispatcher], bool],
                       within_s: float = 10.0) -> None:
        """Until predicate(self) holds (tests, bench): no polling, woken on each batch."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: predicate(self))


def start(ctx: dict[str, Any], **options: Any) -> Dispatcher:
    """Start the worker's dispatcher (on_startup); ctx needs pool, redis_app and redis."""
    dispatcher = Dispatcher(ctx["pool"], ctx["redis_app"], ctx["redis"], **options)
    ctx["notify_dispatcher"] = dispatcher
    ctx["notify_dispatcher_task"] = asyncio.create_task(dispatcher.run(),
                                                        name="notify-dispatcher")
    return dispatcher


async def stop(ctx: dict[str, Any]) -> None:
    task: asyncio.Task[None] | None = ctx.pop("notify_dispatcher_task", None)
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
