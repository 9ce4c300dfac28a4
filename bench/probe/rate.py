"""Where a press's fan-out latency goes, several server trees or settings side by side in one
run: `python -m bench.probe.rate --boards 5000 --variant after=. --variant before=/tmp/t`.

Each variant: our two web processes on core 0 (as bench.realtime), `boards` boards from the
Node load on core 1, then the rate test (10 Nexts/s). Reported per variant: press to the last
board (p50/p99), press to its answer and to the first board (bench/fanout-load.mjs), each
process's garbage collections and event-loop stalls during the rate test, its burst writes
(duration, sockets), and the CPU of the web processes and of core 0 over the rate test.
The web processes run with bench/probe/sitecustomize.py (OPDQ_PROBE): a measuring probe, not
part of the server. A variant is NAME=TREE[:ENV=VALUE;...] (TREE: a checkout's folder).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.realtime import (
    MIB,
    NodeLoad,
    Services,
    current_seq,
    free_port,
    pin,
    raise_fd_limit,
    rss,
    seed_hospital,
    services,
    wait_http,
    web_env,
)
from server.runner import uvicorn_command
from tests.api import helpers

PROBE = Path(__file__).resolve().parent


def q(xs: list[float], p: float) -> float | None:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p * len(xs)))], 2) if xs else None


def busy(a: Any, b: Any) -> float:
    """A core's busy seconds between two psutil.cpu_times samples."""
    return sum(getattr(b, f) - getattr(a, f) for f in ("user", "system", "nice", "irq",
                                                         "softirq"))


def start_web(svc: Services, tree: Path, extra: dict[str, str], outdir: str
              ) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = web_env(svc, port, **extra)
    env["PYTHONPATH"] = f"{PROBE}:{tree}"
    env["OPDQ_PROBE"] = outdir
    proc = subprocess.Popen([*pin(0), *uvicorn_command("127.0.0.1", port)], env=env, cwd=tree,
                            stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/readyz", proc)
    return proc, url


def signal_dump(procs: list[subprocess.Popen[bytes]], outdir: str) -> list[dict[str, Any]]:
    before = set(glob.glob(f"{outdir}/probe-*.json"))
    for p in procs:
        p.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = set(glob.glob(f"{outdir}/probe-*.json")) - before
        if len(new) == len(procs):
            time.sleep(0.3)
            return [json.loads(Path(f).read_text()) for f in sorted(new)]
        time.sleep(0.05)
    raise RuntimeError("the probe did not answer")


def summarise(dumps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for d in dumps:
        gens: dict[int, list[float]] = {0: [], 1: [], 2: []}
        for _at, gen, pause, _c in d["gc"]:
            gens[gen].append(pause * 1000)
        flushes = [(e - s) * 1000 for s, e, _n in d["flushes"] if _n > 100]
        # an event's arrival from Redis to the end of the burst write that carried it
        ends = sorted(e for _s, e, _n in d["flushes"])
        waits = []
        for ev in d["events"]:
            later = [e for e in ends if e >= ev["at"]]
            if later:
                waits.append((later[0] - ev["at"]) * 1000)
        lags = [lag * 1000 for _at, lag in d["lag"]]
        presses = [(e - s) * 1000 for s, e in d.get("presses", [])]
        out.append({
            "presses_ms_p50_p99_max": [q(presses, 0.5), q(presses, 0.99),
                                       round(max(presses), 1) if presses else None],
            "pid": d["pid"], "tracked": d["tracked"], "frozen": d["frozen"],
            "gc_threshold": d["gc_threshold"],
            "gc": {g: {"n": len(v), "max_ms": round(max(v), 2) if v else 0,
                       "sum_ms": round(sum(v), 1)} for g, v in gens.items()},
            "gen2_pauses_ms": [round(x, 1) for x in gens[2]],
            "stalls_over_10ms": sum(1 for x in lags if x > 10),
            "stall_max_ms": round(max(lags), 1) if lags else 0,
            "write_ms_p50_p99_max": [q(flushes, 0.5), q(flushes, 0.99),
                                     round(max(flushes), 1) if flushes else None],
            "sockets_per_write": statistics.median([n for *_x, n in d["flushes"] if n > 100])
            if flushes else 0,
            "event_to_written_ms_p50_p99": [q(waits, 0.5), q(waits, 0.99)],
        })
    return out


def run_variant(svc: Services, name: str, tree: Path, extra: dict[str, str], boards: int,
                rate_s: float, rounds: int, spy: str = "", client: str = "raw"
                ) -> dict[str, Any]:
    hosp = asyncio.run(seed_hospital(svc.database_url, doctors=50,
                                     per_doctor=int((10 * rate_s + rounds) / 50) + 8))
    outdir = tempfile.mkdtemp(prefix=f"probe-{name}-")
    procs, urls = [], []
    try:
        for _ in range(2):
            p, u = start_web(svc, tree, extra, outdir)
            procs.append(p)
            urls.append(u)
        import httpx

        httpx.get(f"{urls[0]}/api/v1/doctors/{hosp.doctor_ids[0]}/queue",
                  headers=helpers.auth(hosp.admin_token), timeout=60).raise_for_status()
        seq = asyncio.run(current_seq(svc.redis_url, hosp.id))
        sub = ",".join(f"{u.replace('http', 'ws')}/ws/board/{hosp.department_id}"
                       f"?key={hosp.display_key}&since={seq}" for u in urls)
        modes = "rounds,rate" if rounds else "rate"
        node = NodeLoad(["--peer", "ws", "--sub", sub, "--pub", "next", "--api", urls[0],
                         "--auth", hosp.admin_token, "--doctors",
                         ",".join(map(str, hosp.doctor_ids)), "--clients", str(boards),
                         "--client", client, "--mode", modes, "--rounds", str(rounds),
                         "--gap-ms", "20",
                         "--rate", "10", "--duration-s", str(rate_s)])
        pids = [p.pid for p in procs]
        try:
            connected = node.until(lambda o: o.get("event") == "connected", timeout=300)
            rounds_out = None
            if rounds:
                rounds_out = node.until(lambda o: o.get("mode") == "rounds", timeout=600)
            signal_dump(procs, outdir)  # what came before the rate test is left out
            c0, t0 = psutil.cpu_times(percpu=True)[0], time.monotonic()
            w0 = sum(psutil.Process(p).cpu_times().user + psutil.Process(p).cpu_times().system
                     for p in pids)
            n0 = sum(psutil.Process(node.proc.pid).cpu_times()[:2])
            c0_1 = psutil.cpu_times(percpu=True)[1]
            spies = [subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking",
                 "-r", "250", "-d", str(int(rate_s)), "-f", "raw", "-p", str(p.pid), "-o",
                 f"{spy}-{name}-{i}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for i, p in enumerate(procs)] if spy else []
            rate = node.until(lambda o: o.get("mode") == "rate", timeout=rate_s + 120)
            for s in spies:
                s.wait(30)
            c1, t1 = psutil.cpu_times(percpu=True)[0], time.monotonic()
            w1 = sum(psutil.Process(p).cpu_times().user + psutil.Process(p).cpu_times().system
                     for p in pids)
            n1 = sum(psutil.Process(node.proc.pid).cpu_times()[:2])
            c1_1 = psutil.cpu_times(percpu=True)[1]
            dumps = signal_dump(procs, outdir)
            mem = rss(pids)
        finally:
            node.close()
        busy0 = busy(c0, c1)
        return {"variant": name, "tree": str(tree), "env": extra, "boards": boards,
                "connect_s": connected["connect_s"], "rounds": rounds_out, "rate": rate,
                "web_cpu_pct": round((w1 - w0) / (t1 - t0) * 100, 1),
                "core0_busy_pct": round(busy0 / (t1 - t0) * 100, 1),
                "node_cpu_pct": round((n1 - n0) / (t1 - t0) * 100, 1),
                "core1_busy_pct": round(busy(c0_1, c1_1) / (t1 - t0) * 100, 1),
                "rss_mib": round(mem / MIB, 1), "processes": summarise(dumps)}
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def parse_variant(text: str) -> tuple[str, Path, dict[str, str]]:
    name, rest = text.split("=", 1)
    tree, _, envs = rest.partition(":")
    extra = dict(kv.split("=", 1) for kv in envs.split(";") if kv)
    return name, Path(tree).resolve(), extra


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--boards", type=int, default=5000)
    p.add_argument("--rate-s", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=0)
    p.add_argument("--variant", action="append", required=True)
    p.add_argument("--repeat", type=int, default=1, help="the variants, alternated, N times")
    p.add_argument("--out", default="")
    p.add_argument("--client", choices=("raw", "ws"), default="raw",
                   help="the load client (bench.realtime's --client)")
    p.add_argument("--spy", default="", help="py-spy each process over the rate test: "
                   "raw stacks to SPY-<variant>-<i>.txt")
    args = p.parse_args()
    raise_fd_limit()
    variants = [parse_variant(v) for v in args.variant]
    results = []
    with services() as svc:
        for r in range(args.repeat):
            order = variants if r % 2 == 0 else variants[::-1]
            for name, tree, extra in order:
                res = run_variant(svc, name, tree, extra, args.boards, args.rate_s, args.rounds,
                                  args.spy, args.client)
                results.append(res)
                ra = res["rate"]
                print(f"{name}: rate p50/p99 {ra['p50_ms']}/{ra['p99_ms']} ms lost {ra['lost']}"
                      f"; answered p50/p99 {ra.get('publish_p50_ms')}/{ra.get('publish_p99_ms')}"
                      f"; first p50/p99 {ra.get('first_p50_ms')}/{ra.get('first_p99_ms')}"
                      f"; web CPU {res['web_cpu_pct']}% core0 {res['core0_busy_pct']}%"
                      f"; node {res['node_cpu_pct']}% core1 {res['core1_busy_pct']}%",
                      flush=True)
                for proc in res["processes"]:
                    print("   ", json.dumps(proc), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
