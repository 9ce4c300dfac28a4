"""Administration → Reports in a browser, on the demo's six weeks: charts, table, filters,
custom range and the CSV link, on a laptop (1366x768) and a projector (1920x1080)."""

from __future__ import annotations

import csv
import io
import re

import asyncpg
from playwright.async_api import Browser, expect

from server.demo import DEMO_LOGINS, load_demo
from tests.api.helpers import session_token
from tests.e2e.conftest import Server, no_script_errors, open_page, screenshot

LAPTOP = {"width": 1366, "height": 768}
PROJECTOR = {"width": 1920, "height": 1080}


async def test_reports_page_shows_the_demo_history(server: Server, db: asyncpg.Pool,
                                                   e2e_db: str, browser: Browser) -> None:
    await load_demo(e2e_db)   # once per run: the demo hospital, its history up to yesterday
    admin_id = await db.fetchval("SELECT id FROM users WHERE username = $1",
                                 DEMO_LOGINS["admin"][0])
    token = await session_token(db, admin_id)

    ctx = await browser.new_context(viewport=LAPTOP, locale="en-GB", timezone_id="Asia/Kolkata")
    await ctx.add_cookies([{"name": "opdq_session", "value": token, "url": server.base}])
    page = await open_page(ctx, f"{server.base}/admin#reports")
    panel = page.locator("#panel-reports")
    await expect(page.get_by_role("tab", name="Reports")).to_have_attribute("aria-selected", "true")
    await expect(panel.locator(".uplot canvas")).to_have_count(5)
    await expect(panel.locator("#report-table tbody tr")).to_have_count(7)   # seven doctors
    tiles = panel.locator(".tile-value")
    await expect(tiles).to_have_count(6)
    assert all(v not in ("—", "0", "0%") for v in await tiles.all_inner_texts())
    # every chart has a text summary for those who cannot see it
    for label in await panel.locator(".report-chart").evaluate_all(
            "els => els.map(e => e.getAttribute('aria-label'))"):
        assert re.search(r"\d+ days; latest", label), label
    await screenshot(page, "reports-laptop")
    await screenshot(page, "reports-laptop-full", full_page=True)

    # one department: its two doctors; the CSV link carries the same filter
    await panel.get_by_label("Department").select_option(label="Cardiology")
    await expect(panel.locator("#report-table tbody tr")).to_have_count(2)
    await panel.get_by_role("button", name="Last 90 days").click()
    await expect(panel.get_by_role("button", name="Last 90 days")).to_have_attribute(
        "aria-pressed", "true")
    href = await panel.locator("#report-csv").get_attribute("href")
    assert href and "format=csv" in href and "department_id=" in href
    r = await page.request.get(f"{server.base}{href}")
    assert r.ok and r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(await r.text())))
    assert {row["department_name"] for row in table} == {"Cardiology"}
    assert len({row["doctor_name"] for row in table}) == 2 and len(table) > 50
    await screenshot(page, "reports-cardiology-90-days")

    # a custom range of one week
    await panel.get_by_role("button", name="Custom").click()
    last = await panel.locator("#report-to").input_value()
    await panel.locator("#report-from").fill(last[:8] + "01")
    await panel.get_by_role("button", name="Show").click()
    await expect(panel.locator("#report-period")).to_contain_text(f"{last[:8]}01 to {last}")
    await expect(panel.locator(".uplot canvas")).to_have_count(5)

    # the projector: the same page, bigger, two charts a row
    await page.set_viewport_size(PROJECTOR)
    await panel.get_by_label("Department").select_option(label="All")
    await panel.get_by_role("button", name="Last 30 days").click()
    await expect(panel.locator("#report-table tbody tr")).to_have_count(7)
    # the charts are drawn again for the new range (each canvas replaced): wait until the
    # one on the page now measures two a row, full width (a box read between a removal and
    # its replacement would be None)
    await expect(panel.locator(".uplot canvas")).to_have_count(5)
    await page.wait_for_function("""() => {
        const c = document.querySelector("#panel-reports .report-chart canvas");
        if (!c) return false;
        const r = c.getBoundingClientRect();
        return r.width > 800 && r.height >= 300;
    }""")
    await screenshot(page, "reports-projector")
    no_script_errors(page)
    await ctx.close()
