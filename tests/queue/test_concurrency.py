"""Two tablets, double taps and a crowd of presses never call a token twice or skip one."""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import httpx

from tests.queue.conftest import World, build_world, issue, press_next


async def test_two_tablets_press_next_at_the_same_instant(client: httpx.AsyncClient,
                                                          world: World) -> None:
    a = await issue(client, world, 0)
    await issue(client, world, 1)
    # both tablets show "nobody is being seen" and press Next together
    r1, r2 = await asyncio.gather(press_next(client, world, current_token_id=None),
                                  press_next(client, world, role="nurse", current_token_id=None))
    assert sorted([r1.status_code, r2.status_code]) == [200, 409]
    ok = r1 if r1.status_code == 200 else r2
    assert ok.json()["called"]["id"] == a["id"]
    refused = r2 if ok is r1 else r1
    assert refused.json()["current_token_id"] == a["id"]


async def test_a_double_tap_without_current_token_calls_once(client: httpx.AsyncClient,
                                                             world: World) -> None:
    a = await issue(client, world, 0)
    b = await issue(client, world, 1)
    r1, r2 = await asyncio.gather(press_next(client, world), press_next(client, world))
    assert sorted([r1.status_code, r2.status_code]) == [200, 409]
    # b is still waiting: the second tap did not complete a and call b
    r = await client.get(f"/api/v1/tokens/{b['id']}", headers=world.h())
    assert r.json()["status"] == "WAITING"
    r = await client.get(f"/api/v1/tokens/{a['id']}", headers=world.h())
    assert r.json()["status"] == "CALLED"


async def test_fifty_concurrent_presses_over_five_doctors(
        pool: asyncpg.Pool, settings, app, client: httpx.AsyncClient) -> None:
    app.state.opdq.settings.next_guard_ms = 0   # every press is meant: no double-tap guard
    w = await build_world(pool, n_doctors=5, n_patients=50)
    issued: dict[int, list[str]] = {d: [] for d in range(5)}
    for i in range(50):
        t = await issue(client, w, i, doctor=i % 5)
        issued[i % 5].append(t["id"])

    presses = [press_next(client, w, doctor=i % 5, role="admin") for i in range(50)]
    results = await asyncio.gather(*presses)
    assert all(r.status_code == 200 for r in results), [r.text for r in results if r.is_error]

    called = [r.json()["called"]["id"] for r in results if r.json()["called"]]
    assert len(called) == 50 and len(set(called)) == 50        # none twice
    for d in range(5):
        rows = await pool.fetch(
            "SELECT id::text, status FROM tokens WHERE doctor_id = $1 ORDER BY seq",
            w.doctors[d])
        statuses = [r["status"] for r in rows]
        assert statuses == ["COMPLETED"] * 9 + ["CALLED"]     # none skipped, in order
        calls = await pool.fetch(
            """SELECT h.token_id::text FROM token_history h JOIN tokens t ON t.id = h.token_id
               WHERE h.action = 'call' AND t.doctor_id = $1 ORDER BY h.id""", w.doctors[d])
        assert [c["token_id"] for c in calls] == issued[d]     # called in queue order
    per_token = Counter(r["token_id"] for r in await pool.fetch(
        "SELECT token_id FROM token_history WHERE action = 'call'"))
    assert set(per_token.values()) == {1}
