"""No full phone number in what the notification code logs or stores as an error.

The logs are captured *without* the redact_phones processor, so the test proves the code
masks numbers itself rather than relying on the last line of defence.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from server.routes import webhooks
from server.settings import Settings
from tests import logcapture
from tests.queue.conftest import World
from tests.workers.conftest import issue_token, set_opt_ins
from tests.workers.fake_twilio import FakeTwilio
from tests.workers.test_webhooks import callback
from workers import dispatch, notify, twilio_sender
from workers.notify import send_notification
from workers.twilio_sender import LogSender

FULL = re.compile(r"9876500\d{3}")   # any of build_world's numbers, whatever the prefix


@pytest.fixture
def log_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    buf = io.StringIO()
    saved = structlog.get_config()
    logcapture.into(buf)
    for module in (notify, dispatch, twilio_sender, webhooks):
        monkeypatch.setattr(module, "log", structlog.get_logger(module.__name__))
    try:
        yield buf
    finally:
        structlog.configure(**saved)


async def test_no_full_phone_number_in_logs(
        client: httpx.AsyncClient, ctx: dict[str, Any], settings: Settings, world: World,
        fake_twilio: FakeTwilio, caplog: pytest.LogCaptureFixture,
        log_output: io.StringIO) -> None:   # last: the app's start-up configures logging
    caplog.set_level(logging.DEBUG)
    h = str(world.hospital_id)
    toks = [await issue_token(ctx, world, p) for p in range(5)]
    await set_opt_ins(ctx["pool"], world.patients[2], sms=True, whatsapp=True)
    fake_twilio.fail_next("21610")                 # patient 0: STOP
    assert await send_notification(ctx, h, str(toks[0]["id"]), "TOKEN_CREATED") == "opted-out"
    fake_twilio.fail_next("21211")                 # patient 1: Twilio names the number
    assert await send_notification(ctx, h, str(toks[1]["id"]), "TOKEN_CREATED") == "failed"
    fake_twilio.fail_next("63016")                 # patient 2: WhatsApp -> SMS
    fake_twilio.fail_next("429")
    with pytest.raises(Exception, match="Retry"):
        await send_notification(ctx, h, str(toks[2]["id"]), "TOKEN_CREATED")
    assert await send_notification({**ctx, "job_try": 2}, h, str(toks[2]["id"]),
                                   "TOKEN_CREATED") == "sent"
    assert await send_notification({**ctx, "notify_sender": LogSender()}, h,
                                   str(toks[3]["id"]), "TOKEN_CREATED") == "sent"
    assert await send_notification(ctx, h, str(toks[4]["id"]), "TOKEN_CREATED") == "sent"
    assert (await callback(client, fake_twilio.messages[-1].sid or "", "delivered")
            ).status_code == 204

    text = log_output.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) >= 8
    assert "+91******0001" in text and "+91******0003" in text   # masked numbers are logged
    assert not FULL.search(text), [ln for ln in text.splitlines() if FULL.search(ln)]
    assert not FULL.search(caplog.text)
    stored = await ctx["pool"].fetch("SELECT to_masked, error_message FROM notifications_log")
    assert stored and not FULL.search(repr([dict(r) for r in stored]))
    [refused] = [r for r in stored if r["error_message"] and "valid phone" in r["error_message"]]
    assert "+91******0001" in refused["error_message"]
