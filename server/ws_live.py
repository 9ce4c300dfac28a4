"""A live websocket without a task, a queue or a timer of its own: uvicorn's sans-I/O
websockets protocol (the `--ws` class server.runner names), which, once the socket is live,
reads the client's frames in `data_received` and is written to directly by the hub.

Until the socket is live (handshake, authorisation, snapshot or replay) it is uvicorn's
protocol as is: the ASGI app's task drives it. Then `detach` hands it to the hub and the
app's task ends: the connection keeps no task, no coroutine frames, no inbound queue, no
`writable` event, no handshake and no websockets parser (frames are parsed here: a client's
message is a ping at most, answered by the hub in order with its writes).

Keepalive: uvicorn pings every socket from a timer of its own; here the hub's one periodic
sweep (Hub._heartbeats) pings only a socket it has heard nothing from for a while, and drops
one still silent after that (a half-open TCP connection). Clients that ping (static/js/live.js,
every 15 s) are never pinged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

CLOSE_GRACE_S = 2.0  # a closing handshake that has not finished by then is cut
PING_FRAME = b"\x89\x00"  # an empty ping (RFC 6455 5.5.2); the client's pong is all we need

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009


def close_frame(code: int) -> bytes:
    return b"\x88\x02" + code.to_bytes(2, "big")


class Feed(Protocol):
    """Where a live socket reports (the hub): a client's text message, its transport over its
    bound, the socket's end."""

    def heard_text(self, sub: Any, text: str) -> None: ...

    def overflowed(self, sub: Any) -> None: ...

    def gone(self, sub: Any) -> None: ...


class _Detached:
    """Stands in for the inbound queue and the `writable` event of a detached socket:
    nothing reads the one or waits on the other any more."""

    __slots__ = ()

    def put_nowait(self, item: object) -> None:
        pass

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass

    def empty(self) -> bool:
        return True

    async def wait(self) -> bool:
        return True


DETACHED: Any = _Detached()


class LiveSocket(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websockets protocol, and once `detach`ed the hub's outlet
    (server.ws_out.Outlet) to this client."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feed: Feed | None = None
        self.sub: Any = None
        self.over = False  # the transport holds more unsent bytes than its bound (`bound`)
        self.heard = time.monotonic()  # when the client last sent anything
        self.pinged = 0.0
        self.inbox = b""  # a frame not yet whole
        self.parts: list[bytes] | None = None  # a fragmented message's parts
        self.text_parts = True

    # -- uvicorn's protocol, changed where a detached socket differs ----------------------
    def start_keepalive(self) -> None:
        """No timer per connection: the hub's sweep pings silent sockets (`keepalive`)."""

    def data_received(self, data: bytes) -> None:
        self.heard = time.monotonic()
        if self.feed is None:
            super().data_received(data)
        else:
            self._frames(self.inbox + data if self.inbox else data)

    def bound(self, limit: int) -> None:
        """Unsent bytes past which the client is too slow (server.ws_out): the transport's
        high-water mark, so the transport itself says when it is passed (`pause_writing`,
        called from within the write that passed it), not a question asked at every write."""
        self.transport.set_write_buffer_limits(high=limit)

    def pause_writing(self) -> None:
        self.over = True
        super().pause_writing()
        if self.feed is not None:  # the hub drops it after the write in progress
            self.feed.overflowed(self.sub)

    def resume_writing(self) -> None:
        self.over = False
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        feed, self.feed = self.feed, None
        if feed is not None:
            feed.gone(self.sub)

    def shutdown(self) -> None:
        if self.feed is None:
            super().shutdown()
            return
        if not self.close_sent:
            self.close_sent = True
            self.transport.write(close_frame(1012))  # the server restarts: come back
        self.transport.close()
        if self.close_timer is None:  # a client that does not read would hold the shutdown
            self.close_timer = self.loop.call_later(CLOSE_GRACE_S, self._cut)

    async def run_asgi(self) -> None:
        """uvicorn's, except that an app returning after `detach` leaves the socket open."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.",
                                  result)
        if self.close_timer is None and self.feed is None:
            self.transport.close()

    # -- going live ------------------------------------------------------------------------
    def detach(self, feed: Feed, sub: Any) -> bool:
        """From now on the client's messages go to `feed` and the app's task may end. False
        (the app keeps reading) when the socket is closing or the websockets parser is in
        the middle of a frame."""
        if self.close_sent or self.disconnected or self.frames or not self._between_frames():
            return False
        pending = []
        while not self.queue.empty():
            message = self.queue.get_nowait()
            if message["type"] != "websocket.receive":
                return False  # disconnected: the app's read loop ends it
            pending.append(message.get("text"))
        self.inbox = bytes(self.conn.reader.buffer)
        self.feed, self.sub = feed, sub
        # what the handshake and uvicorn's task-driven path held, not needed any more. The
        # websockets parser is a generator whose frame holds its connection: a cycle, which
        # would keep the handshake (~4 KB a socket) until the garbage collector reaches it,
        # rarely here (GC_THRESHOLDS). Closing the generator frees it now.
        self.conn.parser.close()
        self.queue = self.writable = DETACHED
        self.scope = None  # type: ignore[assignment]
        self.conn = None  # type: ignore[assignment]
        for attr in ("request", "response"):
            self.__dict__.pop(attr, None)
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        for text in pending:
            if text is not None:
                feed.heard_text(sub, text)
        if self.inbox:
            self._frames(self.inbox)
        return True

    def _between_frames(self) -> bool:
        """websockets' parser waits for the first byte of a frame (nothing half read)."""
        outer = self.conn.parser
        inner = getattr(outer, "gi_yieldfrom", None)
        waiting = getattr(inner, "gi_yieldfrom", None)
        return (getattr(outer, "__name__", "") == "parse"
                and getattr(inner, "__name__", "") == "parse"
                and getattr(waiting, "__name__", "") == "at_eof")

    # -- frames from the client (RFC 6455 5.2), once detached -----------------------------
    def _frames(self, buf: bytes) -> None:
        i, n, max_size = 0, len(buf), self.config.ws_max_size
        while n - i >= 2 and self.feed is not None:
            b0, b1 = buf[i], buf[i + 1]
            size, head = b1 & 0x7F, i + 2
            if size == 126:
                if n - i < 4:
                    break
                size, head = int.from_bytes(buf[i + 2:i + 4], "big"), i + 4
            elif size == 127:
                if n - i < 10:
                    break
                size, head = int.from_bytes(buf[i + 2:i + 10], "big"), i + 10
            if not b1 & 0x80 or b0 & 0x70:  # a client's frames are masked, no extensions
                return self._fail(CLOSE_PROTOCOL_ERROR)
            if size > max_size:
                return self._fail(CLOSE_TOO_BIG)
            end = head + 4 + size
            if end > n:
                break
            payload = apply_mask(buf[head + 4:end], buf[head:head + 4])
            i = end
            self._frame(b0 & 0x0F, bool(b0 & 0x80), payload)
        self.inbox = buf[i:] if i < n else b""

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> None:
        if opcode >= 0x8:  # control frames: whole, short
            if not fin or len(payload) > 125:
                return self._fail(CLOSE_PROTOCOL_ERROR)
            if opcode == 0x9:  # ping: pong with its payload
                if not self.close_sent:
                    self.transport.write(bytes((0x8A, len(payload))) + payload)
            elif opcode == 0x8:  # close: answer it (unless it answers ours), then hang up
                if not self.close_sent:
                    self.close_sent = True
                    self.transport.write(b"\x88\x02" + payload[:2] if len(payload) >= 2
                                         else b"\x88\x00")
                self.transport.close()
            elif opcode != 0xA:
                self._fail(CLOSE_PROTOCOL_ERROR)
            return
        if opcode == 0x0:
            if self.parts is None:
                return self._fail(CLOSE_PROTOCOL_ERROR)
            self.parts.append(payload)
            if sum(map(len, self.parts)) > self.config.ws_max_size:
                return self._fail(CLOSE_TOO_BIG)
        elif opcode in (0x1, 0x2):
            if self.parts is not None:
                return self._fail(CLOSE_PROTOCOL_ERROR)
            self.parts, self.text_parts = [payload], opcode == 0x1
        else:
            return self._fail(CLOSE_PROTOCOL_ERROR)
        if not fin:
            return
        parts, self.parts = self.parts, None
        if not self.text_parts or self.close_sent or self.feed is None:
            return  # the app reads text messages only
        try:
            text = (parts[0] if len(parts) == 1 else b"".join(parts)).decode()
        except UnicodeDecodeError:
            return self._fail(CLOSE_INVALID_DATA)
        self.feed.heard_text(self.sub, text)

    def _fail(self, code: int) -> None:
        if not self.close_sent:
            self.close_sent = True
            self.transport.write(close_frame(code))
        self.transport.close()

    # -- the hub's outlet (server.ws_out.Outlet) ------------------------------------------
    def write(self, frames: bytes, messages: str | tuple[str, ...]) -> bool:
        transport = self.transport
        if self.close_sent or transport.is_closing():
            return True  # going away: nothing more to send, nothing to drop
        transport.write(frames)
        return not self.over

    def direct(self) -> Callable[[bytes], object] | None:
        """The transport's own write, for the hub's flocks (server.flock), which write
        without asking anything per socket: only while detached and open. The hub takes a
        socket out of its flock before it sends a close frame (`Hub.drop`) and when the
        connection is lost; a transport closed in between (the client's close, a protocol
        error) takes no more writes of its own accord."""
        if self.feed is None or self.close_sent or self.transport.is_closing():
            return None
        return self.transport.write  # type: ignore[no-any-return]

    def close(self, code: int) -> None:
        """Send a close frame; a client that has not answered it in CLOSE_GRACE_S (one that
        does not read) is cut."""
        if self.close_sent or self.disconnected:
            return
        self.close_sent = True
        self.transport.write(close_frame(code))
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(CLOSE_GRACE_S, self._cut)

    def _cut(self) -> None:
        if not self.disconnected:
            self.transport.abort()

    def release(self) -> None:
        pass

    def keepalive(self, now: float, silent_s: float) -> bool:
        """Ping a client silent for `silent_s`; False once it has also left that ping
        unanswered for `silent_s` (the hub drops it)."""
        if self.heard > now - silent_s:
            return True
        if self.pinged <= self.heard:
            self.pinged = now
            if not self.close_sent and not self.transport.is_closing():
                self.transport.write(PING_FRAME)
            return True
        return now - self.pinged < silent_s


def live_socket(ws: Any) -> LiveSocket | None:
    """The LiveSocket under a Starlette WebSocket, when the server runs one."""
    proto = getattr(getattr(ws, "_send", None), "__self__", None)
    return proto if isinstance(proto, LiveSocket) else None
