"""POST /api/v1/webhooks/twilio/status: signature, forward-only status, out of order."""

from __future__ import annotations

from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from server.db import notifications as db
from tests.queue.conftest import World
from tests.workers.conftest import AUTH_TOKEN, PUBLIC_BASE, issue_token
from tests.workers.fake_twilio import FakeTwilio
from workers.notify import send_notification

PATH = "/api/v1/webhooks/twilio/status"
PUBLIC_URL = PUBLIC_BASE + PATH   # what Twilio signs; the test client posts to http://testserver


def signed(params: dict[str, str], url: str = PUBLIC_URL, token: str = AUTH_TOKEN
           ) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


async def callback(client: httpx.AsyncClient, sid: str, status: str, code: str | None = None,
                   **sign: Any) -> httpx.Response:
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC1",
              "To": "+919876500000", "From": "+15005550006", "ApiVersion": "2010-04-01"}
    if code:
        params["ErrorCode"] = code
    return await client.post(PATH, data=params, headers=signed(params, **sign))


async def sent_message(ctx: dict[str, Any], world: World, fake: FakeTwilio,
                       patient: int = 0) -> tuple[Any, str]:
    tok = await issue_token(ctx, world, patient)
    assert await send_notification(ctx, str(world.hospital_id), str(tok["id"]),
                                   "TOKEN_CREATED") == "sent"
    return tok["id"], fake.messages[-1].sid or ""


async def status_of(ctx: dict[str, Any], token_id: Any) -> tuple[str, int | None]:
    [row] = await db.log_rows(ctx["pool"], token_id)
    return row["status"], row["error_code"]


async def test_a_bad_signature_is_refused(client: httpx.AsyncClient, ctx: dict[str, Any],
                                          world: World, fake_twilio: FakeTwilio) -> None:
    tid, sid = await sent_message(ctx, world, fake_twilio)
    for sign in ({"token": "not-the-token"},                  # another account's token
                 {"url": "http://testserver" + PATH}):        # the URL behind the proxy
        r = await callback(client, sid, "delivered", **sign)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 403
    r = await client.post(PATH, data={"MessageSid": sid, "MessageStatus": "delivered"})
    assert r.status_code == 403
    assert await status_of(ctx, tid) == ("SENT", None)


async def test_a_good_callback_is_applied(client: httpx.AsyncClient, ctx: dict[str, Any],
                                          world: World, fake_twilio: FakeTwilio) -> None:
    tid, sid = await sent_message(ctx, world, fake_twilio)
    r = await callback(client, sid, "delivered")
    assert r.status_code == 204, r.text
    assert await status_of(ctx, tid) == ("DELIVERED", None)
    assert await ctx["pool"].fetchval(
        "SELECT delivered_at IS NOT NULL FROM notifications_log WHERE provider_id = $1", sid)


async def test_out_of_order_and_repeated_callbacks(client: httpx.AsyncClient,
                                                   ctx: dict[str, Any], world: World,
                                                   fake_twilio: FakeTwilio) -> None:
    t1, s1 = await sent_message(ctx, world, fake_twilio, 0)
    t2, s2 = await sent_message(ctx, world, fake_twilio, 1)
    # delivered overtakes queued and sent; both come late and twice
    for status in ("delivered", "sent", "queued", "delivered", "sent"):
        assert (await callback(client, s1, status)).status_code == 204
    assert await status_of(ctx, t1) == ("DELIVERED", None)
    # a failure is final too: a late "sent" or "delivered" does not undo it
    for status, code in (("sending", None), ("undelivered", "30003"), ("sent", None),
                         ("delivered", None)):
        assert (await callback(client, s2, status, code)).status_code == 204
    assert await status_of(ctx, t2) == ("UNDELIVERED", 30003)


async def test_unknown_messages_and_states_are_acknowledged(client: httpx.AsyncClient,
                                                            ctx: dict[str, Any]) -> None:
    assert (await callback(client, "SM" + "0" * 32, "delivered")).status_code == 204
    assert (await callback(client, "SM" + "1" * 32, "receiving")).status_code == 204
    params = {"MessageStatus": "delivered"}
    r = await client.post(PATH, data=params, headers=signed(params))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "MessageSid"


async def test_stop_reported_by_callback_opts_the_patient_out(
        client: httpx.AsyncClient, ctx: dict[str, Any], world: World,
        fake_twilio: FakeTwilio) -> None:
    tid, sid = await sent_message(ctx, world, fake_twilio)
    assert (await callback(client, sid, "failed", "21610")).status_code == 204
    assert await status_of(ctx, tid) == ("FAILED", 21610)
    assert await ctx["pool"].fetchval("SELECT sms_opt_in FROM patients WHERE id = $1",
                                      world.patients[0]) is False
