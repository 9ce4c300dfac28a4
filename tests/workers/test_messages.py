"""The messages view and a staff resend, end to end: HTTP -> event stream -> dispatcher ->
ARQ worker -> fake Twilio. A failed message is resent once, and sent once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from server.store import keys
from tests.queue.conftest import World, issue
from tests.workers.conftest import run_burst
from tests.workers.fake_twilio import FakeTwilio
from workers import dispatch
from workers.dispatch import Dispatcher
from workers.routing import notify_jobs_for, resend_jobs_for


@pytest.fixture
async def dispatcher(ctx: dict[str, Any]) -> AsyncIterator[Dispatcher]:
    d = dispatch.start(ctx, block_ms=50, refresh_s=60, routers=[notify_jobs_for, resend_jobs_for])
    yield d
    await dispatch.stop(ctx)


async def drain(ctx: dict[str, Any], d: Dispatcher, w: World) -> None:
    n = await ctx["redis_app"].xlen(keys.stream(w.hospital_id))
    await d.wait_for(lambda x: x.handled >= n)
    await run_burst(ctx)


async def messages(client: httpx.AsyncClient, w: World, role: str, **query: str
                   ) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/notifications", params=query, headers=w.h(role))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_failed_message_is_shown_in_words_and_resent_once(
        client: httpx.AsyncClient, ctx: dict[str, Any], world: World, dispatcher: Dispatcher,
        fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_for("+919876500000", "21211")   # patient 0's, whichever goes first
    tok = await issue(client, world, 0)
    other = await issue(client, world, 1)
    await drain(ctx, dispatcher, world)
    [failed] = await messages(client, world, "receptionist", token_id=tok["id"])
    assert (failed["status"], failed["event"], failed["channel"]) == (
        "FAILED", "TOKEN_CREATED", "SMS")
    assert failed["error_code"] == 21211 and failed["error"] == "Not a valid phone number"
    assert failed["can_resend"] and "body" not in failed
    assert failed["to"].startswith("+91") and "*" in failed["to"]
    [as_admin] = await messages(client, world, "admin", token_id=tok["id"])
    assert tok["number"] in as_admin["body"]
    # filters: by patient, by status, the day's list
    assert [m["token_id"] for m in await messages(client, world, "nurse",
                                                  patient_id=str(world.patients[1]))] == [
        other["id"]]
    assert [m["id"] for m in await messages(client, world, "nurse", status="FAILED")] == [
        failed["id"]]
    assert len(await messages(client, world, "nurse")) == 2
    r = await client.get("/api/v1/notifications", headers=world.h("doctor"))
    assert r.status_code == 403
    # two desks press "Resend" at once: one resend
    url = f"/api/v1/notifications/{failed['id']}/resend"
    answers = await asyncio.gather(*(client.post(url, headers=world.h(role))
                                     for role in ("receptionist", "nurse")))
    assert sorted(a.status_code for a in answers) == [202, 409]
    [ok] = [a.json() for a in answers if a.status_code == 202]
    assert ok["status"] == "PENDING" and ok["resent_by"]["username"] and not ok["can_resend"]
    await drain(ctx, dispatcher, world)
    sent = [m for m in fake_twilio.messages if tok["number"] in m.body]
    assert len(sent) == 1 and sent[0].to == "+919876500000"
    [after] = await messages(client, world, "receptionist", token_id=tok["id"])
    assert after["status"] == "SENT" and after["error"] is None and after["resent_at"]
    r = await client.post(url, headers=world.h("admin"))
    assert r.status_code == 409 and "only a failed message" in r.json()["detail"]
    # replaying the whole stream sends nothing more
    await ctx["redis_app"].xgroup_setid(keys.stream(world.hospital_id), dispatch.GROUP, "0")
    await drain(ctx, dispatcher, world)
    assert len([m for m in fake_twilio.messages if tok["number"] in m.body]) == 1
    audit = await ctx["pool"].fetch(
        "SELECT actor_id, changes FROM admin_audit WHERE entity = 'notification'")
    assert len(audit) == 1 and audit[0]["changes"]["resend"] is True
    # a message that went out cannot be "resent"
    [fine] = await messages(client, world, "receptionist", token_id=other["id"])
    r = await client.post(f"/api/v1/notifications/{fine['id']}/resend",
                          headers=world.h("receptionist"))
    assert r.status_code == 409 and not fine["can_resend"]
