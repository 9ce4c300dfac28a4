"""`opdq dev` as a supervisor: the embedded PostgreSQL and Redis (when no URLs are set), the
web server and a worker, started in steps that each say what they do, kept running, and
stopped cleanly.

- SIGTERM or SIGINT (Ctrl-C, `kill`, systemd, docker) stops the children in order, web and
  worker first (so nothing they do meets a missing Redis or PostgreSQL), then Redis, then
  PostgreSQL, within STOP_BUDGET_S; then the supervisor exits 0.
- A child that dies unexpectedly is restarted after a backoff that doubles up to
  BACKOFF_MAX_S (back to the minimum once it has run STEADY_S); the others keep running.
- Children get their own process group, so a terminal's Ctrl-C reaches only the supervisor,
  which stops them in order; on Linux they also get SIGTERM if the supervisor is killed, so
  even `kill -9` leaves nothing running but PostgreSQL (which pg_ctl detaches; the next run
  takes it over and stops it).
- What a killed run leaves (a live run on the same data folder, a dead pid in pgserver's
  handle list, a Redis still working in the folder, the web port taken) is cleaned up or
  explained in one line, never a traceback.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import psutil
import structlog

from server import embedded
from server.observability import configure_logging
from server.runner import uvicorn_command, worker_command
from server.settings import Settings

log = structlog.get_logger("supervisor")

STOP_BUDGET_S = 9.5      # SIGTERM to exit, all children stopped (the promise is 10 s)
APP_STOP_S = 5.0         # web and worker get this long to finish, then SIGKILL
REDIS_STOP_S = 2.0
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
STEADY_S = 30.0
READY_TIMEOUT_S = 90.0
TICK_S = 0.1

PR_SET_PDEATHSIG = 1
_LIBC = (ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
         if sys.platform.startswith("linux") else None)


class Interrupted(Exception):
    """SIGTERM/SIGINT came during start-up: skip the remaining steps, stop what started."""


def step(name: str, text: str) -> None:
    print(f"==> {name}: {text}", flush=True)


def _die_with_parent(parent: int) -> Callable[[], None]:
    def setup() -> None:  # in the child, between fork and exec
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)
    return setup


def child_options() -> dict[str, Any]:
    """Popen options for a supervised child (see the module docstring)."""
    return {"process_group": 0, "preexec_fn": _die_with_parent(os.getpid())}


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Child:
    """One supervised thing: started, watched, restarted with backoff, stopped."""

    def __init__(self, name: str, *, restart: bool = True) -> None:
        self.name = name
        self.restart = restart
        self.started_at = 0.0
        self.delay = BACKOFF_MIN_S
        self.restart_at: float | None = None
        self.launched = False

    def launch(self) -> None:
        self._launch()
        self.launched = True
        self.started_at = time.monotonic()

    def _launch(self) -> None:
        raise NotImplementedError

    def running(self) -> bool:
        raise NotImplementedError

    def exit_text(self) -> str:
        return "stopped"

    def terminate(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError


class ProcessChild(Child):
    def __init__(self, name: str, start: Callable[[], subprocess.Popen[bytes]], *,
                 restart: bool = True) -> None:
        super().__init__(name, restart=restart)
        self._start = start
        self.proc: subprocess.Popen[bytes] | None = None

    def _launch(self) -> None:
        self.proc = self._start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_text(self) -> str:
        return describe_exit(self.proc.returncode if self.proc else None)

    def terminate(self) -> None:
        if self.running():
            assert self.proc
            self.proc.terminate()

    def kill(self) -> None:
        if self.running():
            assert self.proc
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(1)


class PostgresChild(Child):
    """pgserver's cluster: pg_ctl detaches it, so it is watched by its postmaster's pid."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__("postgresql")
        self.data_dir = data_dir
        self.url = ""
        self.pid: int | None = None
        self.handle: Any = None

    def _launch(self) -> None:
        if self.handle is None:
            self.url, self.handle = embedded.start_postgres(self.data_dir, stop_at_exit=False)
        else:  # pgserver keeps one handle per folder: ask it to start the server again
            self.handle.ensure_postgres_running()
        self.pid = embedded.running_postmaster(self.data_dir)

    def running(self) -> bool:
        return self.pid is not None and embedded.alive(self.pid)

    def exit_text(self) -> str:
        return "its server process is gone"

    def terminate(self) -> None:
        embedded.stop_postgres(self.data_dir, timeout=3.0)
        embedded.forget_handle(self.data_dir, os.getpid())

    def kill(self) -> None:
        if self.pid is not None and embedded.alive(self.pid):
            with contextlib.suppress(psutil.Error):
                psutil.Process(self.pid).kill()


class Supervisor:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stop_reason: str | None = None

    # -- signals -------------------------------------------------------------------------
    def install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # only noted: raising here could cut a start-up step in half (pg_ctl killed after it
        # forked PostgreSQL, a child started but not recorded); steps are seconds long
        if self.stop_reason is None:
            self.stop_reason = signal.Signals(signum).name

    def check(self) -> None:
        """Between start-up steps: stop now if a signal came."""
        if self.stop_reason is not None:
            raise Interrupted

    # -- running -------------------------------------------------------------------------
    def add(self, child: Child) -> Child:
        self.check()
        self.children.append(child)
        child.launch()
        return child

    def tick(self) -> None:
        """Notice children that died and restart them when their backoff is over."""
        now = time.monotonic()
        for c in self.children:
            if not c.launched or self.stop_reason:
                continue
            if c.restart_at is None and not c.running():
                if not c.restart:
                    log.info(f"{c.name} ended ({c.exit_text()})")
                    c.launched = False
                    continue
                if now - c.started_at > STEADY_S:
                    c.delay = BACKOFF_MIN_S
                log.warning(f"{c.name} exited unexpectedly ({c.exit_text()}); "
                            f"restarting in {c.delay:g} s")
                c.restart_at = now + c.delay
                c.delay = min(c.delay * 2, BACKOFF_MAX_S)
            elif c.restart_at is not None and now >= c.restart_at:
                c.restart_at = None
                try:
                    c.launch()
                    log.info(f"{c.name} restarted")
                except Exception as exc:
                    log.warning(f"{c.name} could not be restarted; trying again in "
                                f"{c.delay:g} s", error=str(exc)[:200])
                    c.restart_at = time.monotonic() + c.delay
                    c.delay = min(c.delay * 2, BACKOFF_MAX_S)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.stop_reason is None and time.monotonic() < deadline:
            time.sleep(min(TICK_S, max(0.0, deadline - time.monotonic())))

    # -- stopping ------------------------------------------------------------------------
    def stop(self, groups: Sequence[tuple[Sequence[str], float]]) -> None:
        """Stop the children group by group (names, seconds before SIGKILL), in order."""
        started = time.monotonic()
        order = [name for group, _ in groups for name in group]
        names = [n for n in order if any(c.name == n and c.launched for c in self.children)]
        if not names:
            return
        log.info(f"stopping: {', '.join(names)}", reason=self.stop_reason or "exit")
        for group, grace in groups:
            members = [c for c in self.children if c.name in group and c.launched]
            for c in members:
                c.terminate()
            deadline = min(time.monotonic() + grace, started + STOP_BUDGET_S)
            while any(c.running() for c in members) and time.monotonic() < deadline:
                time.sleep(0.05)
            for c in members:
                if c.running():
                    log.warning(f"{c.name} did not stop in time; killed")
                    c.kill()
        log.info("stopped", took_s=round(time.monotonic() - started, 1))


# -- start-up checks -----------------------------------------------------------------------
def lock_data_dir(data_dir: Path) -> int:
    """One `opdq dev` per data folder: the kernel drops the lock when its holder dies, so a
    killed run never leaves a stale lock."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "dev.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise SystemExit(
            f"opdq dev is already running on {data_dir}/ (pid {holder}): stop it first "
            f"(Ctrl-C in its terminal, or `kill {holder}`), or set DATA_DIR to another "
            f"folder") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def port_problem(host: str, port: int) -> str | None:
    """A sentence saying who holds host:port, or None when it is free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
            return None
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return None  # not ours to judge: the web server will say what is wrong
    owner = ""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
                cmd = " ".join(psutil.Process(conn.pid).cmdline())
                kind = ("an opdq web server left running by an earlier run"
                        if "server.app" in cmd else "another program")
                owner = f" by {kind} (pid {conn.pid}: {cmd[:80]}); stop it (`kill {conn.pid}`)"
                break
    return (f"port {port} is already in use{owner or ' by another program'}, or choose "
            f"another port: PORT={port + 1} make run")


def clean_leftovers(data_dir: Path) -> None:
    """What a killed run left in the data folder: taken over or cleaned, said in one line."""
    stale = embedded.prune_stale_handles(data_dir)
    if stale:
        log.info("removed stale PostgreSQL handles of runs that are gone (so PostgreSQL is "
                 "stopped with this run)", pids=stale)
    pid = embedded.running_postmaster(data_dir)
    if pid:
        log.info("PostgreSQL was left running by an earlier run; taking it over", pid=pid)
    for proc in embedded.redis_servers_on(data_dir / "redis"):
        log.info("stopping a Redis left running by an earlier run", pid=proc.pid)
        with contextlib.suppress(psutil.Error):
            proc.terminate()
            try:
                proc.wait(REDIS_STOP_S)
            except psutil.TimeoutExpired:
                proc.kill()


def ready_url(settings: Settings) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(settings.host, settings.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/readyz"


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except (OSError, ValueError):
        return False


def banner(base: str, logins: dict[str, tuple[str, str]], simulate: bool) -> str:
    lines = [f"\nOPD queue is running on {base}",
             f"  reception   {base}/reception", f"  doctor      {base}/doctor",
             f"  admin       {base}/admin", "  board       see /admin -> Displays for a board URL",
             "demo logins (username / password):"]
    lines += [f"  {role:<13}{user} / {password}" for role, (user, password) in logins.items()]
    if simulate:
        lines.append("simulating clinic days at 60x against the demo (opdq simulate --live)")
    lines.append("stop with Ctrl-C (or SIGTERM): web, worker, Redis and PostgreSQL all stop\n")
    return "\n".join(lines)


# -- the command ---------------------------------------------------------------------------
def run_dev(settings: Settings, *, simulate: bool, schema: Callable[[str], None],
            demo: Callable[[str], bool], logins: dict[str, tuple[str, str]]) -> int:
    """`opdq dev`: returns the exit code (0 after a signal); a start-up problem it can
    explain exits with that sentence."""
    configure_logging(settings.log_level, settings.log_json)
    sup = Supervisor()
    sup.install_signals()
    t0 = time.monotonic()
    embedded_needed = not settings.database_url or not settings.redis_url
    lock = lock_data_dir(settings.data_dir) if embedded_needed else None
    try:
        problem = port_problem(settings.host, settings.port)
        if problem:
            raise SystemExit(problem)
        env = dict(os.environ)
        db_url, redis_url = settings.database_url, settings.redis_url
        if embedded_needed:
            step("database", f"starting embedded PostgreSQL and Redis under "
                             f"{settings.data_dir}/")
            clean_leftovers(settings.data_dir)
            if not db_url:
                pg = PostgresChild(settings.data_dir)
                sup.add(pg)
                db_url = pg.url
            if not redis_url:
                redis_dir, port = settings.data_dir / "redis", embedded.free_port()
                sup.add(ProcessChild("redis", lambda: embedded.start_redis(
                    redis_dir, port, popen_kwargs=child_options())[2]))
                redis_url = f"redis://127.0.0.1:{port}/0"
        env["DATABASE_URL"], env["REDIS_URL"] = db_url or "", redis_url or ""
        sup.check()
        step("database", "applying the schema")
        schema(env["DATABASE_URL"])
        sup.check()
        step("demo", "demo hospital loaded" if demo(env["DATABASE_URL"])
             else "demo hospital already present")
        step("web", f"starting the web server on {settings.base_url} and a worker")
        sup.add(ProcessChild("web", lambda: subprocess.Popen(
            uvicorn_command(settings.host, settings.port), env=env, **child_options())))
        sup.add(ProcessChild("worker", lambda: subprocess.Popen(
            worker_command(), env=env, **child_options())))
        if simulate:  # its ending must not stop the server, nor be restarted
            sup.add(ProcessChild("simulator", lambda: subprocess.Popen(
                [sys.executable, "-m", "server.cli", "simulate", "--live", "--speed", "60",
                 "--days", "0", "--base-url", settings.base_url, "--quiet"],
                env=env, **child_options()), restart=False))
        _wait_ready(sup, ready_url(settings), t0)
        if sup.stop_reason is None:
            print(banner(settings.base_url, logins, simulate), flush=True)
        while sup.stop_reason is None:
            sup.tick()
            sup.sleep(TICK_S)
    except Interrupted:
        pass
    finally:
        sup.stop([(("web", "worker", "simulator"), APP_STOP_S),
                  (("redis",), REDIS_STOP_S), (("postgresql",), STOP_BUDGET_S)])
        if lock is not None:
            os.close(lock)
    return 0


def _wait_ready(sup: Supervisor, url: str, t0: float) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    said_slow = False
    while sup.stop_reason is None:
        if is_ready(url):
            step("ready", f"in {time.monotonic() - t0:.1f} s")
            return
        if time.monotonic() > deadline and not said_slow:
            step("ready", f"not yet after {READY_TIMEOUT_S:g} s (see the log above); "
                          "still trying")
            said_slow = True
        sup.tick()
        sup.sleep(0.2)
