"""deploy/prometheus and deploy/grafana: valid for Prometheus itself (promtool, Debian's
`prometheus` package; .ci/run installs it), the alerts fire on what they name (the rule unit
tests in alerts.test.yml), and every opdq_* figure they use is one the app exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import yaml

from tests.deploy.conftest import METRICS_TOKEN
from tests.livesrv import LiveServer

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAME = re.compile(r"\bopdq_[a-z0-9_]+")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, ("promtool is not installed: `apt-get install -y --no-install-recommends "
                    "prometheus` (.ci/run does it); the alert rules cannot be checked")
    return subprocess.run([binary, *args], cwd=DEPLOY / "prometheus", capture_output=True,
                          text=True, timeout=60)


def test_promtool_accepts_the_rules_and_config_and_the_alerts_fire_as_meant() -> None:
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def exported(server: LiveServer) -> set[str]:
    """Every sample name the app can export, from the TYPE lines of a real scrape."""
    text = httpx.get(f"{server.url}/metrics",
                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    names: set[str] = set()
    for name, kind in re.findall(r"(?m)^# TYPE (\S+) (\S+)$", text):
        names.add(name)
        if kind == "counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


def test_alerts_and_dashboard_use_only_figures_the_app_exports(app_server: LiveServer) -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"]]
    assert {a["alert"] for a in alerts} >= {
        "OpdqNotReady", "OpdqLiveViewRebuilt", "OpdqNotificationFailures", "OpdqJobLag",
        "OpdqWebsocketDrops", "OpdqHttp5xx", "OpdqFanoutSlow"}
    dashboard = json.loads((DEPLOY / "grafana" / "opdq.json").read_text())
    exprs = [a["expr"] for a in alerts] + [
        t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {n for e in exprs for n in NAME.findall(e)}
    missing = used - exported(app_server)
    assert not missing, f"not exported by the app: {sorted(missing)}"
    assert len(used) >= 10
