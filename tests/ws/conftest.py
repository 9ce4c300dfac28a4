"""Two real web processes sharing the test PostgreSQL and Redis, and a websocket client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState
from websockets.asyncio.client import ClientConnection, connect

from server.realtime import Hub
from server.runner import WS_PROTOCOL
from server.store.client import create_redis
from server.ws_live import LiveSocket
from tests.conftest import Services
from tests.livesrv import LiveServer, running

METRICS_TOKEN = "ws-tests-metrics-token"


@pytest.fixture(scope="session")
def server_a(services: Services, schema_ready: str) -> Iterator[LiveServer]:
    with running(services.database_url, services.redis_url, WS_HEARTBEAT_S="1",
                 METRICS_TOKEN=METRICS_TOKEN) as srv:
        yield srv


@pytest.fixture(scope="session")
def server_b(services: Services, schema_ready: str) -> Iterator[LiveServer]:
    with running(services.database_url, services.redis_url) as srv:
        yield srv


@contextlib.asynccontextmanager
async def running_hub(redis_url: str, **kw: Any) -> AsyncIterator[Hub]:
    """A hub of its own, connected to its Redis (the hub's internals, without a web
    process)."""
    h = Hub(create_redis(redis_url, subscriber=True), **kw)
    await h.start()
    try:
        await asyncio.wait_for(h.connected.wait(), 5)
        yield h
    finally:
        await h.stop()
        await h.redis.aclose()


@pytest.fixture
async def hub(services: Services) -> AsyncIterator[Hub]:
    async with running_hub(services.redis_url, heartbeat_s=60, linger_s=0.05) as h:
        yield h


@pytest.fixture
async def beating_hub(services: Services) -> AsyncIterator[Hub]:
    """A hub whose heartbeat sweep comes every 0.1 s (heartbeat_s 0.2)."""
    async with running_hub(services.redis_url, heartbeat_s=0.2) as h:
        yield h


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    pass


def live_socket_on(transport: asyncio.Transport) -> LiveSocket:
    """Our uvicorn websockets protocol (server.ws_live) over `transport`, as uvicorn makes
    it for a connection (no handshake: the tests drive it by hand)."""
    proto = LiveSocket(uvicorn.Config(_no_app, ws=WS_PROTOCOL, ws_max_size=65536,
                                      lifespan="off"), ServerState(), {})
    transport.set_protocol(proto)
    proto.connection_made(transport)
    return proto


def ws_connect(server: LiveServer, path: str, *, token: str | None = None,
               **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(f"{server.ws_url}{path}", additional_headers=headers, open_timeout=5,
                   **kwargs)


async def next_message(ws: ClientConnection, wait: float = 5.0) -> dict[str, Any]:
    """The next protocol message, skipping heartbeats."""
    async with asyncio.timeout(wait):
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] != "heartbeat":
                return msg


async def until(ws: ClientConnection, pred: Callable[[dict[str, Any]], bool],
                wait: float = 5.0) -> list[dict[str, Any]]:
    """Messages up to and including the first that satisfies pred."""
    seen = []
    async with asyncio.timeout(wait):
        while True:
            msg = await next_message(ws, wait)
            seen.append(msg)
            if pred(msg):
                return seen
