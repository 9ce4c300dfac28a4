"""The live queue as people see it: reception issues, the patient watches, the doctor calls,
the board and the phone show the call within a second; a double tap calls once; the board
comes back by itself after the server restarts."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import (
    BOARD,
    DESK,
    PHONE,
    TABLET,
    E2EWorld,
    no_script_errors,
    open_page,
    screenshot,
)

pytestmark = pytest.mark.e2e

CALL_BUDGET_MS = 1000  # the call must be on the board and the phone within a second


async def test_reception_to_call_on_board_and_phone(e2e: E2EWorld, browser: Browser) -> None:
    w = e2e.world
    # reception: find the patient by UHID, issue a walk-in token to Dr. Doctor0
    desk = await open_page(await e2e.context(browser, DESK, "receptionist"),
                           f"{e2e.server.base}/reception")
    await desk.fill("#find-q", "UH00000")
    await desk.click("#find-form button[type=submit]")
    await desk.get_by_role("button", name="Select Patient0 Kumar").click()
    await expect(desk.get_by_test_id("patient-name")).to_have_text("Patient0 Kumar")
    await desk.select_option("#issue-doctor", label="Dr. Doctor0")
    await desk.click("#issue-button")
    await expect(desk.locator("#desk-ok")).to_have_text("Token CARD-001 issued.")
    await expect(desk.locator("#tokens li").first).to_contain_text("Waiting")
    await screenshot(desk, "reception")
    # the printed slip: number, cabin and a QR code of the patient's page
    await desk.locator("#tokens").get_by_role("button", name="Print slip CARD-001").click()
    await expect(desk.locator("#slip").get_by_test_id("slip-number")).to_have_text("CARD-001")
    await expect(desk.locator("#slip svg path")).to_have_count(1)
    await desk.emulate_media(media="print")
    await screenshot(desk, "reception-slip")
    await desk.emulate_media(media="screen")
    no_script_errors(desk)

    q = await e2e.queue()
    assert [t["number"] for t in q["waiting"]] == ["CARD-001"]
    link = q["waiting"][0]["patient_link"]

    # the patient's phone shows the token, its position and ETA
    phone = await open_page(await e2e.context(browser, PHONE), link)
    await expect(phone.get_by_test_id("patient-number")).to_have_text("CARD-001")
    await expect(phone.get_by_test_id("patient-status")).to_have_text("Waiting")
    await expect(phone.get_by_test_id("patient-state-title")).to_have_text("You are next")
    await screenshot(phone, "patient")

    # the waiting-room board lists it as next for cabin C-101
    board = await open_page(await e2e.context(browser, BOARD), e2e.board_url)
    c101 = board.locator(f'.cabin[data-doctor="{w.doctors[0]}"]')
    await expect(c101.locator(".next li .num")).to_have_text(["CARD-001"])
    await screenshot(board, "board")

    # the doctor logs in on the tablet and presses Next
    tablet = await open_page(await e2e.context(browser, TABLET), f"{e2e.server.base}/doctor")
    await tablet.fill("#login-username", await username(e2e, "doctor"))
    await tablet.fill("#login-password", "correct-horse-battery")
    await tablet.click("#login-form button[type=submit]")
    await expect(tablet.locator("#waiting tr")).to_have_count(1)
    await expect(tablet.locator("#btn-next")).to_be_enabled()
    await screenshot(tablet, "doctor")
    await tablet.click("#btn-next")

    # within a second: the board's call screen and the phone's alert
    await expect(board.get_by_test_id("call-number")).to_have_text("CARD-001",
                                                                     timeout=CALL_BUDGET_MS)
    await expect(board.locator("#call")).to_be_visible(timeout=CALL_BUDGET_MS)
    await expect(phone.get_by_test_id("called-number")).to_have_text("CARD-001",
                                                                      timeout=CALL_BUDGET_MS)
    await expect(phone.locator("#called")).to_be_visible(timeout=CALL_BUDGET_MS)
    await screenshot(board, "board-call")
    await screenshot(phone, "patient-called")
    # spoken offline (no speech voice in headless Chromium): the shipped fragments, in order
    spoken = await board.wait_for_function(
        "() => window.opdqBoard.announcer.spoken.at(-1)", timeout=10000)
    said = await spoken.json_value()
    assert {k: said[k] for k in ("via", "lang", "parts")} == {
        "via": "fragments", "lang": "en",
        "parts": ["token", "letter-c", "letter-a", "letter-r", "letter-d", "n1",
                  "cabin", "letter-c", "n1", "hundred", "n1"]}

    await expect(tablet.get_by_test_id("current-number")).to_have_text("CARD-001")
    await screenshot(tablet, "doctor-current")
    # once the call screen has gone, the cabin shows the token as now serving
    await expect(c101.get_by_test_id("now-number")).to_have_text("CARD-001")
    await expect(board.locator("#call")).to_be_hidden(timeout=12000)
    await screenshot(board, "board-serving")
    for page in (board, phone, tablet):
        no_script_errors(page)


async def test_double_tap_on_next_calls_one_token(e2e: E2EWorld, browser: Browser) -> None:
    for patient in range(3):
        await e2e.issue(patient)
    tablet = await open_page(await e2e.context(browser, TABLET, "doctor"),
                             f"{e2e.server.base}/doctor")
    await expect(tablet.locator("#waiting tr")).to_have_count(3)
    await expect(tablet.locator("#btn-next")).to_be_enabled()

    await tablet.dblclick("#btn-next")  # two taps, 100 ms apart at most
    # and two clicks in the same instant, as a bouncing touch screen sends them
    await tablet.locator("#btn-next").evaluate("b => { b.click(); b.click(); }")
    await expect(tablet.get_by_test_id("current-number")).to_have_text("CARD-001")
    # the button rests after a call, then comes back for the real next press
    await expect(tablet.locator("#btn-next")).to_be_enabled(timeout=5000)

    q = await e2e.queue()
    assert q["current"]["number"] == "CARD-001"
    assert [t["number"] for t in q["waiting"]] == ["CARD-002", "CARD-003"]
    await expect(tablet.locator("#waiting tr")).to_have_count(2)

    # keyboard: S starts the consultation, P pauses (Next rests), P resumes
    status = tablet.locator("#current .badge.status")
    await tablet.keyboard.press("s")
    await expect(status).to_have_text("With the doctor")
    await tablet.keyboard.press("p")
    await tablet.locator("#pause-dialog").get_by_role("button", name="Not sure").click()
    await expect(tablet.locator("#doc-status")).to_have_text("Paused")
    await expect(tablet.locator("#btn-next")).to_be_disabled()
    await tablet.keyboard.press("p")
    await expect(tablet.locator("#doc-status")).to_have_text("Available")
    await expect(tablet.locator("#btn-next")).to_be_enabled()
    no_script_errors(tablet)


async def test_board_recovers_after_server_restart(e2e: E2EWorld, browser: Browser) -> None:
    await e2e.issue(0)
    board = await open_page(await e2e.context(browser, BOARD), e2e.board_url)
    badge = board.get_by_test_id("live-badge")
    await expect(board.locator(".cabin .next li .num").first).to_have_text("CARD-001")
    await expect(badge).to_be_hidden()

    e2e.server.kill()
    await expect(badge).to_be_visible(timeout=8000)
    await expect(badge).to_contain_text("Reconnecting")
    await screenshot(board, "board-reconnecting")

    e2e.server.start()
    await expect(badge).to_be_hidden(timeout=20000)

    r = await e2e.api.post(f"/api/v1/doctors/{e2e.world.doctors[0]}/next",
                           json={"current_token_id": None}, headers=e2e.h("doctor"))
    assert r.status_code == 200, r.text
    await expect(board.get_by_test_id("call-number")).to_have_text("CARD-001",
                                                                     timeout=CALL_BUDGET_MS)
    await screenshot(board, "board-after-restart")
    no_script_errors(board)


async def username(e2e: E2EWorld, role: str) -> str:
    r = await e2e.api.get("/api/v1/me", headers=e2e.h(role))
    assert r.status_code == 200, r.text
    return str(r.json()["user"]["username"])


async def test_announcements_are_queued_and_worded(e2e: E2EWorld, browser: Browser) -> None:
    page = await open_page(await e2e.context(browser, PHONE), f"{e2e.server.base}/")
    # two calls at once: spoken one after the other, each in Hindi then English; a third
    # that is no longer current when its turn comes is not spoken at all
    log = await page.evaluate("""async () => {
        const { Announcer } = await import('/static/board/announce.js');
        const a = new Announcer({ langs: () => ['hi', 'en'], current: (c) => c.id !== 'gone' });
        a.enqueue({ id: 'a', number: 'GEN-007', cabin: 'C-101' });
        a.enqueue({ id: 'gone', number: 'GEN-009', cabin: '2' });
        a.enqueue({ id: 'b', number: 'GEN-008', cabin: '3' });
        while (a.running) await new Promise((r) => setTimeout(r, 50));
        return a.spoken;
    }""")
    assert [(s["id"], s["lang"], s["parts"]) for s in log] == [
        ("a", "hi", ["token", "letter-g", "letter-e", "letter-n", "n7", "cabin", "letter-c",
                     "n1", "hundred", "n1", "come"]),
        ("a", "en", ["token", "letter-g", "letter-e", "letter-n", "n7", "cabin", "letter-c",
                     "n1", "hundred", "n1"]),
        ("b", "hi", ["token", "letter-g", "letter-e", "letter-n", "n8", "cabin", "n3", "come"]),
        ("b", "en", ["token", "letter-g", "letter-e", "letter-n", "n8", "cabin", "n3"]),
    ]
    words = await page.evaluate("""async () => {
        const m = await import('/static/board/announce.js');
        return [0, 7, 45, 100, 145, 1045].map((n) => m.numberFragments(n).join(' '));
    }""")
    assert words == ["n0", "n7", "n45", "n1 hundred", "n1 hundred n45",
                     "n1 thousand n45"]
    no_script_errors(page)


async def test_the_doctor_console_applies_events_instead_of_reading_the_queue_again(
        e2e: E2EWorld, browser: Browser) -> None:
    """Next, start and pause reach the console as events and are applied as they are; the
    queue is read again only for a token the console has not seen (its staff view)."""
    for patient in range(3):
        await e2e.issue(patient)
    ctx = await e2e.context(browser, TABLET, "doctor")
    snapshot_seen = asyncio.Event()
    reads: list[str] = []

    def watch(page) -> None:
        page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda f: '"snapshot"' in str(f) and snapshot_seen.set()))
        page.on("request", lambda r: r.url.endswith("/queue") and reads.append(r.url))

    ctx.on("page", watch)
    tablet = await open_page(ctx, f"{e2e.server.base}/doctor")
    await expect(tablet.locator("#waiting tr")).to_have_count(3)
    await asyncio.wait_for(snapshot_seen.wait(), 10)
    await expect(tablet.locator("#btn-next")).to_be_enabled()
    before = len(reads)

    await tablet.click("#btn-next")
    await expect(tablet.get_by_test_id("current-number")).to_have_text("CARD-001")
    await expect(tablet.locator("#waiting tr")).to_have_count(2)
    await expect(tablet.locator("#waiting tr td.num").first).to_have_text("1")
    await expect(tablet.locator("#btn-next")).to_be_enabled(timeout=5000)
    await tablet.keyboard.press("s")
    await expect(tablet.locator("#current .badge.status")).to_have_text("With the doctor")
    await tablet.keyboard.press("p")
    await tablet.locator("#pause-dialog").get_by_role("button", name="Not sure").click()
    await expect(tablet.locator("#doc-status")).to_have_text("Paused")
    await tablet.keyboard.press("p")
    await expect(tablet.locator("#doc-status")).to_have_text("Available")
    assert reads[before:] == []                       # all of it from the events

    await e2e.issue(3)                                # a patient the console has not seen
    await expect(tablet.locator("#waiting tr")).to_have_count(3)
    await expect(tablet.locator("#waiting tr").last).to_contain_text("Patient3 Kumar")
    assert len(reads[before:]) == 1
    await screenshot(tablet, "doctor-events")
    no_script_errors(tablet)
