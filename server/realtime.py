"""The realtime hub of one web process: Redis pub/sub in, frames written to transports out.

Every event is published once to Redis (by the Lua scripts) and each web process delivers it
to its own subscribers. A process subscribes only to the channels of the hospitals it has
subscribers for (SUBSCRIBE when the first arrives, UNSUBSCRIBE a while after the last
leaves), so N processes do not each decode every event of every hospital.

Dispatch never awaits a socket: the messages of a burst (everything that arrived in one turn
of the event loop) are gathered per connection, each distinct message is framed once, and
each connection's frames are written to its transport in one call (server.ws_out). Caught-up
subscribers of one audience (the boards of a department) are a flock (server.flock): taken
and written as one, their per-socket loop run in C. A connection whose unsent bytes pass the
bound is dropped (close 4408), so a slow or dead client never delays the others
(python-websockets' broadcasting advice).

What each kind of subscriber sees of an event: server/subscribers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis

from server import metrics
from server.burst import Burst
from server.flock import Flocks
from server.store import keys
from server.subscribers import (
    BoardSubscriber,
    Subscriber,
    TokenSubscriber,
    department_of,
    now_iso,
)
from server.ws_out import is_ping

log = structlog.get_logger("realtime")

CLOSE_UNAUTHORISED = 4401
CLOSE_REVOKED = 4403
CLOSE_OVERLOADED = 4408
CLOSE_SILENT = 1011  # as uvicorn's keepalive: no answer to a ping
CLOSE_RESYNC = 1012  # "service restart": the event feed was cut; reconnect and resume
SUBSCRIBE_WAIT_S = 5.0  # a socket waits this long for its hospital's channel, then goes on


class Hub:
    """Subscriptions of this process, fed by one Redis subscription per hospital in use."""

    def __init__(self, redis: Redis, heartbeat_s: float = 20.0, linger_s: float = 30.0) -> None:
        self.redis = redis
        self.heartbeat_s = heartbeat_s
        self.linger_s = linger_s  # an emptied hospital's channel is kept this long (reconnects)
        self._beats: asyncio.Task[None] | None = None
        # subscribers not in a flock (yet), and the flocks, by hospital and route
        self.index: dict[str, dict[tuple[str, str], set[Subscriber]]] = defaultdict(
            lambda: defaultdict(set))
        self.flocks = Flocks()
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
        self.burst = Burst(self._settle, self._overloaded)  # the writer
        # display keys revoked (or possibly missed) so far: what was resolved before a change
        # of it is not to be trusted (server.routes.ws caches display keys for reconnects)
        self.revocations = 0
        self.display_keys: dict[bytes, tuple[float, int, Any]] = {}  # digest: (until, gen, who)

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
        """One timer for every connection (not a timeout per message or a timer per socket):
        a client that heard nothing for heartbeat_s gets a heartbeat, so it can tell a quiet
        queue from a cut; one we heard nothing from for heartbeat_s is pinged (a websocket
        ping, which every client answers), and dropped when still silent heartbeat_s later:
        a half-open connection does not stay registered."""
        beats: dict[int, str] = {}  # a sweep's heartbeats, one per distinct last seq

        def beat(seq: int) -> str:
            if seq not in beats:
                beats[seq] = json.dumps({"type": "heartbeat", "seq": seq, "ts": now_iso()})
            return beats[seq]

        while True:
            await asyncio.sleep(self.heartbeat_s / 2)
            now = time.monotonic()
            idle_since = now - self.heartbeat_s
            beats.clear()
            dead = [sub for sub in self.subscribers() if sub.outlet is not None
                    and not sub.outlet.keepalive(now, self.heartbeat_s)]
            for routes in list(self.index.values()):
                for subs in list(routes.values()):
                    for sub in subs:
                        if sub.live and sub.last_sent <= idle_since:
                            self.send(sub, beat(sub.sent_seq))
            for flock in self.flocks.all():
                if not len(flock) or flock.last_sent > idle_since:
                    continue
                # members written alone meanwhile (a pong: clients that ping) need none
                quiet = [m for m in flock.alive() if m.last_sent <= idle_since]
                if len(quiet) == len(flock):
                    self.burst.queue(flock, beat(flock.sent_seq))
                else:
                    for sub in quiet:
                        self.send(sub, beat(flock.sent_seq))
            for sub in dead:  # a phone put to sleep, a cut network: not a slow client (4408)
                log.debug("silent websocket client dropped", kind=sub.kind)
                self.drop(sub, CLOSE_SILENT)

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
        self.revocations += 1  # a revocation may have been published meanwhile
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
            self.revocations += 1
            for sub in list(self.boards_by_key.get(raw, ())):
                self.drop(sub, CLOSE_REVOKED)
            return
        try:
            event = orjson.loads(raw)  # a queue.updated carries the doctor's whole queue
        except orjson.JSONDecodeError:
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
            self.flocks.forget(h)
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
        filed = False
        if sub.flock is not None:
            self.flocks.leave(sub)
            filed = True
        elif routes is not None and sub in routes.get(sub.routes(), ()):
            routes[sub.routes()].discard(sub)
            if not routes[sub.routes()]:
                del routes[sub.routes()]
            filed = True
        if filed:
            metrics.WS_CONNECTIONS.labels(sub.kind).dec()
            self.members[sub.hospital_id] -= 1
            if self.members[sub.hospital_id] <= 0:
                self._release_later(sub.hospital_id)
        if isinstance(sub, BoardSubscriber) and sub.display_key_id:
            self.boards_by_key[sub.display_key_id].discard(sub)
        self.burst.pending.pop(sub, None)

    def subscribers(self) -> list[Subscriber]:
        """Every subscriber of this process, in a flock or not (a copy: safe to drop them)."""
        subs = [sub for routes in self.index.values() for filed in routes.values()
                for sub in filed]
        return subs + self.flocks.members()

    def overflowed(self, sub: Subscriber) -> None:
        """Its transport passed its bound (LiveSocket.pause_writing, from inside a write):
        dropped once the write in progress is over, not from within it."""
        self.burst.overflowed(sub)

    def gone(self, sub: Subscriber) -> None:
        """The socket has closed (server.ws_live reports it)."""
        self.unregister(sub)

    def heard_text(self, sub: Subscriber, text: str) -> None:
        """A client's message: a ping is answered in order with the hub's writes."""
        if is_ping(text):
            self.send(sub, json.dumps({"type": "pong", "ts": now_iso()}))

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
        """An event to the subscribers it concerns: each audience's message built once (every
        board of a department gets the same string), each live subscriber's seq checked, the
        message queued for this turn's write (send, inlined: this runs once per socket)."""
        routes = self.index.get(hospital_id) or {}
        herds = self.flocks.of(hospital_id)
        if not routes and not herds:
            return
        data = event.get("data") or {}
        wanted = [("desk", ""), ("admin", "")]
        if dep := department_of(data):
            wanted.append(("department", dep))
        wanted += [("doctor", d) for d in {data.get("doctor_id"), data.get("from_doctor_id")}
                   if d]
        seq = event.get("seq")
        burst = self.burst
        burst.event_arrived()
        shared: dict[tuple[str, ...], str | None] = {}
        batch = burst.pending
        for route in wanted:
            for flock in (herds.get(route) or {}).values():
                key = flock.key[2]
                if key in shared:
                    message = shared[key]
                else:
                    message = shared[key] = flock.template.accept(event, raw)
                if message is None:
                    continue
                if seq is not None:
                    if seq <= flock.sent_seq:
                        continue
                    flock.sent_seq = seq
                queued = batch.get(flock)
                batch[flock] = message if queued is None else burst.then(queued, message)
            subs = routes.get(route)
            if not subs:
                continue
            # a copy: accepting can move a patient's socket to another doctor's set
            for sub in list(subs):  # a subscriber is filed under one route only
                key = sub.audience
                if key is None:
                    message = sub.accept(event, raw)
                elif key in shared:
                    message = shared[key]
                else:
                    message = shared[key] = sub.accept(event, raw)
                if message is None:
                    continue
                if not sub.live or seq is None or sub.closed:
                    self._send_seq(sub, seq, message)
                    continue
                if seq <= sub.sent_seq:
                    continue  # already in its snapshot or replay
                sub.sent_seq = seq
                queued = batch.get(sub)
                batch[sub] = message if queued is None else burst.then(queued, message)
        if batch:
            burst.schedule()

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
        if not sub.closed:
            self.burst.queue(sub, message)

    def _settle(self, strays: list[Subscriber]) -> None:
        """A burst is out: subscribers written alone may join their flock (server.flock)."""
        self.flocks.settle(strays, self.index, self.burst.pending)

    def _overloaded(self, sub: Subscriber) -> None:
        if sub.closed:
            return  # reported twice (the write's answer and pause_writing), or gone
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
        for sub in self.subscribers():
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
