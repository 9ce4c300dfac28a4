"""The input rules as pure functions: what the OpenAPI document says (patterns) and what the
models accept agree (server/models/common.py, server/models/dates.py, server/security/links.py).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from server.models import dates
from server.models.common import (
    E164_PATTERN,
    MAX_DEPTH,
    Body,
    E164Phone,
    json_depth,
    text,
    text_pattern,
)
from server.security import links

FAST = settings(max_examples=300, deadline=None)


# --------------------------------------------------------------------------- date ranges
@FAST
@given(first=st.dates(dt.date(1890, 1, 1), dt.date(2110, 1, 1)),
       span=st.integers(0, 40_000), probe=st.integers(-1_000, 41_000))
def test_a_date_range_pattern_matches_exactly_the_range(first: dt.date, span: int,
                                                        probe: int) -> None:
    last = min(first + dt.timedelta(days=span), dt.date(9999, 12, 31))
    day = first + dt.timedelta(days=probe)
    rx = re.compile(dates.date_pattern(first, last))
    assert bool(rx.fullmatch(day.isoformat())) == (first <= day <= last)
    for edge in (first, last):
        assert rx.fullmatch(edge.isoformat())


@pytest.mark.parametrize(("first", "last"), [
    (dt.date(2000, 1, 1), dt.date(2099, 12, 31)), (dt.date(1900, 1, 1), dt.date(2026, 11, 26)),
    (dt.date(2026, 11, 24), dt.date(2027, 5, 25)), (dt.date(2026, 2, 28), dt.date(2026, 3, 1)),
])
def test_every_day_of_a_range_matches_and_none_around_it(first: dt.date, last: dt.date) -> None:
    rx = re.compile(dates.date_pattern(first, last))
    day = first - dt.timedelta(days=400)
    while day <= last + dt.timedelta(days=400):
        assert bool(rx.fullmatch(day.isoformat())) == (first <= day <= last), day
        day += dt.timedelta(days=1)


class Stamped(Body):
    at: dates.PlanDateTime
    born: dates.BirthDate | None = None
    slot: dates.BookingDateTime | None = None


@pytest.mark.parametrize(("value", "ok"), [
    ("2030-01-07T09:00:00+05:30", True), ("2000-01-01T00:00:00Z", True),
    ("2099-12-31T23:59:59.123456-12:00", True), ("2030-01-07T09:00:00+14:00", True),
    ("1999-12-31T23:59:59Z", False), ("2100-01-01T00:00:00+14:00", False),
    ("0001-01-01T00:00:00Z", False), ("9999-12-31T23:59:59Z", False),
    ("2030-01-07T09:00:00-12:30", False), ("2030-01-07T09:00:00+14:30", False),
    ("2030-01-07T09:00:00", False),
])
def test_datetimes_have_a_range_and_an_offset(value: str, ok: bool) -> None:
    pattern = Stamped.model_json_schema()["properties"]["at"]["pattern"]
    assert bool(re.fullmatch(pattern, value)) == ok
    accepted = _accepts(Stamped, {"at": value})
    assert accepted == ok, value


def test_today_bounds_are_lenient_and_move() -> None:
    now = dt.datetime(2026, 11, 26, 11, 0, tzinfo=dt.UTC)
    assert dates.earliest_today(now) == dt.date(2026, 11, 25)     # UTC-12: still yesterday
    assert dates.latest_today(now) == dt.date(2026, 11, 27)       # UTC+14: already tomorrow
    first, last = dates.BOOKING.at(now)
    assert (first, last) == (dt.date(2026, 11, 24), dt.date(2027, 5, 26))
    first, last = dates.BIRTH.at(now)
    assert (first, last) == (dt.date(1900, 1, 1), dt.date(2026, 11, 27))


def test_birth_dates() -> None:
    latest = dates.latest_today()
    for born, ok in (("1900-01-01", True), ("1899-12-31", False), ("0001-01-01", False),
                     (latest.isoformat(), True),
                     ((latest + dt.timedelta(days=1)).isoformat(), False)):
        assert _accepts(Stamped, {"at": "2030-01-01T00:00:00Z", "born": born}) == ok, born


# --------------------------------------------------------------------------- text
def _accepts(model: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError:
        return False
    return True


class Texts(Body):
    line: text(50, min_length=0) = ""
    name: text(50, min_length=1) = "x"
    secret: text(50, min_length=4) = "xxxx"
    note: text(50, multiline=True) = ""


ALPHABET = st.sampled_from(["a", "Z", "7", " ", "\t", "\n", "\r", "\x00", "\x1b", "\x7f",
                            "\x85", "\xa0", "\u2003", "\u3000", "é", "ह", "😀"])


@FAST
@given(value=st.text(ALPHABET, max_size=8),
       field=st.sampled_from(["line", "name", "secret", "note"]))
def test_text_valid_by_its_pattern_is_accepted(value: str, field: str) -> None:
    """The promise of the document: a string its pattern allows is taken (and one with a
    control character never is)."""
    schema = Texts.model_json_schema()["properties"][field]
    valid = bool(re.fullmatch(schema["pattern"], value)) and len(value) <= schema["maxLength"]
    accepted = _accepts(Texts, {field: value})
    if valid:
        assert accepted, (field, value)
    bad = "\x00\x1b\x7f\x85" + ("" if field == "note" else "\t\n\r")
    if any(c in bad for c in value):
        assert not accepted, (field, value)


def test_text_patterns() -> None:
    assert re.fullmatch(text_pattern(min_length=1), "Asha")
    assert not re.fullmatch(text_pattern(min_length=1), "   ")
    assert not re.fullmatch(text_pattern(min_length=10), "  short   ")
    assert re.fullmatch(text_pattern(min_length=10), "  long enough  ")
    assert re.fullmatch(text_pattern(multiline=True), "a\nb\tc")
    assert not re.fullmatch(text_pattern(), "a\nb")


# --------------------------------------------------------------------------- phones
class Phone(Body):
    phone: E164Phone


def test_every_example_number_fits_the_phone_pattern() -> None:
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number_for_type(region,
                                                      phonenumbers.PhoneNumberType.MOBILE)
        if number is None or not phonenumbers.is_valid_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert re.fullmatch(E164_PATTERN, e164), e164
        assert Phone.model_validate({"phone": e164}).phone == e164


# --------------------------------------------------------------------------- JSON depth
@pytest.mark.parametrize(("raw", "depth"), [
    (b"{}", 1), (b'{"a": [1, {"b": []}]}', 4), (b'{"a": "[[[[{{{{"}', 1),
    (b'{"a": "\\"[[["}', 1), (b"[" * 40 + b"]" * 40, MAX_DEPTH + 1), (b"1", 0),
    (b'["]"]', 1), (b'[[["\\\\"]]]', 3),
])
def test_json_depth(raw: bytes, depth: int) -> None:
    assert json_depth(raw) == depth


def test_json_depth_stops_early_on_a_deep_body() -> None:
    assert json_depth(b"[" * 1_000_000) == MAX_DEPTH + 1


# --------------------------------------------------------------------------- link codes
@FAST
@given(code=st.text(max_size=80))
def test_link_codes_never_raise(code: str) -> None:
    parts = links.split(code)
    if parts is not None:
        assert code.isascii() and re.fullmatch(links.CODE_PATTERN, code)
        assert links.verify(b"secret", *parts, dt.date(2026, 1, 1)) in (True, False)


def test_a_signed_code_splits_and_verifies() -> None:
    code = links.sign(b"secret", "FaHKEcR6X-Wx9iKH", dt.date(2026, 1, 1))
    assert re.fullmatch(links.CODE_PATTERN, code)
    public, mac = links.split(code) or ("", "")
    assert links.verify(b"secret", public, mac, dt.date(2026, 1, 1))
    assert not links.verify(b"secret", public, mac, dt.date(2026, 1, 2))
    assert not links.verify(b"secret", public, "é" * 16, dt.date(2026, 1, 1))
    assert links.same("abc", "abc") and not links.same("abc", "abç")
