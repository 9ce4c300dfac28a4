"""No-show prevention in the browser: the waitlist offer page on a phone (accept, and an
offer that has ended), the reception's Waitlist tab (add, see the offer, take off the list)
and the Call list tab (tomorrow's high-risk bookings with what was sent and answered)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from server.presenters import utcnow
from server.risk import waitlist
from tests.e2e.conftest import DESK, PHONE, E2EWorld, no_script_errors, open_page, screenshot
from tests.queue.conftest import TZ

pytestmark = pytest.mark.e2e
SECRET = b"e2e-secret-key-not-for-production"     # the e2e server's SECRET_KEY


def tomorrow_at(hour: int) -> datetime:
    day = datetime.now(ZoneInfo(TZ)).date() + timedelta(days=1)
    return datetime.combine(day, time(hour, 0), ZoneInfo(TZ))


async def book(e2e: E2EWorld, patient: int, hour: int) -> dict[str, Any]:
    return await e2e.issue(patient, booking_type="ONLINE",
                           scheduled_time=tomorrow_at(hour).isoformat())


async def offered(e2e: E2EWorld, db: asyncpg.Pool, patient: int, hour: int) -> str:
    """A booking cancelled tomorrow at `hour`, offered to `patient` on the waitlist: the code."""
    tok = await book(e2e, 0, hour)
    w = e2e.world
    entry = await db.fetchval(
        """INSERT INTO waitlist_entries (hospital_id, department_id, patient_id, desired_date)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        w.hospital_id, w.department_id, w.patients[patient], tomorrow_at(hour).date())
    r = await e2e.api.post(f"/api/v1/tokens/{tok['id']}/cancel", json={"reason": "travel"},
                           headers=e2e.h())
    assert r.status_code == 200, r.text
    [offer] = await waitlist.offer_slot(db, UUID(tok["id"]), utcnow(), SECRET)
    assert offer.entry_id == entry
    return offer.code


async def test_the_offer_page_books_the_slot_on_a_phone(e2e: E2EWorld, db: asyncpg.Pool,
                                                         browser: Browser) -> None:
    code = await offered(e2e, db, 3, 11)
    ctx = await e2e.context(browser, PHONE)
    page = await open_page(ctx, f"{e2e.server.base}/w/{code}")
    await expect(page.get_by_test_id("offer-title")).to_have_text("A slot has opened for you")
    await expect(page.get_by_test_id("offer-department")).to_have_text("Cardiology")
    await expect(page.get_by_test_id("offer-when")).to_contain_text("11:00")
    await screenshot(page, "waitlist-offer-phone")
    await page.get_by_test_id("offer-accept").click()
    await expect(page.get_by_test_id("offer-title")).to_have_text("Booked")
    await expect(page.get_by_test_id("offer-text")).to_contain_text("CARD-")
    await screenshot(page, "waitlist-offer-booked-phone")
    link = page.get_by_test_id("offer-token-link")
    await link.click()
    await expect(page.get_by_test_id("patient-status")).to_be_visible()
    assert await db.fetchval(
        "SELECT status FROM tokens WHERE patient_id = $1 AND status = 'BOOKED'",
        e2e.world.patients[3]) == "BOOKED"
    # the link again, once taken: the offer has ended, no buttons
    again = await open_page(ctx, f"{e2e.server.base}/w/{code}")
    await expect(again.get_by_test_id("offer-title")).to_have_text("This offer has ended")
    await expect(again.get_by_test_id("offer-accept")).to_be_hidden()
    bad = await open_page(ctx, f"{e2e.server.base}/w/{'A' * 43}.{'B' * 16}")
    await expect(bad.get_by_test_id("offer-title")).to_have_text("This link is not valid")
    no_script_errors(page)
    await ctx.close()


async def test_declining_on_the_phone(e2e: E2EWorld, db: asyncpg.Pool, browser: Browser) -> None:
    await db.execute("UPDATE patients SET language = 'hi' WHERE id = $1", e2e.world.patients[4])
    code = await offered(e2e, db, 4, 12)
    ctx = await e2e.context(browser, PHONE)
    page = await open_page(ctx, f"{e2e.server.base}/w/{code}")
    await expect(page.get_by_test_id("offer-title")).to_have_text("आपके लिए समय खाली है")
    await screenshot(page, "waitlist-offer-phone-hindi")
    await page.get_by_test_id("offer-decline").click()
    await expect(page.get_by_test_id("offer-title")).to_have_text("धन्यवाद")
    assert await db.fetchval(
        """SELECT o.status FROM waitlist_offers o JOIN waitlist_entries w ON w.id = o.entry_id
           WHERE w.patient_id = $1""", e2e.world.patients[4]) == "DECLINED"
    no_script_errors(page)
    await ctx.close()


async def test_waitlist_and_call_list_tabs(e2e: E2EWorld, db: asyncpg.Pool,
                                          browser: Browser) -> None:
    w = e2e.world
    # tomorrow: a high-risk booking that answered YES, one that has not answered, a low one
    answered, silent, low = (await book(e2e, 1, 10), await book(e2e, 2, 11),
                             await book(e2e, 5, 12))
    for tok, patient, tier, score in ((answered, 1, 5, 58), (silent, 2, 4, 41),
                                      (low, 5, 1, 5)):
        await db.execute(
            """INSERT INTO risk_assessments (hospital_id, token_id, patient_id, model_version,
                   score, badge, tier, show_probability, factors)
               VALUES ($1, $2, $3, 'logistic-test', $4, $5, $6, 0.5, $7::jsonb)""",
            w.hospital_id, UUID(tok["id"]), w.patients[patient], score,
            "High" if tier >= 4 else "Low", tier,
            '[{"group": "history", "phrase": "missed 2 of 3 past visits", "effect": 0.8},'
            ' {"group": "lead", "phrase": "booked 21 days ahead", "effect": 0.3}]')
        if tier >= 4:
            await db.execute(
                """INSERT INTO notifications_log (hospital_id, patient_id, token_id, channel,
                       event, body, to_masked, status, sent_at, risk_tier, model_version)
                   VALUES ($1, $2, $3, 'SMS', 'CONFIRM_REQUEST', 'x', '+91******0000',
                           'DELIVERED', now(), $4, 'logistic-test')""",
                w.hospital_id, w.patients[patient], UUID(tok["id"]), tier)
    await db.execute(
        """INSERT INTO booking_replies (hospital_id, token_id, reply, channel, provider_id,
               outcome) VALUES ($1, $2, 'YES', 'SMS', $3, 'CONFIRMED')""",
        w.hospital_id, UUID(answered["id"]), f"SM{answered['id']}")

    ctx = await e2e.context(browser, DESK, "receptionist")
    page = await open_page(ctx, f"{e2e.server.base}/reception")
    await page.get_by_test_id("tab-calllist").click()
    rows = page.get_by_test_id("calllist-rows").locator("tr")
    await expect(rows).to_have_count(2)                      # the low-risk one is not there
    await expect(rows.nth(0)).to_contain_text("Confirmed (YES)")
    await expect(rows.nth(1)).to_contain_text("Call")
    await expect(rows.nth(1)).to_contain_text("+919876500002")
    await expect(rows.nth(1)).to_contain_text("missed 2 of 3 past visits")
    await expect(page.locator("#cl-count")).to_have_text("1 to call · 2 targeted")
    await screenshot(page, "reception-call-list")

    await page.get_by_test_id("tab-waitlist").click()
    await page.fill("#wl-patient", "+91 98765 00004")
    await page.select_option("#wl-urgency", "2")
    await page.click("#wl-form button[type=submit]")
    await expect(page.locator("#wl-ok")).to_contain_text("added to the waitlist")
    wl_rows = page.get_by_test_id("waitlist-rows").locator("tr")
    await expect(wl_rows).to_have_count(1)
    await expect(wl_rows.nth(0)).to_contain_text("Patient4 Kumar")
    await expect(wl_rows.nth(0).locator("select")).to_have_value("2")
    # the slot of the silent booking is cancelled and offered to the waitlisted patient
    await e2e.api.post(f"/api/v1/tokens/{silent['id']}/cancel", json={"reason": "x"},
                       headers=e2e.h())
    await waitlist.offer_slot(db, UUID(silent["id"]), utcnow(), SECRET)
    await page.select_option("#wl-filter-department", str(w.department_id))
    await expect(wl_rows.nth(0)).to_contain_text("Offered 11:00 slot")
    await screenshot(page, "reception-waitlist")
    await wl_rows.nth(0).get_by_role("button", name="Remove").click()
    await expect(wl_rows.nth(0)).to_contain_text("CANCELLED")
    no_script_errors(page)
    await ctx.close()
