"""GET /api/v1/risk/summary and /risk/roi, and the teleconsult suggestion on the token JSON
and the call list: figures checked against sums made here from the seeded rows.

Seeding: bookings go through the API; their scores, outcomes, messages and waitlist offers
are written as the workers would (rows in risk_assessments, tokens.status, notifications_log,
waitlist_offers), with values chosen so that every rule of the reports is exercised.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from tests.api.helpers import make_department
from tests.queue.conftest import TZ, World
from tests.risk.conftest import book

TIER_BADGE = {1: "Low", 2: "Low", 3: "Medium", 4: "High", 5: "High"}


async def score(pool: asyncpg.Pool, w: World, tok: dict[str, Any], p_no_show: float,
                tier: int, *, older: bool = False) -> None:
    await pool.execute(
        """INSERT INTO risk_assessments (hospital_id, token_id, patient_id, model_version,
               score, badge, tier, show_probability, factors, created_at)
           VALUES ($1, $2, $3, 'test-v1', $4, $5, $6, $7,
                   '[{"phrase": "booked 20 days ahead"}]'::jsonb,
                   now() - make_interval(hours => $8))""",
        w.hospital_id, UUID(tok["id"]), UUID(tok["patient"]["id"]), round(p_no_show * 100),
        TIER_BADGE[tier], tier, 1 - p_no_show, 5 if older else 0)


async def test_summary_counts_per_tier_and_department(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool) -> None:
    eye = await make_department(pool, world.hospital_id, code="EYE", name="Eye")
    plan = [(0.05, 1), (0.12, 2), (0.30, 3), (0.45, 4), (0.70, 5), (0.75, 5)]
    toks = [await book(client, world, i, at=datetime.min.time().replace(hour=9 + i))
            for i in range(len(plan))]
    for tok, (p, tier) in zip(toks, plan, strict=True):
        await score(pool, world, tok, 0.9, 5, older=True)     # superseded by the next line
        await score(pool, world, tok, p, tier)
    # two of them are the Eye clinic's; one booking is cancelled (no longer expected)
    await pool.execute("UPDATE tokens SET department_id = $1 WHERE id = ANY($2::uuid[])",
                       eye, [UUID(toks[4]["id"]), UUID(toks[1]["id"])])
    r = await client.post(f"/api/v1/tokens/{toks[5]['id']}/cancel", headers=world.h(),
                          json={"reason": "travel"})
    assert r.status_code == 200, r.text
    unscored = await book(client, world, 7, at=datetime.min.time().replace(hour=16))
    assert unscored

    r = await client.get("/api/v1/risk/summary", headers=world.h("doctor"),
                         params={"date": toks[0]["service_date"]})
    assert r.status_code == 200, r.text
    out = r.json()
    kept = plan[:5]
    assert out["total"] == 5
    assert out["tiers"] == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}
    assert out["high"] == 2
    assert out["mean_score"] == round(sum(round(p * 100) for p, _ in kept) / 5, 1)
    by_name = {d["name"]: d for d in out["departments"]}
    assert set(by_name) == {"Eye", world_department_name(out)}
    assert by_name["Eye"]["tiers"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert by_name["Eye"]["total"] == 2 and by_name["Eye"]["high"] == 1
    assert by_name["Eye"]["mean_score"] == (12 + 70) / 2
    # another day has nothing; today's default answers too
    r = await client.get("/api/v1/risk/summary", headers=world.h("nurse"))
    assert r.status_code == 200 and r.json()["total"] == 0 and r.json()["mean_score"] is None


def world_department_name(out: dict[str, Any]) -> str:
    return next(d["name"] for d in out["departments"] if d["name"] != "Eye")


async def test_roi_reports_costs_outcomes_and_refills(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool) -> None:
    r = await client.patch("/api/v1/hospital", headers=world.h("admin"), json={
        "costs": {"currency": "INR", "sms": 0.25, "whatsapp": 0.1, "slot_value": 500}})
    assert r.status_code == 200, r.text
    # five bookings tomorrow: scores, then what happened (two missed, two came, one pending)
    plan = [(0.10, 1, "COMPLETED"), (0.20, 2, "NO_SHOW"), (0.40, 4, "COMPLETED"),
            (0.60, 5, "NO_SHOW"), (0.65, 5, "BOOKED")]
    toks = [await book(client, world, i, at=datetime.min.time().replace(hour=9 + i))
            for i in range(len(plan))]
    for tok, (p, tier, status) in zip(toks, plan, strict=True):
        await score(pool, world, tok, p, tier)
        await pool.execute("UPDATE tokens SET status = $2 WHERE id = $1", UUID(tok["id"]),
                           status)
    day = date.fromisoformat(toks[0]["service_date"])
    local = datetime.combine(day, datetime.min.time().replace(hour=8), ZoneInfo(TZ))

    async def msg(tok: dict[str, Any], event: str, channel: str, status: str,
                  at: datetime | None) -> None:
        await pool.execute(
            """INSERT INTO notifications_log (hospital_id, patient_id, token_id, channel, event,
                   body, to_masked, status, sent_at)
               VALUES ($1, $2, $3, $4, $5, 'text', '+91******0000', $6, $7)""",
            world.hospital_id, UUID(tok["patient"]["id"]), UUID(tok["id"]), channel, event,
            status, at)

    await msg(toks[0], "REMINDER_DAY_BEFORE", "WHATSAPP", "DELIVERED", local)
    await msg(toks[1], "REMINDER_DAY_BEFORE", "SMS", "SENT", local)
    await msg(toks[1], "REMINDER_2H", "SMS", "UNDELIVERED", local)        # billed all the same
    await msg(toks[3], "CONFIRM_REQUEST", "SMS", "DELIVERED", local)
    await msg(toks[3], "REMINDER_EXTRA", "WHATSAPP", "SENT", local)
    await msg(toks[2], "REMINDER_DAY_BEFORE", "SMS", "FAILED", None)      # never left
    await msg(toks[2], "TOKEN_CREATED", "SMS", "SENT", local)             # not prevention
    await msg(toks[4], "REMINDER_DAY_BEFORE", "SMS", "SENT",
              local - timedelta(days=40))                                  # before the period
    # two freed slots accepted from the waitlist, one declined
    for i, status in enumerate(("ACCEPTED", "ACCEPTED", "DECLINED")):
        entry = await pool.fetchval(
            """INSERT INTO waitlist_entries (hospital_id, department_id, patient_id,
                   desired_date, status) VALUES ($1, $2, $3, $4, 'WAITING') RETURNING id""",
            world.hospital_id, world.department_id, world.patients[i], day)
        await pool.execute(
            """INSERT INTO waitlist_offers (entry_id, token_id, hospital_id, status, offered_at,
                   expires_at, answered_at)
               VALUES ($1, $2, $3, $4, $5::timestamptz, $5::timestamptz + interval '30 min',
                       $5::timestamptz + interval '5 min')""",
            entry, UUID(toks[i + 1]["id"]), world.hospital_id, status, local)

    params = {"from": (day - timedelta(days=7)).isoformat(), "to": day.isoformat()}
    r = await client.get("/api/v1/risk/roi", headers=world.h("admin"), params=params)
    assert r.status_code == 200, r.text
    out = r.json()
    # independently: 3 SMS (0.25) + 2 WhatsApp (0.10) billed in the period
    assert out["messages"]["sent"] == 5
    assert out["messages"]["by_channel"] == {"SMS": 3, "WHATSAPP": 2}
    assert out["messages"]["by_event"]["REMINDER_DAY_BEFORE"] == {"SMS": 1, "WHATSAPP": 1}
    assert "TOKEN_CREATED" not in out["messages"]["by_event"]
    assert out["messages"]["cost"] == round(3 * 0.25 + 2 * 0.1, 2)
    came_or_missed = [(p, t, s) for p, t, s in plan if s != "BOOKED"]
    tiers = {x["tier"]: x for x in out["no_shows"]["by_tier"]}
    assert [x["tier"] for x in out["no_shows"]["by_tier"]] == [1, 2, 3, 4, 5]
    for t in range(1, 6):
        mine = [(p, s) for p, tt, s in came_or_missed if tt == t]
        assert tiers[t]["bookings"] == len(mine)
        assert tiers[t]["expected"] == round(sum(p for p, _ in mine), 2)
        assert tiers[t]["observed"] == sum(s == "NO_SHOW" for _, s in mine)
    assert out["no_shows"]["observed"] == 2 and out["no_shows"]["bookings"] == 4
    assert out["no_shows"]["expected"] == round(0.1 + 0.2 + 0.4 + 0.6, 2)
    assert out["waitlist"] == {"refilled": 2, "value": 1000.0}
    assert out["net"] == round(1000 - (3 * 0.25 + 2 * 0.1), 2)
    assert out["currency"] == "INR"

    r = await client.get("/api/v1/risk/roi", headers=world.h("admin"),
                         params=params | {"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    total = next(x for x in rows if x["section"] == "messages" and x["item"] == "total")
    assert (total["count"], float(total["amount"])) == ("5", 0.95)
    refill = next(x for x in rows if x["section"] == "waitlist")
    assert (refill["count"], float(refill["amount"]), refill["currency"]) == ("2", 1000.0,
                                                                             "INR")

    # an earlier period: the one old reminder only; a reversed period: nothing; a long one is
    # cut to its last 366 days
    empty = await client.get("/api/v1/risk/roi", headers=world.h("admin"), params={
        "from": (day - timedelta(days=45)).isoformat(),
        "to": (day - timedelta(days=20)).isoformat()})
    assert empty.json()["messages"]["sent"] == 1 and empty.json()["waitlist"]["refilled"] == 0
    back = await client.get("/api/v1/risk/roi", headers=world.h("admin"),
                            params={"from": day.isoformat(), "to": params["from"]})
    assert back.status_code == 200 and back.json()["messages"]["sent"] == 0
    long = await client.get("/api/v1/risk/roi", headers=world.h("admin"),
                            params={"from": "2001-01-01", "to": day.isoformat()})
    assert long.json()["from"] == (day - timedelta(days=365)).isoformat()
    assert long.json()["messages"]["sent"] == 6
    assert (await client.get("/api/v1/risk/roi", headers=world.h())).status_code == 403


async def test_teleconsult_suggested_for_a_known_patients_follow_up(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool) -> None:
    # patient 0 was seen in this department 12 days before the booking; patient 1 never
    r = await client.post("/api/v1/tokens", headers=world.h(), json={
        "patient_id": str(world.patients[0]), "doctor_id": str(world.doctors[0]),
        "booking_type": "WALK_IN"})
    assert r.status_code == 201, r.text
    past = r.json()
    follow = await book(client, world, 0)
    day = date.fromisoformat(follow["service_date"])
    await pool.execute("UPDATE tokens SET status = 'COMPLETED', service_date = $2 WHERE id = $1",
                       UUID(past["id"]), day - timedelta(days=12))
    first = await book(client, world, 1, at=datetime.min.time().replace(hour=12))
    for tok in (follow, first):
        await pool.execute("UPDATE tokens SET visit_reason = 'Follow-up, BP' WHERE id = $1",
                           UUID(tok["id"]))
        await score(pool, world, tok, 0.5, 4)

    r = await client.get(f"/api/v1/tokens/{follow['id']}", headers=world.h())
    assert r.json()["teleconsult"] == {
        "suggested": True, "rule": "follow-up",
        "reason": "follow-up visit; seen in this department 12 days ago"}
    r = await client.get(f"/api/v1/tokens/{first['id']}", headers=world.h("doctor"))
    assert r.json()["teleconsult"]["suggested"] is False

    r = await client.get("/api/v1/risk/outreach", headers=world.h(),
                         params={"date": day.isoformat()})
    got = {i["token_id"]: i["teleconsult"]["suggested"] for i in r.json()["items"]}
    assert got == {follow["id"]: True, first["id"]: False}

    # the hospital's own rules: a 10-day window leaves the 12-day-old visit out
    await pool.execute(
        """UPDATE hospitals SET outreach_policy = outreach_policy || '{"teleconsult":
           {"within_days": 10}}'::jsonb WHERE id = $1""", world.hospital_id)
    r = await client.get(f"/api/v1/tokens/{follow['id']}", headers=world.h())
    assert r.json()["teleconsult"]["suggested"] is False
    # the patient's own link never carries it
    code = follow["patient_link"].rsplit("/", 1)[1]
    pub = await client.get(f"/api/v1/public/tokens/{code}")
    assert pub.status_code == 200, pub.text
    assert "teleconsult" not in pub.text
