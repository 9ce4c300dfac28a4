"""The send job against the fake Twilio: exactly once, retries, opt-out, WhatsApp fallback."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from arq import Retry

from server.db import notifications as db
from server.domain.lifecycle import Action
from server.queue import SYSTEM
from tests.queue.conftest import World
from tests.workers.conftest import (
    ACCOUNT_SID,
    SMS_FROM,
    WHATSAPP_FROM,
    issue_token,
    make_ctx,
    run_burst,
    set_opt_ins,
    twilio_settings,
)
from tests.workers.fake_twilio import FakeTwilio
from workers import notify, notify_cron
from workers.notify import send_notification

PHONE0 = "+919876500000"   # build_world's patient 0


async def rows(pool: asyncpg.Pool, token_id: UUID) -> list[dict[str, Any]]:
    return await db.log_rows(pool, token_id)


async def test_token_created_goes_out_by_sms(ctx: dict[str, Any], world: World,
                                             fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    out = await send_notification(ctx, str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")
    assert out == "sent"
    [msg] = fake_twilio.messages
    assert msg.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert msg.auth == (ACCOUNT_SID, "fake-twilio-auth-token")
    assert msg.to == PHONE0 and msg.form["From"] == SMS_FROM
    assert tok["number"] in msg.body and "Patient0," in msg.body and "Kumar" not in msg.body
    assert "You are next" in msg.body and "https://opd.example.org/t/" in msg.body
    assert msg.form["StatusCallback"] == "https://opd.example.org/api/v1/webhooks/twilio/status"
    [row] = await rows(ctx["pool"], tok["id"])
    assert (row["status"], row["channel"], row["provider_id"], row["attempts"]) == (
        "SENT", "SMS", msg.sid, 1)
    assert row["to_masked"] == "+91******0000" and row["body"] == msg.body


async def test_a_job_run_twice_sends_once(ctx: dict[str, Any], world: World,
                                          fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    args = (ctx, str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")
    assert await send_notification(*args) == "sent"
    assert await send_notification(*args) == "done"
    assert len(fake_twilio.requests) == 1


async def test_racing_calls_send_once(ctx: dict[str, Any], world: World,
                                      fake_twilio: FakeTwilio) -> None:
    fake_twilio.latency_s = 0.05  # every racer is inside its attempt before Twilio answers
    tok = await issue_token(ctx, world, 0)
    outs = await asyncio.gather(*[
        send_notification(dict(ctx), str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")
        for _ in range(8)])
    assert outs.count("sent") == 1 and set(outs) <= {"sent", "done", "in-flight"}
    assert len(fake_twilio.requests) == 1


async def test_two_racing_workers_send_once(ctx: dict[str, Any], world: World,
                                            fake_twilio: FakeTwilio) -> None:
    fake_twilio.latency_s = 0.05
    tok = await issue_token(ctx, world, 0)
    h, t = str(world.hospital_id), str(tok["id"])
    for i in range(4):  # the same message under distinct job ids: ARQ cannot dedupe these
        await ctx["redis"].enqueue_job("send_notification", h, t, "TOKEN_CREATED",
                                       _job_id=f"dup-{i}")
    # one job at a time each, so both workers take jobs while the first send is in flight
    w1, w2 = await asyncio.gather(run_burst(ctx, max_jobs=1), run_burst(ctx, max_jobs=1))
    assert w1.jobs_complete + w2.jobs_complete == 4
    assert w1.jobs_complete and w2.jobs_complete
    assert len(fake_twilio.requests) == 1
    [row] = await rows(ctx["pool"], tok["id"])
    assert row["status"] == "SENT" and row["attempts"] == 1


async def test_throttling_and_server_errors_back_off_then_succeed(
        ctx: dict[str, Any], world: World, fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    fake_twilio.fail_next("429")
    fake_twilio.fail_next("500")
    await ctx["redis"].enqueue_job("send_notification", str(world.hospital_id), str(tok["id"]),
                                   "TOKEN_CREATED", _job_id="j")
    worker = await run_burst(ctx)
    assert [r.status for r in fake_twilio.requests] == [429, 500, 201]
    assert worker.jobs_retried == 2 and worker.jobs_complete == 1
    [row] = await rows(ctx["pool"], tok["id"])
    assert (row["status"], row["attempts"], row["error_code"]) == ("SENT", 3, None)


async def test_retry_defers_with_growing_jittered_backoff(ctx: dict[str, Any], world: World,
                                                          fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    fake_twilio.fail_next("429", 2)
    args = (str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")
    ctx["notify_backoff_base_s"] = 10.0
    defers = []
    for job_try in (1, 2):
        with pytest.raises(Retry) as exc:
            await send_notification({**ctx, "job_try": job_try}, *args)
        defers.append((exc.value.defer_score or 0) / 1000)
    assert 5.0 <= defers[0] <= 10.0 and 10.0 <= defers[1] <= 20.0
    [row] = await rows(ctx["pool"], tok["id"])
    assert (row["status"], row["error_code"], row["attempts"]) == ("PENDING", 20429, 2)


async def test_a_timeout_is_retried(ctx: dict[str, Any], world: World,
                                    fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    fake_twilio.fail_next("hang")
    args = (str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")
    with pytest.raises(Retry):
        await send_notification(ctx, *args)
    [row] = await rows(ctx["pool"], tok["id"])
    assert (row["status"], row["error_code"]) == ("PENDING", -1)
    assert await send_notification({**ctx, "job_try": 2}, *args) == "sent"
    assert len(fake_twilio.messages) == 1


async def test_last_try_fails_the_row_and_raises_an_alert(
        ctx: dict[str, Any], world: World, fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    fake_twilio.fail_next("500", 20)
    await ctx["redis"].enqueue_job("send_notification", str(world.hospital_id), str(tok["id"]),
                                   "TOKEN_CREATED", _job_id="j")
    await run_burst(ctx)
    assert len(fake_twilio.requests) == notify.NOTIFY_MAX_TRIES
    [row] = await rows(ctx["pool"], tok["id"])
    assert (row["status"], row["error_code"]) == ("FAILED", 20500)
    alert = await ctx["pool"].fetchrow("SELECT * FROM system_alerts")
    assert alert["kind"] == "NOTIFICATION_FAILED" and alert["entity_id"] == row["id"]
    assert tok["number"] in alert["message"]


async def test_unsubscribed_opts_out_without_retry(ctx: dict[str, Any], world: World,
                                                   fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    h, t = str(world.hospital_id), str(tok["id"])
    fake_twilio.fail_next("21610")
    assert await send_notification(ctx, h, t, "TOKEN_CREATED") == "opted-out"
    assert len(fake_twilio.requests) == 1
    assert await ctx["pool"].fetchval("SELECT sms_opt_in FROM patients WHERE id = $1",
                                      world.patients[0]) is False
    [row] = await rows(ctx["pool"], tok["id"])
    assert (row["status"], row["error_code"]) == ("FAILED", 21610)
    assert await send_notification({**ctx, "job_try": 2}, h, t, "TOKEN_CREATED") == "skipped"
    # the next event for this patient is not sent on SMS
    await ctx["notify_queue"].call_next(world.hospital_id, SYSTEM, world.doctors[0],
                                        current_token_id=None, expect_given=False)
    assert await send_notification(ctx, h, t, "CALL_NOW") == "skipped"
    assert len(fake_twilio.requests) == 1
    statuses = {r["event"]: r["status"] for r in await rows(ctx["pool"], tok["id"])}
    assert statuses == {"TOKEN_CREATED": "FAILED", "CALL_NOW": "SKIPPED"}


async def test_whatsapp_window_falls_back_to_sms(ctx: dict[str, Any], world: World,
                                                 fake_twilio: FakeTwilio) -> None:
    await set_opt_ins(ctx["pool"], world.patients[0], sms=True, whatsapp=True)
    tok = await issue_token(ctx, world, 0)
    fake_twilio.fail_next("63016")
    out = await send_notification(ctx, str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")
    assert out == "sent"
    first, second = fake_twilio.requests
    assert (first.to, first.form["From"], first.status) == (
        f"whatsapp:{PHONE0}", f"whatsapp:{WHATSAPP_FROM}", 400)
    assert (second.to, second.form["From"], second.status) == (PHONE0, SMS_FROM, 201)
    got = {r["channel"]: (r["status"], r["error_code"]) for r in await rows(ctx["pool"],
                                                                            tok["id"])}
    assert got == {"WHATSAPP": ("FAILED", 63016), "SMS": ("SENT", None)}
    assert await ctx["pool"].fetchval("SELECT count(*) FROM system_alerts") == 0


async def test_whatsapp_window_uses_the_approved_template(
        pool: asyncpg.Pool, redis: Any, services: Any, arq_redis: Any, world: World,
        fake_twilio: FakeTwilio) -> None:
    settings = twilio_settings(services, fake_twilio,
                               twilio_whatsapp_template_sid="HX" + "ab" * 16)
    ctx = await make_ctx(pool, redis, settings, arq_redis)
    try:
        await set_opt_ins(pool, world.patients[0], sms=True, whatsapp=True)
        tok = await issue_token(ctx, world, 0)
        fake_twilio.fail_next("63016")
        out = await send_notification(ctx, str(world.hospital_id), str(tok["id"]),
                                      "TOKEN_CREATED")
    finally:
        await notify.teardown(ctx)
    assert out == "sent"
    freeform, template = fake_twilio.requests
    assert freeform.body and "ContentSid" not in freeform.form
    assert template.to == f"whatsapp:{PHONE0}" and template.status == 201
    assert template.form["ContentSid"] == "HX" + "ab" * 16 and "Body" not in template.form
    assert tok["number"] in template.form["ContentVariables"]
    [row] = await rows(pool, tok["id"])
    assert (row["channel"], row["status"], row["provider_id"]) == (
        "WHATSAPP", "SENT", template.sid)


async def test_whatsapp_failure_reported_later_is_swept_to_sms(
        ctx: dict[str, Any], world: World, fake_twilio: FakeTwilio) -> None:
    await set_opt_ins(ctx["pool"], world.patients[0], sms=True, whatsapp=True)
    tok = await issue_token(ctx, world, 0)
    h, t = str(world.hospital_id), str(tok["id"])
    assert await send_notification(ctx, h, t, "TOKEN_CREATED") == "sent"
    [wa] = fake_twilio.messages
    await db.apply_status(ctx["pool"], wa.sid or "", "FAILED", 63016, "outside the window")
    assert await notify_cron.sweep_whatsapp_fallbacks(ctx) == 1
    assert await notify_cron.sweep_whatsapp_fallbacks(ctx) == 0   # the job is known to ARQ
    await run_burst(ctx)
    assert [m.to for m in fake_twilio.messages] == [f"whatsapp:{PHONE0}", PHONE0]
    assert await notify_cron.sweep_whatsapp_fallbacks(ctx) == 0


async def test_sent_but_row_update_failed_is_not_sent_again(
        ctx: dict[str, Any], world: World, fake_twilio: FakeTwilio,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tok = await issue_token(ctx, world, 0)
    args = (str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")

    async def broken(*_: Any) -> bool:
        raise OSError("connection to PostgreSQL lost")

    monkeypatch.setattr(db, "mark_sent", broken)
    with pytest.raises(Retry):
        await send_notification(ctx, *args)
    monkeypatch.undo()
    [msg] = fake_twilio.messages
    [row] = await rows(ctx["pool"], tok["id"])
    assert (row["status"], row["attempts"], row["provider_id"]) == ("PENDING", 1, None)
    assert await send_notification({**ctx, "job_try": 2}, *args) == "sent"
    assert len(fake_twilio.requests) == 1
    [row] = await rows(ctx["pool"], tok["id"])
    assert (row["status"], row["provider_id"]) == ("SENT", msg.sid)


async def test_an_attempt_in_flight_is_left_alone_until_its_lease_ends(
        ctx: dict[str, Any], world: World, fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    h, t = str(world.hospital_id), str(tok["id"])
    pool = ctx["pool"]
    # a worker claimed the row and started its attempt, then vanished
    row_id = await db.claim(pool, hospital_id=world.hospital_id, patient_id=world.patients[0],
                            token_id=tok["id"], channel="SMS", event="TOKEN_CREATED",
                            language="en", body="hello", to_masked="+91******0000")
    assert row_id and await db.begin_attempt(pool, row_id, notify.LEASE_S) == 1
    assert await send_notification(ctx, h, t, "TOKEN_CREATED") == "in-flight"
    assert fake_twilio.requests == []
    # rewind the attempt past its lease (the updated_at trigger would stamp now())
    await pool.execute("ALTER TABLE notifications_log DISABLE TRIGGER "
                       "notifications_log_updated_at")
    try:
        await pool.execute("UPDATE notifications_log SET updated_at = now() - interval '1 hour'"
                           " WHERE id = $1", row_id)
    finally:
        await pool.execute("ALTER TABLE notifications_log ENABLE TRIGGER "
                           "notifications_log_updated_at")
    assert await send_notification({**ctx, "job_try": 2}, h, t, "TOKEN_CREATED") == "sent"
    [msg] = fake_twilio.messages
    assert msg.body == "hello"   # the claimed body, unchanged across attempts


async def test_messages_for_a_moved_on_token_are_dropped(ctx: dict[str, Any], world: World,
                                                         fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    await ctx["notify_queue"].act(world.hospital_id, SYSTEM, tok["id"], Action.CANCEL,
                                  reason="left")
    # the record has moved past any call: dropped at once (test_consistency: a record that
    # is behind its event is waited for instead)
    out = await send_notification(ctx, str(world.hospital_id), str(tok["id"]), "CALL_NOW")
    assert out == "stale"
    assert fake_twilio.requests == [] and await rows(ctx["pool"], tok["id"]) == []


async def test_cancel_carries_the_reason(ctx: dict[str, Any], world: World,
                                         fake_twilio: FakeTwilio) -> None:
    tok = await issue_token(ctx, world, 0)
    await ctx["notify_queue"].act(world.hospital_id, SYSTEM, tok["id"], Action.CANCEL,
                                  reason="doctor on leave")
    out = await send_notification(ctx, str(world.hospital_id), str(tok["id"]), "CANCELLED")
    assert out == "sent"
    [msg] = fake_twilio.messages
    assert "cancelled (doctor on leave)" in msg.body


async def test_hindi_patient_gets_hindi(ctx: dict[str, Any], world: World,
                                        fake_twilio: FakeTwilio) -> None:
    await ctx["pool"].execute("UPDATE patients SET language = 'hi' WHERE id = $1",
                              world.patients[0])
    tok = await issue_token(ctx, world, 0)
    await send_notification(ctx, str(world.hospital_id), str(tok["id"]), "TOKEN_CREATED")
    [msg] = fake_twilio.messages
    assert "टोकन" in msg.body and tok["number"] in msg.body
    [row] = await rows(ctx["pool"], tok["id"])
    assert row["language"] == "hi"
