"""A real Redis Cluster of three masters on this machine, for the tests and the bench.

The machine's own redis-server (Debian's, >= 7: `apt-get install redis-server`; .ci/run
installs it) in cluster mode, in a folder of its own, on free ports. The slots are assigned
by hand (CLUSTER ADDSLOTSRANGE, CLUSTER MEET): no redis-cli, no waiting on its prompts.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from redis import Redis

from server import embedded

SLOTS = 16384


def cluster_redis_server() -> str:
    """The system redis-server (7 or later: ADDSLOTSRANGE, scripts' cluster checks)."""
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"v=(\d+)\.", out)
    if not m or int(m.group(1)) < 7:
        raise RuntimeError(f"a Redis Cluster needs redis-server >= 7, found {out.strip()!r} "
                           "(apt-get install redis-server)")
    return path


def _free_cluster_port() -> int:
    """A port whose cluster bus port (+10000) is free too."""
    while True:
        port = embedded.free_port()
        if port + 10000 < 65536:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port + 10000)) != 0:
                    return port


class LocalCluster:
    """Three masters, no replicas. kill(i) / start(i) take one node down and back (with its
    slots, from its nodes.conf, and no data: nothing is persisted)."""

    def __init__(self, folder: Path, masters: int = 3, *, full_coverage: bool = True) -> None:
        self.folder = folder
        self.executable = cluster_redis_server()
        self.full_coverage = full_coverage
        self.ports = [_free_cluster_port() for _ in range(masters)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * masters

    @property
    def url(self) -> str:
        """The seed a client is given: any node does."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, i: int | None = None) -> None:
        for n in range(len(self.ports)) if i is None else [i]:
            d = self.folder / str(self.ports[n])
            d.mkdir(parents=True, exist_ok=True)
            self.procs[n] = subprocess.Popen(
                [self.executable, "--port", str(self.ports[n]), "--bind", "127.0.0.1",
                 "--dir", str(d.resolve()), "--save", "", "--appendonly", "no",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "2000",
                 "--cluster-require-full-coverage", "yes" if self.full_coverage else "no",
                 "--daemonize", "no", "--logfile", "redis.log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            embedded.wait_for_port(self.ports[n], self.procs[n])  # type: ignore[arg-type]

    def create(self) -> None:
        """Start the nodes, give each a third of the slots, introduce them, wait for `ok`."""
        self.start()
        share = SLOTS // len(self.ports)
        for n, port in enumerate(self.ports):
            first = n * share
            last = SLOTS - 1 if n == len(self.ports) - 1 else first + share - 1
            with Redis(port=port) as r:
                r.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with Redis(port=self.ports[0]) as r:
            for port in self.ports[1:]:
                r.execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        self.wait_ok()

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every running node sees the cluster whole and agrees on its map."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if all(self._node_ok(p) for p, proc in zip(self.ports, self.procs, strict=True)
                       if proc is not None):
                    return
            time.sleep(0.05)
        raise RuntimeError("the Redis Cluster did not come up")

    def _node_ok(self, port: int) -> bool:
        with Redis(port=port, decode_responses=True) as r:
            info = r.execute_command("CLUSTER", "INFO")
            text = info if isinstance(info, str) else info.decode()
            fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
            slots = r.execute_command("CLUSTER", "SLOTS")
            # every link of the cluster bus up (a PUBLISH reaches the other nodes over it), no
            # node still in its handshake
            nodes = [line.split() for line in r.execute_command("CLUSTER", "NODES").splitlines()
                     if line.strip()]
            running = sum(1 for proc in self.procs if proc is not None)
            return (fields.get("cluster_state") == "ok"
                    and int(fields.get("cluster_known_nodes", 0)) == len(self.ports)
                    and sum(int(s[1]) - int(s[0]) + 1 for s in slots) == SLOTS
                    and sum(1 for n in nodes if n[7] == "connected"
                            and "handshake" not in n[2]) >= running)

    def node_of(self, key: str) -> int:
        """The index of the node holding `key`."""
        port = next(p for p, proc in zip(self.ports, self.procs, strict=True) if proc)
        with Redis(port=port, decode_responses=True) as r:  # a running node
            slot = int(r.execute_command("CLUSTER", "KEYSLOT", key))
            for lo, hi, master, *_ in r.execute_command("CLUSTER", "SLOTS"):
                if int(lo) <= slot <= int(hi):
                    return self.ports.index(int(master[1]))
        raise LookupError(key)

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.procs[i] = None

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None:
                embedded.stop_redis(proc)
        self.procs = [None] * len(self.ports)


@contextlib.contextmanager
def running_cluster(folder: Path, **kw: bool) -> Iterator[LocalCluster]:
    cluster = LocalCluster(folder, **kw)  # type: ignore[arg-type]
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.stop()
