"""Web push end to end: the patient's page subscribes over the public API, queue actions go
through the event stream, the dispatcher and a real ARQ worker, and pywebpush POSTs to a
local fake push service over HTTPS. The test decrypts each push as the browser would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from arq.connections import ArqRedis
from arq.worker import Worker
from asgi_lifespan import LifespanManager
from py_vapid import Vapid02
from redis.asyncio import Redis

from server.app import create_app
from server.notifications import push as push_lib
from server.settings import Settings
from server.store import keys
from tests.conftest import Services
from tests.integrations.conftest import integration_settings
from tests.integrations.fake_push import FakePushService
from tests.push_keys import BrowserKeys, browser_keys
from tests.queue.conftest import TZ, World, issue, link_code, press_next
from workers import dispatch, push
from workers.dispatch import Dispatcher
from workers.routing import push_jobs_for


@pytest.fixture
def settings(services: Services) -> Settings:
    """The fake push service listens on 127.0.0.1: private endpoints allowed."""
    return integration_settings(services, push_allow_private=True,
                                vapid_subject="mailto:opd@example.org")


@pytest.fixture
async def fake_push() -> AsyncIterator[FakePushService]:
    fake = FakePushService()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def ctx(pool: asyncpg.Pool, redis: Redis, arq_redis: ArqRedis, settings: Settings,
              fake_push: FakePushService) -> AsyncIterator[dict[str, Any]]:
    c: dict[str, Any] = {"pool": pool, "redis_app": redis, "redis": arq_redis,
                         "settings": settings, "push_session": fake_push.client_session(),
                         "notify_behind_base_s": 0.01, "push_backoff_base_s": 0.01}
    yield c
    await push.teardown(c)


@pytest.fixture
async def dispatcher(ctx: dict[str, Any]) -> AsyncIterator[Dispatcher]:
    d = dispatch.start(ctx, block_ms=50, refresh_s=60, routers=[push_jobs_for])
    yield d
    await dispatch.stop(ctx)


async def drain(ctx: dict[str, Any], d: Dispatcher, w: World) -> None:
    """Every event so far routed and enqueued, then every job run (a burst worker)."""
    n = await ctx["redis_app"].xlen(keys.stream(w.hospital_id))
    await d.wait_for(lambda x: x.handled >= n)
    base = {k: v for k, v in ctx.items() if k not in ("job_try", "job_id")}
    worker = Worker(functions=push.FUNCTIONS, redis_pool=ctx["redis"], burst=True,
                    poll_delay=0.01, handle_signals=False, ctx=base)
    await worker.main()


async def subscribe(client: httpx.AsyncClient, token: dict[str, Any], browser: BrowserKeys,
                    **extra: Any) -> httpx.Response:
    return await client.post(f"/api/v1/public/tokens/{link_code(token)}/push",
                             json={**browser.subscription, **extra})


def read(browser: BrowserKeys, body: bytes) -> dict[str, Any]:
    return dict(json.loads(browser.decrypt(body)))


async def test_near_the_front_then_called_one_push_each_never_twice(
        client: httpx.AsyncClient, pool: asyncpg.Pool, ctx: dict[str, Any], world: World,
        dispatcher: Dispatcher, fake_push: FakePushService) -> None:
    tokens = [await issue(client, world, i) for i in range(4)]
    mine = tokens[3]                                   # 4th in the queue
    browser = browser_keys(fake_push.endpoint("mine"))
    r = await subscribe(client, mine, browser)         # notify_at_position: 3 by default
    assert r.status_code == 201, r.text
    assert r.json()["notify_at_position"] == 3
    day_end = datetime.combine(datetime.now(ZoneInfo(TZ)).date() + timedelta(days=1),
                               datetime.min.time(), ZoneInfo(TZ))
    assert datetime.fromisoformat(r.json()["expires_at"]) == day_end
    await drain(ctx, dispatcher, world)
    assert fake_push.received == []                    # 4th: not yet
    assert (await press_next(client, world)).status_code == 200     # now 3rd
    await drain(ctx, dispatcher, world)
    [ahead] = fake_push.received
    assert ahead.path == "/push/mine" and ahead.status == 201
    assert ahead.headers["Content-Encoding"] == "aes128gcm"
    assert int(ahead.headers["TTL"]) > 0
    # signed with the key the page subscribes with
    key = (await client.get("/api/v1/public/push/key")).json()["public_key"]
    assert ahead.headers["Authorization"].endswith(f",k={key}")
    assert Vapid02.verify(ahead.headers["Authorization"])
    assert read(browser, ahead.body) == {"kind": "AHEAD", "token": mine["number"],
                                         "cabin": world.cabins[0], "position": 3}
    # 2nd, 1st: told once already; then called: one push saying where to go
    for current in tokens[:3]:
        r = await press_next(client, world, current_token_id=current["id"])
        assert r.status_code == 200, r.text
        await drain(ctx, dispatcher, world)
    assert len(fake_push.received) == 2
    called = fake_push.received[1]
    plain = browser.decrypt(called.body)
    assert json.loads(plain) == {"kind": "CALL_NOW", "token": mine["number"],
                                 "cabin": world.cabins[0], "position": None}
    name, phone = await pool.fetchrow("SELECT name, phone FROM patients WHERE id = $1",
                                      world.patients[3])
    for push_body in (browser.decrypt(ahead.body), plain):
        assert name.encode() not in push_body and b"Kumar" not in push_body
        assert phone[-5:].encode() not in push_body and b"/t/" not in push_body
    # a recall and a replay of the whole stream push nothing more
    r = await client.post(f"/api/v1/tokens/{mine['id']}/recall", headers=world.h("doctor"))
    assert r.status_code == 200, r.text
    await drain(ctx, dispatcher, world)
    await dispatch.stop(ctx)
    await ctx["redis_app"].xgroup_destroy(keys.stream(world.hospital_id), dispatch.GROUP)
    async for job_key in ctx["redis"].scan_iter("arq:*push:*"):
        await ctx["redis"].delete(job_key)     # ARQ forgets its job ids: only the claim remains
    rctx = {**ctx}
    replay = dispatch.start(rctx, block_ms=50, refresh_s=60, routers=[push_jobs_for])
    try:
        await drain(rctx, replay, world)
    finally:
        await dispatch.stop(rctx)
    assert len(fake_push.received) == 2
    sends = await pool.fetch("SELECT kind, status, attempts FROM push_sends ORDER BY kind")
    assert [tuple(s) for s in sends] == [("AHEAD", "SENT", 1), ("CALL_NOW", "SENT", 1)]


async def test_a_browser_gone_410_loses_its_subscription_and_others_still_get_theirs(
        client: httpx.AsyncClient, pool: asyncpg.Pool, ctx: dict[str, Any], world: World,
        dispatcher: Dispatcher, fake_push: FakePushService) -> None:
    tokens = [await issue(client, world, i) for i in range(3)]
    gone, kept = browser_keys(fake_push.endpoint("gone")), browser_keys(fake_push.endpoint("ok"))
    fake_push.answers["/push/gone"] = 410
    assert (await subscribe(client, tokens[2], gone, notify_at_position=2)).status_code == 201
    assert (await subscribe(client, tokens[2], kept, notify_at_position=2)).status_code == 201
    assert (await press_next(client, world)).status_code == 200     # 3rd -> 2nd
    await drain(ctx, dispatcher, world)
    assert sorted(p.path for p in fake_push.received) == ["/push/gone", "/push/ok"]
    left = await pool.fetch("SELECT endpoint FROM push_subscriptions")
    assert [r["endpoint"] for r in left] == [kept.endpoint]
    # called: only the browser still subscribed hears of it
    for current in tokens[:2]:
        r = await press_next(client, world, current_token_id=current["id"])
        assert r.status_code == 200, r.text
    await drain(ctx, dispatcher, world)
    assert [p.path for p in fake_push.received[2:]] == ["/push/ok"]
    assert read(kept, fake_push.received[-1].body)["kind"] == "CALL_NOW"


async def test_a_failing_push_service_is_retried_and_the_push_goes_once(
        client: httpx.AsyncClient, pool: asyncpg.Pool, ctx: dict[str, Any], world: World,
        dispatcher: Dispatcher, fake_push: FakePushService) -> None:
    token = await issue(client, world, 0)
    browser = browser_keys(fake_push.endpoint("flaky"))
    assert (await subscribe(client, token, browser)).status_code == 201
    fake_push.script["/push/flaky"] = [503, 429]       # down twice, then back
    assert (await press_next(client, world)).status_code == 200
    await drain(ctx, dispatcher, world)
    assert [p.status for p in fake_push.received] == [503, 429, 201]
    assert read(browser, fake_push.received[-1].body)["kind"] == "CALL_NOW"
    row = await pool.fetchrow("SELECT kind, status, attempts, response_code FROM push_sends")
    assert tuple(row) == ("CALL_NOW", "SENT", 3, 201)


async def test_subscribing_checks_what_the_browser_sends(
        client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, world: World,
        fake_push: FakePushService) -> None:
    token = await issue(client, world, 0)
    code = link_code(token)
    url = f"/api/v1/public/tokens/{code}/push"
    good = browser_keys("https://push.example.com/send/abc").subscription

    async def refused(body: dict[str, Any], field: str) -> None:
        r = await client.post(url, json=body)
        assert r.status_code == 422, r.text
        assert field in [e["field"] for e in r.json()["errors"]], r.text

    await refused({**good, "endpoint": "http://push.example.com/send/abc"}, "endpoint")
    await refused({**good, "keys": {**good["keys"], "p256dh": "A" * 87}}, "keys.p256dh")
    await refused({**good, "keys": {**good["keys"], "auth": "short"}}, "keys.auth")
    await refused({**good, "notify_at_position": 0}, "notify_at_position")
    # a private address is no push service (outside tests)
    strict = settings.model_copy(update={"push_allow_private": False})
    app = create_app(strict)
    async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        r = await c.post(url, json={**good, "endpoint": "https://127.0.0.1:9/push/x"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "endpoint", r.text
    # the same browser again updates its subscription; a sixth browser is refused
    assert (await client.post(url, json=good)).status_code == 201
    r = await client.post(url, json={**good, "notify_at_position": 5})
    assert r.status_code == 201 and r.json()["notify_at_position"] == 5
    for i in range(4):
        sub = browser_keys(f"https://push.example.com/send/{i}").subscription
        assert (await client.post(url, json=sub)).status_code == 201
    extra = browser_keys("https://push.example.com/send/6").subscription
    assert (await client.post(url, json=extra)).status_code == 409
    # unsubscribing one browser, then all
    r = await client.request("DELETE", url, json={"endpoint": good["endpoint"]})
    assert r.status_code == 204
    assert await pool.fetchval("SELECT count(*) FROM push_subscriptions") == 4
    assert (await client.request("DELETE", url)).status_code == 204
    assert await pool.fetchval("SELECT count(*) FROM push_subscriptions") == 0
    # a visit that is over has nothing to notify; a made-up code is not a token
    r = await client.post(f"/api/v1/tokens/{token['id']}/cancel", json={"reason": "test"},
                          headers=world.h())
    assert r.status_code == 200, r.text
    assert (await client.post(url, json=good)).status_code == 409
    r = await client.post("/api/v1/public/tokens/" + "A" * 20 + "." + "B" * 16 + "/push",
                          json=good)
    assert r.status_code == 404


async def test_the_key_is_kept_and_expired_subscriptions_go(
        client: httpx.AsyncClient, pool: asyncpg.Pool, ctx: dict[str, Any], settings: Settings,
        world: World, fake_push: FakePushService) -> None:
    first = (await client.get("/api/v1/public/push/key")).json()["public_key"]
    assert (await client.get("/api/v1/public/push/key")).json()["public_key"] == first
    assert (settings.data_dir / push_lib.KEY_FILE).stat().st_mode & 0o077 == 0
    push_lib._keys.clear()             # a restart reads the same key from the data folder
    assert push_lib.public_key(settings) == first
    token = await issue(client, world, 0)
    browser = browser_keys(fake_push.endpoint("old"))
    sub = (await subscribe(client, token, browser)).json()
    await pool.execute("UPDATE push_subscriptions SET expires_at = now() - interval '1 s'")
    assert await push.send_push(ctx, sub["id"], "AHEAD", 1) == "gone"
    assert await push.purge_push_subscriptions(ctx) == 1
    assert await pool.fetchval("SELECT count(*) FROM push_subscriptions WHERE id = $1",
                               UUID(sub["id"])) == 0
    assert fake_push.received == []
