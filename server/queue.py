"""Queue use-cases: domain rules + Redis live view + PostgreSQL record + events.

The one entry for routes and workers. Every action on a doctor's queue runs like this:

1. open a PostgreSQL transaction and take the doctor's advisory lock (and the hospital's,
   shared), so actions on one queue take turns across every process;
2. check the transition against the token's recorded status (domain.lifecycle);
3. run the Lua script: it changes the live queue, advances the sequence and publishes;
4. write the token row and its token_history row in a savepoint;
5. publish the queue's new positions and ETAs, then commit: the 2xx answer follows.

If step 4 fails after step 3 changed Redis, the doctor's live view is rebuilt from the
record before the lock is released (compensation), so no one acts on a diverged queue. If
Redis disagrees with the record (a script refuses what the record allows), the doctor is
repaired and the action retried once. If the live view is gone (flush, restart), the whole
hospital is rebuilt from PostgreSQL and the action retried.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import structlog

from server import metrics
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
from server.store.live import Applied, DoctorLive, LiveStore, NextResult, NotReady, Refused

log = structlog.get_logger("queue")
T = TypeVar("T")

STATS_WINDOW_DAYS = 30      # consult times learned over the last 30 days on a rebuild
_RETRYABLE = (NotReady,)


@dataclass(frozen=True)
class Actor:
    kind: str                # 'user' | 'patient' | 'system'
    id: UUID | None = None


SYSTEM = Actor("system")


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
        """Run fn; rebuild the hospital if its live view is gone, repair a diverged doctor."""
        for attempt in range(3):
            try:
                return await fn()
            except NotReady:
                if attempt == 2:
                    raise UnavailableError("the live queue could not be restored") from None
                await self.rebuild_hospital(h)
            except Diverged as exc:
                if attempt == 2:
                    raise UnavailableError("the live queue disagrees with the record") from None
                log.warning("live view diverged; repairing", reason=str(exc))
                await self.repair_doctors(h, exc.doctor_ids)
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def _locked(self, h: UUID, doctor_ids: list[UUID]
                      ) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            await tokens_db.lock_hospital_shared(conn, h)
            await tokens_db.lock_doctors(conn, doctor_ids)
            yield conn

    async def _record(self, conn: asyncpg.Connection, h: UUID, doctor_ids: list[UUID],
                      write: Callable[[], Awaitable[None]]) -> None:
        """Write the record of a change Redis already made; on failure put Redis back."""
        try:
            async with conn.transaction():
                await write()
        except Exception:
            log.exception("record failed after the live change; repairing from the record")
            metrics.QUEUE_REBUILDS.inc()
            with contextlib.suppress(Exception):
                await self._rebuild_locked(conn, h, doctor_ids, mode="doctors")
            raise

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

    # ------------------------------------------------------------------ issue
    async def issue(self, h: UUID, actor: Actor, *, patient_id: UUID, booking_type: str,
                    priority: int, doctor_id: UUID | None, department_id: UUID | None,
                    scheduled_time: datetime | None, visit_reason: str | None
                    ) -> dict[str, Any]:
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
        async with self._locked(h, [doctor_id]) as conn:
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
                at=now,
            )
            row = await tokens_db.get_token(conn, h, token_id)
            assert row
            if queued_now:
                res = await self.live.enqueue(h, doctor_id, live_token(row, ctx["cabin"]), score,
                                              "token.created")
                if isinstance(res, Refused):
                    raise Diverged([doctor_id], f"enqueue refused: {res.code}")
                await self._publish_queue(conn, h, doctor_id, ctx)
            else:
                await self.live.publish(h, "token.created", {"token": live_token(row),
                                                             "doctor_id": str(doctor_id)})
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
            try:
                live = await self.live.read_doctor(h, d["id"])
                fields, waiting = live.fields, len(live.waiting)
            except NotReady:
                fields, waiting = {}, 0
            on_shift = d["shift_end"] is not None and d["id"] not in away and (
                calendar.local_datetime(day, d["shift_end"], d["timezone"]) > now)
            out.append(assignment.Candidate(
                doctor_id=d["id"], waiting=waiting, on_shift=on_shift,
                eta_inputs=eta_inputs(fields, d["avg_consultation_min"], now)))
        return out

    # ------------------------------------------------------------------ next
    async def call_next(self, h: UUID, actor: Actor, doctor_id: UUID, *,
                        current_token_id: UUID | None, expect_given: bool
                        ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return await self._retrying(h, lambda: self._next_once(
            h, actor, doctor_id, current_token_id, expect_given))

    async def _next_once(self, h: UUID, actor: Actor, doctor_id: UUID,
                         current_token_id: UUID | None, expect_given: bool
                         ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        today, _ = await self.today(h)
        async with self._locked(h, [doctor_id]) as conn:
            now = self.now()  # after the lock, or a press that waited looks older than the last
            ctx = await self._doctor(conn, h, doctor_id, today)
            res = await self.live.call_next(
                h, doctor_id, expected=str(current_token_id) if current_token_id else None,
                expect_given=expect_given, guard_ms=self.settings.next_guard_ms,
                at_ms=int(now.timestamp() * 1000))
            if isinstance(res, Refused):
                await self._refuse_next(conn, h, res)
            assert isinstance(res, NextResult)
            completed = called = None
            if res.completed:
                completed = await tokens_db.get_token(conn, h, UUID(res.completed),
                                                      for_update=True)
                if not completed or completed["status"] not in ("CALLED", "IN_CONSULTATION"):
                    raise Diverged([doctor_id], "live current token is not current in the record")
            if res.called:
                called = await tokens_db.get_token(conn, h, UUID(res.called), for_update=True)
                if not called or called["status"] != "WAITING" or called["doctor_id"] != doctor_id:
                    raise Diverged([doctor_id], "live next token is not waiting in the record")

            async def write() -> None:
                if completed:
                    await tokens_db.set_status(
                        conn, completed["id"], "COMPLETED", now,
                        started_at=completed["started_at"] or completed["called_at"])
                    await tokens_db.insert_history(
                        conn, hospital_id=h, token_id=completed["id"], action="complete",
                        from_status=completed["status"], to_status="COMPLETED",
                        actor_kind=actor.kind, actor_id=actor.id, doctor_id=doctor_id,
                        reason="next", at=now, details={"seq": res.seq})
                if called:
                    await tokens_db.set_status(conn, called["id"], "CALLED", now,
                                               cabin_id=ctx["cabin_id"], position=None)
                    await tokens_db.insert_history(
                        conn, hospital_id=h, token_id=called["id"], action="call",
                        from_status="WAITING", to_status="CALLED", actor_kind=actor.kind,
                        actor_id=actor.id, doctor_id=doctor_id, at=now, details={"seq": res.seq})

            await self._record(conn, h, [doctor_id], write)
            if completed:
                await self._learn(h, doctor_id, completed, now)
            await self._publish_queue(conn, h, doctor_id, ctx)
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
        async with self._locked(h, doctor_ids) as conn:
            now = self.now()
            row = await tokens_db.get_token(conn, h, token_id, for_update=True)
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
            await handler(conn, h, actor, row, new_status, now, reason=reason,
                          to_doctor=to_doctor, priority=priority, geo_point=geo_point)
            metrics.QUEUE_ACTIONS.labels(action.value).inc()
            out = await tokens_db.get_token(conn, h, token_id)
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

    async def _history(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                       row: dict[str, Any], action: str, to_status: str, now: datetime,
                       reason: str | None, seq: int | None = None, **details: Any) -> None:
        await tokens_db.insert_history(
            conn, hospital_id=h, token_id=row["id"], action=action, from_status=row["status"],
            to_status=to_status, actor_kind=actor.kind, actor_id=actor.id, reason=reason,
            doctor_id=row["doctor_id"], at=now,
            details={k: str(v) for k, v in {"seq": seq, **details}.items() if v is not None})

    async def _check_in(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                        row: dict[str, Any], new_status: str, now: datetime, *,
                        geo_point: tuple[float, float] | None, reason: str | None, **_: Any
                        ) -> None:
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
        res = await self.live.enqueue(h, row["doctor_id"], live_token(queued, ctx["cabin"]),
                                      score, "token.updated")
        if isinstance(res, Refused):
            raise Diverged([row["doctor_id"]], f"check-in refused: {res.code}")

        async def write() -> None:
            await tokens_db.set_status(conn, row["id"], "WAITING", now, queue_score=score,
                                       cabin_id=ctx["cabin_id"],
                                       check_in_lat=geo_point[0] if geo_point else None,
                                       check_in_lon=geo_point[1] if geo_point else None)
            await self._history(conn, h, actor, row, "check-in", "WAITING", now, reason,
                                res.seq, self_service=geo_point is not None or None)

        await self._record(conn, h, [row["doctor_id"]], write)
        await self._publish_queue(conn, h, row["doctor_id"], ctx)

    async def _current(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                       row: dict[str, Any], new_status: str, now: datetime, *,
                       reason: str | None, op: str | None = None, **_: Any) -> None:
        """start / recall / complete (and no-show, skip of a CALLED token)."""
        op = op or {"IN_CONSULTATION": "start", "COMPLETED": "complete",
                    "CALLED": "recall"}[new_status]
        doctor_id = row["doctor_id"]
        ctx = await self._doctor(conn, h, doctor_id, row["service_date"])
        res = await self.live.current_op(
            h, doctor_id, row["id"], op, places=ctx["skip_places"],
            empty_score=now.timestamp(), at_ms=int(now.timestamp() * 1000))
        if isinstance(res, Refused):
            raise Diverged([doctor_id], f"{op} refused by live view: {res.code} {res.current}")
        assert isinstance(res, Applied)

        async def write() -> None:
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
            await self._history(conn, h, actor, row, op, new_status, now, reason, res.seq)

        await self._record(conn, h, [doctor_id], write)
        if op == "complete":
            await self._learn(h, doctor_id, row, now)
        await self._publish_queue(conn, h, doctor_id)

    async def _waiting(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                       row: dict[str, Any], new_status: str, now: datetime, op: str, *,
                       reason: str | None, arg: float = 0, priority: int = 0,
                       action: str | None = None) -> Applied:
        doctor_id = row["doctor_id"]
        res = await self.live.waiting_op(h, doctor_id, row["id"], op, arg=arg, priority=priority,
                                         at_ms=int(now.timestamp() * 1000))
        if isinstance(res, Refused):
            raise Diverged([doctor_id], f"{op} refused by live view: {res.code}")
        assert isinstance(res, Applied)

        async def write() -> None:
            extra: dict[str, Any] = {}
            if op == "skip":
                extra.update(queue_score=res.score, skip_count=row["skip_count"] + 1)
            if op == "rescore":
                extra.update(queue_score=res.score, priority=priority)
            if op in ("cancel", "reschedule"):
                extra["cancel_reason"] = reason
            if new_status == row["status"]:
                await tokens_db.update_fields(conn, row["id"], **extra)
            else:
                await tokens_db.set_status(conn, row["id"], new_status, now, position=None,
                                           **extra)
            await self._history(conn, h, actor, row, action or op, new_status, now, reason,
                                res.seq)

        await self._record(conn, h, [doctor_id], write)
        await self._publish_queue(conn, h, doctor_id)
        return res

    async def _offline(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                       row: dict[str, Any], new_status: str, now: datetime, action: str,
                       reason: str | None, **fields: Any) -> None:
        """A change to a token outside the live queue (BOOKED): the record, then an event."""
        if new_status == row["status"]:
            await tokens_db.update_fields(conn, row["id"], **fields)
        else:
            await tokens_db.set_status(conn, row["id"], new_status, now, **fields)
        await self._history(conn, h, actor, row, action, new_status, now, reason)
        updated = await tokens_db.get_token(conn, h, row["id"])
        assert updated
        data = {"token": live_token(updated), "doctor_id": str(updated["doctor_id"])}
        if updated["doctor_id"] != row["doctor_id"]:
            data["from_doctor_id"] = str(row["doctor_id"])
        await self.live.publish(h, "token.updated", data)

    async def _no_show(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                       row: dict[str, Any], new_status: str, now: datetime, *,
                       reason: str | None, **_: Any) -> None:
        if row["status"] == "CALLED":
            await self._current(conn, h, actor, row, new_status, now, reason=reason, op="no-show")
        elif row["status"] == "BOOKED":
            await self._offline(conn, h, actor, row, new_status, now, "no-show", reason)
        else:
            await self._waiting(conn, h, actor, row, new_status, now, "no-show", reason=reason)

    async def _skip(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                    row: dict[str, Any], new_status: str, now: datetime, *,
                    reason: str | None, **_: Any) -> None:
        if row["status"] == "CALLED":
            await self._current(conn, h, actor, row, new_status, now, reason=reason, op="skip")
            return
        ctx = await self._doctor(conn, h, row["doctor_id"], row["service_date"])
        await self._waiting(conn, h, actor, row, new_status, now, "skip", reason=reason,
                            arg=ctx["skip_places"])

    async def _cancel(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                      row: dict[str, Any], new_status: str, now: datetime, *,
                      reason: str | None, **_: Any) -> None:
        action = "cancel" if new_status == "CANCELLED" else "reschedule"
        if row["status"] == "WAITING":
            await self._waiting(conn, h, actor, row, new_status, now, action, reason=reason)
        else:
            await self._offline(conn, h, actor, row, new_status, now, action, reason,
                                cancel_reason=reason)

    async def _priority(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                        row: dict[str, Any], new_status: str, now: datetime, *,
                        reason: str | None, priority: int | None, **_: Any) -> None:
        assert priority is not None
        if row["status"] == "BOOKED":
            await self._offline(conn, h, actor, row, new_status, now, "priority", reason,
                                priority=priority)
            return
        ctx = await self._doctor(conn, h, row["doctor_id"], row["service_date"])
        arrived = row["checked_in_at"] or row["created_at"]
        score = queue_score(booking_type=row["booking_type"], priority=priority,
                            arrived_at=arrived, scheduled_time=row["scheduled_time"],
                            policy=self._policy(ctx))
        await self._waiting(conn, h, actor, row, new_status, now, "rescore", reason=reason,
                            arg=score, priority=priority, action="priority")

    async def _transfer(self, conn: asyncpg.Connection, h: UUID, actor: Actor,
                        row: dict[str, Any], new_status: str, now: datetime, *,
                        reason: str | None, to_doctor: UUID | None, **_: Any) -> None:
        assert to_doctor is not None
        if to_doctor == row["doctor_id"]:
            raise InvalidInput.field("doctor_id", "the token is already with this doctor")
        target = await doctors_db.doctor_context(conn, h, to_doctor, row["service_date"])
        if not target or not target["active"]:
            raise InvalidInput.field("doctor_id", "no such active doctor")
        if target["department_id"] != row["department_id"]:
            # the token's number belongs to its department's day sequence
            raise InvalidInput.field("doctor_id", "transfer within the token's department")
        if row["status"] == "BOOKED":
            await self._offline(conn, h, actor, row, new_status, now, "transfer", reason,
                                doctor_id=to_doctor, cabin_id=target["cabin_id"])
            return
        from_doctor = row["doctor_id"]
        res = await self.live.transfer(h, from_doctor, row["id"], to_doctor, row["queue_score"],
                                       target["cabin"], at_ms=int(now.timestamp() * 1000))
        if isinstance(res, Refused):
            raise Diverged([from_doctor, to_doctor], f"transfer refused: {res.code}")

        async def write() -> None:
            await tokens_db.update_fields(conn, row["id"], doctor_id=to_doctor,
                                          cabin_id=target["cabin_id"])
            await self._history(conn, h, actor, row, "transfer", new_status, now, reason,
                                res.seq, from_doctor=from_doctor, to_doctor=to_doctor)

        await self._record(conn, h, [from_doctor, to_doctor], write)
        await self._publish_queue(conn, h, from_doctor)
        await self._publish_queue(conn, h, to_doctor)

    # ------------------------------------------------------------------ doctor status
    async def set_paused(self, h: UUID, actor: Actor, doctor_id: UUID, paused: bool, *,
                         minutes: int | None = None, reason: str | None = None
                         ) -> dict[str, Any]:
        return await self._retrying(h, lambda: self._pause_once(
            h, actor, doctor_id, paused, minutes, reason))

    async def _pause_once(self, h: UUID, actor: Actor, doctor_id: UUID, paused: bool,
                          minutes: int | None, reason: str | None) -> dict[str, Any]:
        today, _ = await self.today(h)
        async with self._locked(h, [doctor_id]) as conn:
            now = self.now()
            ctx = await self._doctor(conn, h, doctor_id, today)
            until = (now + timedelta(minutes=minutes)).isoformat() if minutes else ""
            res = await self.live.doctor_status(
                h, doctor_id, "PAUSED" if paused else "AVAILABLE",
                department_id=ctx["department_id"], until=until,
                reason=reason or "", at_ms=int(now.timestamp() * 1000))
            if isinstance(res, Refused):
                raise Conflict(f"the doctor is already {res.current.lower()}",
                               extra={"current_status": res.current})

            async def write() -> None:
                if paused:
                    await tokens_db.open_pause(conn, h, doctor_id, minutes, reason, actor.id)
                else:
                    await tokens_db.close_pause(conn, doctor_id)

            await self._record(conn, h, [doctor_id], write)
            await self._publish_queue(conn, h, doctor_id, ctx)
            metrics.QUEUE_ACTIONS.labels("pause" if paused else "resume").inc()
            return {"doctor_id": str(doctor_id), "status": "PAUSED" if paused else "AVAILABLE",
                    "pause_until": until or None, "reason": reason}

    # ------------------------------------------------------------------ leave
    async def leave(self, h: UUID, actor: Actor, doctor_id: UUID, *, start: datetime,
                    end: datetime, reason: str, kind: str = "LEAVE") -> dict[str, Any]:
        """Record the leave; move the doctor's BOOKED/WAITING tokens in that window to other
        doctors of the department by shortest expected wait, or mark them RESCHEDULED."""
        today, _ = await self.today(h)
        ctx = await self._doctor(self.pool, h, doctor_id, today)
        async with self.pool.acquire() as conn:
            exception_id = await tokens_db.insert_exception(
                conn, hospital_id=h, doctor_id=doctor_id, kind=kind, start_at=start,
                end_at=end, reason=reason, created_by=actor.id)
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
                           ctx: dict[str, Any] | None = None) -> QueueState:
        """`ctx`: the doctor's context for today when the caller already read it."""
        now = self.now()
        if ctx is None:
            hosp = await doctors_db.hospital(conn, h)
            if not hosp:
                raise NotFound("no such hospital")
            ctx = await self._doctor(conn, h, doctor_id, calendar.local_day(now, hosp["timezone"]))
        today = calendar.local_day(now, ctx["timezone"])
        live = await self.live.read_doctor(h, doctor_id)
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
    async def _publish_queue(self, conn: Any, h: UUID, doctor_id: UUID,
                             ctx: dict[str, Any] | None = None) -> None:
        """queue.updated: the doctor's whole queue with positions and ETAs, and a snapshot of
        both in the record (what the patient was shown, for ETA accuracy later)."""
        q = await self._queue_state(conn, h, doctor_id, ctx)
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
        await self.live.publish(h, "queue.updated", {
            "doctor_id": str(doctor_id),
            "department_id": str(q.ctx["department_id"]),
            "cabin": q.ctx["cabin"],
            "doctor": {"id": str(doctor_id), "name": q.ctx["name"],
                       "status": fields.get("status", "AVAILABLE")},
            "current": live.current,
            "waiting": waiting,
        }, at_ms=int(now.timestamp() * 1000))
        if ids:
            await tokens_db.snapshot_positions(conn, ids, positions, p50s, p90s, now)

    # ------------------------------------------------------------------ rebuild / repair
    async def rebuild_hospital(self, h: UUID) -> None:
        """Load every live queue of the hospital from the record, in the recorded order."""
        async with self.pool.acquire() as conn, conn.transaction():
            await tokens_db.lock_hospital(conn, h)
            if await self.live.is_ready(h):
                return  # another process rebuilt it while we waited for the lock
            await self._rebuild_locked(conn, h, None, mode="hospital")
        metrics.QUEUE_REBUILDS.inc()
        log.warning("live view rebuilt from PostgreSQL", hospital_id=str(h))

    async def repair_doctors(self, h: UUID, doctor_ids: list[UUID]) -> None:
        if not doctor_ids:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await tokens_db.lock_hospital_shared(conn, h)
            await tokens_db.lock_doctors(conn, doctor_ids)
            if not await self.live.is_ready(h):
                raise NotReady("hospital live view missing")
            await self._rebuild_locked(conn, h, doctor_ids, mode="doctors")
        metrics.QUEUE_REBUILDS.inc()

    async def _rebuild_locked(self, conn: asyncpg.Connection, h: UUID,
                              doctor_ids: list[UUID] | None, mode: str) -> None:
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
                fields["paused_since_ms"] = int(pause["started_at"].timestamp() * 1000)
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
                f["cur_since_ms"] = int((r["called_at"] or self.now()).timestamp() * 1000)
                if r["started_at"]:
                    f["started_ms"] = int(r["started_at"].timestamp() * 1000)
        await self.live.rebuild(h, mode, list(by_doctor.values()), tokens)
        for d in docs:
            await self._publish_queue(conn, h, d["id"])

    async def reconcile(self, h: UUID) -> list[UUID]:
        """Compare each doctor's live view with the record; repair those that differ.
        Returns the repaired doctors. Run by the worker's cron (and after faults)."""
        if not await self.live.is_ready(h):
            await self.rebuild_hospital(h)
            return []
        hosp = await doctors_db.hospital(self.pool, h)
        assert hosp
        today = calendar.local_day(self.now(), hosp["timezone"])
        docs = await doctors_db.hospital_doctors(self.pool, h, today)
        repaired = []
        for d in docs:
            async with self._locked(h, [d["id"]]) as conn:
                if not await self._matches(conn, h, d["id"], today):
                    await self._rebuild_locked(conn, h, [d["id"]], mode="doctors")
                    repaired.append(d["id"])
        if repaired:
            log.warning("reconciler repaired live queues", doctors=[str(x) for x in repaired])
        return repaired

    async def _matches(self, conn: asyncpg.Connection, h: UUID, doctor_id: UUID,
                       today: date) -> bool:
        live = await self.live.read_doctor(h, doctor_id)
        rows = await tokens_db.live_tokens(conn, h, today, [doctor_id])
        waiting = [str(r["id"]) for r in rows if r["status"] == "WAITING"]  # in queue order
        current = [str(r["id"]) for r in rows if r["status"] != "WAITING"]
        live_current = [live.fields["cur"]] if live.fields.get("cur") else []
        return [t for t, _ in live.waiting] == waiting and live_current == current


async def close_day(svc: QueueService, h: UUID) -> int:
    """End of a hospital's day: close what earlier days left open, then bring the live view
    back to the record (yesterday's tokens leave the queues)."""
    today, _ = await svc.today(h)
    async with svc.pool.acquire() as conn, conn.transaction():
        await tokens_db.lock_hospital(conn, h)
        closed = await tokens_db.close_past_days(conn, h, today)
    if closed:
        log.info("closed tokens of earlier days", hospital_id=str(h), count=closed)
        await svc.reconcile(h)
    return closed
