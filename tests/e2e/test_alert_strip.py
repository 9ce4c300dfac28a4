"""The admin page's live alert strip and Messages tab, in Chromium against a real server: an
alert appears without a reload, its one-click move transfers the suggested tokens, the alert
goes away when the worker sees the queues even; a person resolves another; sound stays off
until asked; a failed message is explained in words and resent once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from playwright.async_api import Browser, expect

from server import alert_events
from server.store.client import create_redis
from server.store.live import LiveStore
from tests.conftest import Services
from tests.e2e.conftest import E2EWorld, no_script_errors, open_page, screenshot
from tests.queue.conftest import TZ


def clock() -> datetime:
    """Now, but at least 3 minutes into the hospital's day (Dr. Doctor0's shift at 00:01)."""
    local = datetime.now(ZoneInfo(TZ))
    return max(local, local.replace(hour=0, minute=3, second=0, microsecond=0))


async def test_alert_strip_live_move_and_resolve(e2e: E2EWorld, browser: Browser,
                                                 db: asyncpg.Pool, services: Services) -> None:
    w = e2e.world
    await db.execute("UPDATE departments SET late_start_alert_min = 1 WHERE id = $1",
                     w.department_id)
    # from 00:01, not 00:00 (an all-day entry nobody is late for): Dr. Doctor0 can be late
    await db.execute("UPDATE shifts SET start_time = '00:01' WHERE doctor_id = $1",
                     w.doctors[0])
    redis = create_redis(services.redis_url)
    live = LiveStore(redis)
    try:
        ctx = await e2e.context(browser, {"width": 1366, "height": 900}, "admin")
        page = await open_page(ctx, f"{e2e.server.base}/admin")
        strip = page.locator("#alert-strip")
        await expect(strip.locator(".alert-none")).to_have_text("No open alerts.")
        await expect(page.locator("#alert-sound")).to_have_attribute("aria-pressed", "false")

        for p in range(6):                                  # one doctor gets everybody
            await e2e.issue(p, doctor=0)
        await alert_events.check_hospital(db, live, w.hospital_id, clock())
        move = strip.locator("[data-kind=BOTTLENECK] button.primary")
        await expect(move).to_have_text("Move 3 to Dr. Doctor1")   # live: no reload
        await expect(strip.locator("[data-kind=DOCTOR_LATE_START]")).to_contain_text(
            "Dr. Doctor0 has called nobody")
        await screenshot(page, "admin-alert-strip")

        await move.click()
        await expect(strip.locator(".alert-note")).to_have_text("Moved 3 of 3.")
        assert len((await e2e.queue(1))["waiting"]) == 3
        await alert_events.check_hospital(db, live, w.hospital_id, clock() + timedelta(minutes=1))
        await expect(strip.locator("[data-kind=BOTTLENECK]")).to_have_count(0)

        late = strip.locator("[data-kind=DOCTOR_LATE_START]").filter(has_text="Dr. Doctor0")
        await late.get_by_role("button", name="Resolve").click()
        await expect(late).to_have_count(0)
        row = await db.fetchrow(
            """SELECT a.resolved_at, u.username FROM system_alerts a JOIN users u
               ON u.id = a.resolved_by WHERE a.hospital_id = $1 AND a.kind = 'DOCTOR_LATE_START'
               AND a.entity_id = $2""", w.hospital_id, w.doctors[0])
        assert row is not None and row["username"].startswith("admin")

        await page.locator("#alert-sound").click()
        await expect(page.locator("#alert-sound")).to_have_attribute("aria-pressed", "true")
        await expect(page.locator("#alert-sound")).to_have_text("Sound on")
        no_script_errors(page)
    finally:
        await redis.aclose()


async def test_messages_tab_explains_and_resends(e2e: E2EWorld, browser: Browser,
                                                 db: asyncpg.Pool) -> None:
    tok = await e2e.issue(0)
    ok = await e2e.issue(1)
    for t, status, code in ((tok, "FAILED", 21211), (ok, "DELIVERED", None)):
        await db.execute(
            """INSERT INTO notifications_log (hospital_id, patient_id, token_id, channel, event,
                   body, to_masked, status, error_code, attempts)
               SELECT hospital_id, patient_id, id, 'SMS', 'TOKEN_CREATED', 'x', '+91******0000',
                      $2, $3, 1 FROM tokens WHERE id = $1""", t["id"], status, code)
    ctx = await e2e.context(browser, {"width": 1366, "height": 900}, "admin")
    page = await open_page(ctx, f"{e2e.server.base}/admin#messages")
    rows = page.locator(".messages-table tbody tr")
    await expect(rows).to_have_count(2)
    failed = rows.filter(has_text=tok["number"])
    await expect(failed).to_contain_text("Not a valid phone number")
    await expect(rows.filter(has_text=ok["number"]).get_by_role("button")).to_have_count(0)
    await screenshot(page, "admin-messages")
    await failed.get_by_role("button", name="Resend").click()
    await expect(failed).to_contain_text("PENDING")
    await expect(failed.get_by_role("button")).to_have_count(0)     # once
    await page.fill("#msg-token", ok["number"])
    await page.get_by_role("button", name="Show").click()
    await expect(rows).to_have_count(1)
    no_script_errors(page)
