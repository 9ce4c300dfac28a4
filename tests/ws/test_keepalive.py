"""Keepalive without a timer per socket (server.ws_live, Hub._heartbeats): a client that goes
silent is pinged and, still silent, dropped; a client that pings is left alone. A raw
websocket client here, because a library client answers pings by itself."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct

import asyncpg
import pytest

from server.realtime import CLOSE_SILENT
from tests.api.helpers import make_display_key
from tests.livesrv import LiveServer
from tests.queue.conftest import World, build_world


@pytest.fixture
async def w(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


class RawClient:
    """A websocket client that sends only what the test tells it to (no automatic pong)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, server: LiveServer, path: str) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes]:
        """The next frame from the server: (opcode, payload); (-1, b"") at the end."""
        try:
            b0, b1 = await self.reader.readexactly(2)
            size = b1 & 0x7F
            if size == 126:
                size = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            return b0 & 0x0F, await self.reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError):
            return -1, b""

    def send_text(self, text: str) -> None:
        payload, mask = text.encode(), os.urandom(4)
        assert len(payload) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes((0x81, 0x80 | len(payload))) + mask + masked)

    def close(self) -> None:
        self.writer.close()


async def test_a_silent_client_is_pinged_then_dropped(server_a: LiveServer, w: World,
                                                      pool: asyncpg.Pool) -> None:
    """server_a's heartbeat is 1 s: a client that answers nothing is pinged after about 1 s
    and dropped (close 1011, then cut) about 1 s after that."""
    _, key = await make_display_key(pool, w.hospital_id, w.department_id)
    client = await RawClient.connect(server_a, f"/ws/board/{w.department_id}?key={key}")
    try:
        opcode, payload = await client.frame()
        assert opcode == 0x1 and json.loads(payload)["type"] == "snapshot"
        seen = []
        async with asyncio.timeout(10):
            while True:
                opcode, payload = await client.frame()
                seen.append(opcode)
                if opcode in (0x8, -1):
                    break
        assert 0x9 in seen  # pinged first
        assert seen[-1] == 0x8 and int.from_bytes(payload[:2], "big") == CLOSE_SILENT
        async with asyncio.timeout(10):  # and then the connection ends
            assert await client.frame() == (-1, b"")
    finally:
        client.close()


async def test_a_client_that_pings_is_not_pinged_nor_dropped(server_a: LiveServer, w: World,
                                                             pool: asyncpg.Pool) -> None:
    """live.js pings every 15 s against the 20 s heartbeat; here every 0.25 s against 1 s,
    for 3 s: long enough for a silent client to have been dropped."""
    _, key = await make_display_key(pool, w.hospital_id, w.department_id)
    client = await RawClient.connect(server_a, f"/ws/board/{w.department_id}?key={key}")
    try:
        _, payload = await client.frame()
        assert json.loads(payload)["type"] == "snapshot"
        seen: list[tuple[int, str]] = []
        all_answered = asyncio.Event()

        async def read() -> None:
            while True:
                opcode, payload = await client.frame()
                if opcode == -1:
                    return
                seen.append((opcode, payload.decode(errors="replace")))
                if sum(1 for op, text in seen if op == 0x1 and '"pong"' in text) == 13:
                    all_answered.set()

        reader = asyncio.create_task(read())
        for _ in range(12):
            client.send_text('{"type": "ping"}')
            await asyncio.sleep(0.25)
        client.send_text('{"type":"ping"}')
        async with asyncio.timeout(5):
            await all_answered.wait()
        assert not reader.done()  # still connected
        assert [op for op, _ in seen if op != 0x1] == []  # no ping, no close
        reader.cancel()
    finally:
        client.close()
