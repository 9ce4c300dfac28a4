"""Message texts per event and language, in one place; pure functions, no I/O.

A text message is billed per segment, so every body aims at one: GSM-7 English fits 160
characters; Hindi and the other Indian scripts are UCS-2 (70 characters, 67 per part once
split), so their bodies are terse and only the patient link (Latin, ~70 characters) may push
them to a second part. A body
names the patient by first name only and never carries a phone number. When a body is too
long the variable parts give way in a fixed order: the reason, the department name, the
greeting, the position; the link and the token number always stay.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from babel.dates import format_skeleton
from babel.numbers import format_decimal

from server.languages import DEFAULT_LANGUAGE, LANGUAGES

EVENTS = ("TOKEN_CREATED", "AHEAD", "CALL_NOW", "DELAY", "CANCELLED", "RESCHEDULED",
          "REMINDER_DAY_BEFORE", "REMINDER_2H", "RESUMED", "CONFIRM_REQUEST", "REMINDER_EXTRA",
          "WAITLIST_OFFER")
# messages a patient answers by replying YES or NO (routes/twilio_inbound.py)
REPLY_EVENTS = ("CONFIRM_REQUEST", "REMINDER_EXTRA")

# GSM 03.38: the basic set costs one unit a character, the extension set two (escape + char)
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

FIRST_NAME_MAX = 20
DEPT_SHORT = 16


@dataclass(frozen=True)
class MessageContext:
    """What a message may say. Times are already in the hospital's timezone."""

    full_name: str
    token_number: str
    department: str
    cabin: str | None = None
    position: int | None = None
    eta_p50_min: int | None = None
    eta_p90_min: int | None = None
    link: str | None = None
    reason: str | None = None
    scheduled_at: datetime | None = None
    booked: bool = False              # TOKEN_CREATED of an advance booking (not yet waiting)
    offer_minutes: int | None = None  # WAITLIST_OFFER: how long the offer stays open


# One catalogue per language: messages/<code>.json, a flat {"key": "text"} object. The event
# keys (TOKEN_CREATED...) are bodies with {greet} {number} {dept} {place} {pos} {position}
# {eta} {when} {time} {reason} {link} {mins}, filled by _fields; the lower-case keys are the
# parts _fields builds them from ({name}, {cabin}, {position}, {reason}, {span}). Every
# language has every key with the same placeholders (tests/test_i18n_catalogues.py).
CATALOGUE_DIR = Path(__file__).with_name("messages")


def _load(code: str) -> dict[str, str]:
    return json.loads((CATALOGUE_DIR / f"{code}.json").read_text(encoding="utf-8"))


TEMPLATES: dict[str, dict[str, str]] = {code: _load(code) for code in LANGUAGES}


def first_name(full_name: str) -> str:
    """'rahul kumar sharma' -> 'Rahul': the first word only, never the surname."""
    parts = full_name.split()
    if not parts:
        return ""
    word = parts[0].strip(".,")
    return (word[:1].upper() + word[1:])[:FIRST_NAME_MAX]


def language_for(*preferred: str | None) -> str:
    """The first of the preferred languages a template exists for (patient, department...)."""
    for lang in preferred:
        if lang in TEMPLATES:
            return lang
    return DEFAULT_LANGUAGE


def is_gsm7(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENDED for c in text)


def segments(text: str) -> int:
    """How many SMS parts the body is billed as."""
    if is_gsm7(text):
        units = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        return 1 if units <= GSM_SINGLE else math.ceil(units / GSM_PART)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= UCS2_SINGLE else math.ceil(units / UCS2_PART)


def max_segments(has_link: bool, body: str) -> int:
    """One part; UCS-2 bodies (Hindi, or a name outside GSM-7) may take a second for a link."""
    return 2 if has_link and not is_gsm7(body) else 1


def _locale(lang: str) -> str:
    return f"{lang}_IN"


def _num(lang: str, n: int) -> str:
    """A number as the language writes it (Latin digits, like the token number beside it)."""
    return format_decimal(n, locale=_locale(lang))


def _eta(lang: str, lo: int | None, hi: int | None) -> str:
    """" Wait about 8-18 min." - never "about 0 min": a wait that may be nothing is "you are
    next" when all of it is under a minute, else it starts at 1."""
    if lo is None:
        return ""
    if lo <= 0 and (hi is None or hi <= 1):
        return TEMPLATES[lang]["eta_next"]
    lo = max(lo, 1)
    span = _num(lang, lo) if hi is None or hi <= lo else f"{_num(lang, lo)}-{_num(lang, hi)}"
    return TEMPLATES[lang]["eta"].format(span=span)


def _when(lang: str, at: datetime | None) -> tuple[str, str]:
    """('25 Nov 10:30', '10:30'): the day and month in the language's words (Babel, CLDR),
    the 24-hour clock the boards and slips show."""
    if at is None:
        return "", ""
    hhmm = format_skeleton("Hm", at, locale=_locale(lang))
    return f"{format_skeleton('dMMM', at, locale=_locale(lang))} {hhmm}", hhmm


def _fields(lang: str, ctx: MessageContext, *, greet: bool, pos: bool) -> dict[str, str]:
    table = TEMPLATES[lang]
    name = first_name(ctx.full_name)
    when, hhmm = _when(lang, ctx.scheduled_at)
    position = _num(lang, ctx.position) if ctx.position else ""
    return {
        "greet": table["greet"].format(name=name) if greet and name else "",
        "number": ctx.token_number, "dept": ctx.department,
        "place": table["place"].format(cabin=ctx.cabin) if ctx.cabin else ctx.department,
        "pos": table["pos"].format(position=position) if pos and ctx.position else "",
        "position": position,
        "eta": _eta(lang, ctx.eta_p50_min, ctx.eta_p90_min), "when": when, "time": hhmm,
        "reason": table["reason"].format(reason=ctx.reason) if ctx.reason else "",
        "link": f" {ctx.link}" if ctx.link else "",
        "mins": _num(lang, ctx.offer_minutes or 30),
    }


def _template(event: str, lang: str, ctx: MessageContext) -> str:
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    key = "TOKEN_BOOKED" if event == "TOKEN_CREATED" and ctx.booked else event
    return TEMPLATES[lang][key]


def _fits(body: str, template: str, ctx: MessageContext) -> bool:
    return segments(body) <= max_segments(bool(ctx.link) and "{link}" in template, body)


def render(event: str, language: str, ctx: MessageContext) -> str:
    """The body of one message, shortened to one segment where the content allows."""
    lang = language_for(language)
    template = _template(event, lang, ctx)
    greet, pos = True, True
    body = template.format(**_fields(lang, ctx, greet=greet, pos=pos))
    if _fits(body, template, ctx):
        return body
    steps = ("reason", "dept", "greet", "pos")
    for step in steps:
        if step == "reason" and ctx.reason:
            ctx = replace(ctx, reason=_shrink_reason(template, lang, ctx, greet, pos))
        elif step == "dept" and len(ctx.department) > DEPT_SHORT:
            ctx = replace(ctx, department=ctx.department[:DEPT_SHORT - 1].rstrip() + ".")
        elif step == "greet":
            greet = False
        elif step == "pos":
            pos = False
        body = template.format(**_fields(lang, ctx, greet=greet, pos=pos))
        if _fits(body, template, ctx):
            return body
    return body  # as short as it gets: a long link or number takes the extra part


def _shrink_reason(template: str, lang: str, ctx: MessageContext, greet: bool,
                   pos: bool) -> str | None:
    """The longest prefix of the reason that keeps the body within its parts (or none)."""
    assert ctx.reason
    words = ctx.reason.split()
    while words:
        words = words[:-1]
        cut = " ".join(words) + "..." if words else None
        body = template.format(**_fields(lang, replace(ctx, reason=cut), greet=greet, pos=pos))
        if _fits(body, template, ctx):
            return cut
    return None
