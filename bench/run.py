"""The benchmark suite in one command (`make bench`): runs the parts, writes their report.

    python -m bench.run                      # everything (~15-20 min on 2 cores)
    python -m bench.run --quick              # smaller sizes, shorter windows (~4 min)
    python -m bench.run --parts eta,throughput --sizes 1000 --peers ours,nchan

Parts: `eta` (bench/eta_accuracy.py), `realtime` (bench/realtime.py), `throughput`
(bench/throughput.py), `others` (bench/notify_bench.py and bench/risk_bench.py when present;
their own docs are linked, and rewritten only with --write-others). Raw results go to
bench/results/*.json, the report to bench/results/benchmarks.md with its plot (with
--write-docs: docs/benchmarks.md and docs/img/, replacing the record of earlier runs that
docs/benchmarks.md keeps by hand). Unless
--quick, the headline figures (ours at the largest size, Next/s) are measured a second time
at the end, since the machine may be shared: both runs are reported.

Not part of `make test`. Services: BENCH_DATABASE_URL / BENCH_REDIS_URL, else embedded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
OTHERS = {"notify_bench": "docs/notifications.md", "risk_bench": "docs/risk.md",
          "desk_list": "docs/api.md"}


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
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)
    time.sleep(2.0)
    busy = []
    me = os.getpid()
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if p.pid != me and pct >= 5:
            cmd = " ".join(" ".join(p.info["cmdline"] or [p.info["name"] or ""]).split())[:90]
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


# ---------------------------------------------------------------------------- the report
P99_TARGET_MS = 50.0       # the mixed OPD: press to the last affected subscriber
NCHAN_P99_RATIO_BIG = 1.5  # 5,000 boards at 10 Nexts/s: p99 within 1.5x nginx + nchan's
NCHAN_P99_RATIO_SMALL = 1.2  # 1,000 boards: within 1.2x
MIB_TARGET = 15.0
IDLE_CPU_TARGET = 5.0      # % of a core for 10,000 idle connections
RECONNECT_TARGET_S = 15.0
ETA_NOTES = """\
**Targets, said plainly.** The range holds at both ends everywhere the issue asks (overall 7.5%
/ 6.1%, position 1 9.2% / 9.2%, at joining 8.9% / 6.8%). The p50's mean absolute error is 10.1%
below the strong reference's (12.39 vs 13.77 min, 10.07%): **met, by a hair**. The same model
is 9.3% below it on the tuning seeds 1-100 and 10.1% on 101-200: the gain moves by about a
point from one 100-day set to another (the model's p50 also steers which doctor a department
token goes to, so each variant plays slightly different days), so another 200 days, or a real
clinic, could land on either side of 10%. Before this round: 8.9% here, 7.3% on seeds 1-100,
8.7% on 101-200.

What this round changed, measured on whole simulated days (seeds 1-100 / 101-200): today's pace
now starts from the learned stats *as they were when the sitting began* (kept in the live
hash), not the running mean, which already holds today's consults and so counted them twice,
and its prior is wider for a doctor with little history (7.3% to 8.8% / 8.7% to 9.4%); and the
tokens still to come that will sort ahead of a waiting one (a senior within the credit of a
recent walk-in, anyone before the slot of a booked token checked in early) are expected from
each token's queue score (8.8% to 9.3% / 9.4% to 10.1%; the same days, as the doctor choice
does not use it; an earlier round, counting a booked token's slot alone, saw no gain: the
seniors' credit is most of it). An oracle that knew each doctor's true pace would be about 15%
better than the strong reference on seeds 1-100; far back in the queue the consults still to
come dominate, and a few of today's consults (the log of one varies by 0.3-0.55, complex cases
more) say little.

Tried and dropped (seeds 1-100, the days replayed with the sampled inputs fixed, so a paired
comparison; under 0.2 point, or a loss): a recency-weighted mean of today's consults and a
level-plus-slope fit (the simulator's drift, sd 3% an hour, is small against a consult's noise:
at most +0.1, up to 1.4 points lost); capping today's complex cases (+0.1); the current
consult's elapsed time as a censored reading of today's pace (+0.1); a pace correction upward
(the estimated pace is about 4% under the truth on the ETAs shown, likely the doctor choice
favouring a doctor whose pace is underestimated, but the p50 is already called about half the
time: a loss); jumpers and interruptions following the recent arrival rate (from the queue's
scores, or even the department's true arrivals: no gain); `INTERRUPT_PER_MIN` 0.008 (half a
point on the replayed days, none on whole days, and a plain queue's p50 fell to the bare
consult sum). Earlier rounds dropped a mixture model of complex cases for the current consult's
remainder, a Poisson-mixture upper tail and a shift of the p50's quantile. A per-token consult
time (seniors, emergencies, complexity) was not tried: the simulator gives them all the
doctor's consult time, and the server has no complexity flag.

**Read these figures with care.** The simulator is partly written in the model's own form,
which flatters the model: consults are lognormal (as the model assumes; only the 6% complex
cases break that), the learned stats come from the same `update_stats` and `update_today`,
pauses overrun their announced length by a lognormal factor, and lateness and the pause
assumptions were tuned on this simulator, not on a real clinic. Constants that match the
simulator by construction: `PRESENT_WHEN_CALLED` 0.93 (its walk-outs 3% + patients away 4%),
`ABSENT_CALL_MIN` 2.5 (its recall-then-give-up time), `SENIOR_SHARE` 0.15 (its share of
seniors); `TODAY_PACE_VAR` 0.03 and `DOCTOR_SPREAD_VAR` 0.05 are near its day-to-day and
doctor-to-doctor spreads (0.04, 0.06) and `JUMP_RATE` 0.6 was tuned on it. A real clinic would
have to measure them. The strong reference shares the model's learned mean (not today's pace),
so the gap between the two is what the structure and today's consults add."""


ETA_CHANGES = """\
What the model does (server/domain/eta.py, today's pace in server/domain/eta_today.py; unit
tests tests/unit/test_eta.py, tests/unit/test_live_doctor_state.py; API tests
tests/queue/test_doctor_status.py):
- **Shift start**: a doctor who has called nobody yet today counts from the shift start
  (`starts_in`), plus an uncertain lateness (`LATE_START_MEAN_MIN` 8, sd 15; a doctor already
  late: `LATE_OVERDUE_MIN` 10 more); 2 h past the start without a call, the doctor is taken to
  be there and idle. No "any moment now" before the doctor begins.
- **Pause**: counted to its expected end (`pause_until`); an open pause is assumed to last
  `OPEN_PAUSE_MIN` (10) from its start; a pause past its end still counts
  `PAUSE_OVERRUN_MIN` (3), never 0.
- **p50 is the model's median** (lognormal matched to the whole wait: consults, a minute
  per call, interruptions), not the plain sum of consult means; the shown range is [p10, p90].
- **Today's pace**: the live doctor hash keeps the sitting's consults (`tn`, `tlog`,
  `tlast_ms`: count and mean log minutes) and, new, the learned stats when the sitting began
  (`t0n`, `t0mean`, `t0m2`; `eta_today.TodayStats`; a gap of 3 h starts a new sitting; a
  rebuild from the record starts it afresh). `today_pace` is the posterior mean of a normal
  model of log(pace): the prior is the blended mean at the sitting's start, with variance
  `TODAY_PACE_VAR` (0.03, days differ) plus (`DOCTOR_SPREAD_VAR` 0.05 x w + s^2) / (n + w)
  (how well the doctor's usual pace is known: wide for a new doctor); today's k consults weigh
  k P / (k P + s^2).
- **Queue-jumpers** (new): a token's queue score minus now says for how long an arrival would
  still sort ahead of it (a booked token checked in before its slot: until the slot; anyone:
  that plus the department's senior credit, for a senior); `jumpers` expects `JUMP_RATE` (0.6)
  cycles of delay per minute of that window within the wait, `SENIOR_SHARE` (0.15) of the
  arrivals being seniors; the live queue passes each token's score and the department's
  `senior_credit_min`.
- **Absences**: each token ahead is there when called with probability
  `PRESENT_WHEN_CALLED` x its show probability; one who is not costs `ABSENT_CALL_MIN`, not a
  consult.
- **The range**: the current consult's remainder varies `RESIDUAL_VAR_FACTOR` (2.5)
  times the lognormal's (early Nexts, absent patients, complex cases); interruptions only add
  time, so their spread (`UPSIDE_PER_MIN` 0.03 per minute of the wait plus `UPSIDE_BASE` 0.05)
  widens the upper end alone, which is the lognormal's `Z_UPPER` (1.35, p91) quantile.
- Constants tuned on seeds 1-100 only (checked on 101-200); the figures above are on seeds
  1001-1200, run once at the end."""
LIMITS_LATENCY = """\
What limits fan-out latency (py-spy on one web process, 1,500 boards, rounds, issue 17's
frame-once hub, 2026-11-26): the write of each socket's frames (one `transport.write`, one
send system call per board per press: a press's `token.called` and `queue.updated` go out
in one write) is about 28% of the process's time and the largest single cost; dispatch
(filtering, seq checks, gathering the burst) about 8%; the rest is the Next request itself
(the HTTP middleware, its PostgreSQL transaction and scripts). What nginx + nchan does in C,
one write per subscriber, ours now does too; the remaining gap is Python's per-socket
overhead around that write and the Node client's own time on the shared core."""
LIMITS_MEMORY = """\
What is left per idle connection (tracemalloc of one web process over 2,000 idle boards,
2026-11-26): about 27 KB of Python objects before the last changes (handler frames, the
handshake request kept by websockets' parser). The largest remaining shares are uvicorn's:
its protocol object (~1.6 KB), its inbound asyncio.Queue and `writable` Event (five deques,
~3.8 KB), the websockets sans-I/O protocol with its parser generator, the connection's task
and coroutine frames (uvicorn's run_asgi, our serve and read loop). Going below needs a
server without a queue and a task per connection (e.g. reading frames in the protocol's
data_received and answering pings there)."""


def _f(x: Any, nd: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _ratio(a: Any, b: Any) -> str:
    return f"{a / b:.2f}x" if isinstance(a, int | float) and isinstance(b, int | float) and b \
        else "–"


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**not met**")


def plot_realtime(rt: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: list[tuple[str, dict[str, Any]]] = [("ours", rt.get("ours", {}))]
    series += list(rt.get("peers", {}).items())
    sizes = sorted({int(k) for _, r in series for k in r if k.isdigit()})
    if not sizes:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    colors = {"ours": "#2a6fb0", "socketio": "#f0ad4e", "nchan": "#5cb85c"}
    for ax, mode in zip(axes, ("rounds", "rate"), strict=True):
        width = 0.8 / max(len(series), 1)
        for k, (name, r) in enumerate(series):
            xs = [i + k * width for i in range(len(sizes))]
            p50 = [(r.get(str(n)) or {}).get(mode, {}).get("p50_ms") or 0 for n in sizes]
            p99 = [(r.get(str(n)) or {}).get(mode, {}).get("p99_ms") or 0 for n in sizes]
            ax.bar(xs, p99, width * 0.9, color=colors.get(name, "#999"), alpha=0.35)
            ax.bar(xs, p50, width * 0.9, color=colors.get(name, "#999"), label=name)
        ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(sizes))],
                      [f"{n:,} subscribers" for n in sizes])
        ax.set_yscale("log")
        ax.axhline(P99_TARGET_MS, color="k", lw=0.6, ls="--", label="target p99: 50 ms")
        ax.set_title({"rounds": "one event at a time (peers' method)",
                      "rate": "10 events/s (Nexts over 50 doctors)"}[mode], fontsize=9)
    axes[0].set_ylabel("ms to the last subscriber (p50 solid, p99 light)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _machine_md(res: dict[str, Any]) -> list[str]:
    m, v = res["machine"], res["machine"]["versions"]
    lines = ["## Machine", "", "| | |", "|---|---|",
             f"| CPU | {m['cpu']}, {m['cores']} cores |", f"| memory | {m['memory_gib']} GiB |",
             f"| kernel / OS | {m['kernel']} ({m['os']}) |",
             f"| Python / PostgreSQL / Redis | {v['python']} / {v['postgresql']} / "
             f"{v['redis']} |",
             f"| uvicorn / websockets / Node / nginx | {v['uvicorn']} / {v['websockets']} / "
             f"{v['node']} / {v['nginx']} |", f"| services | {m['services']} |"]
    for label, key in (("load at the start", "load_start"), ("load at the end", "load_end")):
        load = res.get(key)
        if load:
            busy = "; ".join(f"{b['cmd']} ({b['cpu_percent']}%)" for b in load["busiest"][:4])
            lines.append(f"| {label} | load average {load['loadavg']}, {load['cpu_percent_total']}"
                         f"% CPU; busiest others: {busy or 'none'} |")
    return [*lines, ""]


def _eta_md(eta: dict[str, Any]) -> tuple[list[str], list[tuple[str, str, str, bool | None]]]:
    a, j, p1 = eta["all"], eta["at_join"], eta["position_1"]
    met = eta["met"]

    def ends(x: dict[str, Any]) -> str:
        return f"before p10 {x['before_lower']:.1%}, after p90 {x['after_p90']:.1%}"

    rows = [("ETA: mean abs error vs the strong reference", "at least 10% lower",
             f"{a['mae']:.1f} vs {a['strong_mae']:.1f} min ({a['strong_gain']:.1%} lower)",
             met["strong_gain"]),
            ("ETA: mean abs error vs naive", "at least 15% lower",
             f"{a['mae']:.1f} vs {a['naive_mae']:.1f} min ({a['mae_gain']:.0%} lower)",
             met["mae_gain"]),
            ("ETA range, all: called outside each end", "at most 10% each", ends(a),
             met["range_all"]),
            ("ETA range, position 1", "at most 10% each", ends(p1), met["range_position_1"]),
            ("ETA range, at joining", "at most 10% each", ends(j), met["range_at_join"])]
    last = eta["first_seed"] + eta["days"] - 1
    md = ["## ETA accuracy", "",
          f"{eta['days']} seeded simulated days (`server/simulate`, seeds {eta['first_seed']}.."
          f"{last}; the constants were tuned on seeds 1..100 only and checked on 101..200): "
          "3 doctors of different "
          "speeds that differ from day to day (sd 20%) and drift during it, consults lognormal "
          "with 6% complex cases at 2.5x (a heavier tail than the model assumes), walk-ins "
          "peaking in the morning, booked slots, seniors, emergencies, no-shows, patients away "
          "when called, pauses, late starts (half the doctors; a tenth of those 30-75 min). "
          "The simulator already had each realism issue 14 asks about (heavier tails, 30+ min "
          "late starts, day-to-day pace); nothing was added to it but learning today's pace "
          "and reading the queue's scores the way the server does. Every ETA a waiting "
          "patient would have been shown (on "
          "joining the queue, then every 10 minutes) is computed with the inputs the server "
          "has at that moment (stats "
          "learned with `update_stats`, today's consults (`update_today`), elapsed consult, "
          "pause and its expected end, shift "
          "start, the queue's scores; show probability 1.0) and compared with when the token "
          "was next called: "
          f"{a['n']:,} ETAs ({j['n']:,} at joining, {p1['n']:,} at position 1).", "",
          "**References**: *naive* = position x (department average + 5 min buffer); "
          "*strong* = position x the doctor's running mean consult time as learned "
          "(`update_stats`), no buffer. **Shown range** = [p10, p90], whole minutes (a call "
          "less than half a minute past an edge counts as inside).", "",
          "| | ours (p50) | strong | naive | at joining: ours | strong | position 1: ours "
          "| strong |", "|---|---|---|---|---|---|---|---|",
          f"| mean absolute error | {a['mae']:.1f} | {a['strong_mae']:.1f} | "
          f"{a['naive_mae']:.1f} | {j['mae']:.1f} | {j['strong_mae']:.1f} | {p1['mae']:.1f} | "
          f"{p1['strong_mae']:.1f} |",
          f"| median absolute error | {a['median_ae']:.1f} | {a['strong_median_ae']:.1f} | "
          f"{a['naive_median_ae']:.1f} | {j['median_ae']:.1f} | {j['strong_median_ae']:.1f} "
          f"| {p1['median_ae']:.1f} | {p1['strong_median_ae']:.1f} |",
          f"| bias (shown - actual) | {a['bias']:+.1f} | {a['strong_bias']:+.1f} | "
          f"{a['naive_bias']:+.1f} | {j['bias']:+.1f} | {j['strong_bias']:+.1f} | "
          f"{p1['bias']:+.1f} | {p1['strong_bias']:+.1f} |",
          f"| called before p10 | {a['before_lower']:.1%} | | | {j['before_lower']:.1%} | | "
          f"{p1['before_lower']:.1%} | |",
          f"| called after p90 | {a['after_p90']:.1%} | | | {j['after_p90']:.1%} | | "
          f"{p1['after_p90']:.1%} | |",
          f"| mean width of the range, min | {a['mean_width']:.1f} | | | "
          f"{j['mean_width']:.1f} | | {p1['mean_width']:.1f} | |",
          "", "| position | ETAs | MAE ours | MAE strong | MAE naive | before p10 | after p90 "
          "| width |", "|---|---|---|---|---|---|---|---|"]
    for r in eta["by_position"]:
        md.append(f"| {r['position']} | {r['n']:,} | {r['mae']:.1f} | {r['strong_mae']:.1f} | "
                  f"{r['naive_mae']:.1f} | {r['before_lower']:.1%} | {r['after_p90']:.1%} | "
                  f"{r['mean_width']:.1f} |")
    md += ["", "![ETA accuracy by position](img/eta_accuracy.png)", "", ETA_NOTES, "",
           ETA_CHANGES, ""]
    return md, rows


def _size_row(name: str, r: dict[str, Any] | None) -> str:
    if not r:
        return f"| {name} | – | – | – | – | – | – | – |"
    ro, ra = r["rounds"], r["rate"]
    return (f"| {name} | {_f(ro['p50_ms'])} / {_f(ro['p99_ms'])} | {_f(ra['p50_ms'])} / "
            f"{_f(ra['p99_ms'])} | {_f(ra.get('spread_p50_ms'))} / "
            f"{_f(ra.get('spread_p99_ms'))} | {ro['lost'] + ra['lost']} | {r['connect_s']} s | "
            f"{r['mib_per_1000']} | {ra.get('client_cpu_percent', '–')}% |")


def _realtime_md(rt: dict[str, Any], repeat: dict[str, Any] | None
                 ) -> tuple[list[str], list[tuple[str, str, str, bool | None]]]:
    ours, peers = rt.get("ours", {}), rt.get("peers", {})
    sizes = sorted({int(k) for k in ours if k.isdigit()} |
                   {int(k) for p in peers.values() for k in p if k.isdigit()})
    md = ["## Real-time load", "",
          "Two uvicorn processes of ours (server.runner's flags) pinned to core 0, no proxy; "
          "the Node load generator (bench/fanout-load.mjs) on core 1; board websockets split "
          "across both processes; Next presses (with `current_token_id`, NEXT_GUARD_MS=0) go "
          "to the first. One department with 50 doctors, each with a queue of about 20, so "
          "every Next reaches every board, as every publish reaches every subscriber of a "
          "peer. Latency = from sending the Next to the LAST board receiving its "
          "`token.called`. *rounds*: one event at a time with a 20 ms gap (the peers' own "
          "method); *rate*: 10 events/s, open loop (Nexts spread over the 50 doctors). The "
          "peers (shared/peers/fanout.py) are measured the same way in the same run, their "
          "server on core 0. Boards connect with `since=<seq>` (no snapshot per connection). "
          f"The load client is `{rt.get('config', {}).get('client', 'ws')}` (`raw`: frames "
          "read by their headers, only the timed event looked at; `ws`: the npm library, "
          "which at 5,000 boards used ~80% of its core and so set the spread); *client CPU*: "
          "its share of core 1 over the rate test (near 100%, the client sets the latency). "
          "*first to last*: the fan-out proper, from the first subscriber having the event "
          "to the last (ours: without the press, a PostgreSQL transaction, before it).",
          "", "| server | rounds p50 / p99 ms | rate p50 / p99 ms | rate: first to last "
          "p50 / p99 | lost | connect | MiB per 1,000 | client CPU (rate) |",
          "|---|---|---|---|---|---|---|---|"]

    def spread(r: dict[str, Any], q: str) -> Any:
        return r["rate"].get(f"spread_{q}_ms")

    for n in sizes:
        md.append(f"| **{n:,} subscribers** | | | | | | | |")
        mine = ours.get(str(n))
        md.append(_size_row("ours", mine))
        for name, p in peers.items():
            md.append(_size_row(name, p.get(str(n))))
        for name, p in peers.items():
            if mine and p.get(str(n)):
                pr = p[str(n)]
                md.append(f"| ours / {name} | "
                          f"{_ratio(mine['rounds']['p50_ms'], pr['rounds']['p50_ms'])} / "
                          f"{_ratio(mine['rounds']['p99_ms'], pr['rounds']['p99_ms'])} | "
                          f"{_ratio(mine['rate']['p50_ms'], pr['rate']['p50_ms'])} / "
                          f"{_ratio(mine['rate']['p99_ms'], pr['rate']['p99_ms'])} | "
                          f"{_ratio(spread(mine, 'p50'), spread(pr, 'p50'))} / "
                          f"{_ratio(spread(mine, 'p99'), spread(pr, 'p99'))}"
                          f" | | | {_ratio(mine['mib_per_1000'], pr['mib_per_1000'])} | |")
    md += ["", "*ours / peer*: below 1 means ours is faster (or smaller). "
           "*lost*: events that did not reach every subscriber within 10 s (a saturated "
           "server drops a board whose send buffer overflows; it reconnects and resumes).", "",
           "![fan-out latency](img/realtime_latency.png)", ""]
    idle = ours.get("idle")
    rows: list[tuple[str, str, str, bool | None]] = []
    big = str(max(sizes)) if sizes else None
    nchan = peers.get("nchan", {})
    for n, limit in ((5000, NCHAN_P99_RATIO_BIG), (1000, NCHAN_P99_RATIO_SMALL)):
        mine, theirs = ours.get(str(n)), nchan.get(str(n))
        if mine and theirs:
            p99, ref = mine["rate"]["p99_ms"], theirs["rate"]["p99_ms"]
            ok = (p99 is not None and ref is not None and p99 <= limit * ref
                  and mine["rate"]["lost"] == 0)
            rows.append((f"fan-out p99 at {n:,} boards, 10 Nexts/s",
                         f"<= {limit}x nchan's, 0 lost",
                         f"{_f(p99)} ms vs {_f(ref)} ms ({_ratio(p99, ref)}), "
                         f"lost {mine['rate']['lost']}", ok))
    mixed = ours.get("mixed")
    if mixed:
        md += [f"**Mixed OPD** (bench/realtime.py `measure_mixed`): {mixed['boards']} boards, "
               f"{mixed['phones']:,} patient phones (each its own token's /ws/token socket, "
               f"spread over {mixed['consoles']} doctors' queues) and {mixed['consoles']} "
               f"doctor consoles on our two processes; {mixed['rate']} Nexts/s spread over the "
               "doctors for " f"{mixed['duration_s']} s. Latency: from sending the press to "
               "the LAST affected subscriber (every board, that doctor's console, every phone "
               f"still waiting in that queue: {mixed['mean_affected']} sockets per press on "
               "average).", "",
               "| presses | p50 / p90 / p99 ms | max ms | lost | connect | RSS of both "
               "processes |", "|---|---|---|---|---|---|",
               f"| {mixed['events']} | {_f(mixed['p50_ms'])} / {_f(mixed['p90_ms'])} / "
               f"{_f(mixed['p99_ms'])} | {_f(mixed['max_ms'])} | {mixed['lost']} | "
               f"{mixed['connect_s']} s | {mixed['rss_mib']} MiB |", ""]
        rows.append(("mixed OPD: press to last affected subscriber, p99", "<= 50 ms, 0 lost",
                     f"{_f(mixed['p99_ms'])} ms, lost {mixed['lost']}",
                     mixed["p99_ms"] is not None and mixed["p99_ms"] <= P99_TARGET_MS
                     and mixed["lost"] == 0))
    procs = ours.get("processes")
    if procs:
        md += ["**Processes on one port** (server.runner: N processes, each binding the port "
               "with SO_REUSEPORT, all pinned to core 0 as above; boards of one department, "
               "rounds and 10 Nexts/s):", "",
               "| processes | boards | rounds p50 / p99 ms | rate p50 / p99 ms | lost | "
               "connect | MiB per 1,000 |", "|---|---|---|---|---|---|---|"]
        for k, r in sorted(procs.items(), key=lambda kv: int(kv[0])):
            md.append(f"| {k} | {r['clients']:,} | {_f(r['rounds']['p50_ms'])} / "
                      f"{_f(r['rounds']['p99_ms'])} | {_f(r['rate']['p50_ms'])} / "
                      f"{_f(r['rate']['p99_ms'])} | {r['rounds']['lost'] + r['rate']['lost']} "
                      f"| {r['connect_s']} s | {r['mib_per_1000']} |")
        md += ["", "On one core more processes cannot add CPU; they show the cost (or gain) "
               "of spreading sockets and decoding every event once per process. On a machine "
               "with N free cores, N processes each take 1/N of the sockets. (*MiB per "
               "1,000* here includes each fresh process's own growth during its first "
               "connections, so it grows with N.)", ""]
    if idle:
        md += [f"**{idle['clients']:,} idle boards** (fresh processes; boards ping every 15 s "
               "as static/js/live.js does, the server sends its heartbeat):", "",
               "| | ours | " + " | ".join(peers) + " |",
               "|---|---|" + "---|" * len(peers)]
        def peer_idle(key: str) -> str:
            return " | ".join(_f((p.get("idle") or {}).get(key)) for p in peers.values())
        md.append(f"| connect all, s | {idle['connect_s']} | {peer_idle('connect_s')} |")
        md.append(f"| RSS per 1,000 connections, MiB | {idle['mib_per_1000']} | "
                  f"{peer_idle('mib_per_1000')} |")
        md.append(f"| CPU over {idle.get('cpu_window_s', 30)} s, % of a core | "
                  f"{idle['cpu_percent']} | {peer_idle('cpu_percent')} |")
        if "reconnect_s" in idle:
            md += [f"| all back after both processes restart, s | {idle['reconnect_s']} "
                   f"(down and up again in {idle['restart_s']}; the last board back "
                   f"{idle['reconnect_after_up_s']} after) |" + " |" * len(peers)]
        md.append("")
        rows.append(("RSS per 1,000 idle connections", f"<= {MIB_TARGET:g} MiB",
                     f"{idle['mib_per_1000']} MiB", idle["mib_per_1000"] <= MIB_TARGET))
        rows.append((f"CPU of {idle['clients']:,} idle connections",
                     f"< {IDLE_CPU_TARGET:g}% of a core", f"{idle['cpu_percent']}% of a core",
                     idle["cpu_percent"] < IDLE_CPU_TARGET))
        if "reconnect_s" in idle:
            rows.append((f"{idle['clients']:,} clients back after a restart",
                         f"<= {RECONNECT_TARGET_S:g} s",
                         f"{idle['reconnect_s']} s",
                         idle["reconnect_s"] <= RECONNECT_TARGET_S))
    if repeat and repeat.get("realtime"):
        again = repeat["realtime"]["ours"].get(big or "", {})
        if again:
            md += [f"Second run at the end (load {repeat['load']['loadavg']}): ours at "
                   f"{int(big or 0):,} boards, rounds p50/p99 {_f(again['rounds']['p50_ms'])} / "
                   f"{_f(again['rounds']['p99_ms'])} ms, rate p50/p99 "
                   f"{_f(again['rate']['p50_ms'])} / {_f(again['rate']['p99_ms'])} ms.", ""]
    md += [LIMITS_LATENCY, ""]
    if idle and idle["mib_per_1000"] > MIB_TARGET:
        md += [LIMITS_MEMORY, ""]
    for note in rt.get("notes", []):
        md.append(f"- note: {note}")
    return md, rows


def _throughput_md(tp: dict[str, Any], repeat: dict[str, Any] | None) -> list[str]:
    z = tp.get("redis_zadd") or {}
    md = ["## Throughput", "",
          "One web process pinned to core 0, closed-loop Node load on core 1 (ratios are the "
          "figures to compare across machines):", "",
          "| | requests/s | p50 / p99 ms | reference | ratio |", "|---|---|---|---|---|",
          *([f"| Next, one press in flight | {_f(tp['next_one']['rps'])} | "
             f"{_f(tp['next_one']['p50_ms'])} / {_f(tp['next_one']['p99_ms'])} | | |"]
            if tp.get("next_one") else []),
          f"| Next, end to end (one in flight per doctor, {tp['next']['concurrency']} at once) "
          f"| {_f(tp['next']['rps'])} | {_f(tp['next']['p50_ms'])} / {_f(tp['next']['p99_ms'])}"
          f" | redis-benchmark ZADD, 50 clients: {_f(z.get('rps'), 0)}/s | "
          f"{tp.get('next_per_zadd', 0):.4f} |",
          f"| GET /api/v1/doctors/{{id}}/queue (20 waiting) | {_f(tp['queue_get']['rps'])} | "
          f"{_f(tp['queue_get']['p50_ms'])} / {_f(tp['queue_get']['p99_ms'])} | bare Starlette "
          f"constant JSON: {_f(tp['bare_get']['rps'])}/s | {tp['queue_get_per_bare']:.3f} |",
          *([f"| the same GETs, {tp['config']['busy_rate']:g} Nexts/s in the same hospital | "
             f"{_f(tp['queue_get_busy']['rps'])} | {_f(tp['queue_get_busy']['p50_ms'])} / "
             f"{_f(tp['queue_get_busy']['p99_ms'])} | the same bare route | "
             f"{tp['queue_get_busy']['rps'] / tp['bare_get']['rps']:.3f} |"]
            if tp.get("queue_get_busy") else []),
          ""]
    if tp.get("queue_get_per_bare_cpu"):
        md += [f"The web process's CPU time per request (steadier than requests/s on a shared "
               f"machine): Next {tp['next'].get('cpu_ms_per_req')} ms, queue GET "
               f"{tp['queue_get']['cpu_ms_per_req']} ms, bare route "
               f"{tp['bare_get']['cpu_ms_per_req']} ms: queue GET / bare by CPU "
               f"{tp['queue_get_per_bare_cpu']:.3f}.", ""]
    if repeat and repeat.get("throughput"):
        r = repeat["throughput"]
        md += [f"Second run at the end: Next {_f(r['next']['rps'])}/s (ratio to ZADD "
               f"{r.get('next_per_zadd', 0):.4f}), queue GET {_f(r['queue_get']['rps'])}/s "
               f"(ratio to bare {r['queue_get_per_bare']:.3f}).", ""]
    md += ["A Next is three Lua scripts in Redis (the call, returning the queue after it; "
           "staging its queue.updated; announcing its events) and eight PostgreSQL round "
           "trips (the caller's session "
           "and doctor; in one transaction BEGIN with the locks, the two token rows with "
           "their risks, their changes with their history, the queue's risks, its shown "
           "positions, the commit marker with COMMIT), pinned by "
           "tests/queue/test_round_trips.py, against a single ZADD; the "
           "queue read of an unchanged queue is the session's query and one MGET (the "
           "views' version: server/view_cache.py reuses the answer it rendered), and read "
           "afresh three queries, the MGET, one Lua script and the ETA model, against a "
           "constant.", ""]
    for k in ("note", "note_zadd"):
        if tp.get(k):
            md.append(f"- note: {tp[k]}")
    return md


def render(res: dict[str, Any]) -> str:
    md = ["# Benchmarks", "",
          f"Generated by `python -m bench.run{' --quick' if res.get('quick') else ''}` "
          f"(`make bench`) on {res['started']} in {res.get('wall_s', 0) / 60:.0f} min. Raw "
          "figures: bench/results/*.json. The machine is shared (other test suites were "
          "running, see the load below), so prefer the ratios, each measured in the same run "
          "on the same cores.", ""]
    rows: list[tuple[str, str, str, bool | None]] = []
    body: list[str] = []
    if "eta" in res:
        eta_md, eta_rows = _eta_md(res["eta"])
        body += eta_md
        rows += eta_rows
    if "realtime" in res:
        rt_md, rt_rows = _realtime_md(res["realtime"], res.get("repeat"))
        body += rt_md
        rows += rt_rows
    if "throughput" in res:
        body += _throughput_md(res["throughput"], res.get("repeat"))
    md += ["## Targets", "", "| | target | measured | |", "|---|---|---|---|"]
    md += [f"| {a} | {b} | {c} | {_met(d)} |" for a, b, c, d in rows]
    md += ["", *_machine_md(res), *body]
    others = res.get("others")
    md += ["## Other benchmarks", ""]
    for name, doc in OTHERS.items():
        o = (others or {}).get(name)
        status = f" (this run: {o['status']}, {o['seconds']} s)" if o else ""
        if (ROOT / doc).exists() or o:
            md.append(f"- [{doc}]({Path(doc).name}): `python -m bench.{name}`{status}")
    md.append("")
    return "\n".join(md)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--parts", default="eta,realtime,throughput,others")
    p.add_argument("--sizes", help="realtime subscriber counts, e.g. 1000,5000")
    p.add_argument("--peers", help="realtime servers: ours,socketio,nchan")
    p.add_argument("--idle-clients", type=int)
    p.add_argument("--days", type=int, help="simulated days for ETA accuracy (200)")
    p.add_argument("--no-repeat", action="store_true", help="skip the headline re-run")
    p.add_argument("--write-docs", action="store_true",
                   help="write the report to docs/benchmarks.md (and its plot to docs/img), "
                   "replacing the record of earlier runs kept there; default bench/results")
    p.add_argument("--write-others", action="store_true",
                   help="let notify_bench / risk_bench rewrite their own docs")
    p.add_argument("--others-timeout", type=float, default=900)
    args = p.parse_args()
    parts = set(args.parts.split(","))
    ensure_packages()
    from bench import eta_accuracy, realtime, throughput

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
            res["eta"] = eta_accuracy.run(args.days or (100 if args.quick else 200))
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
            if "realtime" in parts and "ours" in cfg.peers:
                rcfg = realtime.Config(sizes=(max(cfg.sizes),), peers=("ours",), idle=False,
                                       mixed=False, processes=())
                res["repeat"]["realtime"] = realtime.run(rcfg, svc)
            if "throughput" in parts:
                res["repeat"]["throughput"] = throughput.run(throughput.Config(), svc)
        if "others" in parts:
            print("other benchmarks ...", flush=True)
            res["others"] = run_others(args.write_others, args.others_timeout)
        res["load_end"] = machine_load()
    res["wall_s"] = round(time.monotonic() - t0, 1)
    (RESULTS / "suite.json").write_text(json.dumps(res, indent=2, default=str))
    # docs/benchmarks.md also keeps the record of earlier runs (by hand, with their before
    # and after): a run replaces it only when asked to
    out = DOCS if args.write_docs else RESULTS
    if "realtime" in res:
        plot_realtime(res["realtime"], out / "img" / "realtime_latency.png")
    (out / "benchmarks.md").write_text(render(res))
    print(f"wrote {(out / 'benchmarks.md').relative_to(ROOT)} ({res['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
