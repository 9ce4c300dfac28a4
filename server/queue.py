"""Queue use-cases: domain rules + Redis live view + PostgreSQL record + events.

The one entry for routes and workers. Every change to a doctor's queue is an *action*
(`_action`), and nothing is announced before it is committed:

1. open a PostgreSQL transaction and take the doctor's advisory lock (and the hospital's,
   shared), so actions on one queue take turns across every process;
2. check the transition against the token's recorded status (domain.lifecycle);
3. run the Lua script: it changes the live queue and *stages* its events under the action's
   id, marking the doctor `pending` (store/lua/_lib.lua);
4. write the record (token row, token_history row with the action id), the queue's new
   positions and ETAs, and the action id in live_actions: the proof it committed;
5. COMMIT; then emit: the staged events get their sequence numbers and reach the stream, the
   boards and the workers. The 2xx answer follows.

A doctor marked pending refuses every other script and read (PENDING) until the action is
settled. An action that fails before COMMIT (a refused write, a cut connection, a failed
COMMIT) is settled at once by its own process; one whose process died is settled by the next
reader or actor of that doctor, or by the reconciler within a minute. Settling asks the
record: the action committed -> announce its staged events (once: emit is idempotent); it did
not -> drop them and rebuild the doctor's live view from the record. So no screen, stream or
notification ever shows a change the record does not hold, and every committed change is
announced. A live view that is gone, or was loaded before Redis last restarted (possibly from
an older snapshot), is rebuilt from PostgreSQL before anyone uses it (NotReady).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import structlog

from server import idempotency, metrics
from server.db import doctors as doctors_db
from server.db import patients as patients_db
from server.db import tokens as tokens_db
from server.domain import assignment, calendar, geo
from server.domain import lifecycle as lc
from server.domain.eta import ConsultStats, Eta, update_stats
from server.domain.ordering import QueuePolicy, queue_score
from server.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from server.errors import Unavailable as UnavailableError
from server.presenters import eta_inputs, live_token, queue_etas, utcnow
from server.security import links
from server.settings import Settings
from server.store import keys
from server.store.live import (
    Applied,
    DoctorLive,
    LiveStore,
    NextResult,
    NotReady,
    Pending,
    Refused,
    Staging,
)

log = structlog.get_logger("queue")
T = TypeVar("T")

STATS_WINDOW_DAYS = 30      # consult times learned over the last 30 days on a rebuild
SETTLE_LOCK_TIMEOUT = "5s"  # a settler waits this long for a doctor's lock, then leaves it


@dataclass(frozen=True)
class Actor:
    kind: str                # 'user' | 'patient' | 'system'
    id: UUID | None = None


SYSTEM = Actor("system")


@dataclass
class Txn:
    """One action in progress: its connection (inside the transaction and the locks) and its
    handle on the live view (the id its scripts stage under)."""

    conn: asyncpg.Connection
    h: UUID
    staging: Staging

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


class QueueService:
    def __init__(self, pool: asyncpg.Pool, live: LiveStore, settings: Settings) -> None:
        self.pool = pool
        self.live = live
        self.settings = settings
        self.now: Callable[[], datetime] = utcnow

    # ------------------------------------------------------------------ plumbing
    async def _retrying(self, h: UUID, fn: Callable[[], Awaitable[T]]) -> T:
        """Run fn; rebuild a lost live view, settle another action's unsettled change, or
        repair a diverged doctor, and try again (a recovery that meets another of these
        faults is answered the same way)."""
        recover: Callable[[], Awaitable[None]] | None = None
        for _ in range(4):
            try:
                if recover is not None:
                    await recover()
                return await fn()
            except NotReady:
                recover = functools.partial(self.rebuild_hospital, h)
            except Pending as exc:
                recover = functools.partial(self.settle, h, exc.doctor_ids)
            except Diverged as exc:
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
            async with self.pool.acquire() as conn, conn.transaction():
                if settling:
                    await conn.execute(f"SET LOCAL lock_timeout = '{SETTLE_LOCK_TIMEOUT}'")
                if whole_hospital:
                    await tokens_db.lock_hospital(conn, h)
                else:
                    await tokens_db.lock_hospital_shared(conn, h)
                    await tokens_db.lock_doctors(conn, doctor_ids)
                yield Txn(conn, h, staging)
                if staging.doctors:
                    await tokens_db.mark_committed(conn, UUID(staging.id), h)
                if request:
                    await idempotency.record_effect(conn, UUID(staging.id))
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
        code = links.sign(self.settings.secret(), row["public_code"], row["service_date"])
        return links.url(self.settings.base_url, code)

    async def _token(self, h: UUID, token_id: UUID | None) -> dict[str, Any] | None:
        return await tokens_db.get_token(self.pool, h, token_id) if token_id else None

    # ------------------------------------------------------------------ issue
    async def issue(self, h: UUID, actor: Actor, *, patient_id: UUID, booking_type: str,
                    priority: int, doctor_id: UUID | None, department_id: UUID | None,
                    scheduled_time: datetime | None, visit_reason: str | None
                    ) -> dict[str, Any]:
        if (done := idempotency.replaying()) is not None:
            issued = (await tokens_db.tokens_of_action(self.pool, h, done)).get("issue")
            if row := await self._token(h, issued):
                return row
            raise Conflict("this Idempotency-Key was used for another change")
        today, tz = await self.today(h)
        day = calendar.local_day(scheduled_time, tz) if scheduled_time else today
        if booking_type != "ONLINE" and scheduled_time and day != today:
            raise InvalidInput.field("scheduled_time", "only ONLINE bookings are for another day")
        if day < today:
            raise InvalidInput.field("scheduled_time", "is in a past day")
        if doctor_id is None:
            assert department_id is not None
            doctor_id = await self.choose_doctor(h, department_id, day, scheduled_time)
        return await self._retrying(h, lambda: self._issue_once(
            h, actor, day, today, patient_id=patient_id, booking_type=booking_type,
            priority=priority, doctor_id=doctor_id, department_id=department_id,
            scheduled_time=scheduled_time, visit_reason=visit_reason))

    async def _issue_once(self, h: UUID, actor: Actor, day: date, today: date,
                          *, patient_id: UUID, booking_type: str, priority: int,
                          doctor_id: UUID, department_id: UUID | None,
                          scheduled_time: datetime | None, visit_reason: str | None
                          ) -> dict[str, Any]:
        async with self._action(h, [doctor_id], request=True) as txn:
            conn = txn.conn
            now = self.now()  # after the lock: times follow the order actions really took
            ctx = await self._doctor(conn, h, doctor_id, day)
            if department_id and ctx["department_id"] != department_id:
                raise InvalidInput.field("doctor_id", "the doctor is not in that department")
            if not ctx["active"]:
                raise Conflict("the doctor is not active")
            if not await patients_db.get(conn, h, patient_id):
                raise InvalidInput.field("patient_id", "no such patient")
            dep = await doctors_db.department(conn, h, ctx["department_id"])
            assert dep
            if dep["daily_cap"] and await tokens_db.count_for_day(
                conn, ctx["department_id"], day) >= dep["daily_cap"]:
                raise Conflict(f"the department's daily cap of {dep['daily_cap']} is reached")
            seq = await tokens_db.next_seq(conn, ctx["department_id"], day)
            status = "BOOKED" if booking_type == "ONLINE" else "WAITING"
            queued_now = status == "WAITING" and day == today
            score = queue_score(booking_type=booking_type, priority=priority, arrived_at=now,
                                scheduled_time=scheduled_time, policy=self._policy(ctx))
            token_id = await tokens_db.insert_token(
                conn, hospital_id=h, department_id=ctx["department_id"], doctor_id=doctor_id,
                cabin_id=ctx["cabin_id"], patient_id=patient_id, service_date=day, seq=seq,
                number=f"{ctx['department_code']}-{seq:03d}", booking_type=booking_type,
                priority=priority, status=status, queue_score=score if queued_now else None,
                scheduled_time=scheduled_time, visit_reason=visit_reason, created_at=now,
                checked_in_at=now if status == "WAITING" else None,
            )
            await tokens_db.insert_history(
                conn, hospital_id=h, token_id=token_id, action="issue", from_status=None,
                to_status=status, actor_kind=actor.kind, actor_id=actor.id, doctor_id=doctor_id,
                at=now, action_id=txn.id,
            )
            row = await tokens_db.get_token(conn, h, token_id)
            assert row
            if queued_now:
                res = await self.live.enqueue(h, txn.staging, doctor_id,
                                              live_token(row, ctx["cabin"]), score,
                                              "token.created", at_ms=_ms(now))
                if isinstance(res, Refused):
                    raise Diverged([doctor_id], f"enqueue refused: {res.code}")
                await self._publish_queue(txn, doctor_id, ctx)
            else:
                await self.live.publish(h, txn.staging, "token.created",
                                        {"token": live_token(row), "doctor_id": str(doctor_id)},
                                        doctors=[doctor_id], at_ms=_ms(now))
            metrics.QUEUE_ACTIONS.labels("issue").inc()
            return row

    async def choose_doctor(self, h: UUID, department_id: UUID, day: date,
                            at: datetime | None = None) -> UUID:
        """The on-shift doctor of the department whose queue would call a new token soonest."""
        if not await doctors_db.department(self.pool, h, department_id):
            raise InvalidInput.field("department_id", "no such department")
        docs = await doctors_db.department_doctors(self.pool, h, department_id, day)
        chosen = assignment.choose(await self._candidates(h, docs, day, at))
        if chosen is None:
            raise Conflict("no doctor of this department is on shift")
        return chosen

    async def _candidates(self, h: UUID, docs: list[dict[str, Any]], day: date,
                          at: datetime | None = None) -> list[assignment.Candidate]:
        """Assignment candidates; a doctor whose shift is over, or who is on leave at `at`
        (now, or the booked slot), is not on shift."""
        now = self.now()
        away = await doctors_db.on_leave(self.pool, [d["id"] for d in docs], at or now)
        out = []
        for d in docs:
            live = await self._retrying(h, lambda d=d: self.live.read_doctor(h, d["id"]))
            on_shift = d["shift_end"] is not None and d["id"] not in away and (
                calendar.local_datetime(day, d["shift_end"], d["timezone"]) > now)
            out.append(assignment.Candidate(
                doctor_id=d["id"], waiting=len(live.waiting), on_shift=on_shift,
                eta_inputs=eta_inputs(live.fields, d["avg_consultation_min"], now)))
        return out

    # ------------------------------------------------------------------ next
    async def call_next(self, h: UUID, actor: Actor, doctor_id: UUID, *,
                        current_token_id: UUID | None, expect_given: bool
                        ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if (done := idempotency.replaying()) is not None:
            ids = await tokens_db.tokens_of_action(self.pool, h, done)
            return await self._token(h, ids.get("complete")), await self._token(h, ids.get("call"))
        return await self._retrying(h, lambda: self._next_once(
            h, actor, doctor_id, current_token_id, expect_given))

    async def _next_once(self, h: UUID, actor: Actor, doctor_id: UUID,
                         current_token_id: UUID | None, expect_given: bool
                         ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        today, _ = await self.today(h)
        async with self._action(h, [doctor_id], request=True) as txn:
            conn = txn.conn
            now = self.now()  # after the lock, or a press that waited looks older than the last
            ctx = await self._doctor(conn, h, doctor_id, today)
            res = await self.live.call_next(
                h, txn.staging, doctor_id,
                expected=str(current_token_id) if current_token_id else None,
                expect_given=expect_given, guard_ms=self.settings.next_guard_ms,
                at_ms=_ms(now))
            if isinstance(res, Refused):
                await self._refuse_next(conn, h, res)
            assert isinstance(res, NextResult)
            completed = called = None
            if res.completed:
                completed = await tokens_db.get_token(conn, h, UUID(res.completed),
                                                      for_update=True)
                if not completed or completed["status"] not in ("CALLED", "IN_CONSULTATION"):
                    raise Diverged([doctor_id], "live current token is not current in the record")
            elif await tokens_db.current_of(conn, doctor_id, today):
                raise Diverged([doctor_id], "the record has a current token the live view lost")
            if res.called:
                called = await tokens_db.get_token(conn, h, UUID(res.called), for_update=True)
                if not called or called["status"] != "WAITING" or called["doctor_id"] != doctor_id:
                    raise Diverged([doctor_id], "live next token is not waiting in the record")
            if completed:
                await tokens_db.set_status(
                    conn, completed["id"], "COMPLETED", now,
                    started_at=completed["started_at"] or completed["called_at"])
                await tokens_db.insert_history(
                    conn, hospital_id=h, token_id=completed["id"], action="complete",
                    from_status=completed["status"], to_status="COMPLETED",
                    actor_kind=actor.kind, actor_id=actor.id, doctor_id=doctor_id,
                    reason="next", at=now, action_id=txn.id)
            if called:
                await tokens_db.set_status(conn, called["id"], "CALLED", now,
                                           cabin_id=ctx["cabin_id"], position=None)
                await tokens_db.insert_history(
                    conn, hospital_id=h, token_id=called["id"], action="call",
                    from_status="WAITING", to_status="CALLED", actor_kind=actor.kind,
                    actor_id=actor.id, doctor_id=doctor_id, at=now, action_id=txn.id)
            if completed:
                await self._learn(h, doctor_id, completed, now)
            await self._publish_queue(txn, doctor_id, ctx)
            metrics.QUEUE_ACTIONS.labels("next").inc()
            ids = [t["id"] for t in (completed, called) if t]
            fresh = await tokens_db.tokens_by_ids(conn, h, ids)
            return (fresh[completed["id"]] if completed else None,
                    fresh[called["id"]] if called else None)

    async def _refuse_next(self, conn: asyncpg.Connection, h: UUID, res: Refused) -> None:
        number = None
        if res.current:
            row = await tokens_db.get_token(conn, h, UUID(res.current))
            number = row["number"] if row else None
        if res.code == "STALE":
            who = f"token {number}" if number else "nobody"
            raise Conflict(f"the queue moved on: the current token is now {who}",
                           extra={"current_token_id": res.current or None})
        if res.code == "TOO_SOON":
            raise Conflict(f"token {number} was called a moment ago (a double tap?); "
                           "send current_token_id to confirm the next call",
                           extra={"current_token_id": res.current})
        if res.code == "PAUSED":
            raise Conflict("the doctor is paused; resume first")
        raise Conflict(f"refused: {res.code}")

    async def _learn(self, h: UUID, doctor_id: UUID, row: dict[str, Any], now: datetime) -> None:
        """Feed the finished consult's minutes into the doctor's online stats (ETA)."""
        began = row.get("started_at") or row.get("called_at")
        if not began:
            return
        key = keys.doctor(h, doctor_id)
        n, mean, m2 = await self.live.redis.hmget(key, "n", "mean", "m2")
        stats = update_stats(ConsultStats(int(n or 0), float(mean or 0), float(m2 or 0)),
                             (now - began).total_seconds() / 60)
        await self.live.redis.hset(key, mapping={"n": stats.n, "mean": stats.mean,
                                                 "m2": stats.m2})

    # ------------------------------------------------------------------ token actions
    async def act(self, h: UUID, actor: Actor, token_id: UUID, action: lc.Action, *,
                  reason: str | None = None, to_doctor: UUID | None = None,
                  priority: int | None = None, geo_point: tuple[float, float] | None = None,
                  check: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Any single-token action. `check` sees the locked row first (access rules)."""
        if idempotency.replaying() is not None and (row := await self._token(h, token_id)):
            return row
        return await self._retrying(h, lambda: self._act_once(
            h, actor, token_id, action, reason=reason, to_doctor=to_doctor, priority=priority,
            geo_point=geo_point, check=check))

    async def _act_once(self, h: UUID, actor: Actor, token_id: UUID, action: lc.Action, *,
                        reason: str | None, to_doctor: UUID | None, priority: int | None,
                        geo_point: tuple[float, float] | None,
                        check: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
        peek = await tokens_db.get_token(self.pool, h, token_id)
        if not peek:
            raise NotFound("no such token")
        doctor_ids = [d for d in (peek["doctor_id"], to_doctor) if d]
        async with self._action(h, doctor_ids, request=True) as txn:
            now = self.now()
            row = await tokens_db.get_token(txn.conn, h, token_id, for_update=True)
            assert row
            if row["doctor_id"] != peek["doctor_id"]:
                raise Diverged([], "token moved while locking; retry")
            if check:
                check(row)
            try:
                new_status = lc.next_status(lc.Status(row["status"]), action)
            except lc.InvalidTransition:
                raise refused_transition(row["status"], action.value) from None
            handler = self._handlers()[action]
            await handler(txn, actor, row, new_status, now, reason=reason,
                          to_doctor=to_doctor, priority=priority, geo_point=geo_point)
            metrics.QUEUE_ACTIONS.labels(action.value).inc()
            out = await tokens_db.get_token(txn.conn, h, token_id)
            assert out
            return out

    def _handlers(self) -> dict[lc.Action, Callable[..., Awaitable[None]]]:
        return {
            lc.Action.CHECK_IN: self._check_in,
            lc.Action.START: self._current,
            lc.Action.RECALL: self._current,
            lc.Action.COMPLETE: self._current,
            lc.Action.NO_SHOW: self._no_show,
            lc.Action.SKIP: self._skip,
            lc.Action.CANCEL: self._cancel,
            lc.Action.RESCHEDULE: self._cancel,
            lc.Action.TRANSFER: self._transfer,
            lc.Action.PRIORITY: self._priority,
        }

    async def _history(self, txn: Txn, actor: Actor, row: dict[str, Any], action: str,
                       to_status: str, now: datetime, reason: str | None,
                       **details: Any) -> None:
        await tokens_db.insert_history(
            txn.conn, hospital_id=txn.h, token_id=row["id"], action=action,
            from_status=row["status"], to_status=to_status, actor_kind=actor.kind,
            actor_id=actor.id, reason=reason, doctor_id=row["doctor_id"], at=now,
            details={k: str(v) for k, v in details.items() if v is not None},
            action_id=txn.id)

    async def _check_in(self, txn: Txn, actor: Actor, row: dict[str, Any], new_status: str,
                        now: datetime, *, geo_point: tuple[float, float] | None,
                        reason: str | None, **_: Any) -> None:
        conn, h = txn.conn, txn.h
        hosp = await doctors_db.hospital(conn, h)
        assert hosp
        today = calendar.local_day(now, hosp["timezone"])
        if row["service_date"] != today:
            raise Conflict(f"this token is booked for {row['service_date'].isoformat()}",
                           extra={"current_status": row["status"]})
        if geo_point is not None:
            if hosp["latitude"] is None:
                raise Forbidden("self check-in is not enabled at this hospital")
            ok, dist = geo.inside(*geo_point, hosp["latitude"], hosp["longitude"],
                                  hosp["geofence_radius_m"])
            if not ok:
                raise Forbidden(
                    f"you are {dist:.0f} m from the hospital; check in within "
                    f"{hosp['geofence_radius_m']} m", extra={"distance_m": round(dist)})
        ctx = await self._doctor(conn, h, row["doctor_id"], today)
        score = queue_score(booking_type=row["booking_type"], priority=row["priority"],
                            arrived_at=now, scheduled_time=row["scheduled_time"],
                            policy=self._policy(ctx))
        queued = {**row, "status": "WAITING", "cabin_number": ctx["cabin"]}
        res = await self.live.enqueue(h, txn.staging, row["doctor_id"],
                                      live_token(queued, ctx["cabin"]), score, "token.updated",
                                      at_ms=_ms(now))
        if isinstance(res, Refused):
            raise Diverged([row["doctor_id"]], f"check-in refused: {res.code}")
        await tokens_db.set_status(conn, row["id"], "WAITING", now, queue_score=score,
                                   cabin_id=ctx["cabin_id"],
                                   check_in_lat=geo_point[0] if geo_point else None,
                                   check_in_lon=geo_point[1] if geo_point else None)
        await self._history(txn, actor, row, "check-in", "WAITING", now, reason,
                            self_service=geo_point is not None or None)
        await self._publish_queue(txn, row["doctor_id"], ctx)

    async def _current(self, txn: Txn, actor: Actor, row: dict[str, Any], new_status: str,
                       now: datetime, *, reason: str | None, op: str | None = None,
                       **_: Any) -> None:
        """start / recall / complete (and no-show, skip of a CALLED token)."""
        op = op or {"IN_CONSULTATION": "start", "COMPLETED": "complete",
                    "CALLED": "recall"}[new_status]
        conn, h, doctor_id = txn.conn, txn.h, row["doctor_id"]
        ctx = await self._doctor(conn, h, doctor_id, row["service_date"])
        res = await self.live.current_op(
            h, txn.staging, doctor_id, row["id"], op, places=ctx["skip_places"],
            empty_score=now.timestamp(), at_ms=_ms(now))
        if isinstance(res, Refused):
            raise Diverged([doctor_id], f"{op} refused by live view: {res.code} {res.current}")
        assert isinstance(res, Applied)
        extra: dict[str, Any] = {}
        if op == "recall":
            extra["recall_count"] = row["recall_count"] + 1
        if op == "complete":
            extra["started_at"] = row["started_at"] or row["called_at"]
        if op == "skip":
            extra.update(queue_score=res.score, skip_count=row["skip_count"] + 1,
                         called_at=None)
        if op == "recall":
            await tokens_db.update_fields(conn, row["id"], **extra)
        else:
            await tokens_db.set_status(conn, row["id"], new_status, now, **extra)
        await self._history(txn, actor, row, op, new_status, now, reason)
        if op == "complete":
            await self._learn(h, doctor_id, row, now)
        await self._publish_queue(txn, doctor_id)

    async def _waiting(self, txn: Txn, actor: Actor, row: dict[str, Any], new_status: str,
                       now: datetime, op: str, *, reason: str | None, arg: float = 0,
                       priority: int = 0, action: str | None = None) -> Applied:
        doctor_id = row["doctor_id"]
        res = await self.live.waiting_op(txn.h, txn.staging, doctor_id, row["id"], op, arg=arg,
                                         priority=priority, at_ms=_ms(now))
        if isinstance(res, Refused):
            raise Diverged([doctor_id], f"{op} refused by live view: {res.code}")
        assert isinstance(res, Applied)
        extra: dict[str, Any] = {}
        if op == "skip":
            extra.update(queue_score=res.score, skip_count=row["skip_count"] + 1)
        if op == "rescore":
            extra.update(queue_score=res.score, priority=priority)
        if op in ("cancel", "reschedule"):
            extra["cancel_reason"] = reason
        if new_status == row["status"]:
            await tokens_db.update_fields(txn.conn, row["id"], **extra)
        else:
            await tokens_db.set_status(txn.conn, row["id"], new_status, now, position=None,
                                       **extra)
        await self._history(txn, actor, row, action or op, new_status, now, reason)
        await self._publish_queue(txn, doctor_id)
        return res

    async def _offline(self, txn: Txn, actor: Actor, row: dict[str, Any], new_status: str,
                       now: datetime, action: str, reason: str | None, **fields: Any) -> None:
        """A change to a token outside the live queue (BOOKED): the record, then an event."""
        if new_status == row["status"]:
            await tokens_db.update_fields(txn.conn, row["id"], **fields)
        else:
            await tokens_db.set_status(txn.conn, row["id"], new_status, now, **fields)
        await self._history(txn, actor, row, action, new_status, now, reason)
        updated = await tokens_db.get_token(txn.conn, txn.h, row["id"])
        assert updated
        data = {"token": live_token(updated), "doctor_id": str(updated["doctor_id"])}
        doctors = [updated["doctor_id"]]
        if updated["doctor_id"] != row["doctor_id"]:
            data["from_doctor_id"] = str(row["doctor_id"])
            doctors.append(row["doctor_id"])
        await self.live.publish(txn.h, txn.staging, "token.updated", data, doctors=doctors,
                                at_ms=_ms(now))

    async def _no_show(self, txn: Txn, actor: Actor, row: dict[str, Any], new_status: str,
                       now: datetime, *, reason: str | None, **_: Any) -> None:
        if row["status"] == "CALLED":
            await self._current(txn, actor, row, new_status, now, reason=reason, op="no-show")
        elif row["status"] == "BOOKED":
            await self._offline(txn, actor, row, new_status, now, "no-show", reason)
        else:
            await self._waiting(txn, actor, row, new_status, now, "no-show", reason=reason)

    async def _skip(self, txn: Txn, actor: Actor, row: dict[str, Any], new_status: str,
                    now: datetime, *, reason: str | None, **_: Any) -> None:
        if row["status"] == "CALLED":
            await self._current(txn, actor, row, new_status, now, reason=reason, op="skip")
            return
        ctx = await self._doctor(txn.conn, txn.h, row["doctor_id"], row["service_date"])
        await self._waiting(txn, actor, row, new_status, now, "skip", reason=reason,
                            arg=ctx["skip_places"])

    async def _cancel(self, txn: Txn, actor: Actor, row: dict[str, Any], new_status: str,
                      now: datetime, *, reason: str | None, **_: Any) -> None:
        action = "cancel" if new_status == "CANCELLED" else "reschedule"
        if row["status"] == "WAITING":
            await self._waiting(txn, actor, row, new_status, now, action, reason=reason)
        else:
            await self._offline(txn, actor, row, new_status, now, action, reason,
                                cancel_reason=reason)

    async def _priority(self, txn: Txn, actor: Actor, row: dict[str, Any], new_status: str,
                        now: datetime, *, reason: str | None, priority: int | None,
                        **_: Any) -> None:
        assert priority is not None
        if row["status"] == "BOOKED":
            await self._offline(txn, actor, row, new_status, now, "priority", reason,
                                priority=priority)
            return
        ctx = await self._doctor(txn.conn, txn.h, row["doctor_id"], row["service_date"])
        arrived = row["checked_in_at"] or row["created_at"]
        score = queue_score(booking_type=row["booking_type"], priority=priority,
                            arrived_at=arrived, scheduled_time=row["scheduled_time"],
                            policy=self._policy(ctx))
        await self._waiting(txn, actor, row, new_status, now, "rescore", reason=reason,
                            arg=score, priority=priority, action="priority")

    async def _transfer(self, txn: Txn, actor: Actor, row: dict[str, Any], new_status: str,
                        now: datetime, *, reason: str | None, to_doctor: UUID | None,
                        **_: Any) -> None:
        assert to_doctor is not None
        conn, h = txn.conn, txn.h
        if to_doctor == row["doctor_id"]:
            raise InvalidInput.field("doctor_id", "the token is already with this doctor")
        target = await doctors_db.doctor_context(conn, h, to_doctor, row["service_date"])
        if not target or not target["active"]:
            raise InvalidInput.field("doctor_id", "no such active doctor")
        if target["department_id"] != row["department_id"]:
            # the token's number belongs to its department's day sequence
            raise InvalidInput.field("doctor_id", "transfer within the token's department")
        if row["status"] == "BOOKED":
            await self._offline(txn, actor, row, new_status, now, "transfer", reason,
                                doctor_id=to_doctor, cabin_id=target["cabin_id"])
            return
        from_doctor = row["doctor_id"]
        res = await self.live.transfer(h, txn.staging, from_doctor, row["id"], to_doctor,
                                       row["queue_score"], target["cabin"], at_ms=_ms(now))
        if isinstance(res, Refused):
            raise Diverged([from_doctor, to_doctor], f"transfer refused: {res.code}")
        await tokens_db.update_fields(conn, row["id"], doctor_id=to_doctor,
                                      cabin_id=target["cabin_id"])
        await self._history(txn, actor, row, "transfer", new_status, now, reason,
                            from_doctor=from_doctor, to_doctor=to_doctor)
        await self._publish_queue(txn, from_doctor)
        await self._publish_queue(txn, to_doctor)

    # ------------------------------------------------------------------ doctor status
    async def set_paused(self, h: UUID, actor: Actor, doctor_id: UUID, paused: bool, *,
                         minutes: int | None = None, reason: str | None = None
                         ) -> dict[str, Any]:
        if idempotency.replaying() is not None:
            live = await self._retrying(h, lambda: self.live.read_doctor(h, doctor_id))
            return {"doctor_id": str(doctor_id), "status": live.fields.get("status", "AVAILABLE"),
                    "pause_until": live.fields.get("pause_until") or None,
                    "reason": live.fields.get("pause_reason") or None}
        return await self._retrying(h, lambda: self._pause_once(
            h, actor, doctor_id, paused, minutes, reason))

    async def _pause_once(self, h: UUID, actor: Actor, doctor_id: UUID, paused: bool,
                          minutes: int | None, reason: str | None) -> dict[str, Any]:
        today, _ = await self.today(h)
        async with self._action(h, [doctor_id], request=True) as txn:
            now = self.now()
            ctx = await self._doctor(txn.conn, h, doctor_id, today)
            until = (now + timedelta(minutes=minutes)).isoformat() if minutes else ""
            res = await self.live.doctor_status(
                h, txn.staging, doctor_id, "PAUSED" if paused else "AVAILABLE",
                department_id=ctx["department_id"], until=until, reason=reason or "",
                at_ms=_ms(now))
            if isinstance(res, Refused):
                raise Conflict(f"the doctor is already {res.current.lower()}",
                               extra={"current_status": res.current})
            if paused:
                await tokens_db.open_pause(txn.conn, h, doctor_id, minutes, reason, actor.id)
            else:
                await tokens_db.close_pause(txn.conn, doctor_id)
            await self._publish_queue(txn, doctor_id, ctx)
            metrics.QUEUE_ACTIONS.labels("pause" if paused else "resume").inc()
            return {"doctor_id": str(doctor_id), "status": "PAUSED" if paused else "AVAILABLE",
                    "pause_until": until or None, "reason": reason}

    # ------------------------------------------------------------------ leave
    async def leave(self, h: UUID, actor: Actor, doctor_id: UUID, *, start: datetime,
                    end: datetime, reason: str, kind: str = "LEAVE") -> dict[str, Any]:
        """Record the leave; move the doctor's BOOKED/WAITING tokens in that window to other
        doctors of the department by shortest expected wait, or mark them RESCHEDULED.
        A retry of a leave whose first request was cut off finishes that same leave."""
        today, _ = await self.today(h)
        ctx = await self._doctor(self.pool, h, doctor_id, today)
        async with self.pool.acquire() as conn:
            exception_id = idempotency.replaying()
            if exception_id is None:
                async with conn.transaction():
                    exception_id = await tokens_db.insert_exception(
                        conn, hospital_id=h, doctor_id=doctor_id, kind=kind, start_at=start,
                        end_at=end, reason=reason, created_by=actor.id)
                    await idempotency.record_effect(conn, exception_id)
            affected = await tokens_db.affected_by_leave(conn, h, doctor_id, start, end, today)
        moved, rescheduled = [], []
        for tok in affected:
            others = [d for d in await doctors_db.department_doctors(
                self.pool, h, ctx["department_id"], tok["service_date"])
                if d["id"] != doctor_id]
            target = assignment.choose(await self._candidates(h, others, tok["service_date"]))
            try:
                if target:
                    await self.act(h, actor, tok["id"], lc.Action.TRANSFER, to_doctor=target,
                                   reason=f"doctor on leave: {reason}")
                    moved.append({"token_id": str(tok["id"]), "doctor_id": str(target)})
                else:
                    await self.act(h, actor, tok["id"], lc.Action.RESCHEDULE,
                                   reason=f"doctor on leave: {reason}")
                    rescheduled.append(str(tok["id"]))
            except InvalidTransition:
                continue  # the token moved on meanwhile (called, cancelled): nothing to do
        handled = len(moved) + len(rescheduled)  # tokens that moved on meanwhile are not
        status = ("NONE" if not handled else "REDISTRIBUTED" if not rescheduled
                  else "RESCHEDULED" if not moved else "PARTIAL")
        async with self.pool.acquire() as conn:
            await tokens_db.finish_exception(conn, exception_id, handled, status)
        return {"id": str(exception_id), "affected": handled, "moved": moved,
                "rescheduled": rescheduled, "redistribution_status": status}

    # ------------------------------------------------------------------ reads
    async def doctor_queue(self, h: UUID, doctor_id: UUID
                           ) -> tuple[QueueState, dict[UUID, dict[str, Any]]]:
        """The doctor's queue in order, with the token rows: 1 Redis round trip and 4
        queries, whatever its length."""
        async def once() -> tuple[QueueState, dict[UUID, dict[str, Any]]]:
            q = await self._queue_state(self.pool, h, doctor_id)
            ids = [tid for tid, _, _ in q.waiting] + ([q.current] if q.current else [])
            return q, await tokens_db.tokens_by_ids(self.pool, h, ids)

        return await self._retrying(h, once)

    async def _queue_state(self, conn: Any, h: UUID, doctor_id: UUID,
                           ctx: dict[str, Any] | None = None, action: str = "") -> QueueState:
        """`ctx`: the doctor's context for today when the caller already read it; `action`:
        the reading action's id (it may read the change it is making)."""
        now = self.now()
        if ctx is None:
            hosp = await doctors_db.hospital(conn, h)
            if not hosp:
                raise NotFound("no such hospital")
            ctx = await self._doctor(conn, h, doctor_id, calendar.local_day(now, hosp["timezone"]))
        today = calendar.local_day(now, ctx["timezone"])
        live = await self.live.read_doctor(h, doctor_id, action)
        ids = [UUID(t) for t, _ in live.waiting]
        cur = live.fields.get("cur")
        risks = await tokens_db.latest_risk(conn, ids + ([UUID(cur)] if cur else []))
        show = [float(risks[i]["show_probability"]) if i in risks else 1.0 for i in ids]
        shift_end = (calendar.local_datetime(today, ctx["shift_end"], ctx["timezone"])
                     if ctx["shift_end"] else None)
        etas_ = queue_etas(fields=live.fields, n_waiting=len(ids),
                           dept_avg_min=ctx["avg_consultation_min"], now=now,
                           show_probs=show, shift_end=shift_end)
        return QueueState(ctx=ctx, live=live, risks=risks, now=now,
                          current=UUID(cur) if cur else None,
                          waiting=[(tid, i + 1, etas_[i]) for i, tid in enumerate(ids)])

    async def token_position(self, h: UUID, row: dict[str, Any]) -> tuple[int | None, Any]:
        """Position and ETA of one waiting token (None for others)."""
        if row["status"] != "WAITING" or not row["doctor_id"]:
            return None, None
        q = await self._retrying(h, lambda: self._queue_state(self.pool, h, row["doctor_id"]))
        for tid, pos, eta in q.waiting:
            if tid == row["id"]:
                return pos, eta
        return None, None

    # ------------------------------------------------------------------ events
    async def _publish_queue(self, txn: Txn, doctor_id: UUID,
                             ctx: dict[str, Any] | None = None) -> None:
        """queue.updated: the doctor's whole queue with positions and ETAs (staged with the
        action), and a snapshot of both in the record (what the patient was shown, for ETA
        accuracy later)."""
        q = await self._queue_state(txn.conn, txn.h, doctor_id, ctx, txn.staging.id)
        now, live = q.now, q.live
        waiting = []
        ids, positions, p50s, p90s = [], [], [], []
        for tid, pos, eta in q.waiting:
            tok = live.tokens.get(str(tid), {"id": str(tid)})
            waiting.append({**tok, "position": pos,
                            "eta": {"p50_min": eta.p50_min, "p90_min": eta.p90_min}})
            ids.append(tid)
            positions.append(pos)
            p50s.append(eta.p50_min)
            p90s.append(eta.p90_min)
        fields = live.fields
        await self.live.publish(txn.h, txn.staging, "queue.updated", {
            "doctor_id": str(doctor_id),
            "department_id": str(q.ctx["department_id"]),
            "cabin": q.ctx["cabin"],
            "doctor": {"id": str(doctor_id), "name": q.ctx["name"],
                       "status": fields.get("status", "AVAILABLE")},
            "current": live.current,
            "waiting": waiting,
        }, doctors=[doctor_id], at_ms=_ms(now))
        if ids:
            await tokens_db.snapshot_positions(txn.conn, ids, positions, p50s, p90s, now)

    # ------------------------------------------------------------------ settle / rebuild
    async def settle(self, h: UUID, doctor_ids: list[UUID]) -> None:
        """Finish what actions left unsettled on these doctors (see the module docstring)."""
        if not doctor_ids:
            return
        async with self._action(h, doctor_ids, settling=True) as txn:
            undo = await self._settle_locked(txn, doctor_ids)
            if undo:
                await self._rebuild_locked(txn, undo, mode="doctors")

    async def _settle_locked(self, txn: Txn, doctor_ids: list[UUID]) -> list[UUID]:
        """Under the doctors' locks: announce each unsettled action whose record committed,
        drop each that did not. Returns the doctors to rebuild from the record."""
        ready, marks = await self.live.pending(txn.h, doctor_ids)
        if not ready:
            raise NotReady("hospital live view missing")
        actions = {UUID(a) for a in marks.values()}
        if not actions:
            return []
        done = await tokens_db.committed(txn.conn, list(actions))
        undo: list[UUID] = []
        for action in actions:
            docs = [d for d, a in marks.items() if UUID(a) == action]
            if action in done:
                n = await self.live.emit(txn.h, str(action), docs)
                log.warning("announced a committed action its process left unsettled",
                            events=n, doctors=len(docs))
            else:
                n = await self.live.discard(txn.h, str(action))
                log.warning("dropped an action its record does not hold",
                            events=n, doctors=len(docs))
                undo += docs
        if undo:
            metrics.QUEUE_REBUILDS.inc()
        return undo

    async def rebuild_hospital(self, h: UUID) -> None:
        """Load every live queue of the hospital from the record, in the recorded order."""
        async with self._action(h, [], whole_hospital=True) as txn:
            if await self.live.is_ready(h):
                return  # another process rebuilt it while we waited for the lock
            await self._rebuild_locked(txn, None, mode="hospital")
        metrics.QUEUE_REBUILDS.inc()
        log.warning("live view rebuilt from PostgreSQL", hospital_id=str(h))

    async def repair_doctors(self, h: UUID, doctor_ids: list[UUID]) -> None:
        if not doctor_ids:
            return
        async with self._action(h, doctor_ids) as txn:
            await self._settle_locked(txn, doctor_ids)
            await self._rebuild_locked(txn, doctor_ids, mode="doctors")
        metrics.QUEUE_REBUILDS.inc()

    async def _rebuild_locked(self, txn: Txn, doctor_ids: list[UUID] | None, mode: str) -> None:
        conn, h = txn.conn, txn.h
        hosp = await doctors_db.hospital(conn, h)
        assert hosp
        today = calendar.local_day(self.now(), hosp["timezone"])
        docs = await doctors_db.hospital_doctors(conn, h, today)
        if doctor_ids is not None:
            docs = [d for d in docs if d["id"] in set(doctor_ids)]
        ids = [d["id"] for d in docs]
        rows = await tokens_db.live_tokens(conn, h, today, ids)
        stats = await doctors_db.consult_stats(conn, ids, today - timedelta(days=STATS_WINDOW_DAYS))
        pauses = await doctors_db.open_pauses(conn, ids)
        by_doctor: dict[UUID, dict[str, Any]] = {}
        for d in docs:
            n, mean, m2 = stats.get(d["id"], (0, 0.0, 0.0))
            pause = pauses.get(d["id"])
            fields: dict[str, Any] = {"name": d["name"], "cabin": d["cabin"] or "",
                                      "status": "PAUSED" if pause else "AVAILABLE",
                                      "n": n, "mean": mean, "m2": m2}
            if pause:
                fields["paused_since_ms"] = _ms(pause["started_at"])
                if pause["expected_min"]:
                    fields["pause_until"] = (pause["started_at"] + timedelta(
                        minutes=pause["expected_min"])).isoformat()
                fields["pause_reason"] = pause["reason"] or ""
            by_doctor[d["id"]] = {"id": str(d["id"]), "fields": fields, "waiting": []}
        tokens = []
        for r in rows:
            entry = by_doctor.get(r["doctor_id"])
            if entry is None:
                continue
            tokens.append(live_token(r, entry["fields"]["cabin"] or None))
            if r["status"] == "WAITING":
                entry["waiting"].append([str(r["id"]), r["queue_score"]])
            else:  # CALLED / IN_CONSULTATION: the doctor's current token
                f = entry["fields"]
                f["cur"], f["cur_status"] = str(r["id"]), r["status"]
                f["cur_since_ms"] = _ms(r["called_at"] or self.now())
                if r["called_at"]:  # the double-tap guard outlives a lost live view
                    f["last_call_ms"] = _ms(r["called_at"])
                if r["started_at"]:
                    f["started_ms"] = _ms(r["started_at"])
        await self.live.rebuild(h, mode, list(by_doctor.values()), tokens)
        for d in docs:
            await self._publish_queue(txn, d["id"])

    async def reconcile(self, h: UUID) -> list[UUID]:
        """Settle what dead processes left, compare each doctor's live view with the record,
        repair those that differ. Returns the repaired doctors. Run by the worker's cron."""
        if not await self.live.is_ready(h):
            await self.rebuild_hospital(h)
            return []
        hosp = await doctors_db.hospital(self.pool, h)
        assert hosp
        today = calendar.local_day(self.now(), hosp["timezone"])
        docs = await doctors_db.hospital_doctors(self.pool, h, today)
        repaired = []
        for d in docs:
            async with self._action(h, [d["id"]]) as txn:
                undo = await self._settle_locked(txn, [d["id"]])
                if undo or not await self._matches(txn, d["id"], today):
                    await self._rebuild_locked(txn, [d["id"]], mode="doctors")
                    repaired.append(d["id"])
        if repaired:
            log.warning("reconciler repaired live queues", doctors=[str(x) for x in repaired])
        return repaired

    async def _matches(self, txn: Txn, doctor_id: UUID, today: date) -> bool:
        live = await self.live.read_doctor(txn.h, doctor_id, txn.staging.id)
        rows = await tokens_db.live_tokens(txn.conn, txn.h, today, [doctor_id])
        waiting = [str(r["id"]) for r in rows if r["status"] == "WAITING"]  # in queue order
        current = [str(r["id"]) for r in rows if r["status"] != "WAITING"]
        live_current = [live.fields["cur"]] if live.fields.get("cur") else []
        return [t for t, _ in live.waiting] == waiting and live_current == current


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def close_day(svc: QueueService, h: UUID) -> int:
    """End of a hospital's day: close what earlier days left open, then bring the live view
    back to the record (yesterday's tokens leave the queues)."""
    today, _ = await svc.today(h)
    async with svc.pool.acquire() as conn, conn.transaction():
        await tokens_db.lock_hospital(conn, h)
        closed = await tokens_db.close_past_days(conn, h, today)
        await tokens_db.purge_actions(conn)
    if closed:
        log.info("closed tokens of earlier days", hospital_id=str(h), count=closed)
        await svc.reconcile(h)
    return closed
