"""Outreach by risk tier, replies by SMS, and the waitlist offer through to a booked token:
real PostgreSQL, Redis and ARQ, the fake Twilio."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from arq.worker import Worker
from twilio.request_validator import RequestValidator

from server.presenters import utcnow
from tests.queue.conftest import World
from tests.workers.conftest import AUTH_TOKEN, PUBLIC_BASE, issue_token, set_opt_ins
from tests.workers.fake_twilio import FakeTwilio
from workers import notify, notify_fanout, outreach
from workers import risk as risk_jobs

INBOUND = "/api/v1/webhooks/twilio/inbound"


async def burst(ctx: dict[str, Any]) -> Worker:
    """A real ARQ worker with the send jobs, until its queue is empty."""
    base = {k: v for k, v in ctx.items() if k not in ("job_try", "job_id")}
    worker = Worker(functions=[*notify.FUNCTIONS, *notify_fanout.FUNCTIONS, *outreach.FUNCTIONS],
                    redis_pool=ctx["redis"], burst=True, poll_delay=0.01, handle_signals=False,
                    ctx=base)
    await worker.main()
    return worker


async def booking(ctx: dict[str, Any], w: World, patient: int, hours_ahead: float,
                  tier: int | None = None) -> UUID:
    """A BOOKED token hours_ahead from now, with a risk assessment of `tier` when given."""
    at = (utcnow() + timedelta(hours=hours_ahead)).replace(second=0, microsecond=0)
    tok = await issue_token(ctx, w, patient, booking_type="ONLINE", scheduled_time=at)
    if tier is not None:
        await ctx["pool"].execute(
            """INSERT INTO risk_assessments (hospital_id, token_id, patient_id, model_version,
                   score, badge, tier, show_probability)
               VALUES ($1, $2, $3, 'test-v1', $4, $5, $6, $7)""",
            w.hospital_id, tok["id"], w.patients[patient], 10 * tier,
            "High" if tier >= 4 else "Low", tier, 1 - tier / 10)
    return UUID(str(tok["id"]))


async def touches(pool: asyncpg.Pool, token_id: UUID) -> list[tuple[str, str, int, str]]:
    rows = await pool.fetch(
        """SELECT event, channel, risk_tier, model_version FROM notifications_log
           WHERE token_id = $1 AND event IN ('CONFIRM_REQUEST', 'REMINDER_EXTRA')
           ORDER BY created_at""", token_id)
    return [tuple(r) for r in rows]  # type: ignore[misc]


def signed(params: dict[str, str], url: str = PUBLIC_BASE + INBOUND) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)}


async def reply(client: httpx.AsyncClient, phone: str, text: str, sid: str,
                **sign: Any) -> httpx.Response:
    params = {"MessageSid": sid, "From": phone, "To": "+15005550006", "Body": text,
              "AccountSid": "AC1"}
    return await client.post(INBOUND, data=params, headers=signed(params, **sign))


# --------------------------------------------------------------------------- the bug
def test_every_message_the_risk_side_asks_for_has_a_text_and_a_rule() -> None:
    """REMINDER_EXTRA was asked for and silently dropped: no template, not in RELEVANT."""
    from server.notifications import templates
    from server.risk import outreach as plan

    for event in plan.OUTREACH_EVENTS:
        assert event in notify.RELEVANT and event in templates.EVENTS


async def test_a_high_score_gets_its_extra_reminder(ctx: dict[str, Any], world: World,
                                                   pool: asyncpg.Pool,
                                                   fake_twilio: FakeTwilio) -> None:
    """score_token of a patient who missed every visit (twelve), booked for 10 h from now: the
    High score's REMINDER_EXTRA reaches Twilio, once, recorded with the tier and model
    version. Twelve, not six: before 14:00 at the hospital, 10 h from now is
    the same day, a booking that scores lower, and six misses did not reach High then."""
    for i, days in enumerate(range(-120, 0, 10)):
        await pool.execute(
            """INSERT INTO tokens (hospital_id, department_id, doctor_id, patient_id,
                   service_date, seq, number, booking_type, status, public_code, scheduled_time,
                   created_at)
               VALUES ($1, $2, $3, $4, current_date + $5::int, 1, 'CARD-001', 'ONLINE',
                       'NO_SHOW', $6, now() + make_interval(days => $5::int),
                       now() + make_interval(days => $5::int - 7))""",
            world.hospital_id, world.department_id, world.doctors[0], world.patients[0], days,
            f"past{i}")
    tid = await booking(ctx, world, 0, hours_ahead=10)
    await risk_jobs.score_token(ctx, str(tid))
    tier, version = await pool.fetchrow(
        "SELECT tier, model_version FROM risk_assessments WHERE token_id = $1", tid)
    assert tier >= 4, f"a patient who missed 12 of 12 should score High (tier {tier})"
    await burst(ctx)
    assert await touches(pool, tid) == [("REMINDER_EXTRA", "SMS", tier, version)]
    [msg] = [m for m in fake_twilio.messages if "Reply YES" in m.body]
    assert msg.to == "+919876500000"
    await outreach.schedule_outreach(ctx)      # the cron, again and again: nothing new
    await outreach.schedule_outreach(ctx)
    await burst(ctx)
    assert len([m for m in fake_twilio.messages if "Reply YES" in m.body]) == 1


# --------------------------------------------------------------------------- the plan
async def test_each_tier_gets_its_touches_once(ctx: dict[str, Any], world: World,
                                               pool: asyncpg.Pool,
                                               fake_twilio: FakeTwilio) -> None:
    low = await booking(ctx, world, 1, 30, tier=2)
    mid = await booking(ctx, world, 2, 30, tier=3)
    high = await booking(ctx, world, 3, 30, tier=5)
    await set_opt_ins(pool, world.patients[3], sms=True, whatsapp=True)      # WhatsApp first
    await pool.execute("UPDATE patients SET language = 'hi' WHERE id = $1", world.patients[2])
    await outreach.schedule_outreach(ctx)
    await burst(ctx)
    assert await touches(pool, low) == []
    assert await touches(pool, mid) == [("CONFIRM_REQUEST", "SMS", 3, "test-v1")]
    assert await touches(pool, high) == [("CONFIRM_REQUEST", "WHATSAPP", 5, "test-v1")]
    hindi = next(m for m in fake_twilio.messages if m.to == "+919876500002")
    assert "YES" in hindi.body and "टोकन" in hindi.body
    # the day before: the high-risk booking's second touch; nothing new for the others
    await pool.execute("UPDATE tokens SET scheduled_time = now() + interval '10 hours' "
                       "WHERE id = ANY($1::uuid[])", [low, mid, high])
    for _ in range(2):
        await outreach.schedule_outreach(ctx)
        await burst(ctx)
    assert await touches(pool, low) == []
    assert await touches(pool, mid) == [("CONFIRM_REQUEST", "SMS", 3, "test-v1")]
    assert await touches(pool, high) == [("CONFIRM_REQUEST", "WHATSAPP", 5, "test-v1"),
                                         ("REMINDER_EXTRA", "WHATSAPP", 5, "test-v1")]
    assert len(fake_twilio.messages) == 3


# --------------------------------------------------------------------------- replies
async def test_yes_confirms_and_no_cancels(client: httpx.AsyncClient, ctx: dict[str, Any],
                                           world: World, pool: asyncpg.Pool,
                                           fake_twilio: FakeTwilio) -> None:
    yes = await booking(ctx, world, 4, 30, tier=3)
    no = await booking(ctx, world, 5, 30, tier=3)
    await outreach.schedule_outreach(ctx)
    await burst(ctx)
    # a bad signature (another token, or the URL behind the proxy) changes nothing
    r = await reply(client, "+919876500005", "NO", "SMbad1",
                    url="http://testserver" + INBOUND)
    assert r.status_code == 403
    assert await pool.fetchval("SELECT status FROM tokens WHERE id = $1", no) == "BOOKED"

    r = await reply(client, "+919876500004", "yes!", "SMyes1")
    assert r.status_code == 200 and "confirmed" in r.text
    assert r.headers["content-type"].startswith("text/xml")
    r = await reply(client, "+919876500004", "yes!", "SMyes1")     # Twilio retried
    assert r.status_code == 200
    r = await reply(client, "whatsapp:+919876500005", "No", "SMno1")
    assert r.status_code == 200
    rows = await pool.fetch("SELECT token_id, reply, outcome FROM booking_replies ORDER BY id")
    assert [tuple(x) for x in rows] == [(yes, "YES", "CONFIRMED"), (no, "NO", "CANCELLED")]
    assert await pool.fetchval("SELECT status FROM tokens WHERE id = $1", yes) == "BOOKED"
    assert await pool.fetchval("SELECT status FROM tokens WHERE id = $1", no) == "CANCELLED"
    # an answered booking gets no further touch asking for one
    await pool.execute("UPDATE tokens SET scheduled_time = now() + interval '10 hours' "
                       "WHERE id = $1", yes)
    await pool.execute("UPDATE risk_assessments SET tier = 5 WHERE token_id = $1", yes)
    await outreach.schedule_outreach(ctx)
    await burst(ctx)
    assert [t[0] for t in await touches(pool, yes)] == ["CONFIRM_REQUEST"]
    # the desk's call list shows what was sent and answered
    day = (await pool.fetchval("SELECT service_date FROM tokens WHERE id = $1", yes))
    r = await client.get("/api/v1/risk/outreach", params={"date": str(day)}, headers=world.h())
    assert r.status_code == 200, r.text
    items = {i["token_id"]: i for i in r.json()["items"]}
    assert items[str(yes)]["answer"] == "YES" and items[str(no)]["status"] == "CANCELLED"
    assert items[str(yes)]["call"] is True and items[str(yes)]["risk"]["tier"] == 5
    assert [i["risk"]["score"] for i in r.json()["items"]] == sorted(
        (i["risk"]["score"] for i in r.json()["items"]), reverse=True)
    r = await client.get("/api/v1/risk/outreach", params={"date": str(day), "format": "csv"},
                         headers=world.h())
    assert r.headers["content-type"].startswith("text/csv") and "CONFIRM_REQUEST:SENT" in r.text


# --------------------------------------------------------------------------- waitlist
async def test_offer_page_accept_and_expiry_to_the_next(
        client: httpx.AsyncClient, ctx: dict[str, Any], world: World, pool: asyncpg.Pool,
        fake_twilio: FakeTwilio) -> None:
    freed = await booking(ctx, world, 0, 30)
    day = await pool.fetchval("SELECT service_date FROM tokens WHERE id = $1", freed)
    first, second = [await pool.fetchval(
        """INSERT INTO waitlist_entries (hospital_id, department_id, patient_id, desired_date,
               created_at) VALUES ($1, $2, $3, $4, now() - make_interval(days => $5))
           RETURNING id""", world.hospital_id, world.department_id, world.patients[p], day, d)
        for p, d in ((6, 3), (7, 1))]
    r = await client.post(f"/api/v1/tokens/{freed}/cancel", json={"reason": "travelling"},
                          headers=world.h())
    assert r.status_code == 200, r.text
    assert await risk_jobs.offer_freed_slot(ctx, str(freed)) == [str(first)]
    await burst(ctx)
    [offer] = [m for m in fake_twilio.messages if "/w/" in m.body]
    assert offer.to == "+919876500006" and "30 min" in offer.body
    code = re.search(r"/w/(\S+)", offer.body)[1]  # type: ignore[index]
    r = await client.get(f"/api/v1/public/waitlist/{code}")
    assert r.status_code == 200 and r.json()["status"] == "OPEN"
    assert "Patient" not in r.text and "98765" not in r.text       # nothing personal

    # nobody answers: the offer lapses and the slot goes to the next entry
    await pool.execute("UPDATE waitlist_offers SET expires_at = now() - interval '1 s'")
    await outreach.pass_waitlist_offers(ctx)
    await burst(ctx)
    assert (await client.get(f"/api/v1/public/waitlist/{code}")).json()["status"] == "EXPIRED"
    assert (await client.post(f"/api/v1/public/waitlist/{code}/accept")).status_code == 409
    [nxt] = [m for m in fake_twilio.messages if "/w/" in m.body and m.to == "+919876500007"]
    code2 = re.search(r"/w/(\S+)", nxt.body)[1]  # type: ignore[index]
    r = await client.post(f"/api/v1/public/waitlist/{code2}/accept")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "BOOKED"
    booked = await pool.fetchrow(
        "SELECT patient_id, status FROM tokens WHERE patient_id = $1 AND status = 'BOOKED'",
        world.patients[7])
    assert booked is not None
    rows = await pool.fetch("SELECT entry_id, status FROM waitlist_offers ORDER BY offered_at")
    assert [tuple(x) for x in rows] == [(first, "EXPIRED"), (second, "ACCEPTED")]
    assert await pool.fetchval(
        "SELECT count(*) FROM notifications_log WHERE event = 'WAITLIST_OFFER'") == 2


async def test_a_declined_offer_passes_on(client: httpx.AsyncClient, ctx: dict[str, Any],
                                          world: World, pool: asyncpg.Pool,
                                          fake_twilio: FakeTwilio) -> None:
    freed = await booking(ctx, world, 0, 30)
    day = await pool.fetchval("SELECT service_date FROM tokens WHERE id = $1", freed)
    for p in (8, 9):
        await pool.execute(
            """INSERT INTO waitlist_entries (hospital_id, department_id, patient_id,
                   desired_date) VALUES ($1, $2, $3, $4)""",
            world.hospital_id, world.department_id, world.patients[p], day)
    await client.post(f"/api/v1/tokens/{freed}/cancel", json={"reason": "x"}, headers=world.h())
    await risk_jobs.offer_freed_slot(ctx, str(freed))
    await burst(ctx)
    code = re.search(r"/w/(\S+)", fake_twilio.messages[-1].body)[1]  # type: ignore[index]
    r = await client.post(f"/api/v1/public/waitlist/{code}/decline")
    assert r.status_code == 200 and r.json()["status"] == "DECLINED"
    assert (await client.post(f"/api/v1/public/waitlist/{code}/decline")).status_code == 409
    await outreach.pass_waitlist_offers(ctx)
    await burst(ctx)
    assert fake_twilio.messages[-1].to == "+919876500009"
    assert "/w/" in fake_twilio.messages[-1].body
