"""Login throttling slows attackers, not staff (issue 12, item 7).

Real Redis and PostgreSQL; the throttle's clock is injected (AppState.extras) and moved by the
Retry-After the server answers, so nothing sleeps. Failures are counted per (username,
address) with a doubling delay, per address with a high ceiling, and per username across
addresses; a right password from an address that has not failed for that user gets in.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from server.app import create_app
from server.auth import ratelimit
from server.auth import sessions as sessions_module
from server.routes import auth as auth_routes
from server.settings import Settings
from tests import logcapture
from tests.api.helpers import PASSWORD, auth, create_hospital, make_user, session_token

LOGIN = "/api/v1/auth/login"
LOCKOUTS = "/api/v1/auth/lockouts"
WRONG = "Tr0ub4dor&3-wrong"      # a password that must never reach a log line


class Clock:
    def __init__(self) -> None:
        self.t = 1_900_000_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Server:
    def __init__(self, app: Any, clock: Clock, settings: Settings) -> None:
        self.app, self.clock, self.settings = app, clock, settings
        self._clients: list[httpx.AsyncClient] = []

    def client(self, address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000),
                                        raise_app_exceptions=False)
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self._clients.append(c)
        return c

    async def login(self, address: str, username: str, password: str = PASSWORD
                    ) -> httpx.Response:
        return await self.client(address).post(
            LOGIN, json={"username": username, "password": password})

    async def fail(self, address: str, username: str, times: int) -> list[int]:
        """`times` wrong passwords that are heard (401), waiting out (on the fake clock) every
        429 in between; the Retry-After of each 429 met on the way."""
        waits = []
        failed = 0
        while failed < times:
            r = await self.login(address, username, WRONG)
            if r.status_code == 429:
                waits.append(int(r.headers["retry-after"]))
                self.clock.advance(waits[-1])
                continue
            assert r.status_code == 401, r.text
            failed += 1
        return waits

    async def close(self) -> None:
        for c in self._clients:
            await c.aclose()


Build = Callable[..., Awaitable[Server]]


@pytest.fixture
async def server(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Build]:
    """Builds the app with some settings changed and a fake clock for the throttle."""
    async with contextlib.AsyncExitStack() as stack:
        async def build(**overrides: Any) -> Server:
            changed = settings.model_copy(update=overrides)
            application = create_app(changed)
            await stack.enter_async_context(LifespanManager(application))
            clock = Clock()
            application.state.opdq.extras[auth_routes.CLOCK] = clock
            srv = Server(application, clock, changed)
            stack.push_async_callback(srv.close)
            return srv

        yield build


def assert_429(r: httpx.Response) -> int:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 429 and r.json()["type"] == "/problems/rate-limited"
    retry = int(r.headers["retry-after"])
    assert retry >= 1
    return retry


async def alerts(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM system_alerts WHERE kind = 'LOGIN_THROTTLED' "
                            "ORDER BY created_at")
    return [dict(r) | {"details": dict(r["details"])} for r in rows]


# ---------------------------------------------------------------------------------------
# per (username, address)
# ---------------------------------------------------------------------------------------
async def test_a_user_who_failed_gets_in_from_elsewhere_at_once_and_here_after_the_delay(
    pool: asyncpg.Pool, redis: Redis, server: Build
) -> None:
    srv = await server()
    hospital_id = await create_hospital(pool, "H1")
    await make_user(pool, hospital_id, "receptionist", username="asha")
    await srv.fail("10.0.0.1", "asha", 10)

    # ten failures: 5 free, then 1, 2, 4, 8 s; the tenth set 16 s
    r = await srv.login("10.0.0.1", "asha")
    assert assert_429(r) == 16
    assert "16 s" in r.json()["detail"]
    # an attacker elsewhere cannot lock the real user out: another address gets in at once
    assert (await srv.login("10.0.0.2", "asha")).status_code == 200
    # the refused attempt did not extend the lock
    srv.clock.advance(15)
    assert assert_429(await srv.login("10.0.0.1", "asha")) == 1
    srv.clock.advance(1)
    assert (await srv.login("10.0.0.1", "asha")).status_code == 200
    # the success cleared that pair: the next failures are free again
    assert await redis.exists(ratelimit.login_pair_key("asha", "10.0.0.1")) == 0
    assert await srv.fail("10.0.0.1", "asha", 5) == []
    assert (await srv.login("10.0.0.1", "asha")).status_code == 200


async def test_other_users_behind_the_same_address_log_in(
    pool: asyncpg.Pool, server: Build
) -> None:
    """A hospital's staff share one NAT address: one typist does not lock them out."""
    srv = await server()
    hospital_id = await create_hospital(pool, "H1")
    nat = "203.0.113.9"
    await make_user(pool, hospital_id, "receptionist", username="typist")
    others = [f"staff{i}" for i in range(15)]
    for name in others:
        await make_user(pool, hospital_id, "receptionist", username=name)
    await srv.fail(nat, "typist", 10)
    assert_429(await srv.login(nat, "typist"))
    results = await asyncio.gather(*(srv.login(nat, name) for name in others))
    assert [r.status_code for r in results] == [200] * 15


async def test_the_delay_doubles_and_caps(pool: asyncpg.Pool, server: Build) -> None:
    srv = await server(login_free_failures=2, login_delay_base_s=1, login_delay_max_s=20)
    addr, name = "10.0.0.3", "nobody"      # unknown users are throttled the same way
    for _ in range(2):                     # free
        assert (await srv.login(addr, name, WRONG)).status_code == 401
    waits = []
    for _ in range(8):
        assert (await srv.login(addr, name, WRONG)).status_code == 401
        wait = assert_429(await srv.login(addr, name, WRONG))
        # refused attempts verify nothing and count nothing: asking again changes no wait
        assert assert_429(await srv.login(addr, name, PASSWORD)) == wait
        waits.append(wait)
        srv.clock.advance(wait - 0.5)
        assert assert_429(await srv.login(addr, name, WRONG)) == 1
        srv.clock.advance(0.5)
    assert waits == [1, 2, 4, 8, 16, 20, 20, 20]


async def test_failures_are_forgotten_after_the_window(
    redis: Redis, settings: Settings
) -> None:
    clock = Clock()
    s = settings.model_copy(update={"login_free_failures": 1, "login_failure_window_s": 60})
    gate = ratelimit.LoginThrottle(redis, s, clock)
    first = await gate.check("u", "a")
    assert first.refused_by is None and first.retry_after_s == 0 and first.failures == 1
    second = await gate.check("u", "a")          # (both failed)
    assert second.refused_by is None and second.retry_after_s == 1
    assert (await gate.check("u", "a")).refused_by == "pair"
    clock.advance(1 + 59)
    assert (await gate.check("u", "a")).retry_after_s == 2   # remembered within the window
    clock.advance(2 + 60)
    fresh = await gate.check("u", "a")
    assert fresh.refused_by is None and fresh.failures == 1 and fresh.retry_after_s == 0
    # the keys expire on their own (the clock above is fake, Redis's TTLs are real)
    assert 0 < await redis.pttl(ratelimit.login_pair_key("u", "a")) <= 62_000
    assert 0 < await redis.pttl(ratelimit.login_addr_key("a")) <= 60_000
    # a password that could not be checked (an outage) counts for nothing
    await gate.not_checked(fresh)
    again = await gate.check("u", "a")
    assert again.failures == 1 and again.retry_after_s == 0


async def test_an_ipv6_client_counts_as_its_slash_64(pool: asyncpg.Pool, server: Build) -> None:
    """A host holds a whole /64: rotating through it does not escape the throttle."""
    assert ratelimit.address_bucket("2001:db8:0:7:a::1") == "2001:db8:0:7::/64"
    assert ratelimit.address_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert ratelimit.address_bucket("unknown") == "unknown"
    srv = await server()
    hospital_id = await create_hospital(pool, "H1")
    await make_user(pool, hospital_id, "receptionist", username="asha")
    for i in range(6):
        r = await srv.login(f"2001:db8:0:7::{i + 1:x}", "asha", WRONG)
        assert r.status_code == 401
    assert_429(await srv.login("2001:db8:0:7:ffff::1", "asha"))
    assert (await srv.login("2001:db8:0:8::1", "asha")).status_code == 200


async def test_a_burst_of_parallel_guesses_is_counted_before_checking(
    pool: asyncpg.Pool, server: Build
) -> None:
    srv = await server()
    hospital_id = await create_hospital(pool, "H1")
    await make_user(pool, hospital_id, "admin", username="root")
    results = await asyncio.gather(*(srv.login("10.0.0.4", "root", WRONG) for _ in range(20)))
    codes = sorted(r.status_code for r in results)
    # five free failures, the sixth is heard and locks: the other fourteen never verify
    assert codes == [401] * 6 + [429] * 14


async def test_an_outage_while_checking_is_not_a_failure(
    pool: asyncpg.Pool, server: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = await server()
    hospital_id = await create_hospital(pool, "H1")
    await make_user(pool, hospital_id, "receptionist", username="drrao")
    real = sessions_module.user_for_login

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("database down")

    monkeypatch.setattr(sessions_module, "user_for_login", down)
    for _ in range(12):
        r = await srv.login("10.0.0.5", "drrao")
        assert r.status_code == 503, r.text
    monkeypatch.setattr(sessions_module, "user_for_login", real)
    assert (await srv.login("10.0.0.5", "drrao")).status_code == 200


# ---------------------------------------------------------------------------------------
# per address, per username across addresses
# ---------------------------------------------------------------------------------------
async def test_the_address_ceiling_eventually_refuses(
    pool: asyncpg.Pool, server: Build
) -> None:
    srv = await server(login_address_max_failures=8)
    hospital_id = await create_hospital(pool, "H1")
    admin = await session_token(pool, await make_user(pool, hospital_id, "admin"))
    await make_user(pool, hospital_id, "receptionist", username="desk")
    sprayer = "198.51.100.7"
    for i in range(8):          # one guess each for many usernames: the pairs never lock
        assert (await srv.login(sprayer, f"guess{i}", WRONG)).status_code == 401
        srv.clock.advance(10)
    # over the ceiling everyone behind that address waits, even a right password...
    retry = assert_429(await srv.login(sprayer, "desk"))
    assert retry == srv.settings.login_failure_window_s - 80
    assert_429(await srv.login(sprayer, "desk"))
    # ...but not elsewhere
    assert (await srv.login("198.51.100.8", "desk")).status_code == 200
    # the refused real user's admins are told, once
    [alert] = await alerts(pool)
    assert alert["hospital_id"] == hospital_id
    assert alert["details"]["scope"] == "address"
    assert alert["details"]["address"] == sprayer
    items = (await srv.client("10.9.9.9").get(LOCKOUTS, headers=auth(admin))).json()["items"]
    assert [(i["scope"], i["username"], i["address"]) for i in items] == [
        ("address", "desk", sprayer)]
    # the window passes: heard again
    srv.clock.advance(retry)
    assert (await srv.login(sprayer, "desk")).status_code == 200


async def test_distributed_guessing_needs_a_clean_address(
    pool: asyncpg.Pool, server: Build
) -> None:
    """Past the per-username ceiling only addresses that have not failed for the user are
    heard: each guessing address gets one try a window, the real user still gets in."""
    srv = await server(login_user_max_failures=6)
    hospital_id = await create_hospital(pool, "H1")
    user_id = await make_user(pool, hospital_id, "admin", username="chief")
    botnet = [f"192.0.2.{i}" for i in range(1, 4)]
    for addr in botnet:
        await srv.fail(addr, "chief", 2)
    for addr in botnet:                     # failed addresses wait, even with the password
        assert_429(await srv.login(addr, "chief"))
    assert (await srv.login("10.1.1.1", "chief")).status_code == 200   # a clean address
    # a fresh guessing address gets one try, then waits
    assert (await srv.login("192.0.2.50", "chief", WRONG)).status_code == 401
    assert_429(await srv.login("192.0.2.50", "chief", WRONG))
    # other users are not affected
    await make_user(pool, hospital_id, "receptionist", username="meena")
    assert (await srv.login(botnet[0], "meena")).status_code == 200
    [alert] = await alerts(pool)
    assert alert["entity_id"] == user_id and alert["details"]["scope"] == "user"
    # the window passes: the failed addresses are heard again
    srv.clock.advance(srv.settings.login_failure_window_s)
    assert (await srv.login(botnet[0], "chief")).status_code == 200


# ---------------------------------------------------------------------------------------
# alerts and logs
# ---------------------------------------------------------------------------------------
@pytest.fixture
def capture_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], io.StringIO]]:
    """Starts capturing every log line as JSON, without the redacting processor (call it
    after building the app: the app's start-up configures logging)."""
    buf = io.StringIO()
    saved = structlog.get_config()

    def start() -> io.StringIO:
        logcapture.into(buf)
        monkeypatch.setattr(auth_routes, "log", structlog.get_logger("auth"))
        return buf

    try:
        yield start
    finally:
        structlog.configure(**saved)


async def test_a_lockout_raises_one_alert_and_admins_see_it(
    pool: asyncpg.Pool, server: Build
) -> None:
    srv = await server()
    client = srv.client("10.9.9.9")
    h1 = await create_hospital(pool, "H1")
    h2 = await create_hospital(pool, "H2")
    admin1 = await session_token(pool, await make_user(pool, h1, "admin"))
    admin2 = await session_token(pool, await make_user(pool, h2, "admin"))
    desk = await session_token(pool, await make_user(pool, h1, "receptionist"))
    user_id = await make_user(pool, h1, "receptionist", username="drmehta")
    await srv.fail("10.0.0.6", "drmehta", 10)          # five locks in a row: one alert
    await srv.fail("10.0.0.7", "drmehta", 7)           # another address: still that one
    await srv.fail("10.0.0.6", "ghost", 10)            # no such user: no alert
    [alert] = await alerts(pool)
    assert alert["hospital_id"] == h1 and alert["entity_id"] == user_id
    assert alert["details"] == {"scope": "pair", "username": "drmehta", "address": "10.0.0.6",
                                "failures": 6, "retry_after_s": 1}
    assert WRONG not in json.dumps(alert, default=str)

    r = await client.get(LOCKOUTS, headers=auth(admin1))
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["user_id"] == str(user_id) and item["username"] == "drmehta"
    assert item["scope"] == "pair" and item["address"] == "10.0.0.6"
    assert "drmehta" in item["message"] and item["created_at"]
    assert (await client.get(LOCKOUTS, headers=auth(admin2))).json()["items"] == []
    assert (await client.get(LOCKOUTS, headers=auth(desk))).status_code == 403
    r = await client.get(f"{LOCKOUTS}?days=0", headers=auth(admin1))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "days"


async def test_lockouts_are_logged_without_password_or_username(
    pool: asyncpg.Pool, server: Build, capture_logs: Callable[[], io.StringIO]
) -> None:
    srv = await server(login_address_max_failures=12, login_user_max_failures=9)
    log_output = capture_logs()
    hospital_id = await create_hospital(pool, "H1")
    user_id = await make_user(pool, hospital_id, "receptionist", username="lakshmi")
    await srv.fail("10.0.0.8", "lakshmi", 7)               # pair locks
    await srv.fail("10.0.0.9", "lakshmi", 2)               # user ceiling
    # a password typed into the username box, on an address that reaches its ceiling
    await srv.fail("10.0.0.8", WRONG.upper(), 5)
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    text = log_output.getvalue()
    throttled = [ln for ln in lines if ln["event"] == "login.throttled"]
    assert {ln["scope"] for ln in throttled} == {"pair", "user", "address"}
    pair = [ln for ln in throttled if ln["scope"] == "pair" and "user_id" in ln]
    assert [ln["retry_after_s"] for ln in pair] == [1, 2]
    assert all(ln["user_id"] == str(user_id) and ln["address"] == "10.0.0.8" for ln in pair)
    assert all(ln["level"] == "warning" for ln in throttled)
    for secret in (WRONG, WRONG.upper(), WRONG.lower(), PASSWORD, "lakshmi"):
        assert secret not in text
    assert WRONG not in json.dumps(await alerts(pool), default=str)


async def test_unknown_and_known_users_are_throttled_alike(
    pool: asyncpg.Pool, server: Build
) -> None:
    srv = await server()
    hospital_id = await create_hospital(pool, "H1")
    await make_user(pool, hospital_id, "admin", username="root")
    for name in ("root", "ghost"):
        assert await srv.fail("10.0.0.10", name, 7) == [1]
        r = await srv.login("10.0.0.10", name, WRONG)
        assert assert_429(r) == 2
        assert r.json()["detail"] == "too many failed logins; try again in 2 s"


async def test_a_nul_in_the_credentials_is_a_failed_login(
    pool: asyncpg.Pool, server: Build
) -> None:
    srv = await server()
    hospital_id = await create_hospital(pool, "H1")
    await make_user(pool, hospital_id, "receptionist", username="asha")
    for username, password in (("as\x00ha", PASSWORD), ("asha", PASSWORD + "\x00")):
        r = await srv.login("10.0.0.12", username, password)
        assert r.status_code == 401, r.text
    assert (await srv.login("10.0.0.12", "asha")).status_code == 200


async def test_successful_logins_do_not_use_up_the_allowance(
    pool: asyncpg.Pool, server: Build
) -> None:
    srv = await server(login_address_max_failures=3, login_user_max_failures=3)
    hospital_id = await create_hospital(pool, "H1")
    user: UUID = await make_user(pool, hospital_id, "receptionist", username="desk")
    for _ in range(srv.settings.login_free_failures + 5):
        assert (await srv.login("10.0.0.11", "desk")).status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1", user) == 10
