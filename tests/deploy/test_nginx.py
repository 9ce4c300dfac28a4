"""The shipped nginx config in front of a live uvicorn: HTTPS and websockets pass, the app
sees the real client address and scheme (HSTS, Secure cookie), nothing it should not."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect

from tests.api.helpers import PASSWORD, make_user
from tests.deploy.conftest import METRICS_TOKEN, RATE
from tests.deploy.nginx import Proxy, running
from tests.livesrv import LiveServer
from tests.queue.conftest import World, build_world
from tests.ws.conftest import next_message, until


@pytest.fixture(scope="module")
def proxy(app_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    folder: Path = tmp_path_factory.mktemp("nginx")
    with running([app_server.port], folder) as p:
        yield p


@pytest.fixture
async def w(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


def client(base_url: str, source: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client that connects from `source` (any 127/8 address is this machine)."""
    transport = httpx.AsyncHTTPTransport(local_address=source, verify=False)
    return httpx.AsyncClient(base_url=base_url, transport=transport)


def insecure_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def test_api_and_a_live_socket_work_through_the_proxy(
        proxy: Proxy, app_server: LiveServer, w: World) -> None:
    path = f"/ws/doctor/{w.doctors[0]}"
    headers = {"Authorization": f"Bearer {w.tokens['doctor']}"}
    async with connect(f"{proxy.ws_url}{path}", additional_headers=headers, ssl=insecure_tls(),
                       open_timeout=5) as ws:
        snap = await next_message(ws)
        assert snap["type"] == "snapshot"
        async with client(proxy.url) as c:
            r = await c.post("/api/v1/tokens", headers=w.h("receptionist"), json={
                "patient_id": str(w.patients[0]), "booking_type": "WALK_IN",
                "doctor_id": str(w.doctors[0])})
            assert r.status_code == 201, r.text
        got = await until(ws, lambda m: m["type"] == "queue.updated")
        assert [t["id"] for t in got[-1]["data"]["waiting"]] == [r.json()["id"]]
    # the app timed that fan-out (Redis -> this socket)
    async with client(app_server.url) as c:
        text = (await c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
                ).text
    counted = [line for line in text.splitlines()
               if line.startswith('opdq_event_fanout_seconds_count{kind="doctor"}')]
    assert counted and float(counted[0].split()[1]) >= 1


async def test_https_through_the_proxy_gets_hsts_and_a_secure_cookie(
        proxy: Proxy, app_server: LiveServer, pool: asyncpg.Pool, w: World) -> None:
    await make_user(pool, w.hospital_id, "receptionist", username="desk1")
    login = {"username": "desk1", "password": PASSWORD}
    async with client(proxy.url) as c:
        r = await c.post("/api/v1/auth/login", json=login)
    assert r.status_code == 200, r.text
    assert r.headers["strict-transport-security"].startswith("max-age=")
    cookie = r.headers["set-cookie"]
    assert "opdq_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    assert r.headers["server"] == "nginx"  # no version, and no uvicorn behind it

    # plain HTTP to the app: neither; and a forged X-Forwarded-Proto from a client that is
    # not the proxy changes nothing
    async with client(app_server.url, source="127.0.0.5") as c:
        r = await c.post("/api/v1/auth/login", json=login,
                         headers={"X-Forwarded-Proto": "https"})
    assert r.status_code == 200, r.text
    assert "strict-transport-security" not in r.headers
    assert "Secure" not in r.headers["set-cookie"]
    assert "server" not in r.headers


async def test_the_app_sees_each_client_address_not_the_proxy_or_a_forged_one(
        proxy: Proxy, app_server: LiveServer, w: World) -> None:
    """The public rate limit counts per client address: through the proxy, one phone
    over its limit must not block another, and nobody can borrow an address."""
    url = "/api/v1/public/tokens/not-a-real-link"
    async with client(proxy.url, source="127.0.0.2") as a:
        codes = [(await a.get(url)).status_code for _ in range(RATE + 1)]
    assert codes == [404] * RATE + [429]
    async with client(proxy.url, source="127.0.0.3") as b:
        # another phone is not limited: the app sees 127.0.0.3, not the proxy's 127.0.0.1
        assert (await b.get(url)).status_code == 404
        # nor can it pass for the limited one: the proxy appends the address it saw
        assert (await b.get(url, headers={"X-Forwarded-For": "127.0.0.2"})).status_code == 404
    async with client(app_server.url, source="127.0.0.4") as direct:
        # straight to the app from an address it does not trust: the header is ignored
        assert (await direct.get(url, headers={"X-Forwarded-For": "127.0.0.2"})
                ).status_code == 404


async def test_plain_http_redirects_and_metrics_stay_inside(proxy: Proxy) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"http://127.0.0.1:{proxy.http_port}/board?x=1")
    assert r.status_code == 301
    assert r.headers["location"].startswith("https://") and r.headers["location"].endswith(
        "/board?x=1")
    async with client(proxy.url) as c:
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 404
        assert (await c.post("/api/v1/auth/login", content=b"x" * 300_000,
                             headers={"Content-Type": "application/json"})).status_code == 413
