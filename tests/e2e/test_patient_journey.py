"""The patient's journey on a phone, with the doctor's tablet: called ("go to cabin now", still
there after a reload), missed (the call time, never a green thank-you), put back from the
console's Undo and called again; running late moves the token back and the doctor sees the
note; a visit cancelled after a confirmation; the page in the patient's own language."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import (
    PHONE,
    TABLET,
    E2EWorld,
    no_script_errors,
    open_page,
    screenshot,
)
from tests.e2e.test_forms import slot_today
from tests.queue.conftest import TZ

pytestmark = pytest.mark.e2e


async def staff_token(e2e: E2EWorld, token_id: str) -> dict[str, Any]:
    r = await e2e.api.get(f"/api/v1/tokens/{token_id}", headers=e2e.h())
    assert r.status_code == 200, r.text
    return r.json()


async def public_view(e2e: E2EWorld, link: str) -> dict[str, Any]:
    code = link.rstrip("/").rsplit("/", 1)[-1]
    r = await e2e.api.get(f"/api/v1/public/tokens/{code}")
    assert r.status_code == 200, r.text
    return r.json()


async def press_next(tablet: Page) -> None:
    """Next on the console, once it is ready (it rests a moment after each call)."""
    await expect(tablet.locator("#btn-next")).to_be_enabled(timeout=5000)
    await tablet.click("#btn-next")


def is_greenish(rgb: str) -> bool:
    r, g, b = (int(x) for x in re.findall(r"\d+", rgb)[:3])
    return g > r + 20 and g > b


async def test_called_missed_put_back_and_called_again(e2e: E2EWorld, browser: Browser) -> None:
    first = await e2e.issue(0)
    await e2e.issue(1)
    phone = await open_page(await e2e.context(browser, PHONE), first["patient_link"])
    state_title = phone.get_by_test_id("patient-state-title")
    await expect(state_title).to_have_text("You are next")
    await expect(phone.get_by_test_id("patient-eta")).to_be_hidden()   # never "0 min"
    # near the front the screen stays on (Chromium grants the wake lock on a secure origin)
    await expect(phone.locator("body")).to_have_attribute("data-keep-awake", "1")
    await expect(phone.locator("body")).to_have_attribute("data-awake", "1")
    tablet = await open_page(await e2e.context(browser, TABLET, "doctor"),
                             f"{e2e.server.base}/doctor")
    await expect(tablet.locator("#waiting tr")).to_have_count(2)

    # called: the phone says where to go, big, and the tab title blinks it
    await press_next(tablet)
    await expect(phone.get_by_test_id("called-go")).to_have_text("Go to cabin C-101 now")
    await expect(phone.locator("#called")).to_be_visible()
    await expect(phone).to_have_title("CALLED - C-101")
    await screenshot(phone, "journey-called")
    await phone.click("#called-ok")
    await expect(state_title).to_have_text("Go to cabin C-101 now")
    called_at = (await staff_token(e2e, first["id"]))["called_at"]
    at = datetime.fromisoformat(called_at).astimezone(ZoneInfo(TZ)).strftime("%H:%M")
    await expect(phone.get_by_test_id("patient-state-text")).to_have_text(
        f"You were called at {at}.")

    # a reload after the call still says it
    await phone.reload()
    await expect(state_title).to_have_text("Go to cabin C-101 now")
    await expect(phone.get_by_test_id("called-go")).to_have_text("Go to cabin C-101 now")
    await expect(phone.locator("body")).to_have_attribute("data-keep-awake", "1")
    await screenshot(phone, "journey-called-after-reload")
    await phone.click("#called-ok")

    # the patient does not come: the doctor marks a no-show, the phone says what to do
    await expect(tablet.get_by_test_id("current-number")).to_have_text(first["number"])
    await expect(tablet.locator("#btn-noshow")).to_be_enabled()
    await tablet.click("#btn-noshow")
    await expect(state_title).to_have_text("You missed your turn")
    await expect(phone.get_by_test_id("patient-state-text")).to_have_text(
        f"You were called at {at} and did not come: go to the reception desk.")
    await expect(phone.get_by_test_id("patient-status")).to_have_text("No-show")
    state_bg = await phone.get_by_test_id("patient-state").evaluate(
        "el => getComputedStyle(el).backgroundColor")
    assert not is_greenish(state_bg), state_bg
    assert "thank" not in (await phone.locator("body").inner_text()).lower()
    await expect(phone.locator("#late")).to_be_hidden()
    await expect(phone.locator("#cancel")).to_be_hidden()
    await expect(phone.locator("body")).to_have_attribute("data-keep-awake", "")
    await expect(phone.locator("body")).to_have_attribute("data-awake", "")
    await screenshot(phone, "journey-missed")

    # the patient comes back; the console's Undo puts the token back in the queue
    toast = tablet.get_by_test_id("toast").filter(has_text=f"{first['number']} marked as no-show")
    await expect(toast).to_be_visible()
    await expect(tablet.get_by_test_id("last-noshow")).to_contain_text(first["number"])
    await screenshot(tablet, "journey-doctor-undo")
    await toast.get_by_role("button", name="Undo").click()
    await expect(toast).to_be_hidden()
    await expect(tablet.get_by_test_id("last-noshow")).to_be_hidden()
    await expect(tablet.locator("#waiting tr")).to_have_count(2)
    await expect(phone.get_by_test_id("patient-status")).to_have_text("Waiting")
    # behind the one who was waiting (fewer than the department's reinstate places)
    await expect(state_title).to_have_text("1 person ahead of you")
    assert (await staff_token(e2e, first["id"]))["status"] == "WAITING"
    await screenshot(phone, "journey-reinstated")

    # and is called again after the one ahead
    await press_next(tablet)
    await expect(tablet.get_by_test_id("current-number")).to_have_text("CARD-002")
    await expect(state_title).to_have_text("You are next")
    await press_next(tablet)
    await expect(phone.get_by_test_id("called-go")).to_have_text("Go to cabin C-101 now")
    await expect(phone.locator("#called")).to_be_visible()
    await phone.click("#called-ok")
    await expect(state_title).to_have_text("Go to cabin C-101 now")
    await screenshot(phone, "journey-called-again")
    for page in (phone, tablet):
        no_script_errors(page)


async def test_running_late_moves_back_and_tells_the_doctor(e2e: E2EWorld,
                                                           browser: Browser) -> None:
    first = await e2e.issue(0)
    for patient in range(1, 5):
        await e2e.issue(patient)
    tablet = await open_page(await e2e.context(browser, TABLET, "doctor"),
                             f"{e2e.server.base}/doctor")
    await expect(tablet.locator("#waiting tr")).to_have_count(5)
    phone = await open_page(await e2e.context(browser, PHONE), first["patient_link"])
    await expect(phone.get_by_test_id("patient-state-title")).to_have_text("You are next")
    await expect(phone.get_by_test_id("late-left")).to_have_text(
        "You can do this 2 more times today.")

    await phone.get_by_role("button", name="I'll be 20 min late").click()
    await expect(phone.get_by_test_id("patient-action-ok")).to_have_text(
        "Thank you. The doctor knows you will be about 20 min late.")
    view = await public_view(e2e, first["patient_link"])
    assert view["position"] > 1, view
    assert view["late_count"] == 1
    ahead = view["position"] - 1
    await expect(phone.get_by_test_id("patient-state-title")).to_have_text(
        "1 person ahead of you" if ahead == 1 else f"{ahead} people ahead of you")
    await expect(phone.get_by_test_id("late-left")).to_have_text(
        "You can do this once more today.")
    await screenshot(phone, "late-phone")

    # the doctor's console shows the patient's note, and its queue has the new order
    note = tablet.get_by_test_id("toast").filter(has_text=first["number"])
    await expect(note).to_contain_text("late")
    row = tablet.locator("#waiting tr").nth(view["position"] - 1)
    await expect(row.locator("th")).to_have_text(first["number"])
    await expect(row).to_contain_text("running late 20 min")     # stays after the toast
    await screenshot(tablet, "late-doctor-note")

    # the second time is the last of the day: the buttons go, the page says why
    await phone.get_by_role("button", name="I'll be 10 min late").click()
    await expect(phone.get_by_test_id("patient-action-ok")).to_have_text(
        "Thank you. The doctor knows you will be about 10 min late. "
        "That was the last time for today.")
    await expect(phone.locator("#late")).to_be_hidden()
    assert (await public_view(e2e, first["patient_link"]))["late_count"] == 2
    for page in (phone, tablet):
        no_script_errors(page)


async def test_cancel_my_visit_asks_first(e2e: E2EWorld, browser: Browser) -> None:
    tok = await e2e.issue(2)
    phone = await open_page(await e2e.context(browser, PHONE), tok["patient_link"])
    await expect(phone.get_by_test_id("patient-status")).to_have_text("Waiting")

    # a change of mind costs nothing
    await phone.get_by_role("button", name="Cancel my visit").click()
    await expect(phone.locator("#cancel-confirm")).to_be_visible()
    await phone.get_by_role("button", name="No, keep my place").click()
    await expect(phone.locator("#cancel-confirm")).to_be_hidden()
    assert (await staff_token(e2e, tok["id"]))["status"] == "WAITING"

    await phone.get_by_role("button", name="Cancel my visit").click()
    await expect(phone.get_by_text("Cancel your visit? You will lose your place")).to_be_visible()
    await screenshot(phone, "cancel-confirm")
    await phone.get_by_role("button", name="Yes, cancel my visit").click()
    await expect(phone.get_by_test_id("patient-state-title")).to_have_text(
        "Your visit is cancelled")
    await expect(phone.get_by_test_id("patient-status")).to_have_text("Cancelled")
    await expect(phone.locator("#cancel")).to_be_hidden()
    await expect(phone.locator("#late")).to_be_hidden()
    assert (await staff_token(e2e, tok["id"]))["status"] == "CANCELLED"
    assert [t["number"] for t in (await e2e.queue())["waiting"]] == []

    # the link stays valid for the day and says the same after a reload
    await phone.reload()
    await expect(phone.get_by_test_id("patient-state-title")).to_have_text(
        "Your visit is cancelled")
    await screenshot(phone, "cancelled")
    no_script_errors(phone)


async def test_the_page_opens_in_the_patients_language(e2e: E2EWorld, browser: Browser) -> None:
    pid = e2e.world.patients[3]
    r = await e2e.api.patch(f"/api/v1/patients/{pid}", json={"language": "hi"}, headers=e2e.h())
    assert r.status_code == 200, r.text
    tok = await e2e.issue(3, booking_type="ONLINE", scheduled_time=slot_today().isoformat())
    ctx = await e2e.context(browser, PHONE)
    await ctx.grant_permissions(["geolocation"])
    await ctx.set_geolocation({"latitude": 13.0827, "longitude": 80.2707})  # Chennai: too far
    phone = await open_page(ctx, tok["patient_link"])

    # Hindi without asking, refusals included (the distance from the server's problem)
    await expect(phone.locator("html")).to_have_attribute("lang", "hi")
    await expect(phone.get_by_test_id("patient-status")).to_have_text("बुक है")
    await expect(phone.get_by_test_id("patient-state-text")).to_have_text(
        "अस्पताल पहुँचने पर चेक इन करें।")
    await expect(phone.get_by_test_id("patient-hospital")).to_have_text(
        re.compile(r"^Hospital E2E\d+$"))
    await expect(phone.get_by_test_id("patient-department")).to_have_text("Cardiology")
    await phone.get_by_role("button", name="अस्पताल पहुँच गए? चेक इन करें").click()
    await expect(phone.locator("#checkin-msg")).to_have_text(
        re.compile(r"^आप अस्पताल से \d+ किमी दूर हैं। वहाँ पहुँचकर चेक इन करें।$"))
    await screenshot(phone, "patient-hindi-refused")

    # switchable: English at a tap, the same facts
    await phone.get_by_role("button", name="English").click()
    await expect(phone.get_by_test_id("patient-status")).to_have_text("Booked")
    await expect(phone.locator("#checkin-msg")).to_have_text(
        re.compile(r"^You are \d+ km from the hospital. Check in when you are there.$"))
    await expect(phone.get_by_test_id("patient-state-text")).to_have_text(
        "Check in when you arrive at the hospital.")
    await phone.get_by_role("button", name="हिंदी").click()
    await expect(phone.get_by_test_id("patient-status")).to_have_text("बुक है")
    await screenshot(phone, "patient-hindi")
    no_script_errors(phone)


async def test_moved_to_another_doctor_then_seen_then_done(e2e: E2EWorld,
                                                           browser: Browser) -> None:
    tok = await e2e.issue(4)
    phone = await open_page(await e2e.context(browser, PHONE), tok["patient_link"])
    await expect(phone.get_by_test_id("patient-cabin")).to_have_text("C-101")
    await expect(phone.get_by_test_id("patient-moved")).to_be_hidden()

    # the desk moves the patient to Dr. Doctor1: the phone says so, with the new cabin
    r = await e2e.api.post(f"/api/v1/tokens/{tok['id']}/transfer",
                           json={"doctor_id": str(e2e.world.doctors[1])}, headers=e2e.h())
    assert r.status_code == 200, r.text
    moved = phone.get_by_test_id("patient-moved")
    await expect(moved).to_have_text(
        "Your doctor has changed: you will now see Dr. Doctor1 (instead of Dr. Doctor0).")
    await expect(phone.get_by_test_id("patient-cabin")).to_have_text("C-102")
    await expect(phone.get_by_test_id("patient-doctor")).to_have_text("Dr. Doctor1")
    await phone.reload()
    await expect(moved).to_contain_text("Dr. Doctor1 (instead of Dr. Doctor0)")
    await screenshot(phone, "patient-moved")

    # called, seen, done: each state in a sentence
    r = await e2e.api.post(f"/api/v1/doctors/{e2e.world.doctors[1]}/next",
                           json={"current_token_id": None}, headers=e2e.h("doctor2"))
    assert r.status_code == 200, r.text
    await expect(phone.get_by_test_id("called-go")).to_have_text("Go to cabin C-102 now")
    await phone.click("#called-ok")
    for action, title in (("start", "You are with the doctor"),
                          ("complete", "Your visit is complete")):
        r = await e2e.api.post(f"/api/v1/tokens/{tok['id']}/{action}", json={},
                               headers=e2e.h("doctor2"))
        assert r.status_code == 200, r.text
        await expect(phone.get_by_test_id("patient-state-title")).to_have_text(title)
    await expect(phone.get_by_test_id("patient-state-text")).to_have_text(
        "Thank you for visiting.")
    await expect(moved).to_be_hidden()
    await expect(phone.get_by_test_id("patient-waited")).to_have_text(re.compile(r"^\d+ min$"))
    await screenshot(phone, "patient-done")
    no_script_errors(phone)
