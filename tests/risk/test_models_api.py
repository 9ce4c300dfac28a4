"""GET /api/v1/risk/models and /compare: the versions with their metrics, and how many
upcoming bookings a switch would move between tiers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg
import httpx

from server.db import risk as risk_db
from server.risk import model as M
from tests.queue.conftest import World
from tests.risk.conftest import book
from workers import risk as jobs


async def test_models_are_listed_and_compared(client: httpx.AsyncClient, world: World,
                                              pool: asyncpg.Pool,
                                              job_ctx: dict[str, Any]) -> None:
    far = await book(client, world, 0, days_ahead=20)
    near = await book(client, world, 1, days_ahead=1)
    for t in (far, near):
        await jobs.score_token(job_ctx, t["id"])
    first = await risk_db.active_model(pool, world.hospital_id)
    assert first is not None
    riskier = replace(M.ModelParams.from_json(first["params"]), version="prior-riskier")
    riskier = M.shifted(riskier, 4.0)                 # every booking at least tier 4
    async with pool.acquire() as conn, conn.transaction():
        await risk_db.insert_model(
            conn, hospital_id=world.hospital_id, version="prior-riskier", kind="prior",
            n_train=10, n_holdout=5, auc=0.7, brier=0.2, calibration_error=0.02,
            params=riskier.to_json())

    r = await client.get("/api/v1/risk/models", headers=world.h("doctor"))
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["version"] for i in items] == ["prior-riskier", first["version"]]
    assert items[0]["active"] and not items[1]["active"]
    assert {k: items[0][k] for k in ("auc", "brier", "ece", "n_train", "n_test")} == {
        "auc": 0.7, "brier": 0.2, "ece": 0.02, "n_train": 10, "n_test": 5}

    r = await client.get("/api/v1/risk/models/compare", headers=world.h(),
                         params={"a": first["version"], "b": "prior-riskier"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["bookings"] == 2 and out["changed"] == 2 and out["up"] == 2
    assert sum(out["moves"].values()) == 2 and all(k.endswith(("->4", "->5"))
                                                   for k in out["moves"])
    same = await client.get("/api/v1/risk/models/compare", headers=world.h(),
                            params={"a": first["version"], "b": first["version"]})
    assert same.json()["changed"] == 0
    missing = await client.get("/api/v1/risk/models/compare", headers=world.h(),
                               params={"a": first["version"], "b": "nope"})
    assert missing.status_code == 404
