"""The languages of India on a patient's phone and on the waiting-room board: the patient
page opens in Tamil for a Tamil patient, and a Bengali + English board labels and announces
a call in both (offline fragments when the browser has no local voice)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import E2EWorld, no_script_errors, open_page, screenshot

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


async def test_the_patient_page_in_tamil(e2e: E2EWorld, browser: Browser) -> None:
    pid = e2e.world.patients[2]
    r = await e2e.api.patch(f"/api/v1/patients/{pid}", json={"language": "ta"}, headers=e2e.h())
    assert r.status_code == 200, r.text
    await e2e.issue(1)
    tok = await e2e.issue(2)
    phone = await open_page(await e2e.context(browser, PHONE), tok["patient_link"])

    await expect(phone.locator("html")).to_have_attribute("lang", "ta")
    await expect(phone.get_by_test_id("patient-status")).to_have_text("காத்திருப்பு")
    await expect(phone.get_by_role("button", name="தமிழ்")).to_have_attribute(
        "aria-pressed", "true")
    await expect(phone.get_by_test_id("patient-eta")).not_to_have_text(re.compile(r"(^|\D)0\D"))
    await screenshot(phone, "patient-tamil", full_page=True)

    await phone.get_by_role("button", name="English").click()
    await expect(phone.get_by_test_id("patient-status")).to_have_text("Waiting")
    no_script_errors(phone)


async def test_a_bengali_and_english_board(e2e: E2EWorld, browser: Browser) -> None:
    r = await e2e.api.patch(f"/api/v1/departments/{e2e.world.department_id}",
                            json={"board_languages": ["bn", "en"]}, headers=e2e.h("admin"))
    assert r.status_code == 200, r.text
    bad = await e2e.api.patch(f"/api/v1/departments/{e2e.world.department_id}",
                              json={"board_languages": ["xx"]}, headers=e2e.h("admin"))
    assert bad.status_code == 422, bad.text
    for doctor in range(2):
        await e2e.issue(doctor, doctor)
    board = await open_page(await e2e.context(browser, {"width": 1920, "height": 1080}),
                            e2e.board_url)
    await expect(board.locator("html")).to_have_attribute("lang", "bn")
    await expect(board.locator(".cabin")).to_have_count(3)
    await expect(board.locator(".cabin").first.locator(".cabin-word span[lang]")).to_have_text(
        ["কেবিন", "Cabin"])

    r = await e2e.api.post(f"/api/v1/doctors/{e2e.world.doctors[0]}/next", json={},
                           headers=e2e.h("admin"))
    assert r.status_code == 200, r.text
    number = r.json()["called"]["number"]
    await expect(board.get_by_test_id("call-number")).to_have_text(number)
    await expect(board.locator(".call-label span[lang]")).to_have_text(["টোকেন", "Token"])
    await expect(board.locator(".call-goto span[lang]")).to_have_text(
        ["অনুগ্রহ করে কেবিনে যান", "Please go to cabin"])
    await screenshot(board, "board-bengali-english")

    # spoken in Bengali, then English
    await board.wait_for_function("() => window.opdqBoard.announcer.spoken.length >= 2",
                                  timeout=30000)
    said = await board.evaluate("() => window.opdqBoard.announcer.spoken")
    assert [s["lang"].split("-")[0] for s in said[:2]] == ["bn", "en"], said
    no_script_errors(board)
