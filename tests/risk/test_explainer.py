"""The optional explainer against a local fake OpenAI-compatible server: success, timeout,
unparseable answer, server error and no key; every attempt audited; no identity sent."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from server.risk import explainer
from server.settings import Settings
from tests.queue.conftest import World
from tests.risk import fake_openai
from tests.risk.conftest import book
from workers import risk as jobs


def with_openai(settings: Settings, base_url: str, timeout_s: float = 5.0) -> Settings:
    return settings.model_copy(update={
        "openai_api_key": SecretStr("sk-test"), "openai_base_url": AnyHttpUrl(base_url),
        "openai_timeout_s": timeout_s, "openai_model": "gpt-4o-mini"})


async def scored(client: httpx.AsyncClient, world: World, job_ctx: dict[str, Any]) -> int:
    tok = await book(client, world, 0, days_ahead=21)
    aid = await jobs.score_token(job_ctx, tok["id"])
    assert aid is not None
    return aid


async def audit(pool: asyncpg.Pool) -> dict[str, Any]:
    (row,) = await pool.fetch("SELECT * FROM agent_audit_logs")
    return dict(row)


async def identity(pool: asyncpg.Pool, world: World) -> list[str]:
    p = await pool.fetchrow("SELECT name, phone, uhid FROM patients WHERE id = $1",
                            world.patients[0])
    return [p["name"], p["phone"], p["uhid"], p["phone"].removeprefix("+91")]


async def test_success_is_stored_and_audited_without_identity(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, settings: Settings,
        job_ctx: dict[str, Any]) -> None:
    aid = await scored(client, world, job_ctx)
    before = await pool.fetchrow("SELECT score, badge FROM risk_assessments WHERE id = $1", aid)
    async with fake_openai.running("ok") as fake:
        ctx = {**job_ctx, "settings": with_openai(settings, fake.base_url)}
        text = await jobs.explain_risk(ctx, aid)
    assert text == fake_openai.ANSWER["explanation"]
    row = await pool.fetchrow("SELECT score, badge, explanation FROM risk_assessments "
                              "WHERE id = $1", aid)
    assert row["explanation"] == text
    assert (row["score"], row["badge"]) == (before["score"], before["badge"])  # never changed

    (req,) = fake.requests
    assert req["model"] == "gpt-4o-mini" and req["response_format"]["type"] == "json_schema"
    sent = fake.raw[0].decode()
    for secret in await identity(pool, world):
        assert secret not in sent
    user = json.loads(req["messages"][-1]["content"])
    assert "booked 21 days ahead" in user["factors"] and user["score"] == before["score"]

    log = await audit(pool)
    assert log["status"] == "OK" and log["purpose"] == explainer.PURPOSE
    assert (log["prompt_tokens"], log["completion_tokens"]) == (120, 40)
    assert float(log["estimated_cost_usd"]) == pytest.approx((120 * 0.15 + 40 * 0.60) / 1e6)
    assert log["latency_ms"] >= 0 and log["request_summary"] == user
    assert await jobs.explain_risk(ctx, aid) == text              # done once: no second call
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("mode", "status"), [("hang", "TIMEOUT"), ("garbage", "INVALID"),
                                              ("error", "ERROR")])
async def test_failures_fall_back_to_the_template(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, settings: Settings,
        job_ctx: dict[str, Any], mode: str, status: str) -> None:
    aid = await scored(client, world, job_ctx)
    async with fake_openai.running(mode) as fake:
        ctx = {**job_ctx, "settings": with_openai(settings, fake.base_url, timeout_s=0.3)}
        text = await jobs.explain_risk(ctx, aid)
        assert fake.received.is_set()
    assert text and text.startswith("Risk ") and "booked 21 days ahead" in text
    log = await audit(pool)
    assert log["status"] == status and log["error"]
    if mode == "hang":
        assert 300 <= log["latency_ms"] < 3000
    assert await pool.fetchval("SELECT explanation FROM risk_assessments WHERE id = $1",
                               aid) == text


async def test_no_key_uses_the_template_without_a_call(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool,
        job_ctx: dict[str, Any]) -> None:
    aid = await scored(client, world, job_ctx)
    text = await jobs.explain_risk(job_ctx, aid)
    assert text and text.startswith("Risk ")
    log = await audit(pool)
    assert log["status"] == "FALLBACK" and log["model"] == "template"


def test_summary_is_an_allow_list() -> None:
    a = {"score": 40, "badge": "High", "tier": 4,
         "factors": [{"phrase": "missed 2 of 3 past visits"}],
         "features": {"inputs": {"age": 24, "distance_km": 12.6, "lead_days": 9,
                                 "name": "Asha Rao", "phone": "+919812345678"}}}
    s = explainer.request_summary(a)
    assert s["features"] == {"lead_days": 9, "distance_km": 13, "age_band": "18-35"}
    assert "Asha" not in json.dumps(s) and "98123" not in json.dumps(s)
