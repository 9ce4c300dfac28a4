"""Reads of the live queue (positions, ETAs, assignment candidates) and the queue.updated
event every action publishes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from server import views
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.db.action_txn import Shown
from server.domain import assignment, calendar
from server.domain.calendar import shift_start_dt
from server.domain.eta import Learned
from server.errors import Conflict, InvalidInput, NotFound
from server.presenters import eta_inputs, queue_etas
from server.queue.base import QueueBase, QueueState, Txn, epoch_ms
from server.store.live import DoctorLive


class Reads(QueueBase):
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
                eta_inputs=eta_inputs(live.doctor, d["avg_consultation_min"], now,
                                      shift_start_dt(d, now))))
        return out
    # ------------------------------------------------------------------ reads
    async def doctor_queue(self, h: UUID, doctor_id: UUID, ctx: dict[str, Any] | None = None
                           ) -> tuple[QueueState, dict[UUID, dict[str, Any]]]:
        """The doctor's queue in order, with the token rows: 1 Redis round trip and 3
        queries (2 when the caller read the doctor's context), whatever its length."""
        async def once() -> tuple[QueueState, dict[UUID, dict[str, Any]]]:
            q = await self._queue_state(self.pool, h, doctor_id, ctx, rows=True)
            assert q.rows is not None
            return q, q.rows

        return await self._retrying(h, once)

    async def _queue_state(self, conn: Any, h: UUID, doctor_id: UUID,
                           ctx: dict[str, Any] | None = None, action: str = "",
                           learned: Learned | None = None, rows: bool = False,
                           live: DoctorLive | None = None,
                           risks: dict[UUID, dict[str, Any]] | None = None) -> QueueState:
        """`ctx`: the doctor's context for today when the caller already read it; `action`:
        the reading action's id (it may read the change it is making); `learned`: consult
        statistics the action updated (its ETAs count them); `rows`: read the tokens' rows
        too (with their risks, in one query); `live`: the queue as the action's script
        returned it (no second read); `risks`: the queue's latest risks, when the action read
        them with its own statement (no second read)."""
        now = self.now()
        if ctx is None:
            ctx = await doctors_db.doctor_context_at(conn, h, doctor_id, now)
            if not ctx:
                raise NotFound("no such doctor")
        if live is None:
            live = await self.live.read_doctor(h, doctor_id, action)
        if learned is not None:
            live = replace(live, doctor=live.doctor.with_learned(learned))
        ids = [UUID(t) for t, _ in live.waiting]
        cur = live.doctor.current
        every = ids + ([UUID(cur)] if cur else [])
        found = None
        if rows:
            found, risks = await tokens_db.tokens_with_risk(conn, h, every)
        elif risks is None:
            risks = await tokens_db.latest_risk(conn, every)
        show = [float(risks[i]["show_probability"]) if i in risks else 1.0 for i in ids]
        etas_ = queue_etas(doctor=live.doctor, n_waiting=len(ids),
                           dept_avg_min=ctx["avg_consultation_min"], now=now,
                           show_probs=show, shift_start=shift_start_dt(ctx, now),
                           scores=[score for _, score in live.waiting],
                           senior_credit_min=ctx["senior_credit_min"])
        return QueueState(ctx=ctx, live=live, risks=risks, now=now, rows=found,
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

    async def token_positions(self, h: UUID, rows: list[dict[str, Any]]
                              ) -> dict[UUID, tuple[int, Any]]:
        """Positions and ETAs of the waiting tokens among `rows`: one read per doctor's
        queue, not one per token (the desk's list holds hundreds)."""
        out: dict[UUID, tuple[int, Any]] = {}
        doctors = {r["doctor_id"] for r in rows if r["status"] == "WAITING" and r["doctor_id"]}
        for doctor_id in sorted(doctors, key=str):
            q = await self._retrying(h, lambda d=doctor_id: self._queue_state(self.pool, h, d))
            out.update((tid, (pos, eta)) for tid, pos, eta in q.waiting)
        return out
    # ------------------------------------------------------------------ events
    async def _publish_queue(self, txn: Txn, doctor_id: UUID,
                             ctx: dict[str, Any] | None = None, *,
                             learned: Learned | None = None,
                             live: DoctorLive | None = None,
                             risks: dict[UUID, dict[str, Any]] | None = None) -> QueueState:
        """queue.updated: the doctor's whole queue with positions and ETAs (staged with the
        action), and a snapshot of both for the record (what the patient was shown, for ETA
        accuracy later), written with the action's COMMIT. Returns the queue as published."""
        q = await self._queue_state(txn.conn, txn.h, doctor_id, ctx, txn.staging.id,
                                    learned, live=live, risks=risks)
        await self.live.publish(txn.h, txn.staging, "queue.updated", views.queue_event(q),
                                doctors=[doctor_id], at_ms=epoch_ms(q.now), learned=learned)
        txn.shown.update((tid, Shown(pos, eta.p50_min, eta.p90_min, q.now))
                         for tid, pos, eta in q.waiting)
        return q
