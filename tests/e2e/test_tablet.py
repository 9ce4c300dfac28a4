"""The doctor's tablet (issue 14): nothing overflows at tablet sizes, waited time counts from
check-in, the risk badge says what it means, and a pause asks how long."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import E2EWorld, no_script_errors, open_page, screenshot

SIZES = [{"width": 1024, "height": 768}, {"width": 1280, "height": 800},
         {"width": 768, "height": 1024}]

# every visible button's box against its card's (and the page against the viewport)
OVERFLOW_JS = """() => {
  const out = [];
  for (const b of document.querySelectorAll('.card button, dialog[open] button')) {
    const box = b.closest('.card, dialog');
    if (!b.offsetParent && !b.closest('dialog[open]')) continue;
    const r = b.getBoundingClientRect(), c = box.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.top < c.top - 0.5
        || r.bottom > c.bottom + 0.5) {
      out.push(`${b.textContent.trim()} [${r.left},${r.right}] in [${c.left},${c.right}]`);
    }
  }
  const page = document.scrollingElement.scrollWidth - window.innerWidth;
  if (page > 0) out.push(`page wider than the screen by ${page}px`);
  return out;
}"""


async def add_risk(db: asyncpg.Pool, e2e: E2EWorld, tok: dict, score: int, badge: str,
                   factors: list[str], explanation: str | None = None) -> None:
    w = e2e.world
    await db.execute(
        """INSERT INTO risk_assessments (hospital_id, token_id, patient_id, model_version,
               score, badge, tier, show_probability, factors, explanation)
           SELECT $1, id, patient_id, 'prior-1', $3, $4, 3, $6, $5::jsonb, $7
           FROM tokens WHERE id = $2""",
        w.hospital_id, uuid.UUID(tok["id"]), score, badge,
        json.dumps([{"group": "g", "phrase": f, "effect": 0.5} for f in factors]),
        1 - score / 100, explanation)


async def tablet(e2e: E2EWorld, browser: Browser, viewport: dict[str, int]) -> Page:
    page = await open_page(await e2e.context(browser, viewport, "doctor"),
                           f"{e2e.server.base}/doctor")
    # the console is up and its queue read (the Next button exists, enabled, from the start)
    await expect(page.locator("#doc-status")).to_be_visible()
    await expect(page.locator("#btn-next")).to_be_enabled()
    return page


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s['width']}x{s['height']}")
async def test_no_button_leaves_its_card(e2e: E2EWorld, browser: Browser, db: asyncpg.Pool,
                                         size: dict[str, int]) -> None:
    toks = [await e2e.issue(p, priority=2 if p == 2 else 1) for p in range(5)]
    await add_risk(db, e2e, toks[1], 62, "High", ["missed 3 of 4 past visits",
                                                  "booked 21 days ahead"])
    await add_risk(db, e2e, toks[3], 18, "Low", ["first visit"])
    page = await tablet(e2e, browser, size)
    await page.click("#btn-next")
    await expect(page.locator(".cur-number")).to_be_visible()   # the senior, first
    await expect(page.locator("#btn-recall")).to_be_enabled()
    await page.get_by_test_id("risk").first.click()
    await expect(page.get_by_test_id("risk-factors")).to_be_visible()
    await screenshot(page, f"tablet-{size['width']}x{size['height']}", full_page=True)
    assert await page.evaluate(OVERFLOW_JS) == []
    await page.click("#btn-pause")
    await expect(page.locator("#pause-dialog")).to_be_visible()
    assert await page.evaluate(OVERFLOW_JS) == []
    no_script_errors(page)


async def test_waited_time_counts_from_check_in_through_recall_and_skip(
        e2e: E2EWorld, browser: Browser, db: asyncpg.Pool) -> None:
    toks = [await e2e.issue(p) for p in range(2)]
    await db.execute("UPDATE tokens SET checked_in_at = now() - interval '40 minutes', "
                     "created_at = now() - interval '40 minutes' WHERE hospital_id = $1",
                     e2e.world.hospital_id)
    page = await tablet(e2e, browser, SIZES[1])
    first = page.locator(f'#waiting tr[data-token="{toks[0]["id"]}"] td.waited')
    await expect(first).to_have_text("40 min")
    await page.click("#btn-next")
    await expect(page.get_by_test_id("current-waited")).to_have_text("Waited 40 min")
    await expect(page.locator("#btn-recall")).to_be_enabled()
    await page.click("#btn-recall")
    await expect(page.locator("#console-ok")).to_contain_text("Recall")
    await expect(page.get_by_test_id("current-waited")).to_have_text("Waited 40 min")
    await page.reload()                               # the server says the same
    await expect(page.get_by_test_id("current-waited")).to_have_text("Waited 40 min")
    await expect(page.locator("#btn-skip")).to_be_enabled()
    await page.click("#btn-skip")
    back = page.locator(f'#waiting tr[data-token="{toks[0]["id"]}"] td.waited')
    await expect(back).to_have_text("40 min")
    await screenshot(page, "tablet-waited-after-skip")
    no_script_errors(page)


async def test_the_risk_badge_says_what_it_means_and_why(
        e2e: E2EWorld, browser: Browser, db: asyncpg.Pool) -> None:
    tok = await e2e.issue(0)
    why = "Missed two of five visits and booked three weeks out; a call may help."
    await add_risk(db, e2e, tok, 32, "Medium", ["missed 2 of 5 past visits",
                                                "booked 21 days ahead", "lives 40 km away"],
                   explanation=why)
    page = await tablet(e2e, browser, SIZES[0])
    badge = page.get_by_test_id("risk")
    await expect(badge).to_have_text("likely to miss: 32%")
    await expect(badge).to_have_attribute("aria-expanded", "false")
    await badge.click()
    factors = page.get_by_test_id("risk-factors")
    await expect(factors.locator("li")).to_have_text(
        ["missed 2 of 5 past visits", "booked 21 days ahead", "lives 40 km away"])
    # the explainer's sentence, when one was written, under the factors
    await expect(page.get_by_test_id("risk-explanation")).to_have_text(why)
    await screenshot(page, "tablet-risk-factors")
    await page.get_by_test_id("risk").click()
    await expect(factors).to_be_hidden()
    await expect(page.get_by_test_id("risk-explanation")).to_be_hidden()
    no_script_errors(page)


async def test_pause_asks_how_long(e2e: E2EWorld, browser: Browser) -> None:
    await e2e.issue(0)
    page = await tablet(e2e, browser, SIZES[1])
    await page.keyboard.press("p")
    dialog = page.locator("#pause-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("[data-minutes]")).to_have_text(
        ["5 min", "10 min", "15 min", "30 min", "Not sure"])
    await screenshot(page, "tablet-pause-dialog")
    await dialog.get_by_role("button", name="15 min").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#doc-status")).to_contain_text("Paused until")
    q = await e2e.queue()
    assert q["doctor"]["status"] == "PAUSED" and q["doctor"]["pause_until"]
    await screenshot(page, "tablet-paused")
    await page.keyboard.press("p")                    # resume: at once, no question
    await expect(page.locator("#doc-status")).to_have_text("Available")
    await page.keyboard.press("p")
    await dialog.get_by_role("button", name="Not sure").click()
    await expect(page.locator("#doc-status")).to_have_text("Paused")
    assert (await e2e.queue())["doctor"]["pause_until"] is None
    no_script_errors(page)
