"""The realtime hub of one web process: Redis pub/sub in, per-connection bounded queues out.

Every event is published once to Redis (by the Lua scripts) and each web process delivers it
to its own subscribers. Dispatch never awaits a socket: each connection has its own bounded
queue and writer task, and a connection whose queue overflows is dropped (close 4408), so
a slow or dead client never delays the others (python-websockets' broadcasting advice).

Subscribers see only what concerns them: a board its department (names already masked in
the events), a doctor console its doctor's queue, a patient their own token, reshaped to
the public view and sent only when its status, position or ETA (by a minute) changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from starlette.websockets import WebSocket

from server import metrics
from server.auth import token_rules
from server.domain.eta import Eta, should_push
from server.store import keys
from server.views import board_cabin_of_event

log = structlog.get_logger("realtime")

CLOSE_UNAUTHORISED = 4401
CLOSE_REVOKED = 4403
CLOSE_OVERLOADED = 4408
CLOSE_RESYNC = 1012  # "service restart": the event feed was cut; reconnect and resume
HEARTBEAT = "heartbeat"  # queued marker; the writer fills in the connection's last seq


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(eq=False)
class Subscriber:
    """One websocket. `accept` turns an event into the message this client gets, or None."""

    ws: WebSocket
    hospital_id: str
    queue_size: int
    # (seq, message, monotonic time the event arrived from Redis or None)
    queue: asyncio.Queue[tuple[int | None, str, float | None]] = field(init=False)
    sent_seq: int = 0
    closed: bool = False
    close_code: int | None = None
    last_sent: float = field(default_factory=time.monotonic)

    kind = "base"

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.queue_size)

    def routes(self) -> tuple[str, str]:
        """(index, id) this subscriber is filed under in the hub: department or doctor."""
        raise NotImplementedError

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        raise NotImplementedError

    def offer(self, seq: int | None, message: str, arrived: float | None = None) -> bool:
        """Queue a message without waiting; False when the client is too slow (full).
        `arrived` (time.monotonic) times the fan-out of an event from Redis to the socket."""
        try:
            self.queue.put_nowait((seq, message, arrived))
        except asyncio.QueueFull:
            return False
        return True


def _department(data: dict[str, Any]) -> str | None:
    token = data.get("token") or {}
    return data.get("department_id") or token.get("department_id")


@dataclass(eq=False)
class BoardSubscriber(Subscriber):
    department_id: str = ""
    display_key_id: str | None = None
    names: bool = True  # False: the department's boards show no names (views.board_shows_names)
    kind = "board"

    def routes(self) -> tuple[str, str]:
        return ("department", self.department_id)

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        # events reach boards already masked: the live token JSON holds display names only
        if _department(event.get("data") or {}) != self.department_id:
            return None
        etype = event.get("type")
        if etype == "token.updated":
            return None  # the queue.updated that follows every change carries it
        if etype == "queue.updated":
            return board_queue_message(event, self.names)
        if not self.names and (event.get("data") or {}).get("token"):
            return _nameless(event)
        return raw


def _nameless(event: dict[str, Any]) -> str:
    """An event whose token is shown without its masked name (encoded once per event)."""
    cached = event.get("_nameless")
    if cached is None:
        data = event.get("data") or {}
        public = {k: v for k, v in event.items() if not k.startswith("_")}
        cached = json.dumps({**public, "data": {
            **data, "token": {**data["token"], "display_name": ""}}})
        event["_nameless"] = cached
    return cached  # type: ignore[no-any-return]


def waiting_by_id(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A queue.updated's waiting entries by token id, built once per event for every patient
    socket of that queue (not a scan of the queue per socket)."""
    index = event.get("_waiting")
    if index is None:
        index = {e.get("id"): e for e in (event.get("data") or {}).get("waiting") or []}
        event["_waiting"] = index
    return index  # type: ignore[no-any-return]


def board_queue_message(event: dict[str, Any], names: bool = True) -> str:
    """A board needs one cabin of its department, not the whole queue: the queue.updated's
    data reshaped to the board snapshot's cabin (views.board_cabin), encoded once per event
    (and per names shown or not), then shared by every board of the department: the same
    shape as a cabin of the board snapshot, nothing more."""
    cache = "_board" if names else "_board_nameless"
    cached = event.get(cache)
    if cached is None:
        data = event.get("data") or {}
        cabin = board_cabin_of_event(data, names)
        public = {k: v for k, v in event.items() if not k.startswith("_")}  # not the caches
        cached = json.dumps({**public, "data": {
            "doctor_id": data.get("doctor_id"), "department_id": data.get("department_id"),
            **cabin}})
        event[cache] = cached
    return cached  # type: ignore[no-any-return]


@dataclass(eq=False)
class DoctorSubscriber(Subscriber):
    doctor_id: str = ""
    kind = "doctor"

    def routes(self) -> tuple[str, str]:
        return ("doctor", self.doctor_id)

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        data = event.get("data") or {}
        return raw if self.doctor_id in (data.get("doctor_id"), data.get("from_doctor_id")) \
            else None


DESK_EVENTS = frozenset({"token.created", "token.updated", "token.called", "queue.updated",
                         "doctor.status"})


@dataclass(eq=False)
class DeskSubscriber(Subscriber):
    """The reception desk's list of the day: every token event of the hospital (or of one
    department). Events carry masked names only; the desk's full rows come from the API."""

    department_id: str | None = None
    kind = "desk"

    def routes(self) -> tuple[str, str]:
        return ("desk", "")

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        if event.get("type") not in DESK_EVENTS:
            return None
        if self.department_id and _department(event.get("data") or {}) != self.department_id:
            return None
        return raw


@dataclass(eq=False)
class TokenSubscriber(Subscriber):
    """A patient's phone: only their token, as the public view (no other patient's data)."""

    token_id: str = ""
    doctor_id: str = ""
    view: dict[str, Any] = field(default_factory=dict)
    kind = "token"
    on_move: Callable[[TokenSubscriber, str], None] | None = None

    def routes(self) -> tuple[str, str]:
        return ("doctor", self.doctor_id)

    def _message(self, etype: str, seq: int, data: dict[str, Any]) -> str:
        return json.dumps({"type": etype, "seq": seq, "ts": now_iso(), "data": data})

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        data, etype, seq = event.get("data") or {}, event.get("type"), event.get("seq", 0)
        token = data.get("token") or {}
        if token.get("id") == self.token_id:
            moved_to = data.get("doctor_id")
            if moved_to and moved_to != self.doctor_id and self.on_move:
                self.on_move(self, moved_to)
                self.view["moved_from_doctor"] = (data.get("from_doctor_name")
                                                  or self.view.get("doctor_name"))
                self.view["doctor_name"] = data.get("doctor_name")
            self.view["status"] = token.get("status", self.view.get("status"))
            if token.get("cabin"):
                self.view["cabin"] = token["cabin"]
            if self.view["status"] != "WAITING":
                self.view["position"] = None
                self.view["eta"] = None
            self.view["can_check_in"] = self.view["status"] == "BOOKED"
            if "late_count" in token:
                self.view["late_count"] = token["late_count"]
            day = date.fromisoformat(self.view["service_date"])  # a live link is of today
            self.view["allowed_actions"] = token_rules.patient_actions(
                {"status": self.view["status"], "service_date": day,
                 "late_count": self.view.get("late_count", 0)}, day)
            if token.get("called_at"):
                self.view["called_at"] = token["called_at"]
            if data.get("note"):
                self.view["note"] = data["note"]
            if etype == "token.called":
                doctor = data.get("doctor") or {}
                return self._message("token.called", seq, {
                    "number": token.get("number", self.view.get("number")),
                    "cabin": data.get("cabin") or self.view.get("cabin"),
                    "doctor_name": doctor.get("name") or self.view.get("doctor_name"),
                    "recall": bool(data.get("recall")),
                })
            return self._message("token.updated", seq, dict(self.view))
        if etype == "queue.updated" and data.get("doctor_id") == self.doctor_id:
            entry = waiting_by_id(event).get(self.token_id)
            if entry is not None:
                eta = entry.get("eta") or {}
                new = Eta(int(eta.get("p50_min", 0)), int(eta.get("p90_min", 0)),
                          int(eta.get("p10_min", 0)))
                old_view = self.view.get("eta")
                old = Eta(old_view["p50_min"], old_view["p90_min"],
                          old_view.get("p10_min") or 0) if old_view else None
                if not should_push(old, new, self.view.get("position"), entry.get("position")):
                    return None
                self.view["position"] = entry.get("position")
                self.view["eta"] = {"p10_min": new.p10_min, "p50_min": new.p50_min,
                                    "p90_min": new.p90_min, "updated_at": event.get("ts")}
                return self._message("token.updated", seq, dict(self.view))
        return None


ADMIN_ONLY_ALERTS = frozenset({"LOGIN_THROTTLED"})


@dataclass(eq=False)
class AdminSubscriber(Subscriber):
    """The admin page's alert strip: alert.raised / alert.resolved of the hospital; a nurse's
    socket only those of their department and the hospital-wide ones."""

    department_id: str | None = None   # a nurse's department; None for an admin
    kind = "admin"

    def routes(self) -> tuple[str, str]:
        return ("admin", "")

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        if not str(event.get("type", "")).startswith("alert."):
            return None
        alert = (event.get("data") or {}).get("alert") or {}
        if self.department_id is not None and (
                alert.get("kind") in ADMIN_ONLY_ALERTS
                or alert.get("department_id") not in (None, self.department_id)):
            return None
        return raw


class Hub:
    """Subscriptions of this process, fed by one Redis pattern subscription."""

    def __init__(self, redis: Redis, heartbeat_s: float = 20.0) -> None:
        self.redis = redis
        self.heartbeat_s = heartbeat_s
        self._beats: asyncio.Task[None] | None = None
        self.index: dict[str, dict[tuple[str, str], set[Subscriber]]] = defaultdict(
            lambda: defaultdict(set))
        self.boards_by_key: dict[str, set[BoardSubscriber]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="realtime-hub")
        self._beats = asyncio.create_task(self._heartbeats(), name="realtime-heartbeats")

    async def stop(self) -> None:
        for task in (self._task, self._beats):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _heartbeats(self) -> None:
        """One timer for every connection (not a timeout per message): a client that heard
        nothing for heartbeat_s gets a heartbeat, so it can tell a quiet queue from a cut."""
        while True:
            await asyncio.sleep(self.heartbeat_s / 2)
            idle_since = time.monotonic() - self.heartbeat_s
            for routes in list(self.index.values()):
                for subs in list(routes.values()):
                    for sub in list(subs):
                        if sub.last_sent <= idle_since:
                            sub.offer(None, HEARTBEAT)

    async def _listen(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(keys.EVENTS_PATTERN)
                await pubsub.subscribe(keys.DISPLAY_REVOKED)
                self.connected.set()
                backoff = 0.2
                async for message in pubsub.listen():
                    self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # events published while we were cut off are lost to this process: make every
                # client reconnect and resume from the stream
                self.connected.clear()
                log.warning("event feed lost; clients will resync", error=str(exc))
                metrics.WS_RESYNCS.inc(self._close_all(CLOSE_RESYNC))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _on_message(self, message: dict[str, Any]) -> None:
        channel, raw = message.get("channel"), message.get("data")
        if not isinstance(raw, str) or not isinstance(channel, str):
            return
        if channel == keys.DISPLAY_REVOKED:
            for sub in list(self.boards_by_key.get(raw, ())):
                self.drop(sub, CLOSE_REVOKED)
            return
        try:
            event = json.loads(raw)
        except json.JSONDecodeError:
            return
        self.dispatch(keys.hospital_from_channel(channel), event, raw)

    # -- subscriptions -------------------------------------------------------------------
    def register(self, sub: Subscriber) -> None:
        self.index[sub.hospital_id][sub.routes()].add(sub)
        if isinstance(sub, BoardSubscriber) and sub.display_key_id:
            self.boards_by_key[sub.display_key_id].add(sub)
        if isinstance(sub, TokenSubscriber):
            sub.on_move = self._move
        metrics.WS_CONNECTIONS.labels(sub.kind).inc()

    def unregister(self, sub: Subscriber) -> None:
        routes = self.index.get(sub.hospital_id)
        if routes is not None and sub in routes.get(sub.routes(), ()):
            routes[sub.routes()].discard(sub)
            if not routes[sub.routes()]:
                del routes[sub.routes()]
            metrics.WS_CONNECTIONS.labels(sub.kind).dec()
        if isinstance(sub, BoardSubscriber) and sub.display_key_id:
            self.boards_by_key[sub.display_key_id].discard(sub)

    def _move(self, sub: TokenSubscriber, doctor_id: str) -> None:
        """A transferred token follows its new doctor's queue."""
        routes = self.index[sub.hospital_id]
        routes[sub.routes()].discard(sub)
        sub.doctor_id = doctor_id
        routes[sub.routes()].add(sub)

    # -- fan-out -------------------------------------------------------------------------
    def dispatch(self, hospital_id: str, event: dict[str, Any], raw: str) -> None:
        routes = self.index.get(hospital_id)
        if not routes:
            return
        data = event.get("data") or {}
        targets: set[Subscriber] = set()
        dep = _department(data)
        if dep:
            targets |= routes.get(("department", dep), set())
        for doctor in {data.get("doctor_id"), data.get("from_doctor_id")} - {None}:
            targets |= routes.get(("doctor", doctor), set())
        targets |= routes.get(("desk", ""), set()) | routes.get(("admin", ""), set())
        seq, arrived = event.get("seq"), time.monotonic()
        for sub in list(targets):
            message = sub.accept(event, raw)
            if message is not None and not sub.offer(seq, message, arrived):
                metrics.WS_DROPPED.inc()
                log.info("slow websocket client dropped", kind=sub.kind)
                self.drop(sub, CLOSE_OVERLOADED)

    def drop(self, sub: Subscriber, code: int) -> None:
        """Stop feeding a client and tell its writer to close it with `code`."""
        self.unregister(sub)
        if sub.closed:
            return
        sub.closed, sub.close_code = True, code
        # make room for the close signal even when the queue is full
        while True:
            try:
                sub.queue.put_nowait((None, "", None))
                break
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    sub.queue.get_nowait()

    def _close_all(self, code: int) -> int:
        n = 0
        for routes in list(self.index.values()):
            for subs in list(routes.values()):
                for sub in list(subs):
                    self.drop(sub, code)
                    n += 1
        return n


async def pump(sub: Subscriber) -> None:
    """The connection's writer: its queue to its socket, dropping what it has already sent
    (replayed or in the snapshot)."""
    while True:
        seq, message, arrived = await sub.queue.get()
        if sub.closed and message == "":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.ws.close(sub.close_code or 1000), timeout=2)
            return
        if message == HEARTBEAT:  # real messages are JSON objects
            message = json.dumps({"type": "heartbeat", "seq": sub.sent_seq, "ts": now_iso()})
        elif seq is not None:
            if seq <= sub.sent_seq:
                continue
            sub.sent_seq = seq
        await sub.ws.send_text(message)
        sub.last_sent = time.monotonic()
        if arrived is not None:
            metrics.FANOUT_LATENCY.labels(sub.kind).observe(sub.last_sent - arrived)


async def consistent_snapshot(redis: Redis, hospital_id: str,
                              build: Callable[[], Awaitable[dict[str, Any]]]
                              ) -> tuple[int, dict[str, Any]]:
    """A snapshot and the sequence number it reflects: built again if an event slipped in
    while it was being read, so the events after it are exactly the ones it does not show.
    If the queue keeps moving, the number read before the last build is the safe answer: an
    event the snapshot already shows is sent again (harmless), none it misses is skipped."""
    for _ in range(3):
        before = int(await redis.get(keys.seq(hospital_id)) or 0)
        data = await build()
        after = int(await redis.get(keys.seq(hospital_id)) or 0)
        if before == after:
            return after, data
    return before, data
