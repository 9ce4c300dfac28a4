"""Forms as staff use them: a bad field is named next to that field; the admin's display key
is shown once with its board link; the dashboard draws its charts; every page renders."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import (
    DESK,
    PHONE,
    TABLET,
    E2EWorld,
    no_script_errors,
    open_page,
    screenshot,
)
from tests.queue.conftest import TZ

pytestmark = pytest.mark.e2e


def slot_today(ahead: timedelta = timedelta(minutes=20)) -> datetime:
    """A booking slot soon, on the hospital's today (earlier instead near its midnight)."""
    now = datetime.now(UTC)
    tz = ZoneInfo(TZ)
    if (now + ahead).astimezone(tz).date() != now.astimezone(tz).date():
        return now - ahead
    return now + ahead


async def test_invalid_field_shows_its_error_next_to_it(e2e: E2EWorld, browser: Browser) -> None:
    desk = await open_page(await e2e.context(browser, DESK, "receptionist"),
                           f"{e2e.server.base}/reception")
    # nobody of that name yet: the folded registration form opens with the name typed
    await expect(desk.locator("#register-box")).not_to_have_attribute("open", "")
    await desk.fill("#find-q", "Asha Verma")
    await desk.click("#find-form button[type=submit]")
    await expect(desk.locator("#register-box")).to_have_attribute("open", "")
    await expect(desk.locator("#reg-name")).to_have_value("Asha Verma")
    await desk.fill("#reg-phone", "12345")
    await desk.click("#register-form button[type=submit]")

    phone = desk.locator("#reg-phone")
    await expect(phone).to_have_attribute("aria-invalid", "true")
    error = desk.locator(".field:has(#reg-phone) .field-error")
    await expect(error).to_contain_text("phone number")
    # the message is the field's description (read out with it) and the field has the focus
    described = await phone.get_attribute("aria-describedby")
    assert described and await error.get_attribute("id") in described.split()
    await expect(phone).to_be_focused()
    # the other fields carry no error
    await expect(desk.locator("#reg-name")).not_to_have_attribute("aria-invalid", "true")
    await screenshot(desk, "reception-invalid-field")

    # fixing it clears the error and registers the patient
    await desk.fill("#reg-phone", "+919812345678")
    await desk.click("#register-form button[type=submit]")
    await expect(desk.get_by_test_id("patient-name")).to_have_text("Asha Verma")
    await expect(desk.locator(".field-error")).to_have_count(0)
    no_script_errors(desk)


async def test_admin_display_key_and_dashboard(e2e: E2EWorld, browser: Browser) -> None:
    await e2e.issue(0)
    await e2e.issue(1, doctor=1, priority=2)
    await e2e.issue(2, doctor=None, booking_type="EMERGENCY")
    r = await e2e.api.post(f"/api/v1/doctors/{e2e.world.doctors[0]}/next",
                           json={"current_token_id": None}, headers=e2e.h("doctor"))
    assert r.status_code == 200, r.text

    ctx = await e2e.context(browser, {"width": 1366, "height": 1000}, "admin")
    admin = await open_page(ctx, f"{e2e.server.base}/admin")
    await expect(admin.locator(".tile-value").first).to_have_text("2")
    await expect(admin.locator("svg.chart")).to_have_count(4)
    await screenshot(admin, "admin-dashboard", full_page=True)

    await admin.get_by_role("tab", name="Displays").click()
    await admin.fill("#displays-name", "Cardiology TV")
    await admin.click("#displays-form button[type=submit]")
    url = admin.locator("#new-url")
    await expect(url).to_have_value(re.compile(
        re.escape(f"{e2e.server.base}/board/{e2e.world.department_id}#key=dk_") + r"\S{20,}"))
    # and the command to paste on the TV box, with the flag that lets it sound untouched
    await expect(admin.locator("#new-kiosk")).to_have_value(
        f"chromium --kiosk --noerrdialogs --autoplay-policy=no-user-gesture-required "
        f"'{await url.input_value()}'")
    await screenshot(admin, "admin-displays")

    # the board link works as given, with no login
    board_url = await url.input_value()
    board = await open_page(await e2e.context(browser, {"width": 1920, "height": 1080}), board_url)
    await expect(board.locator(".cabin")).to_have_count(3)
    no_script_errors(board)

    for tab in ("Departments", "Doctors", "Shifts", "Staff", "Doctor leave"):
        await admin.get_by_role("tab", name=tab).click()
        await expect(admin.locator('[role=tabpanel]:not([hidden]) h2')).to_have_text(tab)
    await admin.get_by_role("tab", name="Doctors").click()
    await screenshot(admin, "admin-doctors")
    no_script_errors(admin)


async def test_login_pages_and_hindi(e2e: E2EWorld, browser: Browser) -> None:
    home = await open_page(await e2e.context(browser, TABLET), f"{e2e.server.base}/")
    await expect(home.locator("#login-form")).to_be_visible()
    await screenshot(home, "home")

    # a wrong password is said on the form, not as a crash
    await home.fill("#login-username", "nobody")
    await home.fill("#login-password", "wrong-password")
    await home.click("#login-form button[type=submit]")
    await expect(home.locator("#login-form .form-alert")).to_contain_text("wrong username")

    # the patient page in Hindi, on a phone
    tok = await e2e.issue(3)
    phone = await open_page(await e2e.context(browser, PHONE), tok["patient_link"])
    await expect(phone.get_by_test_id("patient-number")).to_have_text(tok["number"])
    await phone.get_by_role("button", name="हिंदी").click()
    await expect(phone.get_by_test_id("patient-status")).to_have_text("प्रतीक्षा में")
    await screenshot(phone, "patient-hindi")
    for page in (home, phone):
        no_script_errors(page)


async def test_patient_self_check_in_uses_the_geofence(e2e: E2EWorld, browser: Browser) -> None:
    tok = await e2e.issue(4, booking_type="ONLINE", scheduled_time=slot_today().isoformat())
    assert tok["status"] == "BOOKED"
    ctx = await e2e.context(browser, PHONE)
    await ctx.grant_permissions(["geolocation"])
    await ctx.set_geolocation({"latitude": 13.0827, "longitude": 80.2707})  # Chennai: too far
    phone = await open_page(ctx, tok["patient_link"])
    await expect(phone.get_by_test_id("patient-status")).to_have_text("Booked")

    await phone.get_by_role("button", name="I have arrived — check in").click()
    await expect(phone.locator("#checkin-msg")).to_be_visible()
    await expect(phone.locator("#checkin-msg")).to_contain_text("m")
    await screenshot(phone, "patient-check-in-refused")

    await ctx.set_geolocation({"latitude": 12.9717, "longitude": 77.5947})  # at the hospital
    await phone.get_by_role("button", name="I have arrived — check in").click()
    await expect(phone.get_by_test_id("patient-status")).to_have_text("Waiting")
    await expect(phone.locator("#checkin-ok")).to_be_visible()
    await expect(phone.locator("#checkin")).to_be_hidden()
    await screenshot(phone, "patient-checked-in")
    no_script_errors(phone)


async def test_reception_books_checks_in_and_cancels(e2e: E2EWorld, browser: Browser) -> None:
    desk = await open_page(await e2e.context(browser, DESK, "receptionist"),
                           f"{e2e.server.base}/reception")
    desk.on("dialog", lambda dialog: dialog.accept())  # "Cancel token …?" is confirmed
    tz = ZoneInfo(TZ)
    await desk.fill("#find-q", "9876500005")            # a bare Indian mobile number
    await desk.click("#find-form button[type=submit]")
    await desk.get_by_role("button", name="Select Patient5 Kumar").click()

    # an appointment in an hour, to the department (the server picks the doctor)
    await desk.get_by_label("Appointment (booked)").check()
    # the page's datetime-local field is in the browser's zone: the context's, the hospital's
    await desk.fill("#issue-slot", slot_today().astimezone(tz).strftime("%Y-%m-%dT%H:%M"))
    await desk.click("#issue-button")
    await expect(desk.locator("#desk-ok")).to_have_text("Token CARD-001 issued.")
    item = desk.locator("#tokens li").first
    await expect(item).to_contain_text("Booked")

    await desk.locator("#tokens").get_by_role("button", name="Check in CARD-001").click()
    await expect(desk.locator("#desk-ok")).to_have_text("Token CARD-001 checked in.")
    await expect(item).to_contain_text("Waiting")

    # an emergency walk-in jumps the queue (the same patient and department: the desk confirms)
    await desk.get_by_label("Emergency").check()
    await desk.click("#issue-button")
    await desk.get_by_role("button", name="Yes, issue another token").click()
    await expect(desk.locator("#desk-ok")).to_have_text("Token CARD-002 issued.")

    await desk.locator("#tokens").get_by_role("button", name="Cancel CARD-001").click()
    await expect(desk.locator("#desk-ok")).to_have_text("Token CARD-001 cancelled.")
    await expect(desk.locator("#tokens li", has_text="CARD-001")).to_contain_text("Cancelled")
    await screenshot(desk, "reception-tokens")
    no_script_errors(desk)
