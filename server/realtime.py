"""The realtime hub of one web process: Redis pub/sub in, frames written to transports out.

Every event is published once to Redis (by the Lua scripts) and each web process delivers it
to its own subscribers. A process subscribes only to the channels of the hospitals it has
subscribers for (SUBSCRIBE when the first arrives, UNSUBSCRIBE a while after the last
leaves), so N processes do not each decode every event of every hospital.

Dispatch never awaits a socket: the messages of a burst (everything that arrived in one turn
of the event loop) are gathered per connection, each distinct message is framed once, and
each connection's frames are written to its transport in one call (server.ws_out). A
connection whose unsent bytes pass the bound is dropped (close 4408), so a slow or dead
client never delays the others (python-websockets' broadcasting advice).

Subscribers see only what concerns them: a board its department (names already masked in
the events), a doctor console its doctor's queue, a patient their own token, reshaped to
the public view and sent only when its status, position or ETA (by a minute) changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import structlog
from redis.asyncio import Redis

from server import metrics
from server.auth import token_rules
from server.domain.eta import Eta, should_push
from server.store import keys
from server.views import board_cabin_of_event
from server.ws_out import Outlet, text_frame

log = structlog.get_logger("realtime")

CLOSE_UNAUTHORISED = 4401
CLOSE_REVOKED = 4403
CLOSE_OVERLOADED = 4408
CLOSE_RESYNC = 1012  # "service restart": the event feed was cut; reconnect and resume
SUBSCRIBE_WAIT_S = 5.0  # a socket waits this long for its hospital's channel, then goes on


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(eq=False, slots=True)
class Subscriber:
    """One websocket. `accept` turns an event into the message this client gets, or None.
    Until it is `live` (its snapshot or replay sent), its messages are `held`."""

    hospital_id: str
    held_max: int = 256
    outlet: Outlet | None = None
    sent_seq: int = 0
    closed: bool = False
    live: bool = False
    held: list[tuple[int | None, str]] | None = field(default_factory=list)
    last_sent: float = field(default_factory=time.monotonic)

    kind = "base"

    def routes(self) -> tuple[str, str]:
        """(index, id) this subscriber is filed under in the hub: department or doctor."""
        raise NotImplementedError

    def accept(self, event: dict[str, Any], raw: str) -> str | None:
        raise NotImplementedError


def _department(data: dict[str, Any]) -> str | None:
    token = data.get("token") or {}
    return data.get("department_id") or token.get("department_id")


@dataclass(eq=False, slots=True)
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


@dataclass(eq=False, slots=True)
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


@dataclass(eq=False, slots=True)
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


@dataclass(eq=False, slots=True)
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


@dataclass(eq=False, slots=True)
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
    """Subscriptions of this process, fed by one Redis subscription per hospital in use."""

    def __init__(self, redis: Redis, heartbeat_s: float = 20.0, linger_s: float = 30.0) -> None:
        self.redis = redis
        self.heartbeat_s = heartbeat_s
        self.linger_s = linger_s  # an emptied hospital's channel is kept this long (reconnects)
        self._beats: asyncio.Task[None] | None = None
        self.index: dict[str, dict[tuple[str, str], set[Subscriber]]] = defaultdict(
            lambda: defaultdict(set))
        self.members: Counter[str] = Counter()  # subscribers per hospital
        self.boards_by_key: dict[str, set[BoardSubscriber]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        # per-hospital channels: wanted, subscribed on the current connection, confirmed
        self._pubsub: Any = None
        self._lock = asyncio.Lock()  # FIFO: (un)subscribe commands go out in order
        self._subscribed: set[str] = set()
        self._issued: Counter[str] = Counter()
        self._confirmed: Counter[str] = Counter()
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._linger: dict[str, asyncio.TimerHandle] = {}
        # the burst being gathered: messages per subscriber, written at the end of the turn
        self._batch: dict[Subscriber, str | list[str]] = {}
        self._batch_arrived = 0.0  # when the burst's first event came from Redis
        self._batch_events = False  # the burst holds events (not only heartbeats, pongs)
        self._flush_handle: asyncio.Handle | None = None

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
        for handle in self._linger.values():
            handle.cancel()

    async def _heartbeats(self) -> None:
        """One timer for every connection (not a timeout per message): a client that heard
        nothing for heartbeat_s gets a heartbeat, so it can tell a quiet queue from a cut."""
        while True:
            await asyncio.sleep(self.heartbeat_s / 2)
            idle_since = time.monotonic() - self.heartbeat_s
            beats: dict[int, str] = {}  # one message per distinct last seq
            for routes in list(self.index.values()):
                for subs in list(routes.values()):
                    for sub in subs:
                        if sub.live and sub.last_sent <= idle_since:
                            beat = beats.get(sub.sent_seq)
                            if beat is None:
                                beat = beats[sub.sent_seq] = json.dumps(
                                    {"type": "heartbeat", "seq": sub.sent_seq, "ts": now_iso()})
                            self.send(sub, beat)

    async def _listen(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self.redis.pubsub()
            try:
                async with self._lock:
                    channels = [keys.channel(h) for h in self._ready]
                    await pubsub.subscribe(keys.DISPLAY_REVOKED, *channels)
                    self._issued.update(channels)
                    self._subscribed = set(self._ready)
                    self._pubsub = pubsub
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
                self._lost_feed()
                log.warning("event feed lost; clients will resync", error=str(exc))
                metrics.WS_RESYNCS.inc(self._close_all(CLOSE_RESYNC))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _lost_feed(self) -> None:
        self._pubsub = None
        self._subscribed.clear()
        self._issued.clear()
        self._confirmed.clear()
        for h, ready in list(self._ready.items()):
            if not ready.done():
                ready.set_result(None)  # its waiter is closed with the others (resync)
            self._ready[h] = asyncio.get_running_loop().create_future()

    def _on_message(self, message: dict[str, Any]) -> None:
        kind, channel, raw = message.get("type"), message.get("channel"), message.get("data")
        if kind == "subscribe" and isinstance(channel, str):
            self._confirm(channel)
            return
        if kind != "message" or not isinstance(raw, str) or not isinstance(channel, str):
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

    # -- per-hospital channels -----------------------------------------------------------
    def _confirm(self, channel: str) -> None:
        """Redis confirmed a SUBSCRIBE: once every one issued for the channel is confirmed
        (an UNSUBSCRIBE in between would have cut it), its events are reaching us."""
        if channel == keys.DISPLAY_REVOKED:
            return
        self._confirmed[channel] += 1
        if self._confirmed[channel] < self._issued[channel]:
            return
        ready = self._ready.get(keys.hospital_from_channel(channel))
        if ready is not None and not ready.done():
            ready.set_result(None)

    async def _want(self, h: str) -> None:
        """Subscribe to the hospital's channel unless already, and wait until Redis says so:
        a snapshot read after this misses no event (consistent_snapshot and the stream's
        resume cover the events between the two)."""
        if (handle := self._linger.pop(h, None)) is not None:
            handle.cancel()
        ready = self._ready.get(h)
        if ready is None:
            ready = self._ready[h] = asyncio.get_running_loop().create_future()
        if not ready.done():
            async with self._lock:
                if h not in self._subscribed and self._pubsub is not None \
                        and self._ready.get(h) is ready:
                    channel = keys.channel(h)
                    self._issued[channel] += 1
                    self._subscribed.add(h)
                    with contextlib.suppress(Exception):  # a lost feed resyncs everyone
                        await self._pubsub.subscribe(channel)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ready), SUBSCRIBE_WAIT_S)

    def _release_later(self, h: str) -> None:
        if h not in self._linger:
            self._linger[h] = asyncio.get_running_loop().call_later(
                self.linger_s, lambda: asyncio.ensure_future(self.release(h)))

    async def release(self, h: str) -> None:
        """The hospital's last subscriber left a while ago: stop receiving its events."""
        self._linger.pop(h, None)
        async with self._lock:
            if self.members[h] > 0 or h not in self._ready:
                return
            del self._ready[h]
            del self.members[h]
            self.index.pop(h, None)
            if h in self._subscribed and self._pubsub is not None:
                self._subscribed.discard(h)
                with contextlib.suppress(Exception):
                    await self._pubsub.unsubscribe(keys.channel(h))

    def hospitals(self) -> set[str]:
        """Hospitals whose channel this process is subscribed to (or subscribing)."""
        return set(self._ready)

    # -- subscriptions -------------------------------------------------------------------
    async def register(self, sub: Subscriber) -> None:
        """File the subscriber, then make sure its hospital's events reach this process."""
        self.index[sub.hospital_id][sub.routes()].add(sub)
        self.members[sub.hospital_id] += 1
        if isinstance(sub, BoardSubscriber) and sub.display_key_id:
            self.boards_by_key[sub.display_key_id].add(sub)
        if isinstance(sub, TokenSubscriber):
            sub.on_move = self._move
        metrics.WS_CONNECTIONS.labels(sub.kind).inc()
        await self._want(sub.hospital_id)

    def unregister(self, sub: Subscriber) -> None:
        routes = self.index.get(sub.hospital_id)
        if routes is not None and sub in routes.get(sub.routes(), ()):
            routes[sub.routes()].discard(sub)
            if not routes[sub.routes()]:
                del routes[sub.routes()]
            metrics.WS_CONNECTIONS.labels(sub.kind).dec()
            self.members[sub.hospital_id] -= 1
            if self.members[sub.hospital_id] <= 0:
                self._release_later(sub.hospital_id)
        if isinstance(sub, BoardSubscriber) and sub.display_key_id:
            self.boards_by_key[sub.display_key_id].discard(sub)
        self._batch.pop(sub, None)

    def go_live(self, sub: Subscriber) -> None:
        """The snapshot or replay is sent: what arrived meanwhile follows, minus what it
        already held (by seq), then events are written as they come."""
        held, sub.held, sub.live = sub.held or [], None, True
        for seq, message in held:
            self._send_seq(sub, seq, message)

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
        seq = event.get("seq")
        if not self._batch_events:
            self._batch_events, self._batch_arrived = True, time.monotonic()
        for sub in list(targets):
            message = sub.accept(event, raw)
            if message is not None:
                self._send_seq(sub, seq, message)

    def _send_seq(self, sub: Subscriber, seq: int | None, message: str) -> None:
        if not sub.live:
            held = sub.held
            if held is not None:
                held.append((seq, message))
                if len(held) > sub.held_max:
                    self._overloaded(sub)
            return
        if seq is not None:
            if seq <= sub.sent_seq:
                return  # already in its snapshot or replay
            sub.sent_seq = seq
        self.send(sub, message)

    def send(self, sub: Subscriber, message: str) -> None:
        """Queue one message for the end of this turn of the event loop (a burst of events
        becomes one write per connection)."""
        if sub.closed:
            return
        # one message (the usual case) is kept as is: no list per socket per burst, so a
        # burst to thousands of sockets allocates nothing the garbage collector must track
        batch = self._batch.get(sub)
        if batch is None:
            self._batch[sub] = message
        elif isinstance(batch, str):
            self._batch[sub] = [batch, message]
        else:
            batch.append(message)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write the burst: each distinct message framed once, each distinct sequence of
        frames joined once, one write per connection."""
        self._flush_handle = None
        batch, self._batch = self._batch, {}
        timed, self._batch_events = self._batch_events, False
        frames: dict[int, bytes] = {}
        joined: dict[tuple[int, ...], bytes] = {}
        kinds: set[str] = set()
        now = time.monotonic()
        slow: list[Subscriber] = []
        for sub, messages in batch.items():
            if sub.closed or sub.outlet is None:
                continue
            if isinstance(messages, str):
                data = frames.get(id(messages))
                if data is None:
                    data = frames[id(messages)] = text_frame(messages.encode())
            else:
                key = tuple(map(id, messages))
                data = joined.get(key)  # type: ignore[assignment]
                if data is None:
                    parts = []
                    for m in messages:
                        f = frames.get(id(m))
                        if f is None:
                            f = frames[id(m)] = text_frame(m.encode())
                        parts.append(f)
                    data = joined[key] = b"".join(parts)
            if not sub.outlet.write(data, messages):
                slow.append(sub)
            sub.last_sent = now
            kinds.add(sub.kind)
        done = time.monotonic()
        for kind in kinds if timed else ():
            metrics.FANOUT_LATENCY.labels(kind).observe(done - self._batch_arrived)
        for sub in slow:
            self._overloaded(sub)

    def _overloaded(self, sub: Subscriber) -> None:
        metrics.WS_DROPPED.inc()
        log.info("slow websocket client dropped", kind=sub.kind)
        self.drop(sub, CLOSE_OVERLOADED)

    def drop(self, sub: Subscriber, code: int) -> None:
        """Stop feeding a client and close it with `code`."""
        self.unregister(sub)
        if sub.closed:
            return
        sub.closed = True
        if sub.outlet is not None:
            sub.outlet.close(code)

    def _close_all(self, code: int) -> int:
        n = 0
        for routes in list(self.index.values()):
            for subs in list(routes.values()):
                for sub in list(subs):
                    self.drop(sub, code)
                    n += 1
        return n


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
