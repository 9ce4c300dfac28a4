"""Queue events -> ARQ jobs, off the web request's path.

Each worker process runs one Dispatcher (started by WorkerSettings.on_startup). It reads
every hospital's event stream (keys.stream) in the Redis consumer group GROUP, so each event
is handled by one worker of the fleet; an entry is acknowledged only once its jobs are
enqueued, and the entries a dead worker left pending are taken over (XAUTOCLAIM) after
CLAIM_IDLE_MS. One reader task per hospital: the streams live on different Cluster slots,
so one XREADGROUP over all of them would not survive a move to Redis Cluster.

What an event means is decided by ROUTERS, pure functions event -> [JobSpec]. Job ids are
deterministic (the event's seq, or the token and notification kind), so an event read twice
(a replay after a crash) enqueues nothing new while ARQ still knows the job, and the
notifications_log claim catches anything later. Jobs take ids only.

Recalls (token.called with recall: true) send nothing: the patient already had CALL_NOW for
this token (one message per token, event and channel, ever) and the board announces it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.db import doctors as doctors_db
from server.store import keys
from workers.risk import risk_jobs_for

log = structlog.get_logger("notify.dispatch")

GROUP = keys.DISPATCH_GROUP
BLOCK_MS = 2000            # one XREADGROUP waits this long for new entries
BATCH = 100
REFRESH_S = 30.0           # how often the hospital list is read again from PostgreSQL
CLAIM_IDLE_MS = 30_000     # an entry pending this long belongs to a dead (or stuck) worker
CLAIM_EVERY_S = 15.0
CONSUMER_IDLE_MS = 3_600_000   # consumers gone this long with nothing pending are removed
MAX_AHEAD = 50             # departments.notify_ahead is at most 50
DELAY_MIN_PAUSE_MIN = 10   # shorter pauses are not worth a text to every waiting patient


@dataclass(frozen=True)
class JobSpec:
    function: str
    args: tuple[Any, ...]
    job_id: str


Router = Callable[[dict[str, Any]], list[JobSpec]]


def _send(h: str, token_id: str, event: str) -> JobSpec:
    return JobSpec("send_notification", (h, token_id, event), f"notify:{token_id}:{event}")


def _pause_minutes(event: dict[str, Any]) -> float | None:
    until, ts = event["data"].get("pause_until"), event.get("ts")
    if not until or not ts:
        return None
    try:
        return (datetime.fromisoformat(until) - datetime.fromisoformat(ts)).total_seconds() / 60
    except (TypeError, ValueError):
        return None


def notify_jobs_for(event: dict[str, Any]) -> list[JobSpec]:
    """Patient notifications an event calls for. `event` carries "hospital_id" (added by
    the dispatcher from the stream's key) besides type, seq, ts and data."""
    h, etype, seq = event.get("hospital_id"), event.get("type"), event.get("seq")
    data = event.get("data") or {}
    token = data.get("token") or {}
    tid, status = token.get("id"), token.get("status")
    if not h:
        return []
    if etype == "token.created" and tid and status in ("WAITING", "BOOKED"):
        return [_send(h, tid, "TOKEN_CREATED")]
    if etype == "token.called" and tid and not data.get("recall"):
        return [_send(h, tid, "CALL_NOW")]
    if etype == "token.updated" and tid and status in ("CANCELLED", "RESCHEDULED"):
        return [_send(h, tid, status)]
    if etype == "queue.updated":
        waiting = data.get("waiting")  # Lua's cjson turns an empty list into {}
        if not isinstance(waiting, list) or not waiting or not data.get("department_id"):
            return []
        ordered = sorted((w for w in waiting if w.get("id")),
                         key=lambda w: w.get("position") or 0)
        ids = tuple(str(w["id"]) for w in ordered[:MAX_AHEAD])
        return [JobSpec("notify_ahead", (h, str(data["department_id"]), ids),
                        f"ahead:{h}:{seq}")]
    if etype == "doctor.status" and data.get("status") == "PAUSED" and data.get("doctor_id"):
        minutes = _pause_minutes(event)
        if minutes is not None and minutes < DELAY_MIN_PAUSE_MIN:
            return []
        return [JobSpec("notify_doctor_delay", (h, str(data["doctor_id"])),
                        f"delay:{data['doctor_id']}:{seq}")]
    return []


# Every router sees every event; their jobs are enqueued in this order. Append, don't nest.
ROUTERS: list[Router] = [
    notify_jobs_for,
    risk_jobs_for,
]


def route(event: dict[str, Any], routers: list[Router] | None = None) -> list[JobSpec]:
    return [spec for router in (ROUTERS if routers is None else routers)
            for spec in router(event)]


class Dispatcher:
    def __init__(self, pool: asyncpg.Pool, redis: Redis, arq: ArqRedis, *,
                 consumer: str | None = None, routers: list[Router] | None = None,
                 block_ms: int = BLOCK_MS, refresh_s: float = REFRESH_S,
                 claim_idle_ms: int = CLAIM_IDLE_MS, claim_every_s: float = CLAIM_EVERY_S
                 ) -> None:
        self.pool, self.redis, self.arq = pool, redis, arq
        self.consumer = consumer or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.routers = routers
        self.block_ms, self.refresh_s = block_ms, refresh_s
        self.claim_idle_ms, self.claim_every_s = claim_idle_ms, claim_every_s
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.handled = 0           # stream entries acknowledged (tests and the bench wait on it)
        self.enqueued = 0          # jobs ARQ accepted (not known already)
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        """Keep one reader per hospital; re-read the hospital list every refresh_s."""
        try:
            while True:
                await self._refresh()
                await asyncio.sleep(self.refresh_s)
        finally:
            for task in self.tasks.values():
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            self.tasks.clear()

    async def _refresh(self) -> None:
        try:
            current = {str(h) for h in await doctors_db.all_hospital_ids(self.pool)}
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("hospital list unavailable; keeping the old one",
                        error=type(exc).__name__)
            current = set(self.tasks)
        for h in list(self.tasks):
            task = self.tasks[h]
            if h not in current or task.done():
                if task.done() and not task.cancelled() and task.exception():
                    log.error("dispatcher reader died; restarting", hospital_id=h,
                              error=repr(task.exception()))
                task.cancel()
                del self.tasks[h]
        for h in current - set(self.tasks):
            self.tasks[h] = asyncio.create_task(self._read(h), name=f"notify-dispatch:{h}")

    async def _ensure_group(self, stream: str) -> None:
        # from the stream's start: entries written before the group existed are routed too,
        # and jobs drop what is no longer relevant (a token since called, cancelled...)
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)

    async def _read(self, h: str) -> None:
        stream = keys.stream(h)
        await self._ensure_group(stream)
        last_claim = 0.0
        while True:
            try:
                if time.monotonic() - last_claim >= self.claim_every_s:
                    last_claim = time.monotonic()
                    await self._reclaim(h, stream)
                resp = await self.redis.xreadgroup(GROUP, self.consumer, {stream: ">"},
                                                   count=BATCH, block=self.block_ms)
                for _, entries in resp or []:
                    await self._handle(h, stream, entries)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._ensure_group(stream)  # Redis lost its data: start over
            except (OSError, RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("event stream unavailable; retrying", hospital_id=h,
                            error=type(exc).__name__)
                await asyncio.sleep(1.0)

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
                for spec in specs:
                    job = await self.arq.enqueue_job(spec.function, *spec.args,
                                                     _job_id=spec.job_id)
                    self.enqueued += job is not None
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
