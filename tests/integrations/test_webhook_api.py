"""The webhook admin API without workers: who may manage, what URLs are refused (SSRF),
secrets shown once, scoping; and the signature a receiver checks."""

from __future__ import annotations

import time

import asyncpg
import httpx
import pytest

from server.integrations import signing, urls
from tests.queue.conftest import World, build_world
from workers.routing import JobSpec, route, webhook_jobs_for


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://localhost/hook", "https://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/hook",
    "http://[::ffff:192.168.0.1]/hook", "http://his.internal/hook", "http://his/hook",
    "ftp://hooks.example.com/x", "https://user:pw@hooks.example.com/x",
])
async def test_private_and_odd_urls_are_refused(client: httpx.AsyncClient, world: World,
                                                url: str) -> None:
    r = await client.post("/api/v1/webhooks", json={"url": url, "events": ["token.called"]},
                          headers=world.h("admin"))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["url"]


async def test_resolved_names_are_checked_before_sending() -> None:
    with pytest.raises(urls.RefusedURL):
        await urls.check_resolved("http://localhost./x", allow_private=False)
    await urls.check_resolved("http://localhost./x", allow_private=True)


async def test_admin_manages_subscriptions_in_own_hospital(
        client: httpx.AsyncClient, pool: asyncpg.Pool, world: World) -> None:
    body = {"url": "https://hooks.example.com/opdq", "events": ["token.called", "token.called"]}
    for role in ("receptionist", "doctor", "nurse"):
        r = await client.post("/api/v1/webhooks", json=body, headers=world.h(role))
        assert r.status_code == 403, r.text
    r = await client.post("/api/v1/webhooks", json=body, headers=world.h("admin"))
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["secret"].startswith("whsec_") and sub["events"] == ["token.called"]
    listed = (await client.get("/api/v1/webhooks", headers=world.h("admin"))).json()["items"]
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    other = await build_world(pool, code="OTHER")
    for method, path in (("GET", f"/api/v1/webhooks/{sub['id']}"),
                         ("GET", f"/api/v1/webhooks/{sub['id']}/deliveries"),
                         ("DELETE", f"/api/v1/webhooks/{sub['id']}")):
        r = await client.request(method, path, headers=other.h("admin"))
        assert r.status_code == 404, (path, r.text)
    r = await client.patch(f"/api/v1/webhooks/{sub['id']}", json={"status": "PAUSED"},
                           headers=world.h("admin"))
    assert r.json()["status"] == "PAUSED" and r.json()["paused_reason"] == "ADMIN"
    r = await client.delete(f"/api/v1/webhooks/{sub['id']}", headers=world.h("admin"))
    assert r.status_code == 204
    audit = await pool.fetch("SELECT action, changes FROM admin_audit WHERE entity = 'webhook' "
                             "ORDER BY id")
    assert [a["action"] for a in audit] == ["create", "update", "delete"]
    assert all("opdq" not in str(a["changes"]) for a in audit)   # the host only, no path


def test_signature_round_trip_and_tampering() -> None:
    secret, body, now = signing.new_secret(), b'{"type":"token.called"}', time.time()
    header = signing.signature(secret, int(now), body)
    assert header.startswith(f"t={int(now)},v1=")
    assert signing.verify(secret, header, body, now=now)
    assert not signing.verify(secret, header, body + b" ", now=now)
    assert not signing.verify("whsec_other", header, body, now=now)
    assert not signing.verify(secret, header, body, now=now + 301)      # replayed late
    assert not signing.verify(secret, "garbage", body, now=now)


@pytest.mark.parametrize(("etype", "routed"), [
    ("token.created", True), ("token.called", True), ("token.updated", True),
    ("queue.updated", True), ("doctor.status", True), ("announcement", False),
    ("snapshot", False),
])
def test_events_a_webhook_may_want_wake_the_recorder(etype: str, routed: bool) -> None:
    event = {"type": etype, "seq": 7, "ts": "2026-11-26T10:00:00+00:00", "data": {},
             "hospital_id": "h1"}
    expected = [JobSpec("record_webhook_events", ("h1",), "webhooks:record:h1:7")]
    assert webhook_jobs_for(event) == (expected if routed else [])
    assert webhook_jobs_for(event) == [s for s in route(event) if s.function.startswith(
        "record_webhook")]
