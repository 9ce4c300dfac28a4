"""Real uvicorn processes for websocket, cross-process and browser tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from server.embedded import free_port
from server.runner import uvicorn_command


@dataclass
class LiveServer:
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(uvicorn_command("127.0.0.1", self.port), env=self.env,
                                     stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError, OSError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def port_free(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) != 0


def server_env(database_url: str, redis_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TEST_", "DATABASE_URL", "REDIS_URL"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url,
               SECRET_KEY="test-secret-key-not-for-production",
               PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", LOG_LEVEL="WARNING",
               ENVIRONMENT="test", **extra)
    return env


@contextlib.contextmanager
def running(database_url: str, redis_url: str, **extra: str) -> Iterator[LiveServer]:
    port = free_port()
    server = LiveServer(port, server_env(database_url, redis_url, port, **extra))
    server.start()
    try:
        yield server
    finally:
        server.stop()
