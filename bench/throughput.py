"""Throughput, as ratios to references measured on the same machine in the same run.

    python -m bench.throughput [--quick]

- Next latency with one press in flight (p50), then Next actions/s end to end through ONE
  web process (uvicorn with server.runner's flags, pinned to core 0; closed-loop Node load
  on core 1, one Next in flight per doctor over 130 doctors of a hospital of their own, each
  with 80 waiting), against raw `redis-benchmark` ZADD on the Redis the server uses (the
  cheapest write a queue change needs; client on core 1).
- Queue-snapshot GETs/s (`GET /api/v1/doctors/{id}/queue`, 20 waiting, as staff) against a
  bare Starlette route answering a constant JSON (bench/bare_app.py) under the same flags,
  core and load; then the same GETs while the same hospital takes 10 Nexts/s (every event
  voids the answers server/view_cache.py kept).

Both servers sit on one core, so requests/s are per core; the ratios are what to compare
across machines, and so is the web process's CPU time per request (psutil), which a shared
machine's noise moves much less than requests/s. Services as in bench/realtime.py
(BENCH_DATABASE_URL / BENCH_REDIS_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.bare_app import __name__ as bare_module
from bench.realtime import (
    RESULTS,
    ROOT,
    NodeLoad,
    Services,
    Web,
    cpu_seconds,
    free_port,
    pin,
    raise_fd_limit,
    seed_hospital,
    services,
    wait_http,
    web_env,
)
from server.runner import uvicorn_command


@dataclass
class Config:
    seconds: float = 10.0
    one_seconds: float = 3.0      # one Next in flight: its latency
    next_doctors: int = 130
    get_doctors: int = 20
    waiting: int = 20
    next_waiting: int = 80        # per Next doctor: (one_seconds + seconds) x Nexts/s / doctors
    next_concurrency: int = 16
    get_concurrency: int = 32
    busy_rate: float = 10.0       # Nexts/s in the GET hospital during the second GET phase
    zadd_requests: int = 200_000

    @classmethod
    def quick(cls) -> Config:
        return cls(seconds=4.0, next_doctors=40, get_doctors=10, zadd_requests=50_000)


@contextlib.contextmanager
def pressing(url: str, token: str, doctors: list[Any], rate: float, seconds: float
             ) -> Iterator[dict[str, int]]:
    """Next presses at `rate`/s over `doctors` for `seconds` (a thread, open loop) while the
    body runs: the queue reads then meet a hospital whose views change (server/view_cache.py
    voids the answers it kept at every event). Yields the presses made, filled in at exit."""
    done = {"ok": 0, "refused": 0}

    def press() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
            t0 = time.monotonic()
            for i in itertools.count():
                if time.monotonic() - t0 >= seconds:
                    return
                r = c.post(f"/api/v1/doctors/{doctors[i % len(doctors)]}/next", json={})
                done["ok" if r.status_code == 200 else "refused"] += 1
                time.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))

    thread = threading.Thread(target=press, name="bench-presses")
    thread.start()
    try:
        yield done
    finally:
        thread.join()


def redis_benchmark(redis_url: str, n: int) -> dict[str, Any] | None:
    """ZADD requests/s from redis-benchmark (50 clients, no pipelining) on core 1."""
    exe = shutil.which("redis-benchmark")
    if not exe:
        return None
    u = urlsplit(redis_url)
    db = (u.path or "/0").strip("/") or "0"
    cmd = [*pin(1), exe, "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 6379),
           "--dbnum", db, "-t", "zadd", "-n", str(n), "-c", "50", "--csv"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    rps = None
    for line in out.stdout.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells and cells[0] == "ZADD":
            rps = float(cells[1])
    subprocess.run([exe.replace("redis-benchmark", "redis-cli"), "-h", u.hostname or "127.0.0.1",
                    "-p", str(u.port or 6379), "-n", db, "DEL", "myzset"], capture_output=True)
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    return {"rps": rps, "clients": 50, "requests": n, "tool": version} if rps else None


def http_load(args: list[str], timeout: float, server_pid: int | None = None
              ) -> dict[str, Any]:
    """One closed-loop phase; with `server_pid`, also the server's CPU time per request
    (user + system): on a shared, noisy machine it moves much less than requests/s."""
    before = cpu_seconds([server_pid]) if server_pid else 0.0
    services_before = services_cpu()
    node = NodeLoad(["--mode", "http", *args])
    try:
        out = node.until(lambda o: o.get("mode") == "http", timeout=timeout)
    finally:
        node.close()
    if server_pid and out.get("ok"):
        out["cpu_ms_per_req"] = round((cpu_seconds([server_pid]) - before) * 1000 / out["ok"], 3)
        # where the rest goes: every PostgreSQL and Redis process of the machine (another
        # session's use counts too on a shared machine)
        for name, spent in services_cpu().items():
            out[f"{name}_cpu_ms_per_req"] = round(
                (spent - services_before.get(name, 0.0)) * 1000 / out["ok"], 3)
    return out


def services_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of the machine's postgres and redis-server processes."""
    import psutil

    spent = {"postgres": 0.0, "redis": 0.0}
    for proc in psutil.process_iter(["name", "cpu_times"]):
        name, times = proc.info["name"] or "", proc.info["cpu_times"]
        if times is None:
            continue
        key = "postgres" if name.startswith("postgres") else (
            "redis" if name.startswith("redis-server") else None)
        if key:
            spent[key] += times.user + times.system
    return spent


def run(cfg: Config, svc: Services, log: Any = print) -> dict[str, Any]:
    raise_fd_limit()
    # two hospitals: the queue GETs read queues of `waiting`; the Next load needs queues that
    # do not run empty at several hundred presses a second
    hosp = asyncio.run(seed_hospital(svc.database_url, doctors=cfg.get_doctors,
                                     per_doctor=cfg.waiting))
    busy = asyncio.run(seed_hospital(svc.database_url, doctors=cfg.next_doctors,
                                     per_doctor=cfg.next_waiting))
    get_ids, next_ids = hosp.doctor_ids, busy.doctor_ids
    out: dict[str, Any] = {"config": cfg.__dict__ | {}}
    port = free_port()
    web = Web(port, web_env(svc, port)).start()
    try:
        paths = ",".join(f"/api/v1/doctors/{d}/queue" for d in get_ids)
        auth = ["--auth", hosp.admin_token]
        http_load(["--url", web.url, "--paths", paths, *auth, "--concurrency", "4",
                   "--duration-s", "2"], 60)  # warm up (and the rebuild from the record)
        log("throughput: queue snapshot GETs ...")
        out["queue_get"] = http_load(["--url", web.url, "--paths", paths, *auth,
                                      "--concurrency", str(cfg.get_concurrency),
                                      "--duration-s", str(cfg.seconds)], cfg.seconds + 60,
                                     web.pid)
        log(f"  {out['queue_get']}")
        log(f"throughput: queue snapshot GETs, {cfg.busy_rate:g} Nexts/s in the same hospital ...")
        with pressing(web.url, hosp.admin_token, get_ids, cfg.busy_rate, cfg.seconds) as done:
            out["queue_get_busy"] = http_load(
                ["--url", web.url, "--paths", paths, *auth, "--concurrency",
                 str(cfg.get_concurrency), "--duration-s", str(cfg.seconds)], cfg.seconds + 60,
                web.pid)
        out["queue_get_busy"]["presses"] = done
        log(f"  {out['queue_get_busy']}")
        doctors_arg = ",".join(str(d) for d in next_ids)
        log("throughput: Next, one press in flight ...")
        busy_auth = ["--auth", busy.admin_token]
        http_load(["--url", web.url, "--paths", f"/api/v1/doctors/{next_ids[0]}/queue",
                   *busy_auth, "--concurrency", "1", "--duration-s", "1"], 60)  # its rebuild
        out["next_one"] = http_load(["--pub", "next", "--api", web.url, *busy_auth, "--doctors",
                                     doctors_arg, "--concurrency", "1",
                                     "--duration-s", str(cfg.one_seconds)], cfg.one_seconds + 60,
                                    web.pid)
        log(f"  {out['next_one']}")
        log("throughput: Next actions ...")
        out["next"] = http_load(["--pub", "next", "--api", web.url, *busy_auth, "--doctors",
                                 doctors_arg, "--concurrency", str(cfg.next_concurrency),
                                 "--duration-s", str(cfg.seconds)], cfg.seconds + 60, web.pid)
        log(f"  {out['next']}")
        if out["next"]["empty"]:
            out["note"] = "some queues ran empty during the Next load: seed more tokens"
    finally:
        web.stop()
    bare_port = free_port()
    cmd = uvicorn_command("127.0.0.1", bare_port)
    cmd[cmd.index("server.app:create_app")] = f"{bare_module}:create_app"
    bare = subprocess.Popen([*pin(0), *cmd], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{bare_port}/api/v1/doctors/x/queue", bare)
        url = f"http://127.0.0.1:{bare_port}"
        http_load(["--url", url, "--paths", paths, "--concurrency", "4", "--duration-s", "1"],
                  30)
        log("throughput: bare Starlette GETs ...")
        out["bare_get"] = http_load(["--url", url, "--paths", paths, "--concurrency",
                                     str(cfg.get_concurrency), "--duration-s",
                                     str(cfg.seconds)], cfg.seconds + 60, bare.pid)
        log(f"  {out['bare_get']}")
    finally:
        bare.terminate()
        bare.wait(20)
    log("throughput: redis-benchmark ZADD ...")
    out["redis_zadd"] = redis_benchmark(svc.redis_url, cfg.zadd_requests)
    log(f"  {out['redis_zadd']}")
    if out["redis_zadd"]:
        out["next_per_zadd"] = out["next"]["rps"] / out["redis_zadd"]["rps"]
    else:
        out["note_zadd"] = "redis-benchmark not found (Debian: redis-tools)"
    out["queue_get_per_bare"] = out["queue_get"]["rps"] / out["bare_get"]["rps"]
    if out["queue_get"].get("cpu_ms_per_req") and out["bare_get"].get("cpu_ms_per_req"):
        # the same ratio from CPU time: bare CPU per request / ours
        out["queue_get_per_bare_cpu"] = (out["bare_get"]["cpu_ms_per_req"]
                                         / out["queue_get"]["cpu_ms_per_req"])
    out["hospital"] = str(hosp.id)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    cfg = Config.quick() if args.quick else Config()
    with services() as svc:
        t = time.monotonic()
        out = run(cfg, svc)
        out["wall_s"] = round(time.monotonic() - t, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(out, indent=2))
    json.dump(out, sys.stdout, indent=2)

if __name__ == "__main__":
    main()
