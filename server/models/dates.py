"""Date and datetime fields with sensible ranges, said the same way to pydantic and to clients.

JSON Schema has no minimum for a date, but a pattern can say it: ISO dates of one width sort
as strings, so the strings between two dates are a regular language (`date_range_regex`).
Each ranged type checks its bounds when it validates and writes the same bounds as a pattern
(beside `format`, and in words in `description`) into the OpenAPI document, which is built
again when a bound moves with the day (server/openapi.py).

"Today" without a hospital is any day that is today somewhere: from the date at UTC-12 to the
date at UTC+14. A bound relative to today uses the lenient end, so no hospital's today is ever
refused here; rules of one hospital's calendar (a booking on a past day of the hospital) are
checked by the use-case and documented in words.

A datetime's range applies to the date as written (its own offset), so the pattern and the
check agree exactly; offsets are those clocks use, -12:00..+14:00.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# offsets of real clocks span UTC-12 to UTC+14
EARLIEST_OFFSET = dt.timedelta(hours=-12)
LATEST_OFFSET = dt.timedelta(hours=14)

# a far bound for dates of the hospital's own planning (shifts, leave, filters)
PLAN_FIRST = dt.date(2000, 1, 1)
PLAN_LAST = dt.date(2099, 12, 31)
BORN_FIRST = dt.date(1900, 1, 1)
BOOKING_DAYS_AHEAD = 180       # how far ahead a slot may be booked or a waitlist date wished
MAX_LEAVE = dt.timedelta(days=366)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def earliest_today(now: dt.datetime | None = None) -> dt.date:
    """The date where it is earliest (UTC-12)."""
    return ((now or utcnow()).astimezone(dt.UTC) + EARLIEST_OFFSET).date()


def latest_today(now: dt.datetime | None = None) -> dt.date:
    """The date where it is latest (UTC+14)."""
    return ((now or utcnow()).astimezone(dt.UTC) + LATEST_OFFSET).date()


# --------------------------------------------------------------------------- the bounds
@dataclass(frozen=True)
class Bounds:
    """A date range; `first`/`last` take "now" so a bound can move with the day."""

    first: Callable[[dt.datetime], dt.date]
    last: Callable[[dt.datetime], dt.date]
    words: str                         # the range in words, for messages and descriptions

    def at(self, now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
        now = now or utcnow()
        return self.first(now), self.last(now)


def _fixed(day: dt.date) -> Callable[[dt.datetime], dt.date]:
    return lambda now: day


BIRTH = Bounds(_fixed(BORN_FIRST), latest_today, "between 1900-01-01 and today")
PLANNING = Bounds(_fixed(PLAN_FIRST), _fixed(PLAN_LAST), "between 2000-01-01 and 2099-12-31")
BOOKING = Bounds(lambda now: earliest_today(now) - dt.timedelta(days=1),
                 lambda now: latest_today(now) + dt.timedelta(days=BOOKING_DAYS_AHEAD),
                 f"from yesterday to {BOOKING_DAYS_AHEAD} days ahead")


def key(now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
    """What every moving bound depends on: the OpenAPI document is rebuilt when it changes."""
    return earliest_today(now), latest_today(now)


# --------------------------------------------------------------------------- patterns
def _digits(template: str, digit: str) -> str:
    return "".join(digit if c.isdigit() else c for c in template)


def _any(template: str) -> str:
    return "".join("[0-9]" if c.isdigit() else c for c in template)


def _cls(a: int, b: int) -> str:
    return str(a) if a == b else f"[{a}-{b}]"


def _between(lo: str, hi: str) -> str:
    """A regex for the strings of lo's shape (digits and fixed separators) in [lo, hi]."""
    # digits and "-" stand for themselves (escaping "-" is an error in ECMA-262's u-mode)
    if lo == hi:
        return lo
    i = next(i for i, (x, y) in enumerate(zip(lo, hi, strict=True)) if x != y)
    prefix, a, b = lo[:i], int(lo[i]), int(hi[i])
    lo_rest, hi_rest = lo[i + 1:], hi[i + 1:]
    zeros, nines = _digits(lo_rest, "0"), _digits(lo_rest, "9")
    if lo_rest == zeros and hi_rest == nines:
        return prefix + _cls(a, b) + _any(lo_rest)
    alts, start, end, high = [], a, b, None
    if lo_rest != zeros:
        alts.append(f"{a}{_between(lo_rest, nines)}")
        start = a + 1
    if hi_rest != nines:
        high = f"{b}{_between(zeros, hi_rest)}"
        end = b - 1
    if start <= end:
        alts.append(_cls(start, end) + _any(lo_rest))
    if high:
        alts.append(high)
    return prefix + (alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")")


def date_range_regex(first: dt.date, last: dt.date) -> str:
    """A regex (no anchors) matching the ISO dates from `first` to `last`, and digit strings
    of that shape that are no dates (2026-02-30): `format: date` refuses those."""
    lo = first.isoformat()
    if first.day == 1:   # nothing of the shape lies between YYYY-MM-00 and YYYY-MM-01
        lo = lo[:8] + "00" if first.month != 1 else lo[:5] + "00-00"
    hi = last.isoformat()
    if last.day == calendar.monthrange(last.year, last.month)[1]:
        hi = hi[:8] + "99" if last.month != 12 else hi[:5] + "99-99"
    return _between(lo, hi)


TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
# -12:00 to +14:00
OFFSET = r"(?:Z|-(?:0[0-9]|1[01]):[0-5][0-9]|-12:00|\+(?:0[0-9]|1[0-3]):[0-5][0-9]|\+14:00)"


def date_pattern(first: dt.date, last: dt.date) -> str:
    return f"^{date_range_regex(first, last)}$"


def datetime_pattern(first: dt.date, last: dt.date) -> str:
    return f"^{date_range_regex(first, last)}T{TIME}{OFFSET}$"


# --------------------------------------------------------------------------- the types
@dataclass(frozen=True)
class _Ranged:
    """Annotated metadata: validates the range and writes it into the JSON Schema."""

    bounds: Bounds
    with_time: bool

    def check(self, value: Any) -> Any:
        if value is None:
            return value
        first, last = self.bounds.at()
        day = value.date() if isinstance(value, dt.datetime) else value
        if isinstance(value, dt.datetime):
            offset = value.utcoffset()
            if offset is None or not EARLIEST_OFFSET <= offset <= LATEST_OFFSET:
                raise PydanticCustomError(
                    "offset_range", "the UTC offset must be between -12:00 and +14:00")
        if not first <= day <= last:
            raise PydanticCustomError(
                "date_range", "must be {words} ({first} to {last})",
                {"words": self.bounds.words, "first": first.isoformat(),
                 "last": last.isoformat()})
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        first, last = self.bounds.at()
        if self.with_time:
            out["pattern"] = datetime_pattern(first, last)
            out["description"] = (
                f"ISO 8601 date and time with a UTC offset (-12:00..+14:00); its date as "
                f"written {self.bounds.words}.")
        else:
            out["pattern"] = date_pattern(first, last)
            out["description"] = f"ISO 8601 date {self.bounds.words}."
        return out


def _wall_clock(value: dt.time) -> dt.time:
    if value.tzinfo is not None:
        raise PydanticCustomError(
            "time_offset", "a local time of the hospital takes no UTC offset")
    return value


BirthDate = Annotated[dt.date, _Ranged(BIRTH, with_time=False)]
PlanDate = Annotated[dt.date, _Ranged(PLANNING, with_time=False)]
BookingDate = Annotated[dt.date, _Ranged(BOOKING, with_time=False)]
PlanDateTime = Annotated[AwareDatetime, _Ranged(PLANNING, with_time=True)]
BookingDateTime = Annotated[AwareDatetime, _Ranged(BOOKING, with_time=True)]

WALL_TIME_PATTERN = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?$"


class _WallTimeSchema:
    @staticmethod
    def __get_pydantic_json_schema__(schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "pattern": WALL_TIME_PATTERN,
                "description": "Local time of the hospital, HH:MM or HH:MM:SS (no offset)."}


WallTime = Annotated[dt.time, AfterValidator(_wall_clock), _WallTimeSchema()]
