"""Message templates: pure, so table-driven and without services."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from server.notifications import templates as t

LINK = "https://opd.cityhospital.example.in/t/AbCdEfGhIjKlMnOp.QrStUvWxYz012345"
CTX = t.MessageContext(
    full_name="Rahul Kumar Sharma", token_number="CARD-045", department="Cardiology",
    cabin="C-101", position=4, eta_p50_min=18, eta_p90_min=27, link=LINK,
    reason="Doctor called to an emergency surgery, please come another day",
    scheduled_at=datetime(2025, 11, 25, 10, 30, tzinfo=ZoneInfo("Asia/Kolkata")),
)
PHONE = re.compile(r"\+?\d{8,}")

# what each event must say (beyond the token number, which all carry)
MUST = {
    "TOKEN_CREATED": [LINK],
    "AHEAD": ["#4", LINK],
    "CALL_NOW": ["C-101"],
    "DELAY": ["18-27", LINK],
    "RESUMED": ["18-27", LINK],
    "CANCELLED": [],
    "RESCHEDULED": [],
    "REMINDER_DAY_BEFORE": ["10:30"],
    "REMINDER_2H": ["10:30", LINK],
    "CONFIRM_REQUEST": ["10:30", "YES", "NO"],
    "REMINDER_EXTRA": ["10:30", "YES", "NO"],
    "WAITLIST_OFFER": ["10:30", LINK],
}


@pytest.mark.parametrize("language", t.LANGUAGES)
@pytest.mark.parametrize("event", t.EVENTS)
def test_every_event_renders_in_every_language(event: str, language: str) -> None:
    body = t.render(event, language, CTX)
    if event != "WAITLIST_OFFER":  # an offer has no token yet
        assert "CARD-045" in body
    for part in MUST[event]:
        assert part in body, (part, body)
    assert "Sharma" not in body and "Kumar" not in body   # first name at most
    assert not PHONE.search(body)
    assert t.segments(body) <= t.max_segments(LINK in body, body), body


@pytest.mark.parametrize("event", t.EVENTS)
def test_english_is_one_gsm7_segment(event: str) -> None:
    body = t.render(event, "en", CTX)
    assert t.is_gsm7(body) and t.segments(body) == 1, (len(body), body)


@pytest.mark.parametrize("event", ["CALL_NOW", "CANCELLED", "RESCHEDULED",
                                   "REMINDER_DAY_BEFORE", "CONFIRM_REQUEST", "REMINDER_EXTRA"])
def test_hindi_without_a_link_is_one_ucs2_segment(event: str) -> None:
    body = t.render(event, "hi", CTX)
    assert not t.is_gsm7(body)
    assert len(body) <= t.UCS2_SINGLE and t.segments(body) == 1, (len(body), body)
    assert "टोकन" in body


def test_hindi_with_a_link_takes_at_most_two_parts() -> None:
    body = t.render("TOKEN_CREATED", "hi", CTX)
    assert body.endswith(LINK) and t.segments(body) == 2


def test_a_long_reason_gives_way_to_the_segment() -> None:
    body = t.render("CANCELLED", "en", replace(CTX, reason="word " * 60))
    assert "..." in body and t.segments(body) == 1
    assert "Please contact the desk." in body


def test_greeting_uses_the_first_name_only() -> None:
    assert t.render("CALL_NOW", "en", CTX).startswith("Rahul, token CARD-045")
    assert t.render("CALL_NOW", "hi", CTX).startswith("Rahul जी, टोकन CARD-045")


def test_booked_token_names_its_slot() -> None:
    body = t.render("TOKEN_CREATED", "en", replace(CTX, booked=True))
    assert "booked" in body and "25 Nov 10:30" in body and t.segments(body) == 1


def test_missing_parts_are_left_out_cleanly() -> None:
    bare = t.MessageContext(full_name="", token_number="GEN-001", department="General")
    assert t.render("TOKEN_CREATED", "en", bare) == "your token is GEN-001 at General."
    assert t.render("CALL_NOW", "en", bare) == "token GEN-001: please go to General now."
    assert "None" not in t.render("DELAY", "hi", bare)


@pytest.mark.parametrize(("text", "parts"), [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),                 # extension characters cost two units
    ("अ" * 70, 1), ("अ" * 71, 2), ("अ" * 134, 2), ("अ" * 135, 3),
    ("Rahul" + "✓", 1),                           # one non-GSM character makes it UCS-2
])
def test_segments(text: str, parts: int) -> None:
    assert t.segments(text) == parts


@pytest.mark.parametrize(("name", "first"), [
    ("Rahul Kumar Sharma", "Rahul"), ("anita", "Anita"), ("  Dr. ", "Dr"), ("", ""),
    ("Venkatanarasimharajuvaripeta Rao", "Venkatanarasimharaju"),  # 20 characters
])
def test_first_name(name: str, first: str) -> None:
    assert t.first_name(name) == first


def test_language_falls_back_to_what_exists() -> None:
    assert t.language_for("hi", "en") == "hi"
    assert t.language_for("fr", "ta") == "ta"
    assert t.language_for("fr", None) == "en"


@pytest.mark.parametrize("language", t.LANGUAGES)
@pytest.mark.parametrize(("p50", "p90"), [(0, 0), (0, 1), (0, None)])
def test_a_wait_of_nothing_says_you_are_next(language: str, p50: int, p90: int | None) -> None:
    body = t.render("AHEAD", language, replace(CTX, eta_p50_min=p50, eta_p90_min=p90))
    assert t.TEMPLATES[language]["eta_next"].strip() in body, body
    assert not re.search(r"(?<![\d-])0(-\d+)? ", body.replace("CARD-045", "")), body


def test_a_wait_that_may_be_nothing_starts_at_one_minute() -> None:
    body = t.render("AHEAD", "en", replace(CTX, eta_p50_min=0, eta_p90_min=6))
    assert "Wait about 1-6 min." in body and "about 0" not in body


@pytest.mark.parametrize(("language", "date"), [
    ("en", "25 Nov 10:30"), ("hi", "25 नव॰ 10:30"), ("ta", "25 நவ. 10:30"),
    ("bn", "25 নভেঃ 10:30"), ("ml", "നവം 25 10:30"),
])
def test_dates_are_written_per_locale(language: str, date: str) -> None:
    body = t.render("TOKEN_CREATED", language, replace(CTX, booked=True, link=None))
    assert date in body, body


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown notification event"):
        t.render("BIRTHDAY", "en", CTX)
