"""The Dockerfile and compose.yaml as far as this machine can check them without a Docker
daemon (.ci/run builds the image where one runs): the image starts uvicorn exactly as
server/runner.py does, has no compilers in its final stage, runs unprivileged, checks
/readyz; compose runs PostgreSQL 16, Redis 7 with AOF, two web processes and a worker."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from server.runner import uvicorn_command

ROOT = Path(__file__).resolve().parents[2]


def flags(cmd: list[str]) -> list[str]:
    """uvicorn's options after the app, minus host and port (which differ by design)."""
    start = cmd.index("--factory")
    out, skip = [], False
    for part in cmd[start:]:
        if skip:
            skip = False
        elif part in ("--host", "--port"):
            skip = True
        else:
            out.append(part)
    return out


def test_the_image_and_the_procfile_start_uvicorn_as_the_runner_does() -> None:
    expected = flags(uvicorn_command("127.0.0.1", 8000))
    docker = ROOT.joinpath("Dockerfile").read_text()
    cmd = json.loads(re.search(r"(?m)^CMD (\[.*\])$", docker).group(1))  # type: ignore[union-attr]
    assert flags(shlex.split(cmd[-1].removeprefix("exec "))) == expected
    web = ROOT.joinpath("Procfile").read_text().splitlines()[0].removeprefix("web: ")
    assert flags(shlex.split(web)) == expected


def test_final_stage_has_no_compilers_runs_unprivileged_and_checks_readyz() -> None:
    stages = re.split(r"(?m)^FROM ", ROOT.joinpath("Dockerfile").read_text())
    builder, final = stages[-2], stages[-1]
    assert "build-essential" in builder and " AS builder" in builder
    assert "build-essential" not in final and "gcc" not in final
    assert re.search(r"(?m)^USER opdq$", final)
    assert re.search(r"(?s)HEALTHCHECK .*?/readyz", final)
    ignored = ROOT.joinpath(".dockerignore").read_text().split()
    assert {"tests", "bench", ".git", ".opdq", ".env"} <= set(ignored)


def test_compose_runs_the_record_the_live_view_two_webs_and_a_worker() -> None:
    services = yaml.safe_load(ROOT.joinpath("compose.yaml").read_text())["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert "--appendonly" in services["redis"]["command"]
    assert services["redis"]["command"][services["redis"]["command"].index("--appendonly")
                                        + 1] == "yes"
    for web in ("web1", "web2"):
        assert services[web]["build"] == "." and "command" not in services[web]
        assert services[web]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert services["worker"]["command"] == ["python", "-m", "workers.run"]
    conf = ROOT.joinpath("deploy/nginx/opdq.conf").read_text()
    assert "server web1:8000;" in conf and "server web2:8000;" in conf
