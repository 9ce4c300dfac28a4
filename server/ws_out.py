"""Where a websocket's outgoing messages go: its transport, written directly, one frame built
per audience.

A server's websocket frames are not masked (RFC 6455 5.1), so every board of a department can
be sent the very same bytes: the frame is built once per message and written to each
connection's transport, without a task, a queue or the ASGI send path per connection. A
connection whose peer reads slowly keeps its unsent bytes in the transport's own buffer
(drained by the event loop as the socket takes them); once that buffer holds more than
`limit` bytes the client is too slow and is dropped (close 4408), so a stalled client never
costs the others more than one `transport.write` each.

Direct writes need our uvicorn websockets protocol (server.ws_live.LiveSocket, server.runner's
`--ws`), found through the ASGI `send` it hands the app: it is the outlet itself. Under another
server the `QueuedOutlet` does the same job through the ASGI send path, with a queue and a
writer task (and that server's own keepalive pings).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Protocol

from starlette.websockets import WebSocket

from server.ws_live import CLOSE_GRACE_S


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (RFC 6455 5.2) around `payload` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


PINGS = frozenset({'{"type":"ping"}', '{"type": "ping"}'})  # as live.js and most clients send it


def is_ping(text: str) -> bool:
    """A client's `{"type": "ping"}` (API.md), the one message a client sends."""
    if text in PINGS:
        return True
    try:
        message = json.loads(text)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("type") == "ping"


class Outlet(Protocol):
    def write(self, frames: bytes, messages: str | tuple[str, ...]) -> bool:
        """Send the message(s) (`frames`: the same, framed and joined); False when the
        client is too slow."""

    def close(self, code: int) -> None:
        """Close with `code`, without waiting; the socket's own task then ends."""

    def release(self) -> None:
        """The connection is over: let go of anything it holds."""

    def keepalive(self, now: float, silent_s: float) -> bool:
        """Called by the hub's periodic sweep: ping a client silent for `silent_s`; False
        when it is dead (silent for that long after the ping too)."""


class QueuedOutlet:
    """The ASGI send path for servers without a reachable transport: a bounded queue and one
    writer task per connection (how every socket worked before direct writes)."""

    __slots__ = ("closing", "queue", "writer", "ws")

    def __init__(self, ws: WebSocket, size: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=size)
        self.closing: int | None = None
        self.writer = asyncio.get_running_loop().create_task(self._pump())

    def write(self, frames: bytes, messages: str | tuple[str, ...]) -> bool:
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

    def keepalive(self, now: float, silent_s: float) -> bool:
        return True  # the server's own pings (uvicorn's timer per connection) see to it
