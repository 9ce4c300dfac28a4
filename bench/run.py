"""The benchmark suite in one command (`make bench`): runs the parts, writes docs/benchmarks.md.

    python -m bench.run                      # everything (~15-20 min on 2 cores)
    python -m bench.run --quick              # smaller sizes, shorter windows (~4 min)
    python -m bench.run --parts eta,throughput --sizes 1000 --peers ours,nchan

Parts: `eta` (bench/eta_accuracy.py), `realtime` (bench/realtime.py), `throughput`
(bench/throughput.py), `others` (bench/notify_bench.py and bench/risk_bench.py when present;
their own docs are linked, and rewritten only with --write-others). Raw results go to
bench/results/*.json, the report to docs/benchmarks.md with plots in docs/img/. Unless
--quick, the headline figures (ours at the largest size, Next/s) are measured a second time
at the end, since the machine may be shared: both runs are reported.

Not part of `make test`. Services: BENCH_DATABASE_URL / BENCH_REDIS_URL, else embedded.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DOCS = ROOT / "docs"
IMG = DOCS / "img"
RESULTS = BENCH / "results"
NEEDS = {"psutil": "psutil", "socketio": "python-socketio", "matplotlib": "matplotlib"}
"""Modules the suite needs beyond the project's own: installed with pip when missing."""
OTHERS = {"notify_bench": "docs/notifications.md", "risk_bench": "docs/risk.md"}


def ensure_packages() -> None:
    missing = [pkg for mod, pkg in NEEDS.items() if importlib.util.find_spec(mod) is None]
    if missing:
        print(f"installing {', '.join(missing)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing],
                       check=True)


# ---------------------------------------------------------------------------- the machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_load() -> dict[str, Any]:
    """What else the machine was doing: load average and the busiest other processes."""
    import psutil

    procs = list(psutil.process_iter(["pid", "name", "cmdline"]))
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(2.0)
    busy = []
    me = os.getpid()
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if p.pid != me and pct >= 5:
            cmd = " ".join(p.info["cmdline"] or [p.info["name"] or ""])[:90]
            busy.append({"cpu_percent": round(pct, 1), "cmd": cmd})
    busy.sort(key=lambda b: -b["cpu_percent"])
    return {"loadavg": [round(x, 2) for x in os.getloadavg()],
            "cpu_percent_total": psutil.cpu_percent(interval=1.0), "busiest": busy[:6]}


def _versions(svc: Any) -> dict[str, str]:
    import asyncpg
    import redis

    async def pg() -> str:
        conn = await asyncpg.connect(svc.database_url)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    out = {"python": platform.python_version()}
    try:
        out["postgresql"] = asyncio.run(pg())
    except Exception as exc:  # a version we cannot read is reported, not fatal
        out["postgresql"] = f"? ({exc})"
    try:
        out["redis"] = str(redis.Redis.from_url(svc.redis_url).info("server")["redis_version"])
    except Exception as exc:
        out["redis"] = f"? ({exc})"
    node = shutil.which("node")
    out["node"] = subprocess.run([node, "--version"], capture_output=True,
                                 text=True).stdout.strip() if node else "not installed"
    nginx = shutil.which("nginx")
    out["nginx"] = (subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
                    .strip().split("/")[-1] if nginx else "not installed")
    import uvicorn
    import websockets

    out["uvicorn"], out["websockets"] = uvicorn.__version__, websockets.__version__
    return out


def machine(svc: Any) -> dict[str, Any]:
    import psutil

    return {"cpu": _cpu_model(), "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "kernel": platform.release(), "os": platform.platform(terse=True),
            "versions": _versions(svc), "services": "embedded (temporary)" if svc.embedded
            else "BENCH_DATABASE_URL / BENCH_REDIS_URL"}


# ---------------------------------------------------------------------------- the parts
def run_others(write: bool, timeout_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, doc in OTHERS.items():
        if not (BENCH / f"{name}.py").exists():
            continue
        cmd = [sys.executable, "-m", f"bench.{name}", *(["--write"] if write else [])]
        t = time.monotonic()
        try:
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
            status = "ok" if r.returncode == 0 else f"exit {r.returncode}"
            tail = (r.stdout or r.stderr).strip().splitlines()[-3:]
        except subprocess.TimeoutExpired:
            status, tail = f"timed out after {timeout_s:.0f} s", []
        out[name] = {"status": status, "seconds": round(time.monotonic() - t, 1), "doc": doc,
                     "tail": tail}
        (RESULTS / f"{name}.log").write_text("\n".join(tail))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--parts", default="eta,realtime,throughput,others")
    p.add_argument("--sizes", help="realtime subscriber counts, e.g. 1000,5000")
    p.add_argument("--peers", help="realtime servers: ours,socketio,nchan")
    p.add_argument("--idle-clients", type=int)
    p.add_argument("--days", type=int, help="simulated days for ETA accuracy (200)")
    p.add_argument("--no-repeat", action="store_true", help="skip the headline re-run")
    p.add_argument("--write-others", action="store_true",
                   help="let notify_bench / risk_bench rewrite their own docs")
    p.add_argument("--others-timeout", type=float, default=900)
    args = p.parse_args()
    parts = set(args.parts.split(","))
    ensure_packages()
    from bench import eta_accuracy, realtime, report, throughput

    RESULTS.mkdir(exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    res: dict[str, Any] = {"started": started.isoformat(timespec="seconds"),
                           "quick": args.quick, "parts": sorted(parts)}
    t0 = time.monotonic()
    with realtime.services() as svc:
        res["machine"] = machine(svc)
        res["load_start"] = machine_load()
        print(f"machine: {res['machine']['cpu']}, {res['machine']['cores']} cores; "
              f"load {res['load_start']['loadavg']}", flush=True)
        if "eta" in parts:
            print("eta accuracy ...", flush=True)
            res["eta"] = eta_accuracy.run(args.days or (50 if args.quick else 200))
            eta_accuracy.plot(res["eta"], IMG / "eta_accuracy.png")
        if "realtime" in parts:
            cfg = realtime.Config.quick() if args.quick else realtime.Config()
            if args.sizes:
                cfg.sizes = tuple(int(x) for x in args.sizes.split(","))
            if args.peers:
                cfg.peers = tuple(args.peers.split(","))
            if args.idle_clients:
                cfg.idle_clients = args.idle_clients
            res["realtime"] = realtime.run(cfg, svc)
        if "throughput" in parts:
            tcfg = throughput.Config.quick() if args.quick else throughput.Config()
            res["throughput"] = throughput.run(tcfg, svc)
        if not args.quick and not args.no_repeat and {"realtime", "throughput"} & parts:
            print("headline figures, second run ...", flush=True)
            res["repeat"] = {"load": machine_load()}
            if "realtime" in parts and "ours" in res["realtime"]["ours"] | {"ours": 1}:
                rcfg = realtime.Config(sizes=(max(cfg.sizes),), peers=("ours",), idle=False)
                res["repeat"]["realtime"] = realtime.run(rcfg, svc)
            if "throughput" in parts:
                res["repeat"]["throughput"] = throughput.run(throughput.Config(), svc)
        if "others" in parts:
            print("other benchmarks ...", flush=True)
            res["others"] = run_others(args.write_others, args.others_timeout)
        res["load_end"] = machine_load()
    res["wall_s"] = round(time.monotonic() - t0, 1)
    (RESULTS / "suite.json").write_text(json.dumps(res, indent=2, default=str))
    if "realtime" in res:
        report.plot_realtime(res["realtime"], IMG / "realtime_latency.png")
    (DOCS / "benchmarks.md").write_text(report.render(res))
    print(f"wrote docs/benchmarks.md ({res['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
