"""The waiting-room board as a patient sees it from across the room: a call shows within a
second of the press, the newest one big and the others of the last minute in a strip; a call
that is no longer current leaves at once; a recall is marked and spoken again; labels are in
the board's languages; long names are shortened by words, never cut; three screen sizes."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import E2EWorld, no_script_errors, open_page, screenshot

pytestmark = pytest.mark.e2e

CALL_BUDGET_MS = 1000
TZ = "Asia/Kolkata"  # the e2e world's hospital
SIZES = {"1920x1080": {"width": 1920, "height": 1080},
         "1366x768": {"width": 1366, "height": 768},
         "portrait-1080x1920": {"width": 1080, "height": 1920}}

# records when the big call's number changes (the page's clock is the machine's)
WATCH_CALLS = """() => {
    window.callSeen = [];
    const el = document.querySelector('#call-number');
    new MutationObserver(() => window.callSeen.push([Date.now(), el.textContent]))
        .observe(el, { childList: true, characterData: true, subtree: true });
}"""


async def press_next(e2e: E2EWorld, doctor: int) -> tuple[float, dict[str, Any]]:
    """Press Next as the API does for the tablet; returns (press time in ms, the call)."""
    pressed = time.time() * 1000
    r = await e2e.api.post(f"/api/v1/doctors/{e2e.world.doctors[doctor]}/next",
                           json={}, headers=e2e.h("admin"))
    assert r.status_code == 200, r.text
    return pressed, r.json()["called"]


async def act(e2e: E2EWorld, token_id: str, action: str) -> None:
    r = await e2e.api.post(f"/api/v1/tokens/{token_id}/{action}", json={},
                           headers=e2e.h("admin"))
    assert r.status_code == 200, r.text


async def seen_after(page: Page, number: str, pressed: float) -> float:
    """Milliseconds from the press to the board showing `number` big."""
    await expect(page.get_by_test_id("call-number")).to_have_text(number, timeout=CALL_BUDGET_MS)
    seen = await page.evaluate("(n) => window.callSeen.find(([, text]) => text === n)[0]", number)
    return float(seen - pressed)


async def spoken(page: Page, n: int, wait_ms: float = 30000) -> list[dict[str, Any]]:
    """The first n announcements the board made (waits for them)."""
    await page.wait_for_function(f"() => window.opdqBoard.announcer.spoken.length >= {n}",
                                 timeout=wait_ms)
    return list(await page.evaluate("() => window.opdqBoard.announcer.spoken"))


async def set_department(db: asyncpg.Pool, e2e: E2EWorld, **values: Any) -> None:
    sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(values))
    await db.execute(f"UPDATE departments SET {sets} WHERE id = $1",
                     e2e.world.department_id, *values.values())


async def test_rapid_calls_newest_big_others_in_a_strip_in_two_languages(
        e2e: E2EWorld, browser: Browser, db: asyncpg.Pool) -> None:
    await set_department(db, e2e, language="hi", board_languages=["hi", "en"])
    for doctor in range(3):
        await e2e.issue(doctor, doctor)
    board = await open_page(await e2e.context(browser, SIZES["1920x1080"]), e2e.board_url)
    await expect(board.locator(".cabin")).to_have_count(3)
    await expect(board.locator(".cabin .next li .num")).to_have_count(3)
    await board.evaluate(WATCH_CALLS)

    # three presses at three cabins, one right after the other
    latencies, calls = [], []
    for doctor in range(3):
        pressed, call = await press_next(e2e, doctor)
        latencies.append(await seen_after(board, call["number"], pressed))
        calls.append(call)
    print(f"board call latency, press -> big on screen (ms): {[round(x) for x in latencies]}")
    assert max(latencies) < CALL_BUDGET_MS, latencies

    # the newest is big; the two before it wait in the strip with their cabins
    await expect(board.get_by_test_id("call-number")).to_have_text(calls[2]["number"])
    await expect(board.get_by_test_id("call-cabin")).to_have_text("C-103")
    strip = board.locator("#recent-list li")
    await expect(strip).to_have_count(2)
    await expect(strip.nth(0)).to_have_text(f"{calls[1]['number']}→C-102")
    await expect(strip.nth(1)).to_have_text(f"{calls[0]['number']}→C-101")
    await expect(board.locator("#recent")).to_be_visible()
    # bilingual: Hindi first, then English, drawn with the shipped Devanagari font
    await expect(board.locator(".call-label span[lang]")).to_have_text(["टोकन", "Token"])
    await expect(board.locator(".call-goto span[lang]")).to_have_text(
        ["कृपया केबिन में जाएँ", "Please go to cabin"])
    await expect(board.locator("#recent .recent-label span[lang]")).to_have_text(
        ["अभी बुलाए गए", "Just called"])
    assert await board.evaluate(
        "async () => { await document.fonts.ready;"
        " return document.fonts.check('700 40px \"Noto Sans Devanagari\"', 'टोकन'); }")
    await screenshot(board, "board-rapid-calls")

    # the big screen gives way to the tiles; all three calls stay in the strip a minute
    await expect(board.locator("#call")).to_be_hidden(timeout=10000)
    await expect(strip).to_have_count(3)
    await expect(board.locator(".cabin .now-label").first).to_have_text("अभी · Now",)
    await screenshot(board, "board-just-called")

    # spoken once each, in Hindi then English, oldest call first
    said = await spoken(board, 2)
    assert [(s["id"], s["lang"]) for s in said[:2]] == [(calls[0]["id"], "hi"),
                                                         (calls[0]["id"], "en")]
    assert said[0]["parts"][0] == "token" and said[0]["parts"][-1] == "come"
    no_script_errors(board)


async def test_a_call_leaves_at_once_when_no_longer_current_and_a_recall_is_marked(
        e2e: E2EWorld, browser: Browser) -> None:
    for patient in range(3):
        await e2e.issue(patient, 0)
    board = await open_page(await e2e.context(browser, SIZES["1920x1080"]), e2e.board_url)
    await expect(board.locator(".cabin").first.locator(".next li")).to_have_count(3)
    await board.evaluate(WATCH_CALLS)
    cabin = board.locator(f'.cabin[data-doctor="{e2e.world.doctors[0]}"]')

    pressed, first = await press_next(e2e, 0)
    assert await seen_after(board, first["number"], pressed) < CALL_BUDGET_MS
    # marked a no-show while still on the big screen: it goes at once, strip and tile too
    await act(e2e, first["id"], "no-show")
    await expect(board.locator("#call")).to_be_hidden(timeout=CALL_BUDGET_MS)
    await expect(board.locator("#recent")).to_be_hidden(timeout=CALL_BUDGET_MS)
    await expect(cabin.get_by_test_id("now-number")).to_have_text("—")
    await screenshot(board, "board-after-no-show")

    # the next call, recalled: big again, marked, and spoken a second time
    _, second = await press_next(e2e, 0)
    await expect(board.get_by_test_id("call-number")).to_have_text(second["number"])
    await expect(board.locator("#call-recall")).to_be_hidden()
    await act(e2e, second["id"], "recall")
    await expect(board.locator("#call-recall")).to_be_visible(timeout=CALL_BUDGET_MS)
    await expect(board.locator("#call-recall")).to_have_text("Called again")
    await screenshot(board, "board-recall")
    said = await spoken(board, 2)
    assert [(s["id"], s["recall"]) for s in said if s["id"] == second["id"]] == [
        (second["id"], 0), (second["id"], 1)]

    # skipped: gone at once
    await act(e2e, second["id"], "skip")
    await expect(board.locator("#call")).to_be_hidden(timeout=CALL_BUDGET_MS)
    await expect(board.locator("#recent-list li")).to_have_count(0)
    no_script_errors(board)


async def test_a_recall_is_spoken_as_a_recall_with_the_again_fragment(
        e2e: E2EWorld, browser: Browser, db: asyncpg.Pool) -> None:
    """"Token A-12, again, cabin 3": the recall says "again" after the number, in Hindi
    (फिर से) then English, from the bundled offline fragments; the first call does not."""
    await set_department(db, e2e, language="hi", board_languages=["hi", "en"])
    await e2e.issue(0, 0)
    board = await open_page(await e2e.context(browser, SIZES["1920x1080"]), e2e.board_url)
    await expect(board.locator(".cabin .next li")).to_have_count(1)
    fetched: list[tuple[str, int]] = []
    board.on("response", lambda r: fetched.append((r.url, r.status))
             if "/static/audio/" in r.url and r.url.endswith("again.ogg") else None)
    # no local speech voice on the test machine: the fragments must be what speaks
    assert not await board.evaluate(
        "() => ['hi', 'en'].some((l) => window.opdqBoard.announcer.localVoice(l))")

    _, call = await press_next(e2e, 0)
    await expect(board.get_by_test_id("call-number")).to_have_text(call["number"])
    first = await spoken(board, 2)
    assert all("again" not in s["parts"] for s in first[:2])
    await act(e2e, call["id"], "recall")
    await expect(board.locator("#call-recall")).to_be_visible(timeout=CALL_BUDGET_MS)
    await expect(board.locator("#call-recall")).to_contain_text("Called again")
    await screenshot(board, "board-recall-spoken-again")
    said = await spoken(board, 4)
    await board.wait_for_function("() => !window.opdqBoard.announcer.running")
    recall = [s for s in said if s["id"] == call["id"] and s["recall"] == 1]
    assert [(s["via"], s["lang"]) for s in recall] == [("fragments", "hi"), ("fragments", "en")]
    for s in recall:
        parts = s["parts"]
        # token, its letters and number, then "again", then the cabin words
        assert parts.count("again") == 1
        assert parts[0] == "token" and parts[parts.index("again") + 1] == "cabin"
        assert parts[parts.index("again") - 1].startswith("n")
    assert sorted(fetched) == [(f"{e2e.server.base}/static/audio/en/again.ogg", 200),
                               (f"{e2e.server.base}/static/audio/hi/again.ogg", 200)]
    # after the big screen, the "just called" strip keeps the mark, in both languages
    await expect(board.locator("#recent-list li.recall")).to_contain_text("again")
    no_script_errors(board)


async def test_after_a_reconnect_missed_calls_are_announced_and_old_ones_are_not_repeated(
        e2e: E2EWorld, browser: Browser) -> None:
    for patient in range(2):
        await e2e.issue(patient, 0)
    await e2e.issue(2, 1)
    board = await open_page(await e2e.context(browser, SIZES["1366x768"]), e2e.board_url)
    await expect(board.locator(".cabin .next li")).to_have_count(3)
    _, first = await press_next(e2e, 0)
    await expect(board.get_by_test_id("call-number")).to_have_text(first["number"])
    await spoken(board, 1)

    # the socket is cut; a call is made meanwhile; the board resumes from its last seq
    await board.evaluate("() => window.opdqBoard.live.stop()")
    _, missed = await press_next(e2e, 1)
    await board.evaluate("() => window.opdqBoard.live.start()")
    await expect(board.get_by_test_id("call-number")).to_have_text(missed["number"],
                                                                     timeout=5000)
    await spoken(board, 2)
    await board.wait_for_function("() => !window.opdqBoard.announcer.running")
    said = list(await board.evaluate("() => window.opdqBoard.announcer.spoken"))
    assert [s["id"] for s in said] == [first["id"], missed["id"]]
    assert await board.evaluate("() => window.opdqBoard.announcer.queue.length") == 0
    no_script_errors(board)


LONG_DOCTOR = "Dr. Venkataraghavan Subramaniam Ramachandran Iyer"
LONG_PATIENT = "Rahul Krishnamoorthyvenkataraghavan"


async def test_long_names_three_screen_sizes_shift_start_and_pause(
        e2e: E2EWorld, browser: Browser, db: asyncpg.Pool) -> None:
    w = e2e.world
    await set_department(db, e2e, language="hi")            # Hindi, then English (default)
    await db.execute("UPDATE doctors SET name = $2 WHERE id = $1", w.doctors[0], LONG_DOCTOR)
    await db.execute("UPDATE patients SET name = $2 WHERE id = $1", w.patients[1], LONG_PATIENT)
    await db.execute("UPDATE shifts SET start_time = '09:30' WHERE doctor_id = $1", w.doctors[2])
    for patient in range(5):
        await e2e.issue(patient, 0)
    await e2e.issue(5, 1)
    _, serving = await press_next(e2e, 0)
    r = await e2e.api.post(f"/api/v1/doctors/{w.doctors[1]}/pause", json={"minutes": 15},
                           headers=e2e.h("admin"))
    assert r.status_code == 200, r.text
    until = datetime.fromisoformat(r.json()["pause_until"]).astimezone(ZoneInfo(TZ))
    # the TV's clock reads 08:45 at the hospital: the third doctor starts at 09:30; before
    # 08:50 at the hospital (the break, from now, would be over by 08:45) a little before now
    now = datetime.now(ZoneInfo(TZ))
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    early = min(now.replace(hour=8, minute=45, second=0, microsecond=0),
                max(now - timedelta(minutes=5), day_start))

    for size, viewport in SIZES.items():
        ctx = await e2e.context(browser, viewport)
        await ctx.clock.set_fixed_time(early)
        board = await open_page(ctx, e2e.board_url)
        cabins = board.locator(".cabin")
        await expect(cabins).to_have_count(3)
        c1, c2, c3 = (board.locator(f'.cabin[data-doctor="{d}"]') for d in w.doctors)
        await expect(c1.get_by_test_id("now-number")).to_have_text("CARD-001")
        await expect(c1.locator(".cabin-doctor")).to_have_text(LONG_DOCTOR)
        # the masked long surname is shortened to its initial, not cut
        await expect(c1.locator(".next li .name").first).to_have_text("R. K.")
        await expect(c2.get_by_test_id("cabin-note")).to_have_text(
            f"{until:%H:%M} तक विराम · Break until {until:%H:%M}")
        await expect(c3.get_by_test_id("cabin-note")).to_have_text("09:30 से · From 09:30",)
        await board.evaluate("document.fonts.ready")
        problems = await board.evaluate(FITS)
        assert problems == [], (size, problems)
        await screenshot(board, f"board-{size}")
        # a recall at this size: the whole call on screen, nothing clipped
        await act(e2e, serving["id"], "recall")
        await expect(board.locator("#call-recall")).to_be_visible()
        assert await board.evaluate(CALL_FITS) == [], size
        await screenshot(board, f"board-{size}-call")
        no_script_errors(board)
        await ctx.close()


# every text of a tile inside its tile, and nothing clipped inside its own box
FITS = """() => {
    const out = [];
    for (const card of document.querySelectorAll('.cabin')) {
        const box = card.getBoundingClientRect();
        for (const el of card.querySelectorAll(
                '.cabin-no, .cabin-doctor, .status-pill, .now-number, .now-name, '
                + '.next h3, .next li, .cabin-foot')) {
            const r = el.getBoundingClientRect();
            if (r.height === 0) continue;   // rows of the list that do not fit are left out
            if (r.top < box.top - 1 || r.bottom > box.bottom + 1)
                out.push(['outside', el.className, el.textContent]);
            if (r.left < box.left - 1 || r.right > box.right + 1)
                out.push(['outside', el.className, el.textContent]);
            // a wrapping name is clipped when a line is cut off, not when a font's ascent and
            // descent stick out of a tight line box (Noto's do by ~0.3 em; DejaVu's do not)
            const em = parseFloat(getComputedStyle(el).fontSize);
            const clipped = el.matches('.cabin-doctor')
                ? el.scrollHeight > el.clientHeight + 0.35 * em
                : el.scrollWidth > el.clientWidth + 1;
            if (clipped) out.push(['clipped', el.className, el.textContent]);
        }
    }
    return out;
}"""

CALL_FITS = """() => [...document.querySelectorAll('#call p, #call strong')].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.left < 0 || r.right > innerWidth || r.top < 0 || r.bottom > innerHeight
        || el.scrollWidth > el.clientWidth + 1;
}).map((el) => el.id || el.className)"""
