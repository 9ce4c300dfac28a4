"""Settle, rebuild, repair, reconcile, close the day: bringing the live view back to the
record after a fault."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from server import metrics
from server.db import action_txn
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.domain import calendar
from server.presenters import live_doctor, live_token
from server.queue.base import QueueBase, Txn, live_seen, log
from server.store.live import NotReady

STATS_WINDOW_DAYS = 30      # consult times learned over the last 30 days on a rebuild
PROCESS_STARTED = time.time()


class Recovery(QueueBase):
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
        done = await action_txn.committed(txn.conn, list(actions))
        undo: list[UUID] = []
        for action in actions:
            docs = [d for d, a in marks.items() if UUID(a) == action]
            if action in done:
                n = await self.live.emit(txn.h, str(action), docs)
                if n:
                    log.warning("announced a committed action its process left unsettled",
                                events=n, doctors=len(docs))
                else:  # its own process announced it while we waited for the lock: a race
                    log.info("a committed action was announced by its own process meanwhile",
                             doctors=len(docs))
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
            loaded_before, redis_up_s = await self.live.load_history(h)
            await self._rebuild_locked(txn, None, mode="hospital")
        metrics.QUEUE_REBUILDS.inc()
        if _expected_load(h, loaded_before, redis_up_s):
            log.info("live view loaded from PostgreSQL", hospital_id=str(h),
                     why="Redis restarted since the last load" if loaded_before
                     else "Redis held none")
        else:
            log.warning("live view rebuilt from PostgreSQL: Redis lost it (restarted, failed "
                        "over or emptied) while this process was running", hospital_id=str(h))
        live_seen.add(h)

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
        current = {r["doctor_id"]: r for r in rows if r["status"] != "WAITING"}
        by_doctor: dict[UUID, dict[str, Any]] = {}
        cabins: dict[UUID, str | None] = {}
        for d in docs:
            state = live_doctor(d, stats.get(d["id"], (0, 0.0, 0.0)), pauses.get(d["id"]),
                                current.get(d["id"]), self.now())
            by_doctor[d["id"]] = {"id": str(d["id"]), "fields": state.hash_fields(),
                                  "waiting": []}
            cabins[d["id"]] = state.cabin or None
        tokens = []
        for r in rows:
            entry = by_doctor.get(r["doctor_id"])
            if entry is None:
                continue
            tokens.append(live_token(r, cabins[r["doctor_id"]]))
            if r["status"] == "WAITING":
                entry["waiting"].append([str(r["id"]), r["queue_score"]])
        await self.live.rebuild(h, mode, list(by_doctor.values()), tokens)
        for d in docs:
            await self._publish_queue(txn, d["id"])

    async def reconcile(self, h: UUID) -> list[UUID]:
        """Settle what dead processes left, compare each doctor's live view with the record,
        repair those that differ. Returns the repaired doctors. Run by the worker's cron."""
        if not await self.live.is_ready(h):
            await self.rebuild_hospital(h)
            return []
        live_seen.add(h)
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
        live_current = [live.doctor.current] if live.doctor.current else []
        return [t for t, _ in live.waiting] == waiting and live_current == current


def _expected_load(h: UUID, loaded_before: bool, redis_up_s: float | None) -> bool:
    """A first start (Redis held no view), or a planned restart of Redis and the app together
    (Redis is older than this process). A view this process has used going missing, or one a
    Redis restarted under this process dropped, means Redis lost it: an incident. (Uptime is
    in whole seconds: 1 s of slack.)"""
    if h in live_seen:
        return False
    if not loaded_before:
        return True
    return redis_up_s is not None and time.time() - redis_up_s - 1 <= PROCESS_STARTED


async def close_day(svc: Recovery, h: UUID) -> int:
    """End of a hospital's day: close what earlier days left open, then bring the live view
    back to the record (yesterday's tokens leave the queues)."""
    today, _ = await svc.today(h)
    async with svc.pool.acquire() as conn, conn.transaction():
        await action_txn.lock_hospital(conn, h)
        closed = await tokens_db.close_past_days(conn, h, today)
        await action_txn.purge_actions(conn)
    if closed:
        log.info("closed tokens of earlier days", hospital_id=str(h), count=closed)
        await svc.reconcile(h)
    return closed
