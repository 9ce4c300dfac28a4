"""`opdq dev` run for real: a process that starts embedded PostgreSQL and Redis in its own
data folder, a web server and a worker. What an operator relies on: SIGTERM stops all of it
and exits 0 within 10 s, leaving no process and no port behind; a child that crashes comes
back; what a killed run leaves (its pid in pgserver's handle list, PostgreSQL still running)
does not stop the next run nor keep PostgreSQL running after it; a taken port is explained
in one line."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from server import embedded

ROOT = Path(__file__).resolve().parents[2]
READY_S = 60.0
STOP_S = 10.0


class Dev:
    """`python -m server.cli dev` on its own data folder and port, output kept in a file."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.log_path = data_dir.parent / f"{data_dir.name}-{port}-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items()
               if k not in {"DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "LOG_JSON"}}
        env.update(DATA_DIR=str(data_dir), PORT=str(port), HOST="127.0.0.1", LOG_LEVEL="INFO")
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "dev"], cwd=ROOT,
                                         env=env, stdout=out, stderr=subprocess.STDOUT)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200
        return False

    def wait_until(self, what: str, cond: Callable[[], bool], timeout: float = READY_S) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert self.proc.poll() is None, f"exited ({self.proc.returncode}):\n{self.log}"
            assert time.monotonic() < deadline, f"not {what} after {timeout} s:\n{self.log}"
            time.sleep(0.1)

    def child(self, marker: str) -> psutil.Process | None:
        """The running child whose command line holds marker (a killed one not yet reaped
        does not count)."""
        found = []
        for p in psutil.Process(self.proc.pid).children():
            with contextlib.suppress(psutil.Error):  # gone, or a zombie
                if marker in " ".join(p.cmdline()):
                    found.append(p)
        assert len(found) <= 1, found
        return found[0] if found else None

    def processes(self) -> list[int]:
        """Every process this run owns: its children and the PostgreSQL postmaster."""
        pids = [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        postmaster = embedded.running_postmaster(self.data_dir)
        assert postmaster, "no PostgreSQL running for the data folder"
        return [*pids, postmaster]

    def terminate(self) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(STOP_S + 5)
        return code, time.monotonic() - started

    def cleanup(self) -> None:
        """After a failed test: nothing of this run may outlive it."""
        if self.proc.poll() is None:
            for p in psutil.Process(self.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    p.kill()
            self.proc.kill()
            self.proc.wait()
        embedded.stop_postgres(self.data_dir, timeout=2)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def none_alive(pids: list[int], timeout: float = 2.0) -> list[int]:
    """The pids still running after `timeout` (zombies waiting for init count as gone)."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if embedded.alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Dev]]:
    runs: list[Dev] = []

    def run(data_dir: Path | None = None, port: int | None = None) -> Dev:
        dev = Dev(data_dir or tmp_path / "data", port or embedded.free_port())
        runs.append(dev)
        return dev

    yield run
    for dev in runs:
        dev.cleanup()


def test_sigterm_stops_everything_in_order_and_exits_0(start: Callable[..., Dev]) -> None:
    dev = start()
    dev.wait_until("ready", dev.ready)
    dev.wait_until("showing its URLs", lambda: "demo logins" in dev.log)
    # the worker's first reconcile: a first start loads the live view, it does not "rebuild"
    dev.wait_until("loading the live view", lambda: "live view loaded from PostgreSQL" in dev.log)
    owned = dev.processes()
    assert len(owned) == 4  # web, worker, redis, postgresql

    code, took = dev.terminate()

    assert code == 0, dev.log
    assert took < STOP_S, f"took {took:.1f} s"
    assert none_alive(owned) == []
    assert port_is_free(dev.port)
    log = dev.log
    assert "stopping: web, worker, redis, postgresql" in log
    assert log.rstrip().splitlines()[-1].split("]", 1)[1].strip().startswith("stopped")
    # a clean start and stop reads clean: no warning, no error, no traceback
    for bad in ("[warning", "[error", "Traceback", "event feed lost", "exited"):
        assert bad not in log, log


def test_a_crashed_child_is_restarted_and_a_second_run_is_refused(
        start: Callable[..., Dev]) -> None:
    dev = start()
    dev.wait_until("ready", dev.ready)
    web, worker, redis = (dev.child(m) for m in ("uvicorn", "workers.run", "redis-server"))
    assert web and worker and redis

    web.kill()
    dev.wait_until("restarting the web server", lambda: "web exited unexpectedly" in dev.log)
    dev.wait_until("ready again", dev.ready, timeout=30)
    assert getattr(dev.child("uvicorn"), "pid", None) not in (None, web.pid)
    worker.kill()
    dev.wait_until("restarting the worker", lambda: getattr(
        dev.child("workers.run"), "pid", worker.pid) != worker.pid, timeout=30)
    assert "worker exited unexpectedly (killed by SIGKILL); restarting in 0.5 s" in dev.log
    assert getattr(dev.child("redis-server"), "pid", None) == redis.pid  # the others stay

    second = start(dev.data_dir)
    assert second.proc.wait(30) == 1
    assert f"opdq dev is already running on {dev.data_dir}/ (pid {dev.proc.pid})" in second.log
    assert "Traceback" not in second.log

    owned = dev.processes()
    assert dev.terminate()[0] == 0
    assert none_alive(owned) == []


def test_a_killed_run_leaves_nothing_that_stops_the_next(
        start: Callable[..., Dev]) -> None:
    first = start()
    first.wait_until("ready", first.ready)
    children = [p.pid for p in psutil.Process(first.proc.pid).children()]
    first.proc.kill()   # kill -9: no chance to clean up
    first.proc.wait()
    assert none_alive(children, timeout=5) == []  # its web, worker and Redis went with it
    handles = (first.data_dir / "pg" / ".handle_pids.json").read_text()
    assert str(first.proc.pid) in handles  # the stale pid that used to keep PostgreSQL up
    postmaster = embedded.running_postmaster(first.data_dir)
    assert postmaster

    dev = start(first.data_dir, first.port)
    dev.wait_until("ready", dev.ready)
    assert "removed stale PostgreSQL handles" in dev.log
    assert "PostgreSQL was left running by an earlier run; taking it over" in dev.log
    code, _ = dev.terminate()

    assert code == 0
    assert none_alive([postmaster]) == []   # stopped, although it was not started by this run
    assert embedded.running_postmaster(dev.data_dir) is None
    assert "Traceback" not in dev.log


def test_a_taken_port_is_explained_in_one_line(start: Callable[..., Dev]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dev = start(port=port)
        assert dev.proc.wait(30) == 1
    out = dev.log.strip()
    assert out.splitlines()[-1].startswith(f"port {port} is already in use by another program")
    assert f"PORT={port + 1} make run" in out
    assert "Traceback" not in out
    assert embedded.running_postmaster(dev.data_dir) is None  # nothing was started
