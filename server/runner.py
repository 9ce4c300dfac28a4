"""How the processes are started: one place for uvicorn's flags and the worker's command
(the Procfile says the same).

permessage-deflate is off: compression costs each connection tens of KiB of zlib state,
and our messages are small. The sans-I/O websockets implementation is uvicorn's current one
and the lighter per connection (docs/benchmarks.md).

Behind a reverse proxy (deploy/nginx/opdq.conf) the client's address and scheme come from
X-Forwarded-For / X-Forwarded-Proto, trusted only from the addresses in uvicorn's own
FORWARDED_ALLOW_IPS (default 127.0.0.1,::1; docs/operations.md "Reverse proxy"). No `Server:`
banner: it tells a scanner what to try.
"""

from __future__ import annotations

import sys


def uvicorn_command(host: str, port: int, *, workers: int = 1) -> list[str]:
    cmd = [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory",
           "--host", host, "--port", str(port), "--no-access-log",
           "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
           "--ws-max-size", "65536", "--proxy-headers", "--no-server-header",
           # uvicorn's own INFO lines print websocket URLs, display keys included
           "--log-level", "warning"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return cmd


def worker_command() -> list[str]:
    """The background worker under its supervisor (workers/run.py): it outlives Redis and
    PostgreSQL outages instead of exiting."""
    return [sys.executable, "-m", "workers.run"]
