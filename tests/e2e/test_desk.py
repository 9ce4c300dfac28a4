"""The reception desk's day (issue 13), played in the browser: find a patient by name in Latin
and Devanagari, be warned of a duplicate, issue, print the slip in the patient's language at
58 and 80 mm; the day's list follows the doctor live and puts a no-show back; a bad phone in
an edit is named next to the field; 300 tokens filter without a stall."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.e2e.conftest import (
    DESK,
    SCREENSHOTS,
    E2EWorld,
    no_script_errors,
    open_page,
    screenshot,
)
from tests.queue.conftest import TZ

pytestmark = pytest.mark.e2e

FILTER_BUDGET_MS = 100   # one keystroke in the search box over 300 rows, layout included
HINDI_MONTHS = ["जनवरी", "फ़रवरी", "मार्च", "अप्रैल", "मई", "जून", "जुलाई", "अगस्त", "सितंबर",
                "अक्तूबर", "नवंबर", "दिसंबर"]
# window.print() would open a dialog in a headed browser: count the calls instead
COUNT_PRINTS = "window.__prints = 0; window.print = () => { window.__prints += 1; };"


async def desk_page(e2e: E2EWorld, browser: Browser) -> Page:
    ctx = await e2e.context(browser, DESK, "receptionist")
    await ctx.add_init_script(COUNT_PRINTS)
    page = await open_page(ctx, f"{e2e.server.base}/reception")
    await expect(page.locator("#today-count")).to_contain_text("shown")
    return page


async def register(e2e: E2EWorld, **body: Any) -> dict[str, Any]:
    r = await e2e.api.post("/api/v1/patients", json=body, headers=e2e.h())
    assert r.status_code == 201, r.text
    return r.json()


async def find(desk: Page, text: str) -> None:
    await desk.fill("#find-q", text)
    await desk.click("#find-form button[type=submit]")


def row(desk: Page, number: str) -> Locator:
    return desk.locator("#day-rows tr", has=desk.locator(".tok", has_text=number))


async def test_desk_finds_by_name_warns_of_duplicate_issues_and_prints(
        e2e: E2EWorld, browser: Browser) -> None:
    for i, name in enumerate(("Rahul Sharma", "Sharmila Rao", "Priya Nair")):
        await register(e2e, name=name, phone=f"+91981112000{i}")
    hindi = await register(e2e, name="राहुल शर्मा", phone="+919811122233", language="hi")
    desk = await desk_page(e2e, browser)

    # a Latin name by the start of any word, case-insensitive
    await find(desk, "sha")
    await expect(desk.locator("#results li")).to_have_count(2)
    await find(desk, "RAHUL SH")
    await expect(desk.locator("#results li")).to_have_count(1)
    await expect(desk.locator("#results")).to_contain_text("Rahul Sharma")
    # Devanagari, by the start of the surname
    await find(desk, "शर्")
    await expect(desk.locator("#results li")).to_have_count(1)
    await screenshot(desk, "desk-find-devanagari")
    await desk.get_by_role("button", name="Select राहुल शर्मा").click()
    await expect(desk.get_by_test_id("patient-name")).to_have_text("राहुल शर्मा")

    # the first token: its number, position and ETA range are shown at once
    await desk.select_option("#issue-doctor", label="Dr. Doctor0")
    await desk.click("#issue-button")
    await expect(desk.get_by_test_id("issued-number")).to_have_text("CARD-001")
    await expect(desk.get_by_test_id("issued-position")).to_have_text("1")
    await expect(desk.get_by_test_id("issued-eta")).to_have_text(re.compile(r"min|moment"))
    await expect(row(desk, "CARD-001")).to_contain_text("Waiting")

    # the same patient and department again: the desk is warned and shown the existing token
    await desk.click("#issue-button")
    dup = desk.locator("#dup")
    await expect(dup).to_be_visible()
    await expect(dup).to_contain_text("CARD-001")
    await expect(dup).to_contain_text("Waiting")
    await screenshot(desk, "desk-duplicate-warning")
    assert await desk.locator("#day-rows tr").count() == 1    # nothing issued yet
    await desk.get_by_role("button", name="Yes, issue another token").click()
    await expect(desk.get_by_test_id("issued-number")).to_have_text("CARD-002")
    await expect(dup).to_be_hidden()
    await expect(desk.locator("#day-rows tr")).to_have_count(2)
    await screenshot(desk, "desk-issued")

    # the slip: in Hindi (the patient's language) although the desk works in English
    await desk.click("#issued-print")
    await desk.wait_for_function("window.__prints === 1")
    slip = desk.locator("#slip")
    await expect(slip.get_by_test_id("slip-number")).to_have_text("CARD-002")
    today = datetime.now(ZoneInfo(TZ))
    await expect(slip.get_by_test_id("slip-date")).to_have_text(
        f"{today.day} {HINDI_MONTHS[today.month - 1]} {today.year}")
    await expect(slip.get_by_test_id("slip-time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    await expect(slip.get_by_test_id("slip-department")).to_have_text("Cardiology")
    me = (await e2e.api.get("/api/v1/me", headers=e2e.h())).json()
    await expect(slip.get_by_test_id("slip-hospital")).to_have_text(me["hospital"]["name"])
    text = await slip.inner_text()
    for label in ("टोकन", "दिनांक", "समय", "डॉक्टर", "अनुमानित प्रतीक्षा", "मिनट"):
        assert label in text, (label, text)
    assert await slip.locator("svg path").count() == 1     # the QR code of the patient's page
    assert await slip.get_attribute("lang") == "hi"

    # printed at 80 mm, then 58 mm (the setting is remembered)
    await desk.emulate_media(media="print")
    for width, mm in (("80", 72), ("58", 48)):
        await desk.emulate_media(media="screen")
        await desk.select_option("#slip-width", width)
        await desk.click("#issued-print")
        await desk.emulate_media(media="print")
        box = await slip.bounding_box()
        assert box and abs(box["width"] - mm * 96 / 25.4) < 2, (width, box)
        await expect(desk.locator("main")).to_be_hidden()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await slip.screenshot(path=str(SCREENSHOTS / f"desk-slip-{width}mm.png"))
    await desk.emulate_media(media="screen")
    await desk.reload()
    await expect(desk.locator("#slip-width")).to_have_value("58")
    # the Devanagari font is the vendored one, loaded from our own server
    loaded = await desk.evaluate(
        "document.fonts.load('16px \"Noto Sans Devanagari\"', 'शर्मा').then(f => f.length)")
    assert loaded >= 1
    assert hindi["language"] == "hi"
    no_script_errors(desk)


async def test_desk_list_is_live_marks_priorities_and_reinstates(
        e2e: E2EWorld, browser: Browser) -> None:
    first = await e2e.issue(0)
    senior = await e2e.issue(1, doctor=1, priority=2)
    desk = await desk_page(e2e, browser)
    await expect(desk.locator("#day-rows tr")).to_have_count(2)
    await expect(row(desk, senior["number"])).to_have_class(re.compile(r"\bprio-2\b"))
    await expect(row(desk, senior["number"])).to_contain_text("Senior")

    # another client issues an emergency: the row appears, marked, without a reload
    emergency = await e2e.issue(2, doctor=None, booking_type="EMERGENCY")
    await expect(row(desk, emergency["number"])).to_have_class(re.compile(r"\bprio-3\b"))
    await expect(row(desk, emergency["number"])).to_contain_text("Emergency")

    # the doctor calls: the desk's row says Called, live
    r = await e2e.api.post(f"/api/v1/doctors/{e2e.world.doctors[0]}/next",
                           json={"current_token_id": None}, headers=e2e.h("doctor"))
    assert r.status_code == 200, r.text
    called = r.json()["called"]
    assert called["id"] == first["id"]
    called_number = first["number"]
    await expect(row(desk, called_number).locator(".badge.status")).to_have_text("Called")
    await desk.locator(".today").scroll_into_view_if_needed()
    await screenshot(desk, "desk-list-live")

    # the patient does not come: no-show; the desk sees it and puts them back
    called_id = first["id"]
    r = await e2e.api.post(f"/api/v1/tokens/{called_id}/no-show", json={},
                           headers=e2e.h("doctor"))
    assert r.status_code == 200, r.text
    missed = row(desk, called_number)
    await expect(missed.locator(".badge.status")).to_have_text("No-show")
    reinstate = missed.get_by_role("button", name=f"Reinstate {called_number}")
    await expect(reinstate).to_be_visible()
    await screenshot(desk, "desk-no-show")
    await reinstate.click()
    await expect(missed.locator(".badge.status")).to_have_text("Waiting")
    await expect(reinstate).to_have_count(0)
    r = await e2e.api.get(f"/api/v1/tokens/{called_id}", headers=e2e.h())
    assert r.json()["status"] == "WAITING"
    await screenshot(desk, "desk-reinstated")

    # the filters: by status, and the search box by token number
    await desk.select_option("#f-status", "WAITING")
    await expect(desk.locator("#day-rows tr:not([hidden])")).to_have_count(3)
    await desk.select_option("#f-status", "")
    await desk.fill("#f-q", str(int(emergency["number"].split("-")[1])))
    await expect(desk.locator("#day-rows tr:not([hidden])")).to_have_count(1)

    # the desk in Hindi: the list is re-labelled in place
    await desk.fill("#f-q", "")
    await desk.get_by_role("button", name="हिंदी").click()
    await expect(missed.locator(".badge.status")).to_have_text("प्रतीक्षा में")
    await expect(row(desk, emergency["number"])).to_contain_text("आपातकालीन")
    await desk.locator(".today").scroll_into_view_if_needed()
    await screenshot(desk, "desk-list-hindi")
    no_script_errors(desk)


async def test_desk_edit_with_a_bad_phone_names_the_field(
        e2e: E2EWorld, browser: Browser) -> None:
    desk = await desk_page(e2e, browser)
    await find(desk, "98765 00004")   # phone digits as people type them
    await desk.get_by_role("button", name="Select Patient4 Kumar").click()
    await desk.get_by_role("button", name="Edit details").click()
    await desk.fill("#edit-name", "Patient4 Kumari")
    await desk.fill("#edit-phone", "12345")
    await desk.click("#edit-form button[type=submit]")
    phone = desk.locator("#edit-phone")
    await expect(phone).to_have_attribute("aria-invalid", "true")
    await expect(desk.locator(".field:has(#edit-phone) .field-error")).to_be_visible()
    await expect(desk.locator("#edit-name")).not_to_have_attribute("aria-invalid", "true")
    await screenshot(desk, "desk-edit-bad-phone")
    # nothing changed, the name included
    r = await e2e.api.get(f"/api/v1/patients/{e2e.world.patients[4]}", headers=e2e.h())
    assert (r.json()["name"], r.json()["phone"]) == ("Patient4 Kumar", "+919876500004")

    await desk.fill("#edit-phone", "9876512345")
    await desk.select_option("#edit-language", "hi")
    await desk.click("#edit-form button[type=submit]")
    await expect(desk.locator("#desk-ok")).to_have_text("Patient details saved.")
    await expect(desk.get_by_test_id("patient-name")).to_have_text("Patient4 Kumari")
    r = await e2e.api.get(f"/api/v1/patients/{e2e.world.patients[4]}", headers=e2e.h())
    assert (r.json()["phone"], r.json()["language"]) == ("+919876512345", "hi")
    no_script_errors(desk)


async def many_tokens(db: asyncpg.Pool, e2e: E2EWorld, n: int) -> None:
    """n finished tokens of today, written straight to the record (issuing 300 through the
    API would take the test's whole time budget; the list only reads them)."""
    w = e2e.world
    today = datetime.now(ZoneInfo(TZ)).date()
    now = datetime.now(UTC)
    await db.executemany(
        """INSERT INTO tokens (hospital_id, department_id, doctor_id, patient_id, service_date,
                               seq, number, booking_type, priority, status, public_code,
                               created_at, completed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'WALK_IN', $8, $9, $10, $11, $12)""",
        [(w.hospital_id, w.department_id, w.doctors[i % 3], w.patients[i % 6], today, i + 1,
          f"CARD-{i + 1:03d}", 1 + (i % 7 == 0), "COMPLETED" if i % 2 else "CANCELLED",
          uuid4().hex, now - timedelta(seconds=n - i), now) for i in range(n)])


async def test_desk_renders_and_filters_300_tokens_without_a_stall(
        e2e: E2EWorld, browser: Browser, db: asyncpg.Pool) -> None:
    await many_tokens(db, e2e, 300)
    desk = await desk_page(e2e, browser)
    await expect(desk.locator("#day-rows tr")).to_have_count(300)
    await expect(desk.locator("#today-count")).to_have_text("300 of 300 shown")
    # one keystroke, then the layout it causes (what the eye waits for)
    timings = await desk.evaluate("""() => {
        const box = document.querySelector('#f-q');
        const out = [];
        for (const text of ['1', '12', '123', 'patient3', 'kum', '']) {
            const t0 = performance.now();
            box.value = text;
            box.dispatchEvent(new Event('input', { bubbles: true }));
            document.body.getBoundingClientRect();
            out.push(performance.now() - t0);
        }
        return out;
    }""")
    assert max(timings) < FILTER_BUDGET_MS, timings
    await desk.fill("#f-q", "123")
    await expect(desk.locator("#day-rows tr:not([hidden])")).to_have_count(1)
    await desk.fill("#f-q", "patient3")
    await expect(desk.locator("#day-rows tr:not([hidden])")).to_have_count(50)
    await desk.locator(".today").scroll_into_view_if_needed()
    await screenshot(desk, "desk-300-filtered")
    print(f"desk filter keystroke over 300 rows, ms: {[round(t, 1) for t in timings]}")
    no_script_errors(desk)
