"""The desk's list of today's tokens shows each scored token's no-show risk: "likely to miss:
N%" coloured by badge, the tier as five dots, and on a tap the top factors (as the doctor's
console does); a token without a score has no badge."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import DESK, E2EWorld, no_script_errors, open_page, screenshot

pytestmark = pytest.mark.e2e

FACTORS = ('[{"group": "history", "phrase": "missed 2 of 3 past visits", "effect": 0.8},'
           ' {"group": "lead", "phrase": "booked 21 days ahead", "effect": 0.4},'
           ' {"group": "age", "phrase": "aged 18-25", "effect": 0.2},'
           ' {"group": "day", "phrase": "a Monday", "effect": 0.1}]')


async def test_risk_badge_on_the_desks_list(e2e: E2EWorld, db: asyncpg.Pool,
                                           browser: Browser) -> None:
    w = e2e.world
    risky, plain = await e2e.issue(1), await e2e.issue(2)
    await db.execute(
        """INSERT INTO risk_assessments (hospital_id, token_id, patient_id, model_version,
               score, badge, tier, show_probability, factors)
           VALUES ($1, $2, $3, 'logistic-test', 41, 'High', 4, 0.59, $4::jsonb)""",
        w.hospital_id, UUID(risky["id"]), w.patients[1], FACTORS)

    ctx = await e2e.context(browser, DESK, "receptionist")
    desk = await open_page(ctx, f"{e2e.server.base}/reception")
    rows = desk.locator("#day-rows tr")
    await expect(rows).to_have_count(2)
    row = desk.locator("#day-rows tr", has=desk.locator(".tok", has_text=risky["number"]))
    other = desk.locator("#day-rows tr", has=desk.locator(".tok", has_text=plain["number"]))
    badge = row.get_by_test_id("risk")
    await expect(badge).to_contain_text("likely to miss: 41%")
    await expect(badge).to_have_class("badge risk-high risk-btn")
    await expect(badge).to_have_attribute("data-tier", "4")
    await expect(badge.locator(".risk-tier")).to_have_text("●●●●○")
    await expect(other.get_by_test_id("risk")).to_have_count(0)
    await expect(row.get_by_test_id("risk-factors")).to_have_count(0)

    await badge.click()                              # the top three factors, strongest first
    items = row.get_by_test_id("risk-factors").locator("li")
    await expect(items).to_have_text(["missed 2 of 3 past visits", "booked 21 days ahead",
                                      "aged 18-25"])
    await expect(badge).to_have_attribute("aria-expanded", "true")
    await desk.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await screenshot(desk, "desk-risk-badge")
    await badge.click()
    await expect(row.get_by_test_id("risk-factors")).to_have_count(0)
    no_script_errors(desk)
