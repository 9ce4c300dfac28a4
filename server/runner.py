"""How the processes are started: one place for uvicorn's flags and the worker's command
(the Procfile says the same).

permessage-deflate is off: compression costs each connection tens of KiB of zlib state,
and our messages are small. Websockets run server.ws_live.LiveSocket, uvicorn's sans-I/O
websockets protocol (its current one, the lighter per connection) taken over by the realtime
hub once a socket is live: frames written and read without a task per connection, keepalive
pings from the hub's one sweep (docs/benchmarks.md).

Several web processes on one machine: `python -m server.runner --processes N [--host H]
[--port P]` starts N processes, each with its own listening socket bound with SO_REUSEPORT
to the same address, so the kernel spreads connections over them (no proxy, no shared
accept queue). Each process subscribes to the events of the hospitals its own sockets follow.

Behind a reverse proxy (deploy/nginx/opdq.conf) the client's address and scheme come from
X-Forwarded-For / X-Forwarded-Proto, trusted only from the addresses in uvicorn's own
FORWARDED_ALLOW_IPS (default 127.0.0.1,::1; docs/operations.md "Reverse proxy"). No `Server:`
banner: it tells a scanner what to try.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

# our subclass of uvicorn's sans-I/O websockets protocol: a live socket without a task, a
# queue or a ping timer of its own (server/ws_live.py)
WS_PROTOCOL = "server.ws_live:LiveSocket"
# uvicorn's options, as keyword arguments of uvicorn.Config (the CLI flags below say the same)
UVICORN_OPTIONS: dict[str, Any] = {
    "factory": True, "access_log": False, "ws": WS_PROTOCOL,
    "ws_per_message_deflate": False, "ws_max_size": 65536, "proxy_headers": True,
    "server_header": False,
    # uvicorn's own INFO lines print websocket URLs, display keys included
    "log_level": "warning",
}
APP = "server.app:create_app"


def uvicorn_command(host: str, port: int, *, workers: int = 1) -> list[str]:
    cmd = [sys.executable, "-m", "uvicorn", APP, "--factory",
           "--host", host, "--port", str(port), "--no-access-log",
           "--ws", WS_PROTOCOL, "--ws-per-message-deflate", "false",
           "--ws-max-size", "65536", "--proxy-headers", "--no-server-header",
           "--log-level", "warning"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return cmd


def reuseport_command(host: str, port: int) -> list[str]:
    """One web process that binds host:port with SO_REUSEPORT (start several of them)."""
    return [sys.executable, "-m", "server.runner", "--one", "--host", host, "--port", str(port)]


def worker_command() -> list[str]:
    """The background worker under its supervisor (workers/run.py): it outlives Redis and
    PostgreSQL outages instead of exiting."""
    return [sys.executable, "-m", "workers.run"]


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other processes may bind too; the kernel balances new
    connections between them by their address hash."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_one(host: str, port: int) -> None:
    """This process: uvicorn on its own SO_REUSEPORT socket."""
    import uvicorn

    config = uvicorn.Config(APP, host=host, port=port, **UVICORN_OPTIONS)
    uvicorn.Server(config).run(sockets=[reuseport_socket(host, port)])


def serve_many(host: str, port: int, processes: int) -> int:
    """N processes on one port; one that exits is started again; SIGTERM stops them all."""
    procs = [subprocess.Popen(reuseport_command(host, port)) for _ in range(processes)]
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for i, p in enumerate(procs):
            if p.poll() is not None and not stopping:
                procs[i] = subprocess.Popen(reuseport_command(host, port))
        time.sleep(0.5)
    for p in procs:
        p.wait()
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description="web processes sharing one port (SO_REUSEPORT)")
    p.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.add_argument("--processes", type=int, default=int(os.environ.get("WEB_PROCESSES", "1")))
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        serve_one(args.host, args.port)
    else:
        sys.exit(serve_many(args.host, args.port, args.processes))


if __name__ == "__main__":
    main()
