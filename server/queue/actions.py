"""Issue, Next, pause and leave: the doctor-level actions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from server import idempotency, metrics
from server.db import action_txn
from server.db import doctors as doctors_db
from server.db import patients as patients_db
from server.db import tokens as tokens_db
from server.domain import assignment, calendar
from server.domain import lifecycle as lc
from server.domain.eta import Learned, learn
from server.domain.ordering import queue_score
from server.errors import Conflict, DuplicateToken, InvalidInput, InvalidTransition
from server.presenters import live_token
from server.queue.base import PLACE_KEY, RISK_KEY, Actor, Diverged, QueueBase, epoch_ms
from server.store.live import DoctorState, NextResult, Refused


class Actions(QueueBase):
    # ------------------------------------------------------------------ issue
    async def issue(self, h: UUID, actor: Actor, *, patient_id: UUID, booking_type: str,
                    priority: int, doctor_id: UUID | None, department_id: UUID | None,
                    scheduled_time: datetime | None, visit_reason: str | None,
                    allow_duplicate: bool = False) -> dict[str, Any]:
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
            scheduled_time=scheduled_time, visit_reason=visit_reason,
            allow_duplicate=allow_duplicate))

    async def _issue_once(self, h: UUID, actor: Actor, day: date, today: date,
                          *, patient_id: UUID, booking_type: str, priority: int,
                          doctor_id: UUID, department_id: UUID | None,
                          scheduled_time: datetime | None, visit_reason: str | None,
                          allow_duplicate: bool) -> dict[str, Any]:
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
            await action_txn.lock_patient(conn, patient_id)
            if not allow_duplicate and (dup := await tokens_db.live_duplicate(
                    conn, h, patient_id, ctx["department_id"], day)):
                existing = await tokens_db.get_token(conn, h, dup)
                assert existing
                raise DuplicateToken(dup, existing["number"])
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
            row = await tokens_db.insert_token(
                conn, hospital_id=h, department_id=ctx["department_id"], doctor_id=doctor_id,
                cabin_id=ctx["cabin_id"], patient_id=patient_id, service_date=day, seq=seq,
                number=f"{ctx['department_code']}-{seq:03d}", booking_type=booking_type,
                priority=priority, status=status, queue_score=score if queued_now else None,
                scheduled_time=scheduled_time, visit_reason=visit_reason, created_at=now,
                checked_in_at=now if status == "WAITING" else None,
            )
            await tokens_db.insert_history(
                conn, hospital_id=h, token_id=row["id"], action="issue", from_status=None,
                to_status=status, actor_kind=actor.kind, actor_id=actor.id, doctor_id=doctor_id,
                at=now, action_id=txn.id,
            )
            if queued_now:
                res = await self.live.enqueue(h, txn.staging, doctor_id,
                                              live_token(row, ctx["cabin"]), score,
                                              "token.created", at_ms=epoch_ms(now))
                if isinstance(res, Refused):
                    raise Diverged([doctor_id], f"enqueue refused: {res.code}")
                q = await self._publish_queue(txn, doctor_id, ctx, live=res.view)
                # the answer's place as published, and no risk yet (routes.render reuses both)
                row = {**row, PLACE_KEY: q.place_of(row["id"]), RISK_KEY: None}
            else:
                await self.live.publish(h, txn.staging, "token.created",
                                        {"token": live_token(row), "doctor_id": str(doctor_id)},
                                        doctors=[doctor_id], at_ms=epoch_ms(now))
            metrics.QUEUE_ACTIONS.labels("issue").inc()
            return row

    # ------------------------------------------------------------------ next
    async def call_next(self, h: UUID, actor: Actor, doctor_id: UUID, *,
                        current_token_id: UUID | None, expect_given: bool,
                        ctx: dict[str, Any] | None = None
                        ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """`ctx`: the doctor's context for today, when the caller read it already (the route
        does, for its access check): the press then reads neither hospital nor doctor again."""
        if (done := idempotency.replaying()) is not None:
            ids = await tokens_db.tokens_of_action(self.pool, h, done)
            return await self._token(h, ids.get("complete")), await self._token(h, ids.get("call"))
        if ctx is None:
            ctx = await self._doctor(self.pool, h, doctor_id, (await self.today(h))[0])
        doctor = ctx
        return await self._retrying(h, lambda: self._next_once(
            h, actor, doctor_id, current_token_id, expect_given, doctor))

    async def _next_once(self, h: UUID, actor: Actor, doctor_id: UUID,
                         current_token_id: UUID | None, expect_given: bool,
                         ctx: dict[str, Any]
                         ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        async with self._action(h, [doctor_id], request=True) as txn:
            conn = txn.conn
            now = self.now()  # after the lock, or a press that waited looks older than the last
            today = calendar.local_day(now, ctx["timezone"])
            res = await self.live.call_next(
                h, txn.staging, doctor_id,
                expected=str(current_token_id) if current_token_id else None,
                expect_given=expect_given, guard_ms=self.settings.next_guard_ms,
                at_ms=epoch_ms(now))
            if isinstance(res, Refused):
                await self._refuse_next(conn, h, res)
            assert isinstance(res, NextResult)
            if not res.completed and await tokens_db.current_of(conn, doctor_id, today):
                raise Diverged([doctor_id], "the record has a current token the live view lost")
            after = [UUID(t) for t, _ in res.view.waiting]
            done = UUID(res.completed) if res.completed else None
            call = UUID(res.called) if res.called else None
            # nobody current and nobody to call (an empty queue): nothing for the record
            press = await tokens_db.next_press(
                conn, hospital_id=h, completed=done, called=call, at=now,
                cabin_id=ctx["cabin_id"], actor_kind=actor.kind, actor_id=actor.id,
                doctor_id=doctor_id, action_id=txn.id, queue=after + ([call] if call else [])
            ) if done or call or after else tokens_db.NextPress({}, {})
            completed = press.rows.get(done) if done else None
            called = press.rows.get(call) if call else None
            if done and not completed:
                raise Diverged([doctor_id], "live current token is not current in the record")
            if call and not called:
                raise Diverged([doctor_id], "live next token is not waiting in the record")
            learned = self._learned(res.view.doctor, completed, now) if completed else None
            await self._publish_queue(txn, doctor_id, ctx, learned=learned, live=res.view,
                                      risks=press.risks)
            metrics.QUEUE_ACTIONS.labels("next").inc()
            # the answer's risks as read with the rows (routes.render.tokens reuses them)
            return tuple(  # type: ignore[return-value]
                {**t, RISK_KEY: press.risks.get(t["id"])} if t else None
                for t in (completed, called))

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

    def _learned(self, known: DoctorState, row: dict[str, Any], now: datetime
                 ) -> Learned | None:
        """The doctor's consult statistics (ETA) with the finished consult counted, for the
        queue.updated to count and its script to store (reads._publish_queue); `known`: the
        doctor's live state as the action's script returned it."""
        began = row.get("started_at") or row.get("called_at")
        if not began:
            return None
        return learn(known.learned(), (now - began).total_seconds() / 60, epoch_ms(now))

    # ------------------------------------------------------------------ doctor status
    async def set_paused(self, h: UUID, actor: Actor, doctor_id: UUID, paused: bool, *,
                         minutes: int | None = None, reason: str | None = None
                         ) -> dict[str, Any]:
        if idempotency.replaying() is not None:
            live = await self._retrying(h, lambda: self.live.read_doctor(h, doctor_id))
            return {"doctor_id": str(doctor_id), "status": live.doctor.status,
                    "pause_until": live.doctor.pause_until, "reason": live.doctor.pause_reason}
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
                at_ms=epoch_ms(now))
            if isinstance(res, Refused):
                raise Conflict(f"the doctor is already {res.current.lower()}",
                               extra={"current_status": res.current})
            if paused:
                await tokens_db.open_pause(txn.conn, h, doctor_id, minutes, reason, actor.id,
                                           at=now)
            else:
                await tokens_db.close_pause(txn.conn, doctor_id, at=now)
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
