"""Several web processes on one port (server.runner, SO_REUSEPORT): every socket, whichever
process the kernel gave it to, gets the events of a call made through any of them."""

from __future__ import annotations

import contextlib
import subprocess
import time

import asyncpg
import httpx
import pytest

from server.embedded import free_port
from server.runner import reuseport_command
from tests.api.helpers import make_display_key
from tests.conftest import Services
from tests.livesrv import LiveServer, server_env
from tests.queue.conftest import World, build_world
from tests.ws.conftest import next_message, until, ws_connect
from tests.ws.test_protocol import issue, press_next


def _ready(url: str, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), "a web process exited"
        with contextlib.suppress(httpx.HTTPError, OSError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("not ready")


@pytest.fixture
def shared_port(services: Services, schema_ready: str):
    port = free_port()
    env = server_env(services.database_url, services.redis_url, port)
    procs = [subprocess.Popen(reuseport_command("127.0.0.1", port), env=env,
                              stdout=subprocess.DEVNULL) for _ in range(2)]
    try:
        _ready(f"http://127.0.0.1:{port}", procs)
        yield LiveServer(port, env), procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


async def test_two_processes_share_a_port_and_every_board_gets_the_call(
        shared_port, pool: asyncpg.Pool) -> None:
    server, procs = shared_port
    w: World = await build_world(pool)
    _, key = await make_display_key(pool, w.hospital_id, w.department_id)
    a = await issue(server, w, 0)
    boards = [await ws_connect(server, f"/ws/board/{w.department_id}?key={key}").__aenter__()
              for _ in range(16)]
    try:
        for b in boards:
            assert (await next_message(b))["type"] == "snapshot"
        await press_next(server, w, current_token_id=None)
        for b in boards:
            msgs = await until(b, lambda m: m["type"] == "token.called")
            assert msgs[-1]["data"]["token"]["id"] == a["id"]
    finally:
        for b in boards:
            await b.close()
    procs[0].terminate()               # the other process still holds the port
    procs[0].wait(10)
    async with httpx.AsyncClient(base_url=server.url) as c:
        assert (await c.get("/readyz")).status_code == 200
