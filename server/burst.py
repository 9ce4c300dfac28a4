"""The hub's writer: what one turn of the event loop gathered for each connection (a burst),
framed once per distinct message and written in one call per connection, FLUSH_CHUNK
connections per turn.

A burst gathered while another is being written waits for it, so each connection gets its
messages in order. A target is a subscriber or a flock (server.flock), whose members'
transports are written in one loop in C. Who gets what is the hub's (server.realtime).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

from server import metrics
from server.flock import Flock, write_all
from server.subscribers import Subscriber
from server.ws_out import text_frame

Messages = str | tuple[str, ...]  # one message, or a burst's several for the same targets
Target = Subscriber | Flock


class Burst:
    # connections written per turn of the event loop: about 2-3 ms of sends here, so a burst
    # to 2,500 boards gives the loop back ten times (docs/benchmarks.md, run D)
    FLUSH_CHUNK = 256

    def __init__(self, settle: Callable[[list[Subscriber]], None],
                 overloaded: Callable[[Subscriber], None]) -> None:
        self.settle = settle  # a burst is out: these subscribers were written alone
        self.overloaded = overloaded  # a subscriber past its bound
        self.pending: dict[Target, Messages] = {}  # the burst being gathered
        # its message sequences, one tuple per distinct sequence (`then`)
        self._seqs: dict[tuple[int, int], tuple[tuple[str, ...], object]] = {}
        self._arrived = 0.0  # when its first event came from Redis
        self._events = False  # it holds events (not only heartbeats, pongs)
        self._handle: asyncio.Handle | None = None
        # the burst being written
        self._writing: Iterator[tuple[Target, Messages, int]] | None = None
        self._frames: dict[int, bytes] = {}
        self._joined: dict[int, bytes] = {}
        self._kinds: set[str] = set()
        self._since: float | None = None  # its first event (None: it held no event)
        self._strays: list[Subscriber] = []
        self._slow: list[Subscriber] = []

    @property
    def writing(self) -> bool:
        return self._writing is not None

    def event_arrived(self) -> None:
        if not self._events:
            self._events, self._arrived = True, time.monotonic()

    def queue(self, target: Target, message: str) -> None:
        """One message for the end of this turn of the event loop."""
        queued = self.pending.get(target)
        self.pending[target] = message if queued is None else self.then(queued, message)
        self.schedule()

    def schedule(self) -> None:
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self.flush)

    def overflowed(self, sub: Subscriber) -> None:
        """Past its bound, reported from inside a write: dropped once the write is over."""
        self._slow.append(sub)
        self.schedule()

    def then(self, queued: Messages, message: str) -> tuple[str, ...]:
        """A target's messages of this burst and one more, as one tuple shared by every
        target with the same messages (every board of a department): no list per socket
        per burst for the garbage collector to track, and the flush frames and joins each
        distinct sequence once. The entry keeps what its key's ids name alive, so an id is
        not reused while it stands; the entries go with the burst."""
        key = (id(queued), id(message))
        entry = self._seqs.get(key)
        if entry is None:
            seq = (queued, message) if isinstance(queued, str) else (*queued, message)
            entry = self._seqs[key] = (seq, queued)
        return entry[0]

    def flush(self) -> None:
        """Write FLUSH_CHUNK connections of the burst, then give the loop back (the next
        press's queries and requests are served between chunks)."""
        self._handle = None
        if self._writing is None:
            batch, self.pending, self._seqs = self.pending, {}, {}
            self._writing = self._items(batch)
            self._frames, self._joined, self._kinds = {}, {}, set()
            self._since = self._arrived if self._events else None
            self._events = False
        kinds = self._kinds
        now = time.monotonic()
        slow = self._slow
        written = 0
        for target, messages, lo in self._writing:
            data = self._framed(messages)
            if type(target) is Flock:
                hi = min(lo + self.FLUSH_CHUNK, len(target.writes))
                write_all(target.writes, lo, hi, data)
                target.last_sent = now
                kinds.add(target.kind)
                written += hi - lo
            else:
                sub, outlet = target, target.outlet
                if sub.closed or outlet is None:
                    continue
                if not outlet.write(data, messages):
                    slow.append(sub)
                sub.last_sent = now
                kinds.add(sub.kind)
                if sub.audience is not None and sub.live:
                    self._strays.append(sub)
                written += 1
            if written >= self.FLUSH_CHUNK:
                break
        else:  # the burst is out
            self._writing = None
            self._frames, self._joined = {}, {}
            if self._since is not None:
                done = time.monotonic()
                for kind in kinds:
                    metrics.FANOUT_LATENCY.labels(kind).observe(done - self._since)
            strays, self._strays = self._strays, []
            self.settle(strays)
        if slow:
            self._slow = []
            for sub in slow:
                self.overloaded(sub)
        if self._writing is not None or self.pending:
            self.schedule()

    def _items(self, batch: dict[Target, Messages]) -> Iterator[tuple[Target, Messages, int]]:
        """The burst's writes: a subscriber, or a flock's slots from `lo`, FLUSH_CHUNK at a
        time (its slots stay put until the burst is out: joiners wait for `settle`)."""
        for target, messages in batch.items():
            if type(target) is Flock:
                for lo in range(0, len(target.writes), self.FLUSH_CHUNK):
                    yield target, messages, lo
            else:
                yield target, messages, 0

    def _framed(self, messages: Messages) -> bytes:
        if isinstance(messages, str):
            return self._frame(messages)
        data = self._joined.get(id(messages))  # a tuple: framed and joined once (`then`)
        if data is None:
            data = self._joined[id(messages)] = b"".join(map(self._frame, messages))
        return data

    def _frame(self, message: str) -> bytes:
        """One message's frame, built once per burst however many targets get it."""
        data = self._frames.get(id(message))
        if data is None:
            data = self._frames[id(message)] = text_frame(message.encode())
        return data
