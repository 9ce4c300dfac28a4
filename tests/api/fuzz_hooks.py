"""Schemathesis hooks for tests/api/test_fuzz.py, loaded by the `st` process it runs.

The OpenAPI document states every rule JSON Schema can state. What it can only say in words
is taught to the fuzzer here, and only for the cases it means as valid (positive), which are
mended before they are sent, never dropped:

- the phone format: E.164 *and* a number in service under its country's plan (libphonenumber):
  drawn from real example numbers (`format: phone`; the coverage phase, which draws from the
  pattern alone, gets one swapped in);
- references: a body field naming a doctor, department, cabin or patient names one of the
  test hospital (else the answer is a 422 "unknown in this hospital", rightly);
- orders between two values: a shift's or a leave's end after its start (a leave of at most
  366 days); a shift patch giving one bound gets the other (the stored one may be on the
  wrong side of it);
- the hospital's own calendar: an ONLINE booking or a waitlist date is not on a day that is
  past in the hospital's timezone;
- GET /patients needs phone or uhid (OpenAPI cannot say "one of two query parameters");
- a transfer goes to an active doctor the token is not already with;
- a webhook URL and a push endpoint are public hosts (private and loopback addresses are
  refused, rightly);
- the hospital's settings: the address point inside the geofence, the timezone kept.

Negative cases are left as generated: every one of them must get a 4xx, never a 5xx.
The test hospital is described by the JSON in OPDQ_FUZZ_WORLD.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import phonenumbers
import schemathesis
from hypothesis import strategies as st

WORLD: dict[str, Any] = json.loads(os.environ.get("OPDQ_FUZZ_WORLD", "{}"))
REFERENCES = {"patient_id": "patient_id", "doctor_id": "doctor_id",
              "preferred_doctor_id": "doctor_id", "department_id": "department_id",
              "cabin_id": "cabin_id"}
LONGEST_LEAVE = timedelta(days=366)


def _example_phones() -> list[str]:
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE,
                     phonenumbers.PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.is_valid_number(number):
                out.append(phonenumbers.format_number(number,
                                                      phonenumbers.PhoneNumberFormat.E164))
    return sorted(set(out))


PHONES = _example_phones()
schemathesis.openapi.format("phone", st.sampled_from(PHONES))


def _real_phone(value: Any) -> Any:
    """The coverage phase draws phones from the pattern alone: a number in service instead."""
    if not isinstance(value, str):
        return value
    try:
        if phonenumbers.is_valid_number(phonenumbers.parse(value, None)):
            return value
    except phonenumbers.NumberParseException:
        pass
    return PHONES[len(value) % len(PHONES)]


def _positive(case: Any) -> bool:
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


def _hospital_today() -> date:
    return datetime.now(ZoneInfo(WORLD.get("timezone", "Asia/Kolkata"))).date()


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _parse_time(value: Any) -> time | None:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        return None


def _references(body: dict[str, Any]) -> None:
    for field, key in REFERENCES.items():
        if isinstance(body.get(field), str) and key in WORLD:
            body[field] = WORLD[key]


def _leave_window(body: dict[str, Any]) -> None:
    """End after start, at most LONGEST_LEAVE later: else an hour from start (or up to it,
    when an hour later would leave the range of written dates)."""
    start, end = _parse(body.get("start")), _parse(body.get("end"))
    if start is None or end is None:
        return
    try:
        if start < end <= start + LONGEST_LEAVE:
            return
    except TypeError:      # a naive one: the document calls that invalid already
        return
    end = start + timedelta(hours=1)
    if end.date() > date(2099, 12, 31):
        start, end = start - timedelta(hours=1), start
    body["start"], body["end"] = start.isoformat(), end.isoformat()


def _shift_times(body: dict[str, Any]) -> None:
    """End after start; a patch giving one bound gets the other (the stored one may be on
    the wrong side of it)."""
    if "start" not in body and "end" not in body:
        return
    start, end = _parse_time(body.get("start")), _parse_time(body.get("end"))
    if ("start" in body and start is None) or ("end" in body and end is None):
        return
    if start is not None and end is not None and start < end:
        return
    if start is not None and start < time(23, 59, 59) and end is None:
        body["end"] = "23:59:59"
    elif end is not None and end > time(0, 0) and start is None:
        body["start"] = "00:00"
    elif start is not None and end is not None and end < start:
        body["start"], body["end"] = body["end"], body["start"]
    else:
        body["start"], body["end"] = "00:00", "23:59:59"


def _other_doctor(token_id: str) -> str | None:
    """An active doctor of the test hospital that token_id is not with (None: unknown
    token). The run may have deactivated it: a transfer to it assumes it works today."""
    headers = {"Authorization": f"Bearer {WORLD['token']}"}
    r = httpx.get(f"{WORLD['url']}/api/v1/tokens/{token_id}", headers=headers, timeout=10)
    if r.status_code != 200:
        return None
    current = r.json().get("doctor_id")
    other = next((d for d in WORLD["doctors"] if d != current), None)
    if other:
        httpx.patch(f"{WORLD['url']}/api/v1/doctors/{other}", headers=headers, timeout=10,
                    json={"active": True, "department_id": WORLD["department_id"]})
    return other


def _hospital_settings(body: dict[str, Any]) -> None:
    """The address point inside the geofence (the rule spans two fields and the stored
    values); the test hospital's timezone kept, since the other hooks plan in it."""
    if "timezone" in body:
        body["timezone"] = WORLD.get("timezone", "Asia/Kolkata")
    fence, address = body.get("geofence"), body.get("address")
    if isinstance(fence, dict) and {"lat", "lon"} <= fence.keys():
        body["address"] = {"lat": fence["lat"], "lon": fence["lon"]}
    elif isinstance(address, dict) and {"lat", "lon"} <= address.keys():
        body["geofence"] = {"lat": address["lat"], "lon": address["lon"], "radius_m": 300}


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    if not _positive(case):
        return case
    op = (case.method.upper(), case.operation.path)
    if isinstance(case.body, dict):
        _references(case.body)
        if "phone" in case.body:
            case.body["phone"] = _real_phone(case.body["phone"])
    body = case.body if isinstance(case.body, dict) else {}
    if op == ("GET", "/api/v1/patients"):
        query = dict(case.query or {})
        if "phone" in query:
            query["phone"] = _real_phone(query["phone"])
        if not query.get("phone") and not query.get("uhid"):
            query["uhid"] = "UH000001"
        case.query = query
    elif op == ("POST", "/api/v1/tokens") and body.get("booking_type") == "ONLINE":
        when = _parse(body.get("scheduled_time"))
        tz = ZoneInfo(WORLD.get("timezone", "Asia/Kolkata"))
        if when is not None and when.astimezone(tz).date() < _hospital_today():
            body["scheduled_time"] = (datetime.now(UTC) + timedelta(days=1)).astimezone(
                tz).replace(microsecond=0).isoformat()
    elif op == ("POST", "/api/v1/doctors/{doctor_id}/leave"):
        _leave_window(body)
    elif op in (("POST", "/api/v1/shifts"), ("PATCH", "/api/v1/shifts/{id}")):
        _shift_times(body)
    elif op in (("POST", "/api/v1/webhooks"), ("PATCH", "/api/v1/webhooks/{id}")):
        if "url" in body:
            body["url"] = "https://hooks.example.com/opdq"
    elif op in (("POST", "/api/v1/public/tokens/{code}/push"),
                ("DELETE", "/api/v1/public/tokens/{code}/push")):
        if "endpoint" in body:          # a push service is a public host, like a webhook's
            body["endpoint"] = "https://push.example.com/send/fuzz"
    elif op == ("PATCH", "/api/v1/hospital"):
        _hospital_settings(body)
    elif op == ("POST", "/api/v1/waitlist"):
        day = body.get("desired_date")
        if isinstance(day, str) and day < _hospital_today().isoformat():
            body["desired_date"] = _hospital_today().isoformat()
    return case


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A transfer's target is chosen as it is sent: the token may have moved since the case
    was drawn (or the same case is sent again)."""
    if not _positive(case) or not isinstance(case.body, dict) or "doctor_id" not in case.body:
        return
    if (case.method.upper(), case.operation.path) == ("POST",
                                                      "/api/v1/tokens/{token_id}/transfer"):
        other = _other_doctor(str((case.path_parameters or {}).get("token_id")))
        if other:
            case.body["doctor_id"] = other
