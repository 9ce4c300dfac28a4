"""The everyday path through the HTTP API: issue, call, start, complete."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.queue.conftest import World, issue, press_next, queue


async def test_walk_in_token_is_numbered_queued_and_linked(client: httpx.AsyncClient,
                                                           world: World) -> None:
    t = await issue(client, world, 0)
    assert t["number"] == "CARD-001"
    assert t["status"] == "WAITING"
    assert t["position"] == 1
    assert t["eta"]["p50_min"] == 0 and t["eta"]["p90_min"] >= 0
    assert t["cabin"] == "C-101"
    assert t["patient"]["display_name"] == "P. Kumar"
    assert t["patient_link"].startswith("http://testserver/t/")
    t2 = await issue(client, world, 1)
    assert t2["number"] == "CARD-002" and t2["position"] == 2
    assert t2["eta"]["p50_min"] >= 10  # one consult ahead at the department's 10 minutes


async def test_next_calls_in_order_then_completes(client: httpx.AsyncClient,
                                                  world: World) -> None:
    a = await issue(client, world, 0)
    b = await issue(client, world, 1)
    r = await press_next(client, world, current_token_id=None)
    assert r.status_code == 200, r.text
    assert r.json()["completed"] is None
    assert r.json()["called"]["id"] == a["id"]
    assert r.json()["called"]["status"] == "CALLED"
    q = await queue(client, world)
    assert q["current"]["id"] == a["id"]
    assert [t["id"] for t in q["waiting"]] == [b["id"]]
    assert q["waiting"][0]["position"] == 1

    r = await press_next(client, world, current_token_id=a["id"])
    assert r.json()["completed"]["id"] == a["id"]
    assert r.json()["completed"]["status"] == "COMPLETED"
    assert r.json()["called"]["id"] == b["id"]

    r = await press_next(client, world, current_token_id=b["id"])
    assert r.json()["completed"]["id"] == b["id"] and r.json()["called"] is None
    q = await queue(client, world)
    assert q["current"] is None and q["waiting"] == []


async def test_start_then_complete(client: httpx.AsyncClient, world: World) -> None:
    a = await issue(client, world, 0)
    await press_next(client, world)
    r = await client.post(f"/api/v1/tokens/{a['id']}/start", headers=world.h("doctor"))
    assert r.status_code == 200 and r.json()["status"] == "IN_CONSULTATION"
    r = await client.post(f"/api/v1/tokens/{a['id']}/complete", headers=world.h("doctor"))
    assert r.status_code == 200 and r.json()["status"] == "COMPLETED"
    hist = await client.get(f"/api/v1/tokens/{a['id']}/history", headers=world.h())
    steps = [(e["action"], e["from_status"], e["to_status"]) for e in hist.json()["history"]]
    assert steps == [("issue", None, "WAITING"), ("call", "WAITING", "CALLED"),
                     ("start", "CALLED", "IN_CONSULTATION"),
                     ("complete", "IN_CONSULTATION", "COMPLETED")]
    assert all(e["actor_kind"] == "user" and e["actor_id"] for e in hist.json()["history"])


async def test_refused_transition_names_the_current_status(client: httpx.AsyncClient,
                                                           world: World) -> None:
    a = await issue(client, world, 0)
    r = await client.post(f"/api/v1/tokens/{a['id']}/start", headers=world.h("doctor"))
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["current_status"] == "WAITING"
    assert "WAITING" in r.json()["detail"]


async def test_the_record_holds_what_each_waiting_patient_was_last_shown(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool) -> None:
    """token_eta_shown: each waiting token's position and ETA range as the last change of
    its queue announced them (the long-wait alert reads them); a Next moves every row."""
    a, b, c = [await issue(client, world, i) for i in range(3)]

    async def shown() -> dict[str, tuple[int, int, int]]:
        rows = await pool.fetch(
            "SELECT token_id, position, eta_p50_min, eta_p90_min FROM token_eta_shown "
            "WHERE token_id = ANY($1::uuid[])", [a["id"], b["id"], c["id"]])
        return {str(r["token_id"]): (r["position"], r["eta_p50_min"], r["eta_p90_min"])
                for r in rows}

    def announced(q: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
        return {t["id"]: (t["position"], t["eta"]["p50_min"], t["eta"]["p90_min"])
                for t in q["waiting"]}

    before = await shown()
    assert before == announced(await queue(client, world))
    assert [before[t["id"]][0] for t in (a, b, c)] == [1, 2, 3]
    assert (await press_next(client, world, current_token_id=None)).status_code == 200
    now = await shown()
    assert now[b["id"]][0] == 1 and now[c["id"]][0] == 2   # moved up with the call
    assert {k: v for k, v in now.items() if k != a["id"]} == announced(
        await queue(client, world))
