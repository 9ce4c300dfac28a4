"""Typed calls into the Lua scripts: the live queue of each doctor.

Results come back as small dataclasses; a missing live view raises NotReady so the caller
rebuilds from PostgreSQL and tries again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from server.store import keys
from server.store.scripts import Scripts, register


class NotReady(Exception):
    """The hospital's live view is not in Redis (flushed, restarted, never loaded)."""


@dataclass(frozen=True)
class Refused:
    """A script declined: code is STALE, TOO_SOON, PAUSED, NOT_CURRENT, BAD_STATE, NOT_WAITING,
    DUP or SAME; `current` names the doctor's current token or status where that applies."""

    code: str
    current: str = ""


@dataclass(frozen=True)
class NextResult:
    completed: str | None
    called: str | None
    called_score: float | None
    seq: int


@dataclass(frozen=True)
class Applied:
    seq: int
    score: float | None = None
    previous: str = ""


@dataclass(frozen=True)
class DoctorLive:
    fields: dict[str, str]
    waiting: list[tuple[str, float]]          # (token id, score), queue order
    current: dict[str, Any] | None            # live token JSON of the current token
    tokens: dict[str, dict[str, Any]]         # live token JSON by id, for the waiting ones


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


class LiveStore:
    def __init__(self, redis: Redis, stream_maxlen: int = 5000) -> None:
        self.redis = redis
        self.scripts: Scripts = register(redis)
        self.maxlen = stream_maxlen

    def _common(self, h: UUID) -> list[str]:
        return [keys.ready(h), keys.seq(h), keys.stream(h), keys.tokens(h)]

    async def _run(self, script: Any, keys_: list[str], args: list[Any]) -> list[Any]:
        try:
            return list(await script(keys=keys_, args=args))
        except ResponseError as exc:
            if str(exc).startswith("NOTREADY"):
                raise NotReady(str(exc)) from None
            raise

    def _head(self, h: UUID, at_ms: int | None) -> tuple[list[Any], int]:
        ms = at_ms or now_ms()
        return [keys.channel(h), self.maxlen, ms, iso(ms)], ms

    async def enqueue(self, h: UUID, doctor_id: UUID, token: dict[str, Any], score: float,
                      event: str, at_ms: int | None = None) -> Applied | Refused:
        head, _ = self._head(h, at_ms)
        r = await self._run(self.scripts.enqueue, [*self._common(h), keys.queue(h, doctor_id)],
                            [*head, json.dumps(token), repr(score), event])
        return Applied(int(r[1])) if r[0] == "OK" else Refused(r[0])

    async def call_next(self, h: UUID, doctor_id: UUID, *, expected: str | None,
                        expect_given: bool, guard_ms: int, at_ms: int | None = None
                        ) -> NextResult | Refused:
        head, _ = self._head(h, at_ms)
        exp = "" if not expect_given else (expected or "-")
        r = await self._run(
            self.scripts.call_next,
            [*self._common(h), keys.queue(h, doctor_id), keys.doctor(h, doctor_id)],
            [*head, str(doctor_id), exp, guard_ms],
        )
        if r[0] != "OK":
            return Refused(r[0], r[1])
        return NextResult(r[1] or None, r[2] or None, float(r[3]) if r[3] else None, int(r[4]))

    async def current_op(self, h: UUID, doctor_id: UUID, token_id: UUID, op: str, *,
                         places: int = 3, empty_score: float = 0.0, at_ms: int | None = None
                         ) -> Applied | Refused:
        head, _ = self._head(h, at_ms)
        r = await self._run(
            self.scripts.current_op,
            [*self._common(h), keys.queue(h, doctor_id), keys.doctor(h, doctor_id)],
            [*head, str(doctor_id), str(token_id), op, places, repr(empty_score)],
        )
        if r[0] != "OK":
            return Refused(r[0], r[1])
        return Applied(int(r[2]), float(r[3]) if r[3] else None, r[1])

    async def waiting_op(self, h: UUID, doctor_id: UUID, token_id: UUID, op: str, *,
                         arg: float | int = 0, priority: int = 0, at_ms: int | None = None
                         ) -> Applied | Refused:
        head, _ = self._head(h, at_ms)
        r = await self._run(
            self.scripts.waiting_op, [*self._common(h), keys.queue(h, doctor_id)],
            [*head, str(doctor_id), str(token_id), op, repr(arg), priority],
        )
        if r[0] != "OK":
            return Refused(r[0])
        return Applied(int(r[1]), float(r[2]) if r[2] else None)

    async def transfer(self, h: UUID, from_doctor: UUID, token_id: UUID, to_doctor: UUID,
                       score: float, cabin: str | None, at_ms: int | None = None
                       ) -> Applied | Refused:
        head, _ = self._head(h, at_ms)
        r = await self._run(
            self.scripts.transfer,
            [*self._common(h), keys.queue(h, from_doctor), keys.queue(h, to_doctor)],
            [*head, str(from_doctor), str(token_id), str(to_doctor), repr(score), cabin or ""],
        )
        return Applied(int(r[1])) if r[0] == "OK" else Refused(r[0])

    async def doctor_status(self, h: UUID, doctor_id: UUID, status: str, *, department_id: UUID,
                            until: str = "", reason: str = "", at_ms: int | None = None
                            ) -> Applied | Refused:
        head, _ = self._head(h, at_ms)
        r = await self._run(
            self.scripts.doctor_status, [*self._common(h), keys.doctor(h, doctor_id)],
            [*head, str(doctor_id), status, until, reason, str(department_id)],
        )
        return Applied(int(r[1])) if r[0] == "OK" else Refused(r[0], r[1])

    async def publish(self, h: UUID, etype: str, data: dict[str, Any],
                      at_ms: int | None = None) -> int:
        head, _ = self._head(h, at_ms)
        r = await self._run(self.scripts.publish, self._common(h)[:3],
                            [*head, etype, json.dumps(data, default=str)])
        return int(r[1])

    async def read_doctor(self, h: UUID, doctor_id: UUID) -> DoctorLive:
        r = await self._run(
            self.scripts.read_queue,
            [keys.ready(h), keys.tokens(h), keys.queue(h, doctor_id), keys.doctor(h, doctor_id)],
            [],
        )
        flat, waiting_flat, toks = r
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        waiting = [(waiting_flat[i], float(waiting_flat[i + 1]))
                   for i in range(0, len(waiting_flat), 2)]
        current = json.loads(toks[0]) if toks[0] else None
        tokens = {w[0]: json.loads(t) for w, t in zip(waiting, toks[1:], strict=True) if t}
        return DoctorLive(fields, waiting, current, tokens)

    async def rebuild(self, h: UUID, mode: str, doctors: list[dict[str, Any]],
                      tokens: list[dict[str, Any]], at_ms: int | None = None) -> None:
        head, _ = self._head(h, at_ms)
        ks = [*self._common(h)]
        for d in doctors:
            ks += [keys.queue(h, d["id"]), keys.doctor(h, d["id"])]
        payload = json.dumps({"doctors": doctors, "tokens": tokens}, default=str)
        await self.scripts.rebuild(keys=ks, args=[*head, mode, payload])

    async def is_ready(self, h: UUID) -> bool:
        return bool(await self.redis.exists(keys.ready(h)))

    async def events_since(self, h: UUID, since: int, limit: int) -> list[dict[str, Any]] | None:
        """Events after `since`, in order; None when some may have been trimmed or lost."""
        first = await self.redis.xrange(keys.stream(h), "-", "+", count=1)
        if not first or int(first[0][0].split("-")[0]) > since:
            return None
        entries = await self.redis.xrange(keys.stream(h), f"({since}-0", "+", count=limit + 1)
        if len(entries) > limit:
            return None
        return [json.loads(fields["e"]) for _, fields in entries]
