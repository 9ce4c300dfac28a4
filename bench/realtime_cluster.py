"""`python -m bench.realtime_cluster [--quick] [--sizes ...]`: bench/realtime.py's fan-out with
our two web processes on a real 3-master Redis Cluster, next to the same two processes on one
Redis, in the same run, alternated (single, cluster, then cluster, single ...).

The cluster: the system redis-server in cluster mode (tests/cluster/local.py), three masters on
this machine, not pinned (as the single Redis is not). The bench hospital's live view, stream
and channel are on the node of its hash tag; each web process's feed subscribes through a node
of its own pick (server/store/client.NodeSubscriber), so most events cross the cluster bus
before they reach a process. ARQ's jobs would be on the single Redis (JOBS_REDIS_URL); no
worker runs here, as in bench/realtime.py.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from bench.realtime import (
    RESULTS,
    Config,
    Ours,
    Services,
    Web,
    config_from_cli,
    free_port,
    measure_fanout,
    raise_fd_limit,
    seed_hospital,
    services,
    web_env,
)
from server.store import keys
from server.store.client import create_redis
from tests.api import helpers
from tests.cluster.local import running_cluster


@dataclass
class OursOn(Ours):
    """Our two web processes with extra environment (the cluster's)."""

    extra: dict[str, str] = field(default_factory=dict)
    cluster: bool = False

    def start(self) -> None:
        self.webs = []
        for _ in range(2):
            port = free_port()
            self.webs.append(Web(port, web_env(self.svc, port, **self.extra)).start())
        r = httpx.get(f"{self.webs[0].url}/api/v1/doctors/{self.hosp.doctor_ids[0]}/queue",
                      headers=helpers.auth(self.hosp.admin_token), timeout=60)
        r.raise_for_status()

    def seq(self) -> int:
        return asyncio.run(_seq(self.svc.redis_url, self.cluster, self.hosp.id))


async def _seq(url: str, cluster: bool, h: UUID) -> int:
    r = create_redis(url, cluster=cluster)
    try:
        return int(await r.get(keys.seq(h)) or 0)
    finally:
        await r.aclose()


def run_cluster(cfg: Config, svc: Services, log: Callable[[str], None] = print,
                repeats: int = 2) -> dict[str, Any]:
    raise_fd_limit()
    per_doctor = max(12, int((cfg.rounds + cfg.rate * cfg.rate_s) * len(cfg.sizes) * repeats
                             / cfg.doctors) + 6)
    out: dict[str, Any] = {"config": cfg.__dict__ | {"repeats": repeats},
                           "single": {}, "cluster": {}, "notes": []}
    with tempfile.TemporaryDirectory(prefix="opdq-bench-cluster-") as tmp, \
            running_cluster(Path(tmp)) as cluster:
        setups: dict[str, OursOn] = {}
        for name, url, extra in (
                ("single", svc.redis_url, {}),
                ("cluster", cluster.url, {"REDIS_CLUSTER": "true",
                                          "JOBS_REDIS_URL": svc.redis_url})):
            hosp = asyncio.run(seed_hospital(svc.database_url, doctors=cfg.doctors,
                                             per_doctor=per_doctor))
            setups[name] = OursOn(Services(svc.database_url, url, svc.embedded), hosp,
                                  extra=extra, cluster=name == "cluster")
        node = cluster.node_of(keys.tag(setups["cluster"].hosp.id))
        out["notes"].append(f"the cluster's bench hospital is on node {node} of 3")
        try:
            for ours in setups.values():
                ours.start()
            for n in cfg.sizes:
                for rep in range(repeats):
                    order = ("single", "cluster") if rep % 2 == 0 else ("cluster", "single")
                    for name in order:
                        ours = setups[name]
                        log(f"realtime/cluster: {name}, {n} boards, run {rep + 1} ...")
                        got = measure_fanout(ours.load_args(n, ours.seq()), ours.pids(), cfg, n)
                        out[name].setdefault(str(n), []).append(got)
                        log(f"  {brief(got)}")
        finally:
            for ours in setups.values():
                ours.stop()
    out["table"] = table(out, cfg.sizes)
    return out


def brief(r: dict[str, Any]) -> str:
    ro, ra = r["rounds"], r["rate"]
    return (f"rounds p50/p99 {ro['p50_ms']}/{ro['p99_ms']} ms (lost {ro['lost']}); "
            f"rate p50/p99 {ra['p50_ms']}/{ra['p99_ms']} ms (lost {ra['lost']})")


def table(out: dict[str, Any], sizes: tuple[int, ...]) -> str:
    """Markdown: each run of each setup, and the cluster / single ratios of the medians."""
    lines = ["| boards | setup | rounds p50 / p99 ms | rate p50 / p99 ms | lost |",
             "|---|---|---|---|---|"]
    for n in sizes:
        med: dict[str, list[float]] = {}
        for name in ("single", "cluster"):
            runs = out[name].get(str(n), [])
            for r in runs:
                lines.append(f"| {n:,} | {name} | {r['rounds']['p50_ms']} / "
                             f"{r['rounds']['p99_ms']} | {r['rate']['p50_ms']} / "
                             f"{r['rate']['p99_ms']} | {r['rounds']['lost'] + r['rate']['lost']} |")
            med[name] = [_median([r[m][p] for r in runs]) for m in ("rounds", "rate")
                         for p in ("p50_ms", "p99_ms")]
        if all(med.values()):
            ratio = [c / s if s else float("nan")
                     for c, s in zip(med["cluster"], med["single"], strict=True)]
            lines.append(f"| {n:,} | cluster / single (medians) | {ratio[0]:.2f}x / "
                         f"{ratio[1]:.2f}x | {ratio[2]:.2f}x / {ratio[3]:.2f}x | |")
    return "\n".join(lines)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2 if s else 0.0


def write(out: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "realtime_cluster.json").write_text(json.dumps(out, indent=2))
    print(out["table"])


def main() -> None:
    """Ours only (no peers, no idle phase), with bench/realtime.py's options."""
    cfg = config_from_cli(__doc__)
    with services() as svc:
        write(run_cluster(cfg, svc))


if __name__ == "__main__":
    main()
