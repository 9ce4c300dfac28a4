"""Browser end-to-end tests: a real uvicorn in a subprocess, driven by headless Chromium.

The server runs on a free port against the suite's PostgreSQL and Redis (the `services`
fixture), exactly as in production: its own process, its own event loop, real websockets.
It can be killed and started again on the same port (`server.restart()`), which is how the
board's self-recovery is tested. Every test gets a fresh hospital (`world`), so tests do not
see each other's queues; tables are emptied once, before the server starts.

Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM); Playwright's own browser downloads
are not used. Screenshots go to artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.api.helpers import auth, make_display_key
from tests.conftest import Services, truncate_all
from tests.queue.conftest import TZ, World, build_world

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
SERVER_LOG = ROOT / "artifacts" / "e2e-server.log"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-gpu",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # what a kiosk TV is started with: sound without a tap
    "--autoplay-policy=no-user-gesture-required",
]
READY_TIMEOUT_S = 40.0

BOARD = {"width": 1920, "height": 1080}
PHONE = {"width": 360, "height": 740}
TABLET = {"width": 1280, "height": 800}
DESK = {"width": 1366, "height": 900}

_codes = itertools.count(1)
_ERRORS: dict[Page, list[str]] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One uvicorn process serving the app; start, kill (SIGKILL, like a crash), restart."""

    def __init__(self, services: Services, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "SECRET_KEY": "e2e-secret-key-not-for-production",
            "PUBLIC_BASE_URL": self.base,
            "ENVIRONMENT": "test",
            "DATA_DIR": str(services.data_dir / "e2e"),
            "LOG_LEVEL": "WARNING",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = None

    def start(self) -> None:
        SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
        self.log = SERVER_LOG.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
             "--ws-per-message-deflate", "false", "--log-level", "warning"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}; see {SERVER_LOG}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {READY_TIMEOUT_S} s; see {SERVER_LOG}")

    def kill(self) -> None:
        """Stop at once, as a crash or a power cut would: no graceful close of sockets."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._reap()

    def _reap(self) -> None:
        if self.proc:
            self.proc.wait(10)
            self.proc = None
        if self.log:
            self.log.close()
            self.log = None

    def restart(self) -> None:
        self.kill()
        self.start()


@pytest.fixture(scope="package")
async def e2e_db(services: Services) -> str:
    """Empty tables and Redis once, before the server starts (tests then add hospitals)."""
    from server.db.pool import init_db
    from server.store.client import create_redis

    await init_db(services.database_url)
    conn = await asyncpg.connect(services.database_url)
    try:
        await truncate_all(conn)  # type: ignore[arg-type]
    finally:
        await conn.close()
    r = create_redis(services.redis_url)
    await r.flushdb()
    await r.aclose()
    return services.database_url


@pytest.fixture(scope="package")
def server(services: Services, e2e_db: str) -> Iterator[Server]:
    srv = Server(services, free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="package")
async def db(e2e_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(e2e_db, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once per run)
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@dataclass
class E2EWorld:
    world: World
    server: Server
    display_key: str
    api: httpx.AsyncClient

    @property
    def board_url(self) -> str:
        return f"{self.server.base}/board/{self.world.department_id}#key={self.display_key}"

    def h(self, role: str = "receptionist") -> dict[str, str]:
        return auth(self.world.tokens[role])

    async def issue(self, patient: int, doctor: int | None = 0, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"patient_id": str(self.world.patients[patient]),
                                "booking_type": "WALK_IN", **extra}
        if doctor is not None:
            body["doctor_id"] = str(self.world.doctors[doctor])
        else:
            body["department_id"] = str(self.world.department_id)
        r = await self.api.post("/api/v1/tokens", json=body, headers=self.h())
        assert r.status_code == 201, r.text
        return r.json()

    async def queue(self, doctor: int = 0) -> dict[str, Any]:
        r = await self.api.get(f"/api/v1/doctors/{self.world.doctors[doctor]}/queue",
                               headers=self.h("doctor"))
        assert r.status_code == 200, r.text
        return r.json()

    async def context(self, browser: Browser, viewport: dict[str, int],
                      role: str | None = None) -> BrowserContext:
        """A browser context, logged in as `role` through the session cookie when given."""
        # the hospital's browsers keep the hospital's time: dates a page defaults to ("today")
        # are the hospital's day, also in the hours when it differs from UTC's
        ctx = await browser.new_context(viewport=viewport, locale="en-GB", timezone_id=TZ)
        if role:
            await ctx.add_cookies([{"name": "opdq_session", "value": self.world.tokens[role],
                                    "url": self.server.base}])
        return ctx


@pytest.fixture
async def e2e(server: Server, db: asyncpg.Pool) -> AsyncIterator[E2EWorld]:
    world = await build_world(db, code=f"E2E{next(_codes)}", n_patients=6)
    _, key = await make_display_key(db, world.hospital_id, world.department_id)
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as api:
        yield E2EWorld(world, server, key, api)


async def open_page(ctx: BrowserContext, url: str) -> Page:
    """A page that fails the test on any uncaught script error (CSP violations included)."""
    page = await ctx.new_page()
    errors = _ERRORS.setdefault(page, [])
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    await page.goto(url)
    return page


def no_script_errors(page: Page) -> None:
    errors = _ERRORS.get(page, [])
    assert not errors, errors


async def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page,
                          animations="disabled")
