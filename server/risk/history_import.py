"""Past appointments from another system's CSV (API.md, "History import"), checked whole.

    patient_ref,booked_at,slot_at,outcome,age,gender,reminder_sent,department

Every line is checked before anything is written: a file with a bad line imports nothing and
the errors name their line numbers (the header is line 1), so an operator fixes the export
and runs it again. Times are ISO 8601; one without an offset is the hospital's local time; a
date alone is allowed for `slot_at` (and `booked_at`: midnight). No I/O here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

HEADER = ("patient_ref", "booked_at", "slot_at", "outcome", "age", "gender", "reminder_sent",
          "department")
OUTCOMES = {"completed": "COMPLETED", "no_show": "NO_SHOW", "cancelled": "CANCELLED"}
GENDERS = {"m": "M", "f": "F", "other": "O", "o": "O"}
BOOLS = {"true": True, "false": False}
MAX_ERRORS = 100


@dataclass(frozen=True)
class HistoryRow:
    line: int
    patient_ref: str
    booked_at: datetime
    slot_at: datetime | None      # None: the file gave the day only
    service_date: date
    outcome: str                  # COMPLETED | NO_SHOW | CANCELLED
    age: int | None
    gender: str | None            # M | F | O
    reminder_sent: bool | None
    department: str

    @property
    def key(self) -> tuple[str, str, datetime, date]:
        """One appointment: importing it again updates it, never adds a second."""
        return (self.patient_ref, self.department.casefold(), self.booked_at, self.service_date)


@dataclass(frozen=True)
class Parsed:
    rows: list[HistoryRow]
    errors: list[tuple[int, str]]     # (line number, what is wrong), at most MAX_ERRORS
    n_errors: int
    duplicates: int                   # lines repeating an earlier line's appointment


class HeaderError(ValueError):
    pass


def _when(text: str, tz: tzinfo) -> tuple[datetime, bool]:
    """(aware datetime, whether a time of day was given)."""
    text = text.strip()
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(0), tz), False
    dt = datetime.fromisoformat(text)
    return (dt if dt.tzinfo else dt.replace(tzinfo=tz)), True


def parse_line(line: int, rec: dict[str, str], tz: tzinfo) -> HistoryRow:
    """One data line as a row; ValueError says what is wrong with it."""
    ref = rec["patient_ref"].strip()
    if not 1 <= len(ref) <= 64 or not ref.isprintable():
        raise ValueError("patient_ref: 1-64 printable characters")
    try:
        booked, _ = _when(rec["booked_at"], tz)
    except ValueError:
        raise ValueError(f"booked_at: not an ISO 8601 time: {rec['booked_at'][:40]!r}") from None
    try:
        slot, timed = _when(rec["slot_at"], tz)
    except ValueError:
        raise ValueError(f"slot_at: not an ISO 8601 time or date: {rec['slot_at'][:40]!r}"
                         ) from None
    service_date = slot.astimezone(tz).date()
    if booked.astimezone(tz).date() > service_date:
        raise ValueError("booked_at is after slot_at")
    outcome = OUTCOMES.get(rec["outcome"].strip().lower())
    if outcome is None:
        raise ValueError("outcome: completed, no_show or cancelled")
    age_text = rec["age"].strip()
    age = None
    if age_text:
        if not age_text.isdigit() or int(age_text) > 130:
            raise ValueError("age: a whole number 0-130, or empty")
        age = int(age_text)
    g = rec["gender"].strip().lower()
    if g and g not in GENDERS:
        raise ValueError("gender: M, F, other, or empty")
    r = rec["reminder_sent"].strip().lower()
    if r and r not in BOOLS:
        raise ValueError("reminder_sent: true, false, or empty")
    dept = rec["department"].strip()
    if not 1 <= len(dept) <= 100:
        raise ValueError("department: a code or name, 1-100 characters")
    return HistoryRow(line=line, patient_ref=ref, booked_at=booked,
                      slot_at=slot if timed else None, service_date=service_date,
                      outcome=outcome, age=age, gender=GENDERS.get(g),
                      reminder_sent=BOOLS.get(r), department=dept)


def parse(lines: Iterable[str], tz: tzinfo) -> Parsed:
    """Every line checked; the rows (a repeated appointment kept once, its last line)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != HEADER:
        raise HeaderError("the first line must be: " + ",".join(HEADER))
    by_key: dict[tuple[str, str, datetime, date], HistoryRow] = {}
    errors: list[tuple[int, str]] = []
    n_errors = n = 0
    for fields in reader:
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        n += 1
        try:
            if len(fields) != len(HEADER):
                raise ValueError(f"{len(fields)} fields, expected {len(HEADER)}")
            row = parse_line(line, dict(zip(HEADER, fields, strict=True)), tz)
        except ValueError as exc:
            n_errors += 1
            if len(errors) < MAX_ERRORS:
                errors.append((line, str(exc)))
            continue
        by_key[row.key] = row
    good = n - n_errors
    return Parsed(rows=list(by_key.values()), errors=errors, n_errors=n_errors,
                  duplicates=good - len(by_key))


def department_code(name: str, taken: set[str]) -> str:
    """A new department's code from its name: its letters and digits, upper case, 2-10,
    starting with a letter (departments.code), made unique with a number."""
    base = "".join(c for c in name.upper() if c.isascii() and c.isalnum())
    base = base.lstrip("0123456789") or "DEPT"
    base = (base + "X")[:8] if len(base) < 2 else base[:10]
    code, i = base, 1
    while code in taken:
        i += 1
        code = f"{base[:10 - len(str(i))]}{i}"
    return code
