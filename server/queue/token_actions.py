"""The single-token actions (check-in, start, recall, complete, no-show, skip, cancel,
reschedule, transfer, priority): one entry, `act`, and a handler per action."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from server import idempotency, metrics
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.domain import calendar, geo
from server.domain import lifecycle as lc
from server.domain.eta import ConsultStats, EtaInputs, Learned, blended_mean
from server.domain.ordering import emergency_line, late_places, queue_score
from server.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.presenters import live_token
from server.queue.base import (
    PLACE_KEY,
    RISK_KEY,
    Actor,
    Diverged,
    QueueBase,
    Txn,
    epoch_ms,
    refused_transition,
)
from server.store.live import Applied, DoctorLive, Refused


@dataclass(frozen=True)
class Step:
    """One single-token action under way: what every handler needs, in one value."""

    txn: Txn
    actor: Actor
    row: dict[str, Any]               # the token, locked FOR UPDATE
    new_status: str
    now: datetime
    reason: str | None = None
    to_doctor: UUID | None = None     # transfer
    priority: int | None = None       # priority
    geo_point: tuple[float, float] | None = None   # self check-in
    minutes: int | None = None        # running late
    note: str = ""                    # shown on the doctor's console with the event
    # read once on the way: "ctx" the doctor's context of the token's day, "row" the token
    # as the action left it (what the answer shows)
    held: dict[str, Any] = field(default_factory=dict)

    @property
    def doctor_id(self) -> UUID:
        return self.row["doctor_id"]  # type: ignore[no-any-return]


class TokenActions(QueueBase):
    # ------------------------------------------------------------------ token actions
    async def act(self, h: UUID, actor: Actor, token_id: UUID, action: lc.Action, *,
                  reason: str | None = None, to_doctor: UUID | None = None,
                  priority: int | None = None, geo_point: tuple[float, float] | None = None,
                  minutes: int | None = None, note: str = "",
                  check: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Any single-token action. `check` sees the locked row first (access rules)."""
        if idempotency.replaying() is not None and (row := await self._token(h, token_id)):
            return row
        return await self._retrying(h, lambda: self._act_once(
            h, actor, token_id, action, reason=reason, to_doctor=to_doctor, priority=priority,
            geo_point=geo_point, minutes=minutes, note=note, check=check))

    async def _act_once(self, h: UUID, actor: Actor, token_id: UUID, action: lc.Action, *,
                        reason: str | None, to_doctor: UUID | None, priority: int | None,
                        geo_point: tuple[float, float] | None, minutes: int | None, note: str,
                        check: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
        peek = await tokens_db.get_token(self.pool, h, token_id)
        if not peek:
            raise NotFound("no such token")
        doctor_ids = [d for d in (peek["doctor_id"], to_doctor) if d]
        async with self._action(h, doctor_ids, request=True) as txn:
            now = self.now()
            rows, risks = await tokens_db.tokens_with_risk(txn.conn, h, [token_id],
                                                           for_update=True)
            row = rows[token_id]
            if row["doctor_id"] != peek["doctor_id"]:
                raise Diverged([], "token moved while locking; retry")
            if check:
                check(row)
            try:
                new_status = lc.next_status(lc.Status(row["status"]), action)
            except lc.InvalidTransition:
                raise refused_transition(row["status"], action.value) from None
            step = Step(txn, actor, row, new_status, now, reason, to_doctor, priority,
                        geo_point, minutes, note)
            await self._handlers()[action](step)
            metrics.QUEUE_ACTIONS.labels(action.value).inc()
            out = step.held.get("row") or await tokens_db.get_token(txn.conn, h, token_id)
            assert out
            # the answer's risk as read with the row, and its place in the queue as published
            # (routes.render.tokens reuses them)
            answer = {**out, RISK_KEY: risks.get(token_id)}
            if "place" in step.held:
                answer[PLACE_KEY] = step.held["place"]
            return answer

    def _handlers(self) -> dict[lc.Action, Callable[[Step], Awaitable[None]]]:
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
            lc.Action.REINSTATE: self._reinstate,
            lc.Action.RUNNING_LATE: self._running_late,
        }

    async def _record(self, s: Step, action: str, **fields: Any) -> None:
        """The token row (its new status and fields; a token leaving or entering the queue
        loses its shown position) and its history row, in the action's transaction."""
        conn, row = s.txn.conn, s.row
        if s.new_status == row["status"]:
            s.held["row"] = await tokens_db.update_fields(conn, row["id"], **fields)
        else:
            s.held["row"] = await tokens_db.set_status(conn, row["id"], s.new_status, s.now,
                                                       **{"position": None, **fields})
        await self._history(s, action)

    async def _publish(self, s: Step, ctx: dict[str, Any], live: DoctorLive | None,
                       learned: Learned | None = None) -> None:
        """The doctor's queue.updated, and the token's place in it for the answer."""
        q = await self._publish_queue(s.txn, s.doctor_id, ctx, learned=learned, live=live)
        s.held["place"] = q.place_of(s.row["id"])

    async def _ctx(self, s: Step) -> dict[str, Any]:
        """The doctor's context of the token's day, read once per action."""
        if "ctx" not in s.held:
            s.held["ctx"] = await self._doctor(s.txn.conn, s.txn.h, s.doctor_id,
                                               s.row["service_date"])
        return s.held["ctx"]  # type: ignore[no-any-return]

    async def _history(self, s: Step, action: str, **details: Any) -> None:
        row = s.row
        await tokens_db.insert_history(
            s.txn.conn, hospital_id=s.txn.h, token_id=row["id"], action=action,
            from_status=row["status"], to_status=s.new_status, actor_kind=s.actor.kind,
            actor_id=s.actor.id, reason=s.reason, doctor_id=row["doctor_id"], at=s.now,
            details={k: str(v) for k, v in details.items() if v is not None},
            action_id=s.txn.id)

    async def _check_in(self, s: Step) -> None:
        txn, row, now, geo_point = s.txn, s.row, s.now, s.geo_point
        hosp = await doctors_db.hospital(txn.conn, txn.h)
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
        ctx = await self._doctor(txn.conn, txn.h, s.doctor_id, today)
        score = queue_score(booking_type=row["booking_type"], priority=row["priority"],
                            arrived_at=now, scheduled_time=row["scheduled_time"],
                            policy=self._policy(ctx))
        queued = {**row, "status": "WAITING", "cabin_number": ctx["cabin"]}
        res = await self.live.enqueue(txn.h, txn.staging, s.doctor_id,
                                      live_token(queued, ctx["cabin"]), score, "token.updated",
                                      at_ms=epoch_ms(now))
        if isinstance(res, Refused):
            raise Diverged([s.doctor_id], f"check-in refused: {res.code}")
        s.held["row"] = await tokens_db.set_status(
            txn.conn, row["id"], "WAITING", now, queue_score=score, cabin_id=ctx["cabin_id"],
            check_in_lat=geo_point[0] if geo_point else None,
            check_in_lon=geo_point[1] if geo_point else None)
        await self._history(s, "check-in", self_service=geo_point is not None or None)
        await self._publish(s, ctx, res.view)

    async def _current(self, s: Step, op: str | None = None) -> None:
        """start / recall / complete (and no-show, skip of a CALLED token)."""
        op = op or {"IN_CONSULTATION": "start", "COMPLETED": "complete",
                    "CALLED": "recall"}[s.new_status]
        txn, row, doctor_id = s.txn, s.row, s.doctor_id
        ctx = await self._ctx(s)
        res = await self.live.current_op(
            txn.h, txn.staging, doctor_id, row["id"], op, places=ctx["skip_places"],
            empty_score=s.now.timestamp(), at_ms=epoch_ms(s.now))
        if isinstance(res, Refused):
            raise Diverged([doctor_id], f"{op} refused by live view: {res.code} {res.current}")
        assert isinstance(res, Applied)
        fields: dict[str, Any] = {}
        if op == "recall":
            fields["recall_count"] = row["recall_count"] + 1
        if op == "complete":
            fields["started_at"] = row["started_at"] or row["called_at"]
        if op == "skip":
            fields.update(queue_score=res.score, skip_count=row["skip_count"] + 1,
                          called_at=None)
        await self._record(s, op, **fields)
        learned = self._learned(res.view.doctor, row, s.now) \
            if op == "complete" and res.view else None
        await self._publish(s, ctx, res.view, learned)

    async def _waiting(self, s: Step, op: str, *, arg: float = 0, priority: int = 0,
                       action: str | None = None) -> None:
        txn, row = s.txn, s.row
        res = await self.live.waiting_op(txn.h, txn.staging, s.doctor_id, row["id"], op,
                                         arg=arg, priority=priority, at_ms=epoch_ms(s.now),
                                         note=s.note)
        if isinstance(res, Refused):
            raise Diverged([s.doctor_id], f"{op} refused by live view: {res.code}")
        assert isinstance(res, Applied)
        fields: dict[str, Any] = {}
        if op == "skip":
            fields.update(queue_score=res.score, skip_count=row["skip_count"] + 1)
        if op == "late":
            fields.update(queue_score=res.score, late_count=row["late_count"] + 1)
        if op == "rescore":
            fields.update(queue_score=res.score, priority=priority)
        if op in ("cancel", "reschedule"):
            fields["cancel_reason"] = s.reason
        await self._record(s, action or op, **fields)
        await self._publish(s, await self._ctx(s), res.view)

    async def _offline(self, s: Step, action: str, **fields: Any) -> None:
        """A change to a token outside the live queue (BOOKED): the record, then an event."""
        txn, row = s.txn, s.row
        await self._record(s, action, **fields)
        updated = await tokens_db.get_token(txn.conn, txn.h, row["id"])
        assert updated
        data = {"token": live_token(updated), "doctor_id": str(updated["doctor_id"])}
        if s.note:
            data["note"] = s.note
        doctors = [updated["doctor_id"]]
        if updated["doctor_id"] != row["doctor_id"]:
            data["from_doctor_id"] = str(row["doctor_id"])
            doctors.append(row["doctor_id"])
        await self.live.publish(txn.h, txn.staging, "token.updated", data, doctors=doctors,
                                at_ms=epoch_ms(s.now))

    async def _no_show(self, s: Step) -> None:
        if s.row["status"] == "CALLED":
            await self._current(s, op="no-show")
        elif s.row["status"] == "BOOKED":
            await self._offline(s, "no-show")
        else:
            await self._waiting(s, "no-show")

    async def _skip(self, s: Step) -> None:
        if s.row["status"] == "CALLED":
            await self._current(s, op="skip")
            return
        ctx = await self._ctx(s)
        await self._waiting(s, "skip", arg=ctx["skip_places"])

    async def _cancel(self, s: Step) -> None:
        action = "cancel" if s.new_status == "CANCELLED" else "reschedule"
        if s.row["status"] == "WAITING":
            await self._waiting(s, action)
        else:
            await self._offline(s, action, cancel_reason=s.reason)

    async def _priority(self, s: Step) -> None:
        assert s.priority is not None
        row = s.row
        if row["status"] == "BOOKED":
            await self._offline(s, "priority", priority=s.priority)
            return
        ctx = await self._ctx(s)
        arrived = row["checked_in_at"] or row["created_at"]
        score = queue_score(booking_type=row["booking_type"], priority=s.priority,
                            arrived_at=arrived, scheduled_time=row["scheduled_time"],
                            policy=self._policy(ctx))
        await self._waiting(s, "rescore", arg=score, priority=s.priority, action="priority")

    async def _transfer(self, s: Step) -> None:
        assert s.to_doctor is not None
        txn, row, to_doctor = s.txn, s.row, s.to_doctor
        if to_doctor == row["doctor_id"]:
            raise InvalidInput.field("doctor_id", "the token is already with this doctor")
        target = await doctors_db.doctor_context(txn.conn, txn.h, to_doctor, row["service_date"])
        if not target or not target["active"]:
            raise InvalidInput.field("doctor_id", "no such active doctor")
        if target["department_id"] != row["department_id"]:
            # the token's number belongs to its department's day sequence
            raise InvalidInput.field("doctor_id", "transfer within the token's department")
        if row["status"] == "BOOKED":
            await self._offline(s, "transfer", doctor_id=to_doctor, cabin_id=target["cabin_id"])
            return
        from_doctor = row["doctor_id"]
        res = await self.live.transfer(txn.h, txn.staging, from_doctor, row["id"], to_doctor,
                                       row["queue_score"], target["cabin"],
                                       at_ms=epoch_ms(s.now))
        if isinstance(res, Refused):
            raise Diverged([from_doctor, to_doctor], f"transfer refused: {res.code}")
        await tokens_db.update_fields(txn.conn, row["id"], doctor_id=to_doctor,
                                      cabin_id=target["cabin_id"])
        await self._history(s, "transfer", from_doctor=from_doctor, to_doctor=to_doctor)
        await self._publish_queue(txn, from_doctor)
        await self._publish_queue(txn, to_doctor)

    async def _reinstate(self, s: Step) -> None:
        """Back to WAITING behind the department's `reinstate_places` waiting (never ahead
        of an emergency): not the front, which would pass those who came on time, nor the
        end, which would punish a patient the desk has decided to take back."""
        txn, row, now = s.txn, s.row, s.now
        ctx = await self._ctx(s)
        if row["service_date"] != calendar.local_day(now, ctx["timezone"]):
            raise Conflict("only a token of today can be reinstated",
                           extra={"current_status": row["status"]})
        arrived = row["checked_in_at"] or now
        own = queue_score(booking_type=row["booking_type"], priority=row["priority"],
                          arrived_at=arrived, scheduled_time=row["scheduled_time"],
                          policy=self._policy(ctx))
        emergency = own < emergency_line(now.timestamp())
        queued = {**row, "status": "WAITING", "cabin_number": ctx["cabin"], "called_at": None}
        res = await self.live.enqueue(
            txn.h, txn.staging, s.doctor_id, live_token(queued, ctx["cabin"]), own,
            "token.updated", at_ms=epoch_ms(now), note=s.note,
            behind=None if emergency else (ctx["reinstate_places"],
                                           emergency_line(now.timestamp())))
        if isinstance(res, Refused):
            raise Diverged([s.doctor_id], f"reinstate refused: {res.code}")
        assert isinstance(res, Applied) and res.score is not None
        s.held["row"] = await tokens_db.set_status(
            txn.conn, row["id"], "WAITING", now, queue_score=res.score, cabin_id=ctx["cabin_id"],
            checked_in_at=arrived, called_at=None, started_at=None, no_show_at=None,
            cancelled_at=None, cancel_reason=None, position=None,
            reinstate_count=row["reinstate_count"] + 1)
        await self._history(s, "reinstate")
        await self._publish(s, ctx, res.view)

    async def _running_late(self, s: Step) -> None:
        """The patient's "I'll be N min late": back by the consults that fit in N minutes.
        A booked patient not yet here keeps the booking (its grace covers small delays);
        the doctor's console is told either way."""
        assert s.minutes is not None
        row = s.row
        if row["late_count"] >= lc.LATE_LIMIT:
            raise Conflict(f"you can say you are running late {lc.LATE_LIMIT} times a day; "
                           "please go to the reception desk",
                           extra={"current_status": row["status"], "late_count": row["late_count"]})
        if row["status"] == "BOOKED":
            await self._offline(s, "running-late", late_count=row["late_count"] + 1)
            return
        ctx = await self._ctx(s)
        n, mean, m2 = await self.live.consult_stats(s.txn.h, s.doctor_id)
        per_consult = blended_mean(EtaInputs(dept_avg_min=ctx["dept_avg_min"],
                                             stats=ConsultStats(n, mean, m2),
                                             current_elapsed_min=None))
        await self._waiting(s, "late", arg=late_places(s.minutes, per_consult),
                            action="running-late")
