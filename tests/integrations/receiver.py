"""A webhook receiver for tests: a local HTTP server that records every delivery and can be
told to fail its next N requests (a receiver that is down, then recovers)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    delivery_id: str
    signature: str
    event: str
    body: bytes
    status: int          # what the receiver answered


@dataclass
class Receiver:
    fail_next: int = 0
    requests: list[Received] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _runner: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/opdq"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = 503 if self.fail_next > 0 else 204
        self.fail_next = max(0, self.fail_next - 1)
        self.requests.append(Received(request.headers.get("X-OPDQ-Delivery", ""),
                                      request.headers.get("X-OPDQ-Signature", ""),
                                      request.headers.get("X-OPDQ-Event", ""), body, status))
        self.changed.set()
        return web.Response(status=status)

    def accepted(self) -> list[Received]:
        """Each delivery once (by its id), in the order first accepted."""
        seen: dict[str, Received] = {}
        for r in self.requests:
            if r.status < 300 and r.delivery_id not in seen:
                seen[r.delivery_id] = r
        return list(seen.values())

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/opdq", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def dead_url() -> str:
    """A local port nobody listens on: every delivery fails at once (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/gone"
