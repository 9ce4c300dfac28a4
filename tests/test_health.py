from __future__ import annotations

import httpx


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_reports_both_services(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text


async def test_readyz_names_the_unreachable_service(client: httpx.AsyncClient, app) -> None:
    state = app.state.opdq
    real = state.redis
    from server.store.client import create_redis

    state.redis = create_redis("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        r = await client.get("/readyz")
    finally:
        await state.redis.aclose()
        state.redis = real
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["unreachable"] == ["redis"]


async def test_every_response_has_a_request_id(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
