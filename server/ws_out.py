"""Where a websocket's outgoing messages go: its transport, written directly, one frame built
per audience.

A server's websocket frames are not masked (RFC 6455 5.1), so every board of a department can
be sent the very same bytes: the frame is built once per message and written to each
connection's transport, without a task, a queue or the ASGI send path per connection. A
connection whose peer reads slowly keeps its unsent bytes in the transport's own buffer
(drained by the event loop as the socket takes them); once that buffer holds more than
`limit` bytes the client is too slow and is dropped (close 4408), so a stalled client never
costs the others more than one `transport.write` each.

Direct writes need uvicorn's sans-I/O websockets protocol (server.runner's `--ws
websockets-sansio`), found through the ASGI `send` it hands the app. Under another server the
`QueuedOutlet` does the same job through the ASGI send path, with a queue and a writer task.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from starlette.websockets import WebSocket
from websockets.protocol import Protocol as WsProtocol

CLOSE_GRACE_S = 2.0  # a closing handshake that has not finished by then is cut


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (RFC 6455 5.2) around `payload` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


class Outlet(Protocol):
    def write(self, frames: bytes, messages: str | list[str]) -> bool:
        """Send the message(s) (`frames`: the same, framed and joined); False when the
        client is too slow."""

    def close(self, code: int) -> None:
        """Close with `code`, without waiting; the socket's own task then ends."""

    def release(self) -> None:
        """The connection is over: let go of anything it holds."""


class TransportOutlet:
    """Frames written straight to the connection's transport (uvicorn's sans-I/O protocol)."""

    __slots__ = ("limit", "proto", "ws")

    def __init__(self, proto: Any, ws: WebSocket, limit: int) -> None:
        self.proto, self.ws, self.limit = proto, ws, limit

    @staticmethod
    def of(ws: WebSocket, limit: int) -> TransportOutlet | None:
        """The direct outlet when the server is uvicorn's sans-I/O websockets, else None."""
        proto = getattr(ws._send, "__self__", None)
        if proto is None or not all(hasattr(proto, a) for a in (
                "transport", "conn", "close_sent", "disconnected")):
            return None
        # what the handshake left behind is not needed for the socket's life
        for attr in ("request", "response"):
            if hasattr(proto, attr):
                setattr(proto, attr, None)
        return TransportOutlet(proto, ws, limit)

    def forget_request(self) -> None:
        """websockets' ServerProtocol.parse keeps the handshake request (all its headers) as
        a local of the generator that then parses every frame, for the socket's life. When
        that generator is between frames (waiting for data, nothing half read), frame
        parsing starts again in a fresh generator, and the request goes."""
        conn = self.proto.conn
        outer = conn.parser
        inner = getattr(outer, "gi_yieldfrom", None)
        waiting = getattr(inner, "gi_yieldfrom", None)
        if (getattr(outer, "__name__", "") != "parse" or getattr(inner, "__name__", "") != "parse"
                or getattr(waiting, "__name__", "") != "at_eof" or conn.reader.buffer):
            return
        conn.parser = WsProtocol.parse(conn)
        next(conn.parser)

    def write(self, frames: bytes, messages: str | list[str]) -> bool:
        proto = self.proto
        transport = proto.transport
        if proto.close_sent or transport.is_closing():
            return True  # going away: nothing more to send, nothing to drop
        transport.write(frames)
        return transport.get_write_buffer_size() <= self.limit  # type: ignore[no-any-return]

    def close(self, code: int) -> None:
        asyncio.get_running_loop().create_task(self._close(code))

    async def _close(self, code: int) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code), timeout=CLOSE_GRACE_S)
        await asyncio.sleep(CLOSE_GRACE_S)
        if not self.proto.disconnected:  # a client that does not read gets no close reply
            self.proto.transport.abort()

    def release(self) -> None:
        pass


class QueuedOutlet:
    """The ASGI send path for servers without a reachable transport: a bounded queue and one
    writer task per connection (how every socket worked before direct writes)."""

    __slots__ = ("closing", "queue", "writer", "ws")

    def __init__(self, ws: WebSocket, size: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=size)
        self.closing: int | None = None
        self.writer = asyncio.get_running_loop().create_task(self._pump())

    def write(self, frames: bytes, messages: str | list[str]) -> bool:
        try:
            for text in [messages] if isinstance(messages, str) else messages:
                self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    def close(self, code: int) -> None:
        self.closing = code
        while True:  # make room for the close signal even when the queue is full
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()

    async def _pump(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(self.closing or 1000), CLOSE_GRACE_S)
                return
            await self.ws.send_text(text)

    def release(self) -> None:
        self.writer.cancel()
