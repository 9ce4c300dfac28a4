"""A live socket reads its client's frames itself (server.ws_live.LiveSocket, no websockets
parser, no task): messages split over reads, fragmented, interleaved with control frames, too
big or malformed, over a real socket pair; and once detached it holds nothing of its
handshake (a real uvicorn and client)."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import weakref
from typing import Any

import uvicorn
import websockets
from starlette.websockets import WebSocket

from server.runner import WS_PROTOCOL
from server.ws_live import live_socket
from tests.ws.conftest import live_socket_on


class Feed:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.ended = asyncio.Event()

    def heard_text(self, sub: Any, text: str) -> None:
        self.texts.append(text)

    def overflowed(self, sub: Any) -> None:
        pass

    def gone(self, sub: Any) -> None:
        self.ended.set()


def masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client's frame (RFC 6455 5.2: masked)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes(((0x80 if fin else 0) | opcode,))
    if n < 126:
        head += bytes((0x80 | n,))
    elif n < 65536:
        head += bytes((0x80 | 126,)) + n.to_bytes(2, "big")
    else:
        head += bytes((0x80 | 127,)) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def live_pair() -> tuple[Any, Feed, socket.socket]:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    transport, _ = await asyncio.get_running_loop().connect_accepted_socket(
        asyncio.Protocol, ours)
    proto = live_socket_on(transport)
    transport.set_protocol(proto)
    feed = Feed()
    proto.feed, proto.sub = feed, object()  # as detach() leaves it
    return proto, feed, theirs


async def received(sock: socket.socket, n: int) -> bytes:
    data = b""
    async with asyncio.timeout(5):
        while len(data) < n:
            chunk = await asyncio.get_running_loop().sock_recv(sock, n - len(data))
            if not chunk:
                break
            data += chunk
    return data


async def test_messages_split_across_reads_and_fragmented_arrive_whole() -> None:
    proto, feed, sock = await live_pair()
    ping = masked(0x1, b'{"type": "ping"}')
    for i in range(len(ping)):  # a byte at a time
        proto.data_received(ping[i:i + 1])
    long = ("x" * 300).encode()
    proto.data_received(masked(0x1, long[:100], fin=False) + masked(0x0, long[100:200], fin=False))
    proto.data_received(masked(0x9, b"hi"))  # a ping between two fragments
    proto.data_received(masked(0x0, long[200:]) + masked(0x1, "é".encode()))
    assert feed.texts == ['{"type": "ping"}', "x" * 300, "é"]
    assert await received(sock, 4) == b"\x8a\x02hi"  # the ping's pong, with its payload
    sock.close()


async def test_a_close_from_the_client_is_answered_and_ends_the_socket() -> None:
    proto, feed, sock = await live_pair()
    proto.data_received(masked(0x8, (1000).to_bytes(2, "big")))
    assert await received(sock, 4) == b"\x88\x02\x03\xe8"
    async with asyncio.timeout(5):
        await feed.ended.wait()
    assert await received(sock, 1) == b""
    sock.close()


async def test_too_big_unmasked_or_invalid_text_closes_with_its_code() -> None:
    for frame, code in ((masked(0x1, b"x" * 70000), 1009),
                        (b"\x81\x05hello", 1002),
                        (masked(0x1, b"\xff\xfe"), 1007)):
        proto, feed, sock = await live_pair()
        proto.data_received(frame)
        assert await received(sock, 4) == b"\x88\x02" + code.to_bytes(2, "big")
        async with asyncio.timeout(5):
            await feed.ended.wait()
        assert feed.texts == []
        sock.close()


async def test_a_detached_socket_lets_go_of_its_handshake_without_a_collection() -> None:
    """The websockets connection that did the handshake holds the request's headers, and its
    parser (a generator) holds it: a cycle. Detaching frees it at once; left to the garbage
    collector it would wait for a collection, which GC_THRESHOLDS makes rare (~4 KB a
    socket). A real uvicorn and client here, and no collection allowed."""
    seen: dict[str, Any] = {}
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        proto = live_socket(ws)
        assert proto is not None
        seen["conn"] = weakref.ref(proto.conn)
        seen["detached"] = proto.detach(Feed(), object())
        done.set()

    listening = socket.create_server(("127.0.0.1", 0))  # connections wait in its backlog
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, ws=WS_PROTOCOL, lifespan="off",
                                           log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        gc.disable()
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
            async with asyncio.timeout(5):
                await done.wait()
            assert seen["detached"]
            assert seen["conn"]() is None
            pong = await client.ping()  # the socket still reads, and answers, by itself
            async with asyncio.timeout(5):
                await pong
    finally:
        gc.enable()
        server.should_exit = True
        await serving
