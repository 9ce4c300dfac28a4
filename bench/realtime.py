"""Real-time load: fan-out latency, memory and CPU per connection, reconnection after a restart.

    python -m bench.realtime [--quick] [--sizes 1000,5000] [--peers ours,socketio,nchan]
        [--no-idle] [--no-mixed] [--processes 1,2,4]

Our server: two uvicorn processes (server.runner's flags) on core 0, no proxy; N board
websockets (/ws/board/{department}?key=...) split across both, from one Node process on core 1
(bench/fanout-load.mjs); Next presses go to the first process only. One department with 50
doctors, so every Next reaches every board, as every publish reaches every subscriber of the
peers. Measured, per N:
- rounds: one Next, wait until the LAST board has its `token.called`, 20 ms gap (the peers'
  own method, so the figures compare);
- rate: 10 Nexts/s spread over the 50 doctors, open loop, the same time per Next;
then 10,000 idle boards: RSS per 1,000 connections, CPU over 30 s (boards ping every 15 s as
static/js/live.js does; the server sends its heartbeat), and the time for all of them to be
back after both processes restart (clients back off as live.js does and resume with since=).
Then the mixed OPD (measure_mixed: boards, patient phones and doctor consoles, 10 Nexts/s,
press to the last affected subscriber) and the same rate test with 1, 2 and 4 processes
sharing one port with SO_REUSEPORT (server.runner).
The peers (shared/peers/fanout.py: python-socketio with its Redis manager; nginx + nchan) are
measured the same way in the same run, on the same cores.

Boards connect with `since=<current seq>` so that the connection phase does not measure 5,000
board snapshots of 50 cabins each (the snapshot path is measured by bench/throughput.py).

Services: BENCH_DATABASE_URL / BENCH_REDIS_URL when set (a database of its own, e.g.
`createdb opdq_bench`; a Redis db of its own), else embedded ones in a temporary folder.
Everything listens on and loads 127.0.0.1 only. The helpers here (services, the bench
hospital, pinned processes, the Node load) are shared with bench/throughput.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import queue
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from server import embedded
from server.db.pool import init_db
from server.domain.names import search_key
from server.runner import reuseport_command, uvicorn_command
from server.security import links
from server.store import keys
from tests.api import helpers
from tests.livesrv import server_env

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PEERS = Path(os.environ.get("OPDQ_PEERS_DIR", ROOT.parent / "shared" / "peers"))
LOAD_JS = BENCH / "fanout-load.mjs"
MIB = 1024 * 1024


# ---------------------------------------------------------------------------- environment
@dataclass
class Services:
    database_url: str
    redis_url: str
    embedded: bool


@contextlib.contextmanager
def services() -> Iterator[Services]:
    """BENCH_DATABASE_URL / BENCH_REDIS_URL, else embedded PostgreSQL and Redis (a temp dir)."""
    db, redis = os.environ.get("BENCH_DATABASE_URL"), os.environ.get("BENCH_REDIS_URL")
    if db and redis:
        asyncio.run(init_db(db))
        yield Services(db, redis, False)
        return
    with tempfile.TemporaryDirectory(prefix="opdq-bench-") as tmp:
        started = embedded.start(Path(tmp), persist=False)
        try:
            asyncio.run(init_db(db or started.database_url))
            yield Services(db or started.database_url, redis or started.redis_url, True)
        finally:
            started.stop()


def raise_fd_limit(want: int = 65536) -> int:
    """10,000+ sockets need as many descriptors, in this process and the ones it starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(want, hard) if hard != resource.RLIM_INFINITY else want
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pin(core: int) -> list[str]:
    """`taskset -c core` when there are two cores or more to keep server and load apart."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def free_port() -> int:
    return embedded.free_port()


def wait_http(url: str, proc: subprocess.Popen[Any] | None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError, OSError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


# ---------------------------------------------------------------------------- the hospital
@dataclass
class BenchHospital:
    id: UUID
    department_id: UUID
    doctor_ids: list[UUID]
    admin_token: str
    display_key: str
    tokens: list[tuple[UUID, str]] = field(default_factory=list)  # (doctor, public code), in order
    today: date | None = None


async def seed_hospital(db_url: str, *, doctors: int, per_doctor: int) -> BenchHospital:
    """A hospital of its own: one department, `doctors` doctors on shift all day, each with
    `per_doctor` walk-ins waiting (written straight to PostgreSQL; the server builds the live
    view from the record on the first request, as after a Redis loss)."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
    try:
        code = "B" + secrets.token_hex(4).upper()
        h = await helpers.create_hospital(pool, code)
        dept = await helpers.make_department(pool, h, code="GEN", name="General Medicine",
                                             avg_consultation_min=10)
        tz = await pool.fetchval("SELECT timezone FROM hospitals WHERE id = $1", h)
        now = datetime.now(ZoneInfo(tz))
        today = now.date()
        doc_ids, cabins = [], []
        for i in range(doctors):
            d = await helpers.make_doctor(pool, h, dept, f"Dr. Bench {i + 1:03d}")
            c = await helpers.make_cabin(pool, h, dept, f"C-{i + 1:03d}")
            await helpers.make_shift(pool, h, d, c, date=today.isoformat(), start="00:00",
                                     end="23:59")
            doc_ids.append(d)
            cabins.append(c)
        admin = await helpers.make_user(pool, h, "admin", username=f"bench-{code.lower()}")
        token = await helpers.session_token(pool, admin)
        _, key = await helpers.make_display_key(pool, h, dept)
        patients = [(uuid4(), h, f"BP{i:05d}", f"Bench Patient {i}", f"+919845{i:06d}",
                     search_key(f"Bench Patient {i}")) for i in range(200)]
        await pool.copy_records_to_table("patients", records=patients, columns=[
            "id", "hospital_id", "uhid", "name", "phone", "name_key"])
        rows = []
        start = now - timedelta(hours=2)
        for seq in range(1, doctors * per_doctor + 1):
            d = (seq - 1) % doctors
            at = start + timedelta(seconds=seq)
            rows.append((uuid4(), h, dept, doc_ids[d], cabins[d], patients[seq % 200][0], today,
                         seq, f"GEN-{seq:03d}", "WALK_IN", 1, "WAITING", at.timestamp(),
                         secrets.token_urlsafe(16), at, at))
        await pool.copy_records_to_table("tokens", records=rows, columns=[
            "id", "hospital_id", "department_id", "doctor_id", "cabin_id", "patient_id",
            "service_date", "seq", "number", "booking_type", "priority", "status",
            "queue_score", "public_code", "created_at", "checked_in_at"])
        await pool.execute(
            "INSERT INTO token_counters (department_id, service_date, last_seq) "
            "VALUES ($1, $2, $3)", dept, today, len(rows))
        # what autovacuum would have done (a PostgreSQL may run with it off, as the one of
        # run H did): without it, each invocation of a series meets a bigger, never analysed
        # database, and the planner's choices drift from one to the next
        await pool.execute("VACUUM ANALYZE")
        return BenchHospital(h, dept, doc_ids, token, key,
                             [(r[3], r[13]) for r in rows], today)
    finally:
        await pool.close()


async def current_seq(redis_url: str, h: UUID) -> int:
    from server.store.client import create_redis

    r = create_redis(redis_url)
    try:
        return int(await r.get(keys.seq(h)) or 0)
    finally:
        await r.aclose()


# ---------------------------------------------------------------------------- processes
@dataclass
class Web:
    """One uvicorn process of our server, pinned to a core."""

    port: int
    env: dict[str, str]
    core: int = 0
    proc: subprocess.Popen[bytes] | None = None
    reuseport: bool = False  # one of several processes bound to the same port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Web:
        cmd = (reuseport_command if self.reuseport else uvicorn_command)("127.0.0.1", self.port)
        self.proc = subprocess.Popen([*pin(self.core), *cmd], env=self.env, cwd=ROOT,
                                     stdout=subprocess.DEVNULL)
        wait_http(self.url + "/readyz", self.proc)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc
        return self.proc.pid


def web_env(svc: Services, port: int, **extra: str) -> dict[str, str]:
    """The server's environment; NEXT_GUARD_MS=0: the load presses Next faster than a human."""
    env = server_env(svc.database_url, svc.redis_url, port, NEXT_GUARD_MS="0", **extra)
    env["PYTHONPATH"] = str(ROOT)
    return env


def rss(pids: list[int]) -> int:
    import psutil

    return sum(psutil.Process(p).memory_info().rss for p in pids)


def cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for p in pids:
        t = psutil.Process(p).cpu_times()
        total += t.user + t.system
    return total


class NodeLoad:
    """bench/fanout-load.mjs on core 1; its stdout is one JSON object per line."""

    def __init__(self, args: list[str], core: int = 1) -> None:
        if not shutil.which("node"):
            raise RuntimeError("node is not installed")
        if not (BENCH / "node_modules" / "ws").exists():
            subprocess.run(["npm", "install", "--prefix", str(BENCH), "--no-audit",
                            "--no-fund"], check=True, capture_output=True)
        # BENCH_NODE_ARGS: options for node itself, e.g. "--cpu-prof --cpu-prof-dir=DIR" (node
        # refuses --cpu-prof in NODE_OPTIONS) to see where the load client's time goes
        node = ["node", *os.environ.get("BENCH_NODE_ARGS", "").split()]
        self.proc = subprocess.Popen([*pin(core), *node, str(LOAD_JS), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.proc.stderr
        for line in self.proc.stderr:
            self.err.append(line)

    def next(self, timeout: float) -> dict[str, Any]:
        try:
            got = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no output from the load within {timeout} s") from None
        if got is None:
            raise RuntimeError("the load exited: " + "".join(self.err[-5:]))
        return got

    def until(self, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.next(max(deadline - time.monotonic(), 0.01))
            if pred(got):
                return got

    def send(self, cmd: str) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.send("quit")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------- peers
class Peer:
    """A peer server (fanout.py's): start, its pids for RSS/CPU, stop."""

    name = ""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None: ...
    def pids(self) -> list[int]: ...
    def stop(self) -> None: ...


class SocketioPeer(Peer):
    name = "socketio"

    def start(self) -> None:
        redis = self.svc.redis_url.rsplit("/", 1)[0] + "/9"
        self.proc = subprocess.Popen(
            [*pin(0), sys.executable, str(PEERS / "fanout.py"), "socketio-server", "--port",
             str(self.port), "--redis", redis], stdout=subprocess.DEVNULL)
        wait_http(self.url + "/socket.io/?EIO=4&transport=polling", self.proc)

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class NchanPeer(Peer):
    name = "nchan"

    def start(self) -> None:
        conf = subprocess.run([sys.executable, str(PEERS / "fanout.py"), "nchan-conf", "--port",
                               str(self.port)], check=True, capture_output=True, text=True).stdout
        self.conf = Path(tempfile.mkstemp(prefix="nchan-", suffix=".conf")[1])
        self.conf.write_text(conf)
        self.pidfile = Path(f"/tmp/nchan-{self.port}.pid")
        subprocess.run([*pin(0), "nginx", "-c", str(self.conf)], check=True,
                       capture_output=True)
        wait_http(self.url + "/sub/board", None, timeout=20)

    def pids(self) -> list[int]:
        import psutil

        master = psutil.Process(int(self.pidfile.read_text().strip()))
        return [master.pid, *(c.pid for c in master.children())]

    def stop(self) -> None:
        subprocess.run(["nginx", "-c", str(self.conf), "-s", "stop"], capture_output=True)
        time.sleep(0.5)
        self.conf.unlink(missing_ok=True)

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("nginx")) and Path(
            "/usr/lib/nginx/modules/ngx_nchan_module.so").exists()


# ---------------------------------------------------------------------------- measurements
@dataclass
class Config:
    sizes: tuple[int, ...] = (1000, 5000)
    peers: tuple[str, ...] = ("ours", "socketio", "nchan")
    doctors: int = 50
    rounds: int = 100
    rate: float = 10.0
    rate_s: float = 20.0
    idle_clients: int = 10_000
    idle_cpu_s: float = 30.0
    idle: bool = True
    reconnect: bool = True
    # the mixed OPD: boards + patient phones (own token each) + doctor consoles, Nexts/s
    mixed: bool = True
    mixed_boards: int = 100
    mixed_phones: int = 5000
    mixed_consoles: int = 50
    # N processes on one port (SO_REUSEPORT): the rate test at scale_size boards for each N
    processes: tuple[int, ...] = (1, 2, 4)
    scale_size: int = 5000
    # the load client of rounds and rate: `raw` reads frames by their headers and looks only at
    # the timed event; `ws` (the npm library, runs A-D) used ~80% of its core at 5,000 boards,
    # so the client set the spread (docs/benchmarks.md, run E)
    client: str = "raw"
    # nchan's published message padded to this many bytes: 0, its own ~35; -1, the bytes a
    # board of ours read per press in the same run and size (`bytes_per_delivery`), so the
    # load client reads as much from each
    peer_bytes: int = 0

    @classmethod
    def quick(cls) -> Config:
        return cls(sizes=(300, 1000), rounds=30, rate_s=8.0, idle_clients=2000,
                   idle_cpu_s=10.0, mixed_boards=20, mixed_phones=1000, mixed_consoles=10,
                   processes=(1, 2), scale_size=1000)


@dataclass
class Ours:
    """Our web processes (two on their own ports, or N sharing one with SO_REUSEPORT) and the
    hospital they serve."""

    svc: Services
    hosp: BenchHospital
    webs: list[Web] = field(default_factory=list)
    processes: int = 2
    reuseport: bool = False

    def start(self) -> None:
        self.webs = []
        shared = free_port()
        for _ in range(self.processes):
            port = shared if self.reuseport else free_port()
            self.webs.append(Web(port, web_env(self.svc, port), reuseport=self.reuseport).start())
        # the first request finds no live view and rebuilds the hospital from the record
        r = httpx.get(f"{self.webs[0].url}/api/v1/doctors/{self.hosp.doctor_ids[0]}/queue",
                      headers=helpers.auth(self.hosp.admin_token), timeout=60)
        r.raise_for_status()

    def restart(self) -> float:
        """Both processes stop and start again on the same ports; returns the seconds down."""
        t = time.monotonic()
        for w in self.webs:
            w.stop()
        for w in self.webs:
            w.start()
        return time.monotonic() - t

    def stop(self) -> None:
        for w in self.webs:
            w.stop()

    def pids(self) -> list[int]:
        return [w.pid for w in self.webs]

    def ports(self) -> list[int]:
        return sorted({w.port for w in self.webs})

    def load_args(self, clients: int, seq: int) -> list[str]:
        sub = ",".join(f"ws://127.0.0.1:{port}/ws/board/{self.hosp.department_id}"
                       f"?key={self.hosp.display_key}&since={seq}" for port in self.ports())
        return ["--peer", "ws", "--sub", sub, "--pub", "next", "--api", self.webs[0].url,
                "--auth", self.hosp.admin_token, "--doctors",
                ",".join(str(d) for d in self.hosp.doctor_ids), "--clients", str(clients)]


def measure_fanout(load_args: list[str], pids: list[int], cfg: Config, clients: int
                   ) -> dict[str, Any]:
    """Connect `clients`, then rounds and rate; RSS sampled while connected."""
    before = rss(pids)
    node = NodeLoad([*load_args, "--client", cfg.client, "--mode", "rounds,rate",
                     "--rounds", str(cfg.rounds), "--gap-ms", "20", "--rate", str(cfg.rate),
                     "--duration-s", str(cfg.rate_s)])
    try:
        connected = node.until(lambda o: o.get("event") == "connected", timeout=300)
        time.sleep(1.0)
        connected_rss = rss(pids)
        rounds = node.until(lambda o: o.get("mode") == "rounds", timeout=cfg.rounds * 12 + 60)
        rate = node.until(lambda o: o.get("mode") == "rate", timeout=cfg.rate_s + 120)
    finally:
        node.close()
    return {"clients": clients, "connect_s": connected["connect_s"], "rounds": rounds,
            "rate": rate, "rss_before_mib": round(before / MIB, 1),
            "rss_connected_mib": round(connected_rss / MIB, 1),
            "mib_per_1000": round((connected_rss - before) / MIB / clients * 1000, 2)}


def measure_mixed(svc: Services, cfg: Config) -> dict[str, Any]:
    """A realistic OPD on our two processes: `mixed_boards` boards, `mixed_phones` patient
    phones (each its own token's /ws/token socket, spread evenly over the doctors' queues)
    and a console per doctor; `rate` Nexts/s over the doctors. Latency: from the press to the
    LAST affected subscriber (every board, that doctor's console and every phone still
    waiting in that queue)."""
    doctors = cfg.mixed_consoles
    per_doctor = cfg.mixed_phones // doctors + int(cfg.rate * cfg.rate_s / doctors) + 6
    hosp = asyncio.run(seed_hospital(svc.database_url, doctors=doctors, per_doctor=per_doctor))
    ours = Ours(svc, hosp)
    ours.start()
    try:
        seq = asyncio.run(current_seq(svc.redis_url, hosp.id))
        ports = ours.ports()
        secret = web_env(svc, 0)["SECRET_KEY"].encode()
        assert hosp.today is not None
        per: dict[UUID, int] = {}
        phones = []
        for doctor, code in hosp.tokens:   # the head of every queue: Nexts call some of them
            if per.get(doctor, 0) < cfg.mixed_phones // doctors:
                per[doctor] = per.get(doctor, 0) + 1
                link = links.sign(secret, code, hosp.today)
                port = ports[len(phones) % len(ports)]
                phones.append({"url": f"ws://127.0.0.1:{port}/ws/token/{link}?since={seq}",
                               "doctor": str(doctor)})
        plan = {
            "boards": [f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/board/{hosp.department_id}"
                       f"?key={hosp.display_key}&since={seq}" for i in range(cfg.mixed_boards)],
            "consoles": [{"url": f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/doctor/{d}"
                                 f"?since={seq}", "doctor": str(d)}
                         for i, d in enumerate(hosp.doctor_ids)],
            "phones": phones,
        }
        fd, path = tempfile.mkstemp(prefix="opdq-mixed-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(plan, f)
        node = NodeLoad(["--peer", "ws", "--pub", "next", "--api", ours.webs[0].url, "--auth",
                         hosp.admin_token, "--doctors", ",".join(map(str, hosp.doctor_ids)),
                         "--mode", "mixed", "--plan", path, "--rate", str(cfg.rate),
                         "--duration-s", str(cfg.rate_s)])
        try:
            connected = node.until(lambda o: o.get("event") == "connected", timeout=600)
            time.sleep(1.0)
            pids = ours.pids()
            result = node.until(lambda o: o.get("mode") == "mixed", timeout=cfg.rate_s + 120)
        finally:
            node.close()
            os.unlink(path)
        return {**result, "connect_s": connected["connect_s"],
                "rss_mib": round(rss(pids) / MIB, 1)}
    finally:
        ours.stop()


def measure_processes(svc: Services, cfg: Config, log: Callable[[str], None]
                      ) -> dict[str, Any]:
    """N processes sharing one port (SO_REUSEPORT), all pinned to the server's core as the
    two of the main test are: rounds and rate at `scale_size` boards, for each N."""
    out: dict[str, Any] = {}
    per_doctor = max(12, int((cfg.rounds + cfg.rate * cfg.rate_s) * len(cfg.processes)
                             / cfg.doctors) + 6)
    hosp = asyncio.run(seed_hospital(svc.database_url, doctors=cfg.doctors,
                                     per_doctor=per_doctor))
    for n in cfg.processes:
        ours = Ours(svc, hosp, processes=n, reuseport=True)
        ours.start()
        try:
            log(f"realtime: ours, {n} processes on one port, {cfg.scale_size} boards ...")
            seq = asyncio.run(current_seq(svc.redis_url, hosp.id))
            out[str(n)] = measure_fanout(ours.load_args(cfg.scale_size, seq), ours.pids(), cfg,
                                         cfg.scale_size)
            log(f"  {_brief(out[str(n)])}")
        finally:
            ours.stop()
    return out


def measure_idle(ours: Ours, svc: Services, cfg: Config) -> dict[str, Any]:
    """10,000 idle boards: RSS per 1,000, CPU over 30 s, back after a restart."""
    n = cfg.idle_clients
    pids = ours.pids()
    time.sleep(1.0)
    before = rss(pids)
    seq = asyncio.run(current_seq(svc.redis_url, ours.hosp.id))
    node = NodeLoad([*ours.load_args(n, seq), "--mode", "idle", "--ping-ms", "15000",
                     "--batch", "250"])
    out: dict[str, Any] = {"clients": n}
    try:
        out["connect_s"] = node.until(lambda o: o.get("event") == "connected",
                                      timeout=600)["connect_s"]
        node.until(lambda o: o.get("event") == "idle", timeout=30)
        time.sleep(3.0)
        after = rss(pids)
        out["rss_before_mib"] = round(before / MIB, 1)
        out["rss_idle_mib"] = round(after / MIB, 1)
        out["mib_per_1000"] = round((after - before) / MIB / n * 1000, 2)
        c0, t0 = cpu_seconds(pids), time.monotonic()
        time.sleep(cfg.idle_cpu_s)
        c1, t1 = cpu_seconds(pids), time.monotonic()
        out["cpu_percent"] = round((c1 - c0) / (t1 - t0) * 100, 2)
        out["cpu_window_s"] = round(t1 - t0, 1)
        node.send("stats")
        out["open_before_restart"] = node.until(lambda o: o.get("event") == "stats", 30)["open"]
        if cfg.reconnect:
            node.send("watch")
            node.until(lambda o: o.get("event") == "watching", 30)
            out["restart_s"] = round(ours.restart(), 2)
            back = node.until(lambda o: o.get("event") == "reconnected", timeout=300)
            out["reconnect_s"] = back["s"]
            out["reconnect_after_up_s"] = round(back["s"] - out["restart_s"], 2)
            out["dropped"] = back["dropped"]
            pids = ours.pids()
            time.sleep(2.0)
            out["rss_after_reconnect_mib"] = round(rss(pids) / MIB, 1)
    finally:
        node.close()
    return out


def measure_peer_idle(peer: Peer, cfg: Config) -> dict[str, Any]:
    """The peers' memory and CPU with the same number of idle subscribers."""
    n = cfg.idle_clients
    pids = peer.pids()
    before = rss(pids)
    args = ["--peer", peer.name, "--url", peer.url, "--clients", str(n), "--mode", "idle"]
    node = NodeLoad(args)
    out: dict[str, Any] = {"clients": n}
    try:
        out["connect_s"] = node.until(lambda o: o.get("event") == "connected",
                                      timeout=600)["connect_s"]
        node.until(lambda o: o.get("event") == "idle", timeout=30)
        time.sleep(3.0)
        pids = peer.pids()
        after = rss(pids)
        out["mib_per_1000"] = round((after - before) / MIB / n * 1000, 2)
        c0, t0 = cpu_seconds(pids), time.monotonic()
        time.sleep(cfg.idle_cpu_s)
        c1, t1 = cpu_seconds(pids), time.monotonic()
        out["cpu_percent"] = round((c1 - c0) / (t1 - t0) * 100, 2)
    finally:
        node.close()
    return out


def run(cfg: Config, svc: Services, log: Callable[[str], None] = print) -> dict[str, Any]:
    raise_fd_limit()
    results: dict[str, Any] = {"config": cfg.__dict__ | {}, "ours": {}, "peers": {},
                               "notes": []}
    if "ours" in cfg.peers:
        per_doctor = max(12, int((cfg.rounds + cfg.rate * cfg.rate_s) * len(cfg.sizes)
                                 / cfg.doctors) + 6)
        hosp = asyncio.run(seed_hospital(svc.database_url, doctors=cfg.doctors,
                                         per_doctor=per_doctor))
        ours = Ours(svc, hosp)
        ours.start()
        try:
            for n in cfg.sizes:
                seq = asyncio.run(current_seq(svc.redis_url, hosp.id))
                log(f"realtime: ours, {n} boards ...")
                results["ours"][str(n)] = measure_fanout(ours.load_args(n, seq), ours.pids(),
                                                         cfg, n)
                log(f"  {_brief(results['ours'][str(n)])}")
            if cfg.idle:
                log(f"realtime: ours, {cfg.idle_clients} idle boards, restart ...")
                ours.restart()  # fresh processes: memory freed by earlier phases hides some
                results["ours"]["idle"] = measure_idle(ours, svc, cfg)
                log(f"  {results['ours']['idle']}")
        finally:
            ours.stop()
        if cfg.mixed:
            log(f"realtime: ours, mixed: {cfg.mixed_boards} boards, {cfg.mixed_phones} phones, "
                f"{cfg.mixed_consoles} consoles, {cfg.rate} Nexts/s ...")
            results["ours"]["mixed"] = measure_mixed(svc, cfg)
            log(f"  {results['ours']['mixed']}")
        if cfg.processes:
            results["ours"]["processes"] = measure_processes(svc, cfg, log)
    for name in cfg.peers:
        if name == "ours":
            continue
        cls = {"socketio": SocketioPeer, "nchan": NchanPeer}[name]
        if not (PEERS / "fanout.py").exists():
            results["notes"].append(f"peer {name} skipped: {PEERS}/fanout.py not found")
            continue
        if cls is NchanPeer and not NchanPeer.available():
            results["notes"].append("peer nchan skipped: nginx with the nchan module is not "
                                    "installed (apt-get install nginx libnginx-mod-nchan)")
            continue
        peer = cls(svc)
        try:
            peer.start()
        except Exception as exc:  # a peer that cannot start is reported, not fatal
            results["notes"].append(f"peer {name} did not start: {exc}")
            continue
        try:
            results["peers"][name] = {}
            for n in cfg.sizes:
                log(f"realtime: {name}, {n} subscribers ...")
                args = ["--peer", name, "--url", peer.url, "--clients", str(n)]
                if name == "nchan" and (pad := _peer_bytes(cfg, results["ours"].get(str(n)))):
                    args += ["--pad", str(pad)]
                results["peers"][name][str(n)] = measure_fanout(args, peer.pids(), cfg, n)
                log(f"  {_brief(results['peers'][name][str(n)])}")
            if cfg.idle:
                log(f"realtime: {name}, {cfg.idle_clients} idle subscribers ...")
                peer.stop()
                peer.start()  # fresh, as ours
                results["peers"][name]["idle"] = measure_peer_idle(peer, cfg)
                log(f"  {results['peers'][name]['idle']}")
        except Exception as exc:
            results["notes"].append(f"peer {name} failed: {exc}")
        finally:
            peer.stop()
    return results


def _peer_bytes(cfg: Config, ours: dict[str, Any] | None) -> int:
    if cfg.peer_bytes >= 0:
        return cfg.peer_bytes
    return int(((ours or {}).get("rate") or {}).get("bytes_per_delivery") or 0)


def _brief(r: dict[str, Any]) -> str:
    ro, ra = r["rounds"], r["rate"]
    return (f"connect {r['connect_s']} s; rounds p50/p99 {ro['p50_ms']}/{ro['p99_ms']} ms "
            f"(lost {ro['lost']}); rate p50/p99 {ra['p50_ms']}/{ra['p99_ms']} ms "
            f"(lost {ra['lost']}); {r['mib_per_1000']} MiB/1000")


def config_from_cli(doc: str | None = __doc__) -> Config:
    """The Config the command line asks for (shared with bench/realtime_cluster.py)."""
    p = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--sizes", help="comma list of subscriber counts (default 1000,5000)")
    p.add_argument("--peers", help="comma list of ours,socketio,nchan")
    p.add_argument("--client", choices=("raw", "ws"),
                   help="the load client of rounds and rate (default raw)")
    p.add_argument("--idle-clients", type=int)
    p.add_argument("--no-reconnect", action="store_true")
    p.add_argument("--no-idle", action="store_true", help="skip the idle/restart phase")
    p.add_argument("--no-mixed", action="store_true", help="skip the mixed OPD scenario")
    p.add_argument("--processes", help="comma list of process counts on one port (1,2,4); "
                   "'' to skip")
    p.add_argument("--peer-bytes", help="nchan's message padded to N bytes, or 'ours': to "
                   "what a board of ours read per press (default: nchan's own message)")
    args = p.parse_args()
    cfg = Config.quick() if args.quick else Config()
    if args.sizes:
        cfg.sizes = tuple(int(x) for x in args.sizes.split(","))
    if args.peers:
        cfg.peers = tuple(args.peers.split(","))
    if args.idle_clients:
        cfg.idle_clients = args.idle_clients
    if args.client:
        cfg.client = args.client
    cfg.reconnect = not args.no_reconnect
    cfg.mixed = not args.no_mixed
    if args.processes is not None:
        cfg.processes = tuple(int(x) for x in args.processes.split(",") if x)
    cfg.idle = not args.no_idle
    if args.peer_bytes:
        cfg.peer_bytes = -1 if args.peer_bytes == "ours" else int(args.peer_bytes)
    return cfg


def main() -> None:
    cfg = config_from_cli()
    with services() as svc:
        out = run(cfg, svc)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "realtime.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
