"""Typed calls into the Lua scripts: the live queue of each doctor.

Every change runs as part of an action (server/queue/): the script changes the queue and
stages its events under the action's id; `emit` announces them once the record committed,
`discard` drops them when it did not. Results come back as small dataclasses; a missing live
view raises NotReady (rebuild from PostgreSQL and try again) and another action's unsettled
change raises Pending (settle it and try again).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from server.domain.eta import ConsultStats, Learned
from server.domain.eta_today import TodayStats
from server.logs import current_request_id
from server.store import keys
from server.store.client import is_cluster, server_info
from server.store.scripts import Scripts, register

MAX_SEQ = 2**53  # what a browser's JSON number holds exactly; a `since` above it is nonsense


class NotReady(Exception):
    """The hospital's live view is not in Redis (flushed, restarted, never loaded)."""


class Pending(Exception):
    """A doctor carries another action's change that is not settled yet (announced after its
    COMMIT, or dropped when the record refused it)."""

    def __init__(self, doctor_ids: list[UUID], action: str) -> None:
        super().__init__(f"action {action} is not settled")
        self.doctor_ids = doctor_ids
        self.action = action


@dataclass
class Staging:
    """An action's handle on the live view: its id (under which its scripts stage events and
    mark doctors) and the doctors a script of it may have marked, which the action must settle:
    emit after COMMIT, or discard and rebuild when the record did not take it."""

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    doctors: set[UUID] = field(default_factory=set)


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
    view: DoctorLive                          # the queue after the press


@dataclass(frozen=True)
class Applied:
    score: float | None = None                # the token's new score (skip, rescore)
    view: DoctorLive | None = None            # the queue after it, when the script returns it


@dataclass(frozen=True)
class DoctorState:
    """The doctor's live hash (keys.doctor), parsed here and nowhere else. Times in ms."""

    name: str = ""
    cabin: str = ""
    status: str = "AVAILABLE"                 # AVAILABLE | PAUSED
    current: str | None = None                # token id being called or seen
    current_status: str | None = None         # CALLED | IN_CONSULTATION
    current_since_ms: int | None = None       # called at
    started_ms: int | None = None             # consultation started at
    last_call_ms: int | None = None           # the double-tap guard's reference
    paused_since_ms: int | None = None
    pause_until: str | None = None            # ISO 8601, or None for an open-ended pause
    pause_reason: str | None = None
    consults: int = 0                         # consult-time statistics (domain.eta)
    consult_mean: float = 0.0
    consult_m2: float = 0.0
    today_n: int = 0                          # this sitting (domain.eta_today.TodayStats)
    today_log_mean: float = 0.0
    today_last_ms: int | None = None
    today_start: ConsultStats | None = None   # the learned stats when the sitting began

    @classmethod
    def parse(cls, flat: list[str]) -> DoctorState:
        f = dict(zip(flat[::2], flat[1::2], strict=True))

        def ms(name: str) -> int | None:
            return int(float(f[name])) if f.get(name) else None

        return cls(
            name=f.get("name", ""), cabin=f.get("cabin", ""),
            status=f.get("status") or "AVAILABLE", current=f.get("cur") or None,
            current_status=f.get("cur_status") or None, current_since_ms=ms("cur_since_ms"),
            started_ms=ms("started_ms"), last_call_ms=ms("last_call_ms"),
            paused_since_ms=ms("paused_since_ms"), pause_until=f.get("pause_until") or None,
            pause_reason=f.get("pause_reason") or None, consults=int(f.get("n") or 0),
            consult_mean=float(f.get("mean") or 0), consult_m2=float(f.get("m2") or 0),
            today_n=int(f.get("tn") or 0), today_log_mean=float(f.get("tlog") or 0),
            today_last_ms=ms("tlast_ms"),
            today_start=ConsultStats(int(f["t0n"]), float(f.get("t0mean") or 0),
                                     float(f.get("t0m2") or 0)) if f.get("t0n") else None)

    def learned(self) -> Learned:
        """The consult statistics the hash holds (domain.eta.Learned)."""
        return Learned(ConsultStats(self.consults, self.consult_mean, self.consult_m2),
                       TodayStats(self.today_n, self.today_log_mean, self.today_last_ms,
                                  self.today_start))

    def with_learned(self, learned: Learned) -> DoctorState:
        stats, today = learned.stats, learned.today
        return replace(self, consults=stats.n, consult_mean=stats.mean, consult_m2=stats.m2,
                       today_n=today.n, today_log_mean=today.log_mean,
                       today_last_ms=today.last_ms, today_start=today.start)

    @staticmethod
    def learned_fields(learned: Learned) -> list[str | int | float]:
        """The hash fields of `learned`, flat (publish.lua writes them)."""
        stats, today = learned.stats, learned.today
        flat: list[str | int | float] = ["n", stats.n, "mean", repr(stats.mean),
                                         "m2", repr(stats.m2)]
        if today.last_ms is not None:
            flat += ["tn", today.n, "tlog", repr(today.log_mean), "tlast_ms", today.last_ms]
            flat += _start_fields(today.start)
        return flat

    def hash_fields(self) -> dict[str, str | int | float]:
        """The hash a rebuild writes (rebuild.lua): the inverse of parse."""
        named = {"name": self.name, "cabin": self.cabin, "status": self.status,
                 "cur": self.current, "cur_status": self.current_status,
                 "cur_since_ms": self.current_since_ms, "started_ms": self.started_ms,
                 "last_call_ms": self.last_call_ms, "paused_since_ms": self.paused_since_ms,
                 "pause_until": self.pause_until, "pause_reason": self.pause_reason,
                 "n": self.consults, "mean": self.consult_mean, "m2": self.consult_m2,
                 "tn": self.today_n, "tlog": self.today_log_mean,
                 "tlast_ms": self.today_last_ms}
        if self.today_start is not None:
            start = _start_fields(self.today_start)
            named.update(zip(start[::2], start[1::2], strict=True))  # type: ignore[arg-type]
        return {k: v for k, v in named.items() if v is not None}


def _start_fields(start: ConsultStats | None) -> list[str | int | float]:
    """The hash fields of a sitting's `start` (t0n, t0mean, t0m2); "" clears them (a sitting
    whose start is not known: the running stats stand in)."""
    if start is None:
        return ["t0n", "", "t0mean", "", "t0m2", ""]
    return ["t0n", start.n, "t0mean", repr(start.mean), "t0m2", repr(start.m2)]


@dataclass(frozen=True)
class DoctorLive:
    doctor: DoctorState
    waiting: list[tuple[str, float]]          # (token id, score), queue order
    current: dict[str, Any] | None            # live token JSON of the current token
    tokens: dict[str, dict[str, Any]]         # live token JSON by id, for the waiting ones


def _dumps(data: Any) -> bytes:
    """An event's data as JSON, as json.dumps(default=str) writes it (a datetime as str()
    does), with orjson: every action encodes its doctor's whole queue."""
    return orjson.dumps(data, default=str, option=orjson.OPT_PASSTHROUGH_DATETIME)


def _doctor_live(view: list[Any]) -> DoctorLive:
    """A doctor's live queue from the reply of _lib.lua's queue_view."""
    flat, waiting_flat, toks = view
    waiting = [(waiting_flat[i], float(waiting_flat[i + 1]))
               for i in range(0, len(waiting_flat), 2)]
    current = orjson.loads(toks[0]) if toks[0] else None
    tokens = {w[0]: orjson.loads(t) for w, t in zip(waiting, toks[1:], strict=True) if t}
    return DoctorLive(DoctorState.parse(flat), waiting, current, tokens)


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


class LiveStore:
    def __init__(self, redis: Redis, stream_maxlen: int = 5000) -> None:
        self.redis = redis
        self.scripts: Scripts = register(redis)
        self.maxlen = stream_maxlen

    async def _run(self, script: Any, keys_: list[str], args: list[Any],
                   doctors: list[UUID] | None = None, act: Staging | None = None) -> list[Any]:
        """Run a script; with `act`, note the doctors it may have marked (an OK answer, or
        no answer at all: a script that ran but whose reply was lost marked them too)."""
        try:
            r = list(await script(keys=keys_, args=args))
        except ResponseError as exc:
            if str(exc).startswith("NOTREADY"):
                raise NotReady(str(exc)) from None
            raise
        except BaseException:
            if act is not None:
                act.doctors.update(doctors or [])
            raise
        if r and r[0] == "PENDING":
            raise Pending(doctors or [], r[1])
        if act is not None and r and r[0] == "OK":
            act.doctors.update(doctors or [])
        return r

    def _head(self, h: UUID, act: Staging, at_ms: int | None) -> tuple[list[str], list[Any]]:
        ms = at_ms or now_ms()
        return [keys.ready(h), keys.staged(h, act.id)], [act.id, ms, iso(ms)]

    async def enqueue(self, h: UUID, act: Staging, doctor_id: UUID, token: dict[str, Any],
                      score: float, event: str, at_ms: int | None = None, *,
                      behind: tuple[int, float] | None = None, note: str = ""
                      ) -> Applied | Refused:
        """`behind`: (places, emergency line) puts the token behind that many waiting and
        every emergency instead of at `score` (a reinstate)."""
        ks, head = self._head(h, act, at_ms)
        places, line = (str(behind[0]), repr(behind[1])) if behind else ("", "")
        r = await self._run(
            self.scripts.enqueue,
            [*ks, keys.tokens(h), keys.queue(h, doctor_id), keys.doctor(h, doctor_id)],
            [*head, json.dumps(token), repr(score), event, places, line, note], [doctor_id], act)
        return Applied(float(r[1]), _doctor_live(r[2])) if r[0] == "OK" else Refused(r[0])

    async def call_next(self, h: UUID, act: Staging, doctor_id: UUID, *, expected: str | None,
                        expect_given: bool, guard_ms: int, at_ms: int | None = None
                        ) -> NextResult | Refused:
        ks, head = self._head(h, act, at_ms)
        exp = "" if not expect_given else (expected or "-")
        r = await self._run(
            self.scripts.call_next,
            [*ks, keys.tokens(h), keys.queue(h, doctor_id), keys.doctor(h, doctor_id)],
            [*head, str(doctor_id), exp, guard_ms], [doctor_id], act)
        if r[0] != "OK":
            return Refused(r[0], r[1])
        return NextResult(r[1] or None, r[2] or None, _doctor_live(r[3]))

    async def current_op(self, h: UUID, act: Staging, doctor_id: UUID, token_id: UUID, op: str,
                         *, places: int = 3, empty_score: float = 0.0, at_ms: int | None = None
                         ) -> Applied | Refused:
        ks, head = self._head(h, act, at_ms)
        r = await self._run(
            self.scripts.current_op,
            [*ks, keys.tokens(h), keys.queue(h, doctor_id), keys.doctor(h, doctor_id)],
            [*head, str(doctor_id), str(token_id), op, places, repr(empty_score)],
            [doctor_id], act)
        if r[0] != "OK":
            return Refused(r[0], r[1])
        return Applied(float(r[2]) if r[2] else None, _doctor_live(r[3]))

    async def waiting_op(self, h: UUID, act: Staging, doctor_id: UUID, token_id: UUID, op: str,
                         *, arg: float | int = 0, priority: int = 0, at_ms: int | None = None,
                         note: str = "") -> Applied | Refused:
        ks, head = self._head(h, act, at_ms)
        r = await self._run(
            self.scripts.waiting_op,
            [*ks, keys.tokens(h), keys.queue(h, doctor_id), keys.doctor(h, doctor_id)],
            [*head, str(doctor_id), str(token_id), op, repr(arg), priority, note], [doctor_id],
            act)
        if r[0] != "OK":
            return Refused(r[0])
        return Applied(float(r[1]) if r[1] else None, _doctor_live(r[2]))

    async def transfer(self, h: UUID, act: Staging, from_doctor: UUID, token_id: UUID,
                       to_doctor: UUID, score: float, cabin: str | None,
                       at_ms: int | None = None) -> Applied | Refused:
        ks, head = self._head(h, act, at_ms)
        r = await self._run(
            self.scripts.transfer,
            [*ks, keys.tokens(h), keys.queue(h, from_doctor), keys.queue(h, to_doctor),
             keys.doctor(h, from_doctor), keys.doctor(h, to_doctor)],
            [*head, str(from_doctor), str(token_id), str(to_doctor), repr(score), cabin or ""],
            [from_doctor, to_doctor], act)
        return Applied() if r[0] == "OK" else Refused(r[0])

    async def doctor_status(self, h: UUID, act: Staging, doctor_id: UUID, status: str, *,
                            department_id: UUID, until: str = "", reason: str = "",
                            at_ms: int | None = None) -> Applied | Refused:
        ks, head = self._head(h, act, at_ms)
        r = await self._run(
            self.scripts.doctor_status, [*ks, keys.doctor(h, doctor_id)],
            [*head, str(doctor_id), status, until, reason, str(department_id)], [doctor_id], act)
        return Applied() if r[0] == "OK" else Refused(r[0], r[1])

    async def publish(self, h: UUID, act: Staging, etype: str, data: dict[str, Any], *,
                      doctors: list[UUID], at_ms: int | None = None,
                      learned: Learned | None = None) -> None:
        """Stage an event of the action; it is announced with the action's other events.
        `learned`: the first doctor's consult statistics after a consult the action
        finished, stored by the same script (the event's ETAs count them already)."""
        ks, head = self._head(h, act, at_ms)
        more = DoctorState.learned_fields(learned) if learned else []
        await self._run(self.scripts.publish, [*ks, *(keys.doctor(h, d) for d in doctors)],
                        [act.id, head[2], etype, _dumps(data), *more], doctors, act)

    async def announce(self, h: UUID, etype: str, data: dict[str, Any]) -> int:
        """An event no record stands behind (a board announcement): staged and emitted at
        once. Returns its sequence number."""
        act = Staging()
        await self.publish(h, act, etype, data, doctors=[])
        _, seq = await self._emit(h, act.id, [], None)
        assert seq is not None
        return seq

    async def emit(self, h: UUID, action: str, doctor_ids: list[UUID],
                   at_ms: int | None = None) -> int:
        """Announce a committed action's staged events (once, however often it is called);
        returns how many were announced now."""
        count, _ = await self._emit(h, action, doctor_ids, at_ms)
        return count

    async def _emit(self, h: UUID, action: str, doctor_ids: list[UUID], at_ms: int | None
                    ) -> tuple[int, int | None]:
        """(events announced now, the last one's sequence number)."""
        r = await self._run(
            self.scripts.emit,
            [keys.ready(h), keys.seq(h), keys.stream(h), keys.staged(h, action),
             *(keys.doctor(h, d) for d in doctor_ids)],
            [keys.channel(h), self.maxlen, at_ms or now_ms(), action,
             current_request_id() or ""])
        return int(r[1]), (int(r[2]) if r[2] else None)

    async def discard(self, h: UUID, action: str) -> int:
        """Drop the events of an action the record does not hold (its doctors stay marked
        until they are rebuilt); returns the events dropped."""
        r = await self._run(self.scripts.discard, [keys.staged(h, action)], [])
        return int(r[1])

    async def pending(self, h: UUID, doctor_ids: list[UUID]
                      ) -> tuple[bool, dict[UUID, str]]:
        """(is the live view ready, {doctor: unsettled action}) in one round trip."""
        r = await self.scripts.pending(keys=[keys.ready(h),
                                             *(keys.doctor(h, d) for d in doctor_ids)], args=[])
        marks = {d: a for d, a in zip(doctor_ids, r[1] or [], strict=True) if a}
        return bool(r[0]), marks

    async def read_doctor(self, h: UUID, doctor_id: UUID, action: str = "") -> DoctorLive:
        r = await self._run(
            self.scripts.read_queue,
            [keys.ready(h), keys.tokens(h), keys.queue(h, doctor_id), keys.doctor(h, doctor_id)],
            [action], [doctor_id])
        return _doctor_live(r)

    async def consult_stats(self, h: UUID, doctor_id: UUID) -> tuple[int, float, float]:
        """(n, mean, m2) of the doctor's learned consult times."""
        n, mean, m2 = await self.redis.hmget(keys.doctor(h, doctor_id), "n", "mean", "m2")
        return int(n or 0), float(mean or 0), float(m2 or 0)

    async def rebuild(self, h: UUID, mode: str, doctors: list[dict[str, Any]],
                      tokens: list[dict[str, Any]], at_ms: int | None = None) -> None:
        ks = [keys.ready(h), keys.seq(h), keys.floor(h), keys.tokens(h)]
        for d in doctors:
            ks += [keys.queue(h, d["id"]), keys.doctor(h, d["id"])]
        payload = json.dumps({"doctors": doctors, "tokens": tokens}, default=str)
        await self._run(self.scripts.rebuild, ks, [at_ms or now_ms(), mode, payload])
        # a repair of some doctors keeps the sequence (a whole rebuild rebases it): what the
        # views kept of those doctors may be what the repair replaced
        await self.views_changed(h)

    async def load_history(self, h: UUID) -> tuple[bool, float | None]:
        """(was the view loaded by an earlier Redis run, how long this Redis has been up): what
        tells a first load or a planned restart from a Redis lost under running processes."""
        if is_cluster(self.redis):  # INFO of the node holding the hospital, not pipelined
            loaded = await self.redis.exists(keys.ready(h))
            info = await server_info(self.redis, keys.ready(h))
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.exists(keys.ready(h))
                pipe.info("server")
                loaded, info = await pipe.execute()
        uptime = info.get("uptime_in_seconds") if isinstance(info, dict) else None
        return bool(loaded), float(uptime) if uptime is not None else None

    async def is_ready(self, h: UUID) -> bool:
        ready, _ = await self.pending(h, [])
        return ready

    async def current_seq(self, h: UUID | str) -> int:
        return int(await self.redis.get(keys.seq(h)) or 0)

    async def views_version(self, h: UUID) -> tuple[str | None, str | None]:
        """The event sequence number and the views revision, read together (one slot)."""
        seq, rev = await self.redis.mget(keys.seq(h), keys.views(h))
        return seq, rev

    async def views_changed(self, h: UUID) -> None:
        """Something the staff's views show changed without an event: every process's
        rendered views of the hospital are out of date."""
        await self.redis.incr(keys.views(h))

    async def events_since(self, h: UUID, since: int, limit: int) -> list[dict[str, Any]] | None:
        """Events after `since`, in order; None when they cannot be replayed exactly: some
        were trimmed or lost, `since` is from before the last rebuild, or it is ahead of the
        server (a Redis that came back older than what the client saw)."""
        if not 0 <= since < MAX_SEQ:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.seq(h))
            pipe.get(keys.floor(h))
            pipe.xrange(keys.stream(h), "-", "+", count=1)
            current, floor, first = await pipe.execute()
        if since > int(current or 0) or since < int(floor or 0):
            return None
        if not first or int(first[0][0].split("-")[0]) > since:
            return None
        if since == int(current or 0):
            return []  # nothing since (a reconnect after a restart, usually)
        entries = await self.redis.xrange(keys.stream(h), f"({since}-0", "+", count=limit + 1)
        if len(entries) > limit:
            return None
        return [json.loads(fields["e"]) for _, fields in entries]
