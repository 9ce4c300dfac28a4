"""What an operator's log holds after a whole day's flow for one patient: no name, phone,
patient link or code, message body or credential, at DEBUG for every logger; and one request
id from the web request to the Twilio request of the message it caused.

Logs are captured as the processes write them (server/logs.py's handler on the root logger,
JSON) but WITHOUT the redaction processor: the test proves the sources clean, not only that
the last line of defence hides what they say.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import structlog
from twilio.http import HttpClient

from server.logs import configure_logging
from server.store import keys
from tests.api.helpers import PASSWORD, make_user
from tests.queue.conftest import TZ, World
from tests.workers.conftest import PUBLIC_BASE, run_burst
from tests.workers.fake_twilio import FakeTwilio
from tests.workers.test_webhooks import PATH, signed
from workers import dispatch
from workers.dispatch import Dispatcher
from workers.notify import send_notification
from workers.routing import notify_jobs_for
from workers.twilio_sender import LogSender

NAME = "Zephyrine Quillfeather-Obadiah"
PHONE = "+919812398765"
NATIONAL = "9812398765"
HOSPITAL_AT = {"lat": 12.9716, "lon": 77.5946}    # build_world's geofence centre


@pytest.fixture
def log_text(client: httpx.AsyncClient, ctx: dict[str, Any]) -> Iterator[io.StringIO]:
    """Everything every logger writes from here on, at DEBUG, unredacted (the app and the
    worker context are up first: the app's start-up configures logging)."""
    buf = io.StringIO()
    saved = structlog.get_config()
    loggers = [logging.getLogger(), *(lg for lg in logging.root.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    levels = [(lg, lg.level) for lg in loggers]
    configure_logging("DEBUG", json=True, stream=buf, redact=False)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        configure_logging()              # back to stderr, as the app had it
        structlog.configure(**saved)
        for lg, level in levels:
            lg.setLevel(level)


@pytest.fixture
async def dispatcher(ctx: dict[str, Any]) -> AsyncIterator[Dispatcher]:
    d = dispatch.start(ctx, block_ms=50, refresh_s=60, routers=[notify_jobs_for])
    yield d
    await dispatch.stop(ctx)


async def drain(ctx: dict[str, Any], d: Dispatcher, w: World) -> None:
    n = await ctx["redis_app"].xlen(keys.stream(w.hospital_id))
    await d.wait_for(lambda x: x.handled >= n)
    await run_burst(ctx)


def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json() if r.content else {}


async def test_a_patients_whole_day_leaves_nothing_of_them_in_the_log(
        client: httpx.AsyncClient, ctx: dict[str, Any], world: World, pool: Any,
        fake_twilio: FakeTwilio, dispatcher: Dispatcher, log_text: io.StringIO) -> None:
    staff, doctor = world.h("receptionist"), world.h("doctor")
    # credentials: a password login (session cookie) and a display key
    await make_user(pool, world.hospital_id, "admin", username="privacy-admin")
    login = await client.post("/api/v1/auth/login",
                              json={"username": "privacy-admin", "password": PASSWORD})
    session = ok(login)["token"]
    cookie = login.cookies["opdq_session"]
    display = ok(await client.post("/api/v1/displays",
                                   headers={"Authorization": f"Bearer {session}"},
                                   json={"department_id": str(world.department_id),
                                         "name": "Lobby"}), 201)
    key = display["key"]
    ok(await client.get(f"/api/v1/departments/{world.department_id}/board",
                        headers={"Authorization": f"Bearer {key}"}))
    ok(await client.get("/api/v1/me", headers={"Cookie": f"opdq_session={cookie}"}))

    # reception registers the patient, finds them again, books a slot
    patient = ok(await client.post("/api/v1/patients", headers=staff, json={
        "name": NAME, "phone": PHONE, "sms_opt_in": True}), 201)
    ok(await client.get("/api/v1/patients", params={"phone": PHONE}, headers=staff))
    slot = datetime.now(ZoneInfo(TZ)) + timedelta(minutes=10)
    token = ok(await client.post("/api/v1/tokens", headers=staff, json={
        "patient_id": patient["id"], "doctor_id": str(world.doctors[0]),
        "booking_type": "ONLINE", "scheduled_time": slot.isoformat()}), 201)
    link = token["patient_link"]
    code = link.rsplit("/t/", 1)[1]
    public_code = code.split(".")[0]
    await drain(ctx, dispatcher, world)                       # TOKEN_CREATED (booked)

    # the patient opens their link, checks in at the hospital; a stranger guesses a code
    assert (await client.get(f"/t/{code}")).status_code == 200
    ok(await client.get(f"/api/v1/public/tokens/{code}"))
    ok(await client.post(f"/api/v1/public/tokens/{code}/check-in", json=HOSPITAL_AT))
    assert (await client.get(f"/api/v1/public/tokens/{public_code}.AAAAAAAAAAAAAAAA")
            ).status_code == 404
    # the doctor calls them in and completes the visit
    called = ok(await client.post(f"/api/v1/doctors/{world.doctors[0]}/next", json={},
                                  headers=doctor))
    assert called["called"]["id"] == token["id"]
    await drain(ctx, dispatcher, world)                       # CALL_NOW
    ok(await client.post(f"/api/v1/tokens/{token['id']}/complete", headers=doctor))
    await drain(ctx, dispatcher, world)
    # Twilio reports delivery; a second visit's message goes to the log (no credentials)
    sid = fake_twilio.messages[-1].sid or ""
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "AC1",
              "To": PHONE, "From": "+15005550006", "ApiVersion": "2010-04-01"}
    assert (await client.post(PATH, data=params, headers=signed(params))).status_code == 204
    again = ok(await client.post("/api/v1/tokens", headers=staff, json={
        "patient_id": patient["id"], "doctor_id": str(world.doctors[1]),
        "booking_type": "WALK_IN"}), 201)
    assert await send_notification({**ctx, "notify_sender": LogSender()},
                                   str(world.hospital_id), again["id"], "TOKEN_CREATED") == "sent"

    bodies = [m.body for m in fake_twilio.messages]
    assert [m.to for m in fake_twilio.messages] == [PHONE, PHONE]
    assert NAME.split()[0] in bodies[0] and f"{PUBLIC_BASE}/t/" in bodies[0]
    text = log_text.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    events = {ln["event"] for ln in lines}
    # the capture saw the flow: requests, routing, sends, the callback, the log sender
    assert {"request", "event routed", "notification sent", "twilio callback",
            "message not sent (no Twilio credentials)"} <= events, events
    assert {"/t/{code}", "/api/v1/public/tokens/{code}/check-in"} <= {
        ln.get("path") for ln in lines}
    assert any(ln["level"] == "debug" for ln in lines)

    secrets = {
        **{f"name word {w!r}": w for w in NAME.replace("-", " ").split()},
        "phone (E.164)": PHONE, "phone (national)": NATIONAL, "phone (digits)": PHONE[1:],
        "public code": public_code, "patient link code": code, "patient link": link,
        "session token": session, "session cookie": cookie, "display key": key,
        **{f"staff bearer token ({role})": t for role, t in world.tokens.items()},
        **{f"message body {i}": b for i, b in enumerate(bodies)},
        **{f"message body {i} (JSON)": json.dumps(b)[1:-1] for i, b in enumerate(bodies)},
    }
    found = {what: [ln for ln in text.splitlines() if value.lower() in ln.lower()][:3]
             for what, value in secrets.items() if value.lower() in text.lower()}
    assert not found, found


async def test_one_request_id_from_the_web_to_twilio(
        client: httpx.AsyncClient, ctx: dict[str, Any], world: World,
        fake_twilio: FakeTwilio, dispatcher: Dispatcher, log_text: io.StringIO) -> None:
    rid = "req-7f3a9c1e"
    r = await client.post("/api/v1/tokens", headers={**world.h(), "X-Request-ID": rid}, json={
        "patient_id": str(world.patients[0]), "doctor_id": str(world.doctors[0]),
        "booking_type": "WALK_IN"})
    assert r.status_code == 201, r.text
    assert r.headers["x-request-id"] == rid
    await drain(ctx, dispatcher, world)
    [msg] = fake_twilio.messages
    assert msg.request_id == rid                               # ... -> Twilio
    mine = [json.loads(ln) for ln in log_text.getvalue().splitlines() if rid in ln]
    said = {(ln["logger"], ln["event"]) for ln in mine if ln.get("request_id") == rid}
    assert {("http", "request"),                               # web
            ("notify.dispatch", "event routed"),               # stream -> job
            ("notify.twilio_http", "twilio request"),          # worker -> Twilio
            ("notify", "notification sent")} <= said, said
    # the event clients see does not carry it
    [(_, fields)] = await ctx["redis_app"].xrange(keys.stream(world.hospital_id), count=1)
    assert fields["rid"] == rid and rid not in fields["e"]
    # a request id that is not a plain token is replaced, not logged or forwarded
    r = await client.get("/api/v1/me", headers={**world.h(), "X-Request-ID": "+919812398765"})
    assert r.headers["x-request-id"] != "+919812398765"


def test_twilios_own_request_dumps_never_reach_the_log() -> None:
    """twilio's HttpClient logs each request (URL, query with To, headers) at INFO; with
    every logger at DEBUG, none of it is written."""
    buf = io.StringIO()
    saved = structlog.get_config()
    twilio_log = logging.getLogger("twilio.http_client")
    before = (logging.getLogger().level, twilio_log.level)
    configure_logging("DEBUG", json=True, stream=buf, redact=False)
    twilio_log.setLevel(logging.DEBUG)
    try:
        HttpClient(twilio_log, False).log_request({
            "method": "GET", "url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
            "params": {"To": PHONE}, "headers": {"User-Agent": "twilio-python"}})
        structlog.get_logger("notify").info("still written")
    finally:
        configure_logging()
        structlog.configure(**saved)
        logging.getLogger().setLevel(before[0])
        twilio_log.setLevel(before[1])
    text = buf.getvalue()
    assert "still written" in text and "Twilio API Request" not in text
    assert NATIONAL not in text
