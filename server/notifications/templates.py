"""Message texts per event and language, in one place; pure functions, no I/O.

A text message is billed per segment, so every body aims at one: GSM-7 English fits 160
characters; Hindi is UCS-2 (70 characters, 67 per part once split), so Hindi bodies are terse
and only the patient link (Latin, ~70 characters) may push them to a second part. A body
names the patient by first name only and never carries a phone number. When a body is too
long the variable parts give way in a fixed order: the reason, the department name, the
greeting, the position; the link and the token number always stay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

EVENTS = ("TOKEN_CREATED", "AHEAD", "CALL_NOW", "DELAY", "CANCELLED", "RESCHEDULED",
          "REMINDER_DAY_BEFORE", "REMINDER_2H", "RESUMED", "CONFIRM_REQUEST", "REMINDER_EXTRA",
          "WAITLIST_OFFER")
# messages a patient answers by replying YES or NO (routes/twilio_inbound.py)
REPLY_EVENTS = ("CONFIRM_REQUEST", "REMINDER_EXTRA")
LANGUAGES = ("en", "hi")
DEFAULT_LANGUAGE = "en"

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


# {greet} {number} {dept} {place} {pos} {eta} {when} {time} {reason} {link}: filled by _fields
TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "TOKEN_CREATED": "{greet}your token is {number} at {dept}.{pos}{eta}{link}",
        "TOKEN_BOOKED": "{greet}booked: token {number}, {dept}, {when}. "
                        "Check in on arrival.{link}",
        "AHEAD": "{greet}token {number} is now #{position} in line for {place}.{eta}{link}",
        "CALL_NOW": "{greet}token {number}: please go to {place} now.",
        "DELAY": "{greet}token {number}: the doctor is delayed.{eta} Sorry for the wait.{link}",
        "RESUMED": "{greet}token {number}: the doctor is back.{eta}{link}",
        "CANCELLED": "{greet}your token {number} at {dept} was cancelled{reason}. "
                     "Please contact the desk.",
        "RESCHEDULED": "{greet}your token {number} at {dept} was rescheduled{reason}. "
                       "The desk will give you a new time.",
        "REMINDER_DAY_BEFORE": "Reminder: {greet}token {number} at {dept} tomorrow at {time}. "
                               "Please arrive 15 min early.",
        "REMINDER_2H": "Reminder: {greet}token {number}, {dept}, today {time}. "
                       "Check in on arrival.{link}",
        "CONFIRM_REQUEST": "{greet}token {number}, {dept}, {when}. "
                           "Reply YES to confirm or NO to cancel.",
        "REMINDER_EXTRA": "Reminder: {greet}token {number}, {dept}, {when}. Reply YES if you "
                          "are coming, NO to free the slot.",
        "WAITLIST_OFFER": "{greet}a slot opened at {dept}, {when}. Accept within {mins} min:"
                          "{link}",
    },
    "hi": {
        "TOKEN_CREATED": "{greet}टोकन {number}, {dept}।{pos}{eta}{link}",
        "TOKEN_BOOKED": "{greet}टोकन {number} बुक, {dept}, {when}।{link}",
        "AHEAD": "{greet}टोकन {number}: आप अब कतार में #{position} हैं।{eta}{link}",
        "CALL_NOW": "{greet}टोकन {number}: अभी {place} में आएँ।",
        "DELAY": "{greet}टोकन {number}: डॉक्टर को देर है।{eta}{link}",
        "RESUMED": "{greet}टोकन {number}: डॉक्टर लौट आए।{eta}{link}",
        "CANCELLED": "{greet}टोकन {number} रद्द{reason}। काउंटर पर संपर्क करें।",
        "RESCHEDULED": "{greet}टोकन {number} का समय बदला{reason}। काउंटर पर संपर्क करें।",
        "REMINDER_DAY_BEFORE": "याद रखें: {greet}टोकन {number}, {dept}, कल {time}।",
        "REMINDER_2H": "याद रखें: {greet}टोकन {number}, {dept}, आज {time}।{link}",
        "CONFIRM_REQUEST": "{greet}टोकन {number}, {when}। आएँगे: YES, रद्द: NO भेजें।",
        "REMINDER_EXTRA": "याद रखें: {greet}टोकन {number}, {when}। आएँगे: YES, नहीं: NO।",
        "WAITLIST_OFFER": "{greet}{dept} में {when} जगह खाली। {mins} मिनट में लें:{link}",
    },
}

_HI_MONTHS = ("जन", "फ़र", "मार्च", "अप्रै", "मई", "जून", "जुला", "अग", "सित", "अक्टू", "नव", "दिस")


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


def _eta(lang: str, lo: int | None, hi: int | None) -> str:
    if lo is None:
        return ""
    span = f"{lo}" if hi is None or hi <= lo else f"{lo}-{hi}"
    return f" Wait about {span} min." if lang == "en" else f" ~{span} मिनट।"


def _when(lang: str, at: datetime | None) -> tuple[str, str]:
    """('25 Nov 10:30', '10:30') in the language's words."""
    if at is None:
        return "", ""
    hhmm = at.strftime("%H:%M")
    if lang == "hi":
        return f"{at.day} {_HI_MONTHS[at.month - 1]} {hhmm}", hhmm
    return f"{at.day} {at.strftime('%b')} {hhmm}", hhmm


def _fields(lang: str, ctx: MessageContext, *, greet: bool, pos: bool) -> dict[str, str]:
    name = first_name(ctx.full_name)
    if lang == "hi":
        greeting = f"{name} जी, " if greet and name else ""
        place = f"केबिन {ctx.cabin}" if ctx.cabin else ctx.department
        position = f" कतार में #{ctx.position}।" if pos and ctx.position else ""
        reason = f": {ctx.reason}" if ctx.reason else ""
    else:
        greeting = f"{name}, " if greet and name else ""
        place = f"cabin {ctx.cabin}" if ctx.cabin else ctx.department
        position = f" You are #{ctx.position} in line." if pos and ctx.position else ""
        reason = f" ({ctx.reason})" if ctx.reason else ""
    when, hhmm = _when(lang, ctx.scheduled_at)
    return {
        "greet": greeting, "number": ctx.token_number, "dept": ctx.department, "place": place,
        "pos": position, "position": str(ctx.position or ""),
        "eta": _eta(lang, ctx.eta_p50_min, ctx.eta_p90_min), "when": when, "time": hhmm,
        "reason": reason, "link": f" {ctx.link}" if ctx.link else "",
        "mins": str(ctx.offer_minutes or 30),
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
