"""The action plumbing every part of the queue service shares (see server/queue/__init__)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import structlog

from server import idempotency, view_cache
from server.db import action_txn
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.domain import assignment, calendar
from server.domain.eta import Eta, Learned
from server.domain.ordering import QueuePolicy
from server.errors import InvalidTransition, NotFound
from server.errors import Unavailable as UnavailableError
from server.presenters import utcnow
from server.security import links
from server.settings import Settings
from server.store.live import DoctorLive, DoctorState, LiveStore, NotReady, Pending, Staging

log = structlog.get_logger("queue")
T = TypeVar("T")
# hospitals whose live view this process has used: finding one missing later means Redis lost
# it under a running process (server/queue/recovery.py logs that as a warning)
live_seen: set[UUID] = set()

MAX_FAULT_TRIES = 4    # a lost view rebuilt or a diverged doctor repaired, then tried again
MAX_BUSY_TRIES = 16    # another action met between its COMMIT and its announcement, settled
SETTLE_LOCK_TIMEOUT_S = 5  # a settler waits this long for a doctor's lock, then leaves it
# a token row handed to routes.render with its latest risk already read (None: it has none)
RISK_KEY = "latest_risk"
# ... and with its (position, ETA) in the queue as the action published it (None: not waiting)
PLACE_KEY = "queue_place"


@dataclass(frozen=True)
class Actor:
    kind: str                # 'user' | 'patient' | 'system'
    id: UUID | None = None


SYSTEM = Actor("system")


@dataclass
class Txn:
    """One action in progress: its connection (inside the transaction and the locks), its
    handle on the live view (the id its scripts stage under), and what its queues now show
    each waiting patient (written with its COMMIT)."""

    conn: asyncpg.Connection
    h: UUID
    staging: Staging
    shown: dict[UUID, action_txn.Shown] = field(default_factory=dict)

    @property
    def id(self) -> UUID:
        return UUID(self.staging.id)


@dataclass(frozen=True)
class QueueState:
    ctx: dict[str, Any]                      # doctor context (doctors_db.doctor_context)
    live: DoctorLive
    risks: dict[UUID, dict[str, Any]]
    current: UUID | None
    waiting: list[tuple[UUID, int, Eta]]     # (token id, position from 1, ETA) in order
    now: datetime
    rows: dict[UUID, dict[str, Any]] | None = None   # the tokens' rows, when asked for

    def place_of(self, token_id: UUID) -> tuple[int, Eta] | None:
        for tid, pos, eta in self.waiting:
            if tid == token_id:
                return pos, eta
        return None


class Diverged(Exception):
    """Redis refused what the record allows: the doctor's live view needs a repair."""

    def __init__(self, doctor_ids: list[UUID], why: str) -> None:
        super().__init__(why)
        self.doctor_ids = doctor_ids


def refused_transition(status: str, action: str) -> InvalidTransition:
    return InvalidTransition(
        f"cannot {action} a token that is {status}",
        extra={"current_status": status, "action": action},
    )



class QueueBase:
    """What every part of the service shares: the connections, the clock, and the action
    plumbing (locks, transaction, settle or announce). The parts are mixed into
    server.queue.QueueService; the methods below are the ones they call on each other."""

    def __init__(self, pool: asyncpg.Pool, live: LiveStore, settings: Settings) -> None:
        self.pool = pool
        self.live = live
        self.settings = settings
        self.now: Callable[[], datetime] = utcnow
        self._secret: bytes | None = None

    # ------------------------------------------------------------------ plumbing
    async def _retrying(self, h: UUID, fn: Callable[[], Awaitable[T]]) -> T:
        """Run fn; rebuild a lost live view, settle another action's unsettled change, or
        repair a diverged doctor, and try again (a recovery that meets another of these
        faults is answered the same way). Meeting another action between its COMMIT and its
        announcement is no fault but that action's progress (busy tablets of one doctor meet
        it often): it has its own, larger allowance."""
        recover: Callable[[], Awaitable[None]] | None = None
        faults = busy = 0
        while faults < MAX_FAULT_TRIES and busy < MAX_BUSY_TRIES:
            try:
                if recover is not None:
                    await recover()
                result = await fn()
                live_seen.add(h)
                return result
            except NotReady:
                faults += 1
                recover = functools.partial(self.rebuild_hospital, h)
            except Pending as exc:
                busy += 1
                recover = functools.partial(self.settle, h, exc.doctor_ids)
            except Diverged as exc:
                faults += 1
                log.warning("live view diverged; repairing", reason=str(exc))
                recover = functools.partial(self.repair_doctors, h, exc.doctor_ids)
        raise UnavailableError("the live queue is being restored from the record; retry")

    @contextlib.asynccontextmanager
    async def _action(self, h: UUID, doctor_ids: list[UUID], *, whole_hospital: bool = False,
                      settling: bool = False, request: bool = False) -> AsyncIterator[Txn]:
        """One action: locks, transaction, commit marker; its events announced after COMMIT,
        or the action settled from the record when anything fails on the way. `request`: the
        action is what the API request asked for (its Idempotency-Key's effect), not a
        repair made on the way."""
        staging = Staging()
        try:
            async with self.pool.acquire() as conn:
                try:
                    await conn.execute(action_txn.begin_action(
                        h, doctor_ids, whole_hospital=whole_hospital,
                        lock_timeout_s=SETTLE_LOCK_TIMEOUT_S if settling else None))
                    yield (txn := Txn(conn, h, staging))
                    if request:
                        await idempotency.record_effect(conn, UUID(staging.id))
                    await conn.execute(action_txn.commit_action(
                        UUID(staging.id) if staging.doctors else None, h, txn.shown))
                except BaseException:
                    await _rollback(conn)
                    raise
        except Exception as exc:
            if staging.doctors and not settling:
                log.warning("action failed after its live change; settling it",
                            error=type(exc).__name__)
                try:
                    await self.settle(h, sorted(staging.doctors, key=str))
                except Exception as again:  # the next reader or the reconciler settles it
                    log.warning("could not settle the failed action yet",
                                error=type(again).__name__)
            raise
        if staging.doctors:
            try:
                await self.live.emit(h, staging.id, sorted(staging.doctors, key=str))
                view_cache.note_announced()
            except Exception as exc:  # committed: the next reader or the reconciler announces it
                log.warning("could not announce a committed action yet",
                            error=type(exc).__name__)

    def _policy(self, ctx: dict[str, Any]) -> QueuePolicy:
        return QueuePolicy(booked_grace_min=ctx["booked_grace_min"],
                           senior_credit_min=ctx["senior_credit_min"],
                           skip_places=ctx["skip_places"])

    async def _doctor(self, conn: Any, h: UUID, doctor_id: UUID, day: date) -> dict[str, Any]:
        ctx = await doctors_db.doctor_context(conn, h, doctor_id, day)
        if not ctx:
            raise NotFound("no such doctor")
        return ctx

    async def today(self, h: UUID) -> tuple[date, str]:
        hosp = await doctors_db.hospital(self.pool, h)
        if not hosp:
            raise NotFound("no such hospital")
        return calendar.local_day(self.now(), hosp["timezone"]), hosp["timezone"]

    def link_for(self, row: dict[str, Any]) -> str:
        if self._secret is None:  # settings.secret() reads it once; kept at hand per token
            self._secret = self.settings.secret()
        code = links.sign(self._secret, row["public_code"], row["service_date"])
        return links.url(self.settings.base_url, code)

    async def _token(self, h: UUID, token_id: UUID | None) -> dict[str, Any] | None:
        return await tokens_db.get_token(self.pool, h, token_id) if token_id else None

    # implemented by the parts (server.queue.recovery, server.queue.reads)
    async def settle(self, h: UUID, doctor_ids: list[UUID]) -> None:
        raise NotImplementedError

    async def rebuild_hospital(self, h: UUID) -> None:
        raise NotImplementedError

    async def repair_doctors(self, h: UUID, doctor_ids: list[UUID]) -> None:
        raise NotImplementedError

    async def _publish_queue(self, txn: Txn, doctor_id: UUID,
                             ctx: dict[str, Any] | None = None, *,
                             learned: Learned | None = None,
                             live: DoctorLive | None = None,
                             risks: dict[UUID, dict[str, Any]] | None = None) -> QueueState:
        raise NotImplementedError

    def _learned(self, known: DoctorState, row: dict[str, Any], now: datetime
                 ) -> Learned | None:
        raise NotImplementedError

    async def _candidates(self, h: UUID, docs: list[dict[str, Any]], day: date,
                          at: datetime | None = None) -> list[assignment.Candidate]:
        raise NotImplementedError

    async def choose_doctor(self, h: UUID, department_id: UUID, day: date,
                            at: datetime | None = None) -> UUID:
        raise NotImplementedError

    async def _queue_state(self, conn: Any, h: UUID, doctor_id: UUID,
                           ctx: dict[str, Any] | None = None, action: str = "",
                           learned: Learned | None = None, rows: bool = False,
                           live: DoctorLive | None = None,
                           risks: dict[UUID, dict[str, Any]] | None = None) -> QueueState:
        raise NotImplementedError


async def _rollback(conn: asyncpg.Connection) -> None:
    """End an action's transaction that failed on the way (the connection may be gone)."""
    with contextlib.suppress(Exception):
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
