"""A fake ABDM gateway for tests: a local HTTP server that records every on-share callback
and can refuse its next N (a gateway that hiccups)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ON_SHARE = "/v1.0/patients/profile/on-share"


@dataclass
class FakeGateway:
    fail_next: int = 0
    callbacks: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    port: int = 0
    _runner: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _on_share(self, request: web.Request) -> web.Response:
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503)
        self.callbacks.append((dict(request.headers), json.loads(await request.read())))
        return web.Response(status=202)

    async def wait_for(self, n: int, within_s: float = 10.0) -> list[dict[str, Any]]:
        """The bodies of the first n callbacks, once they have arrived."""
        deadline = time.monotonic() + within_s
        while len(self.callbacks) < n:
            assert time.monotonic() < deadline, f"{len(self.callbacks)} of {n} callbacks"
            await asyncio.sleep(0.02)
        return [body for _, body in self.callbacks[:n]]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(ON_SHARE, self._on_share)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
