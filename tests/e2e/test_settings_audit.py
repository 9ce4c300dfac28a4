"""The admin page's Settings, Audit and Daily summary tabs in Chromium against a real server:
settings saved are what the API then reads (only what changed is sent, audited); the
address-in-circle check is shown before saving and the server's refusal lands next to the
field; the audit lists who did what, filters by person, and downloads the same rows as CSV;
the evening summary is there to read."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from playwright.async_api import Browser, expect

from server.domain import geo
from tests.e2e.conftest import E2EWorld, no_script_errors, open_page, screenshot
from tests.queue.conftest import TZ

VIEW = {"width": 1366, "height": 900}


async def test_settings_tab_saves_checks_the_circle_and_refuses_an_outside_address(
        e2e: E2EWorld, browser: Browser, db: asyncpg.Pool) -> None:
    w = e2e.world
    ctx = await e2e.context(browser, VIEW, "admin")
    page = await open_page(ctx, f"{e2e.server.base}/admin#settings")
    await expect(page.locator("#set-name")).to_have_value(f"Hospital {(await _code(db, w))}")
    check = page.locator("#geo-check")
    await expect(check).to_have_text("Give both the address and the circle to check them.")

    await page.locator("#set-addr-lat").fill("12.9721")
    await page.locator("#set-addr-lon").fill("77.5950")
    far = round(geo.distance_m(12.9721, 77.5950, 12.9716, 77.5946))   # the world's centre
    await expect(check).to_have_text(f"The address is {far} m from the centre: inside the "
                                     "300 m circle.")
    await page.locator("#set-th-idle_min").fill("25")
    await page.locator("#set-reinstate-CARD").fill("6")
    await page.locator("#set-sms").fill("0.25")
    await page.locator("#set-slot").fill("450")
    await page.get_by_label("Waiting-room boards 1").select_option("hi")
    await screenshot(page, "admin-settings", full_page=True)
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator(".settings .form-ok")).to_have_text("Saved.")

    r = await e2e.api.get("/api/v1/hospital", headers=e2e.h("nurse"))
    s = r.json()
    assert s["address"] == {"lat": 12.9721, "lon": 77.595}
    assert s["alert_thresholds"]["idle_min"] == 25
    assert s["reinstate"][0]["reinstate_places"] == 6
    assert s["costs"]["sms"] == 0.25 and s["costs"]["slot_value"] == 450
    assert s["languages"]["board"] == ["hi"]
    (audit,) = await db.fetch("SELECT changes FROM admin_audit WHERE hospital_id = $1 "
                              "AND entity = 'hospital'", w.hospital_id)
    # only what changed was sent (the name, the time zone, the circle were left alone)
    assert set(json.loads(audit["changes"])) == {
        "address_latitude", "address_longitude", "alert_thresholds", "sms_cost", "slot_value",
        "board_languages"}

    # an address 2 km away: the page says so before saving, the server refuses it
    await page.locator("#set-addr-lat").fill("12.99")
    await expect(check).to_contain_text("OUTSIDE the 300 m circle")
    await page.get_by_role("button", name="Save settings").click()
    err = page.locator(".field-error")
    await expect(err).to_contain_text("outside its 300 m radius")
    await expect(page.locator("#set-addr-lat")).to_have_attribute("aria-invalid", "true")
    await screenshot(page, "admin-settings-outside")
    assert await db.fetchval("SELECT address_latitude FROM hospitals WHERE id = $1",
                             w.hospital_id) == 12.9721
    no_script_errors(page)


async def _code(db: asyncpg.Pool, w: object) -> str:
    return str(await db.fetchval("SELECT code FROM hospitals WHERE id = $1",
                                 w.hospital_id))  # type: ignore[attr-defined]


async def test_audit_tab_filters_and_downloads_and_summaries_show(
        e2e: E2EWorld, browser: Browser, db: asyncpg.Pool) -> None:
    w = e2e.world
    r = await e2e.api.patch("/api/v1/hospital", headers=e2e.h("admin"),
                            json={"summary_hour": 19, "costs": {"whatsapp": 0.6}})
    assert r.status_code == 200, r.text
    changed_at = datetime.fromisoformat(r.json()["updated_at"])
    tok = await e2e.issue(0)
    r = await e2e.api.post(f"/api/v1/tokens/{tok['id']}/cancel", headers=e2e.h(),
                           json={"reason": "patient phoned to cancel"})
    assert r.status_code == 200, r.text
    yesterday = date.today() - timedelta(days=1)
    await db.execute(
        """INSERT INTO daily_summaries (hospital_id, summary_date, text, template_text,
                                        written_by)
           VALUES ($1, $2, $3, $3, 'template')""", w.hospital_id, yesterday,
        f"{yesterday:%A %d %B %Y}, City: 212 tokens issued, 180 seen, 14 no-shows, "
        "9 cancelled. Waits: 18 min on average; 9 in 10 patients were called within 41 min. "
        "Busiest: Cardiology (74 tokens, 9 in 10 called within 55 min). 3 live alerts "
        "(2 long waits, 1 bottleneck).")

    ctx = await e2e.context(browser, VIEW, "admin")
    page = await open_page(ctx, f"{e2e.server.base}/admin#audit")
    table = page.locator(".audit-table tbody")
    await page.locator("#audit-source").select_option("all")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(table.locator("tr")).to_have_count(3)
    first = table.locator("tr").first
    await expect(first).to_contain_text(f"token {tok['number']}")
    await expect(first).to_contain_text("WAITING → CANCELLED")
    await expect(first).to_contain_text("patient phoned to cancel")
    await expect(table.locator("tr").nth(2)).to_contain_text("summary_hour: 20 → 19")
    # the hospital's clock (Asia/Kolkata, UTC+05:30), not the browser's (UTC)
    at = changed_at.astimezone(ZoneInfo(TZ))
    await expect(table.locator("tr").nth(2).locator("td").first).to_have_text(
        at.strftime("%Y-%m-%d %H:%M"))
    await expect(page.locator(".audit .hint")).to_have_text(
        f"Times on the hospital's clock ({TZ}).")
    await screenshot(page, "admin-audit")

    receptionist = await db.fetchval(
        "SELECT id FROM users WHERE hospital_id = $1 AND role = 'receptionist' LIMIT 1",
        w.hospital_id)
    await page.locator("#audit-actor").select_option(str(receptionist))
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(table.locator("tr")).to_have_count(2)
    await expect(table.locator("tr[data-source=setup]")).to_have_count(0)

    href = await page.locator("#audit-csv").get_attribute("href")
    assert href and "format=csv" in href and f"actor_id={receptionist}" in href
    got = await ctx.request.get(f"{e2e.server.base}{href}")
    assert got.ok and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await got.text())))
    assert [row["action"] for row in rows] == ["cancel", "issue"]

    await page.get_by_role("tab", name="Daily summary").click()
    summary = page.locator(".summary").first
    await expect(summary.locator(".summary-text")).to_contain_text("212 tokens issued")
    await screenshot(page, "admin-daily-summary")
    no_script_errors(page)
