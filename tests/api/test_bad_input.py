"""Bad input gets a 4xx problem+json naming the field, never a 500, and writes nothing
(issue 12, item 9): control characters, deep JSON, dates out of range, malformed link codes,
strings where numbers or booleans belong, bodies that are not application/json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.queue.conftest import World, build_world, issue, link_code, local_at

API = "/api/v1"
TABLES = ("patients", "tokens", "departments", "cabins", "doctors", "shifts", "users",
          "display_keys", "schedule_exceptions", "waitlist_entries")


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool, n_patients=2)


async def _counts(pool: asyncpg.Pool) -> dict[str, int]:
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


def _problem(r: httpx.Response, status: int) -> list[str]:
    """The fields a problem+json answer names (after checking its status and type)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json", r.text
    body = r.json()
    assert body["status"] == status and body["detail"]
    return [e["field"] for e in body.get("errors", [])]


# ---------------------------------------------------------------------------------------
# every text field refuses control characters (PostgreSQL cannot store NUL)
# ---------------------------------------------------------------------------------------
Body = Callable[[World], dict[str, Any]]


def _patient(w: World, **extra: Any) -> dict[str, Any]:
    return {"name": "Asha Rao", "phone": "+919812345678", **extra}


def _token(w: World, **extra: Any) -> dict[str, Any]:
    return {"patient_id": str(w.patients[0]), "doctor_id": str(w.doctors[0]),
            "booking_type": "WALK_IN", **extra}


def _leave(w: World, **extra: Any) -> dict[str, Any]:
    return {"start": local_at(10, days=1).isoformat(), "end": local_at(12, days=1).isoformat(),
            "reason": "conference", **extra}


# (method, path, body, field, admin?) : the field gets "\x00" inserted, "\x1b" and "\x7f"
TEXT_FIELDS: list[tuple[str, str, Body, str]] = [
    ("POST", "/patients", lambda w: _patient(w), "name"),
    ("POST", "/patients", lambda w: _patient(w), "phone"),
    ("POST", "/patients", lambda w: _patient(w, uhid="UH-777"), "uhid"),
    ("POST", "/patients", lambda w: _patient(w, language="hi"), "language"),
    ("POST", "/tokens", lambda w: _token(w, visit_reason="fever"), "visit_reason"),
    ("POST", "/doctors/{doctor}/leave", _leave, "reason"),
    ("POST", "/doctors/{doctor}/pause", lambda w: {"reason": "tea"}, "reason"),
    ("POST", "/departments", lambda w: {"name": "Eye", "code": "EYE"}, "name"),
    ("POST", "/departments", lambda w: {"name": "Eye", "code": "EYE"}, "code"),
    ("POST", "/cabins", lambda w: {"department_id": str(w.department_id), "number": "C-9",
                                   "floor": "2"}, "floor"),
    ("POST", "/doctors", lambda w: {"name": "Dr. Iyer", "department_id": str(w.department_id),
                                    "phone": "+919812345670"}, "name"),
    ("POST", "/users", lambda w: {"username": "asha.k", "password": "long-enough-secret",
                                  "role": "receptionist", "full_name": "Asha K"}, "full_name"),
    ("POST", "/users", lambda w: {"username": "asha.k", "password": "long-enough-secret",
                                  "role": "receptionist"}, "password"),
    ("POST", "/users", lambda w: {"username": "asha.k", "password": "long-enough-secret",
                                  "role": "receptionist"}, "username"),
    ("POST", "/displays", lambda w: {"department_id": str(w.department_id), "name": "Lobby"},
     "name"),
    ("PATCH", "/departments/{department}", lambda w: {"name": "Heart"}, "name"),
]


def _with(value: str, char: str) -> str:
    return value[:2] + char + value[2:]


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85"], ids=["nul", "esc", "del", "nel"])
@pytest.mark.parametrize(("method", "path", "body", "field"), TEXT_FIELDS,
                         ids=[f"{m} {p} {f}" for m, p, _, f in TEXT_FIELDS])
async def test_control_characters_are_refused_naming_the_field(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, method: str, path: str,
        body: Body, field: str, char: str) -> None:
    data = body(world)
    data[field] = _with(data[field], char)
    url = API + path.format(doctor=world.doctors[0], department=world.department_id)
    before = await _counts(pool)
    r = await client.request(method, url, json=data, headers=world.h("admin"))
    assert _problem(r, 422) == [field]
    assert await _counts(pool) == before


async def test_multi_line_text_keeps_tabs_and_newlines(client: httpx.AsyncClient,
                                                       world: World) -> None:
    r = await client.post(f"{API}/tokens", json=_token(world, visit_reason="fever\n\tcough"),
                          headers=world.h())
    assert r.status_code == 201, r.text
    assert r.json()["visit_reason"] == "fever\n\tcough"
    # a name is one line
    r = await client.post(f"{API}/patients", json=_patient(world, name="Asha\nRao"),
                          headers=world.h())
    assert _problem(r, 422) == ["name"]


@pytest.mark.parametrize(("params", "field"), [
    ({"phone": "+9198\x0012345678"}, "phone"),
    ({"uhid": "UH\x0000001"}, "uhid"),
])
async def test_control_characters_in_a_query_are_refused(client: httpx.AsyncClient,
                                                          world: World, params: dict[str, str],
                                                          field: str) -> None:
    r = await client.get(f"{API}/patients", params=params, headers=world.h())
    assert _problem(r, 422) == [field]


async def test_an_unpaired_surrogate_is_refused_naming_the_field(client: httpx.AsyncClient,
                                                                  world: World) -> None:
    raw = json.dumps(_patient(world)).replace('"Asha Rao"', '"Asha \\ud800"')
    r = await client.post(f"{API}/patients", content=raw, headers={
        **world.h(), "content-type": "application/json"})
    assert _problem(r, 422) == ["name"]


# ---------------------------------------------------------------------------------------
# deep JSON is refused before it is parsed
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [33, 20_000])
async def test_deep_json_is_refused(client: httpx.AsyncClient, world: World,
                                    pool: asyncpg.Pool, depth: int) -> None:
    before = await _counts(pool)
    nested = "[" * depth + "]" * depth
    raw = json.dumps(_patient(world))[:-1] + f', "uhid": {nested}}}'
    r = await client.post(f"{API}/patients", content=raw, headers={
        **world.h(), "content-type": "application/json"})
    assert _problem(r, 400) == ["body"]
    assert "32" in r.json()["detail"]
    assert await _counts(pool) == before


async def test_json_as_deep_as_allowed_is_read(client: httpx.AsyncClient, world: World) -> None:
    nested = "[" * 31 + "]" * 31      # 32 levels with the object around it
    raw = json.dumps(_patient(world))[:-1] + f', "uhid": {nested}}}'
    r = await client.post(f"{API}/patients", content=raw, headers={
        **world.h(), "content-type": "application/json"})
    assert _problem(r, 422) == ["uhid"]     # read, and refused for its type


# ---------------------------------------------------------------------------------------
# dates and datetimes have ranges (and the OpenAPI says them)
# ---------------------------------------------------------------------------------------
FAR = "9999-12-31T10:00:00+05:30"
YEAR_1 = "0001-01-01T00:00:00+00:00"

DATES: list[tuple[str, str, Body, str]] = [
    ("date_of_birth 0001-01-01", "/patients",
     lambda w: _patient(w, date_of_birth="0001-01-01"), "date_of_birth"),
    ("date_of_birth 1899-12-31", "/patients",
     lambda w: _patient(w, date_of_birth="1899-12-31"), "date_of_birth"),
    ("date_of_birth in two days", "/patients",
     lambda w: _patient(w, date_of_birth=(date.today() + timedelta(days=2)).isoformat()),
     "date_of_birth"),
    ("ONLINE in 9999", "/tokens",
     lambda w: _token(w, booking_type="ONLINE", scheduled_time=FAR), "scheduled_time"),
    ("ONLINE in 181 days", "/tokens",
     lambda w: _token(w, booking_type="ONLINE",
                      scheduled_time=local_at(10, days=182).isoformat()), "scheduled_time"),
    ("ONLINE in year 1", "/tokens",
     lambda w: _token(w, booking_type="ONLINE", scheduled_time=YEAR_1), "scheduled_time"),
    ("ONLINE at +15:00", "/tokens",
     lambda w: _token(w, booking_type="ONLINE",
                      scheduled_time=local_at(10, days=1).isoformat()[:-6] + "+15:00"),
     "scheduled_time"),
    ("WALK_IN with a slot", "/tokens",
     lambda w: _token(w, scheduled_time=local_at(10).isoformat()), "scheduled_time"),
    ("leave from year 1", "/doctors/{doctor}/leave",
     lambda w: _leave(w, start=YEAR_1), "start"),
    ("leave to 9999", "/doctors/{doctor}/leave",
     lambda w: _leave(w, end=FAR), "end"),
    ("leave of 367 days", "/doctors/{doctor}/leave",
     lambda w: _leave(w, end=local_at(12, days=368).isoformat()), "end"),
    ("shift in 1999", "/shifts",
     lambda w: {"doctor_id": str(w.doctors[0]), "cabin_id": str(w.doctors[0]),
                "date": "1999-12-31", "start": "09:00", "end": "13:00"}, "date"),
    ("shift with an offset", "/shifts",
     lambda w: {"doctor_id": str(w.doctors[0]), "cabin_id": str(w.doctors[0]),
                "date": "2030-01-07", "start": "09:00:00Z", "end": "13:00"}, "start"),
    ("waitlist in 9999", "/waitlist",
     lambda w: {"patient_id": str(w.patients[0]), "department_id": str(w.department_id),
                "desired_date": "9999-12-31"}, "desired_date"),
]


@pytest.mark.parametrize(("case", "path", "body", "field"), DATES, ids=[d[0] for d in DATES])
async def test_dates_out_of_range_are_refused(client: httpx.AsyncClient, world: World,
                                              pool: asyncpg.Pool, case: str, path: str,
                                              body: Body, field: str) -> None:
    before = await _counts(pool)
    r = await client.post(API + path.format(doctor=world.doctors[0]), json=body(world),
                          headers=world.h("admin"))
    assert _problem(r, 422) == [field]
    assert await _counts(pool) == before


async def test_dates_in_range_are_taken(client: httpx.AsyncClient, world: World) -> None:
    h = world.h("admin")
    r = await client.post(f"{API}/patients", json=_patient(world, date_of_birth="1900-01-01"),
                          headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/patients", json=_patient(
        world, date_of_birth=date.today().isoformat()), headers=h)
    assert r.status_code == 201, r.text
    slot = local_at(10, days=180).isoformat()
    r = await client.post(f"{API}/tokens", json=_token(world, booking_type="ONLINE",
                                                       scheduled_time=slot), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/doctors/{world.doctors[1]}/leave", json=_leave(
        world, end=local_at(9, days=300).isoformat()), headers=h)
    assert r.status_code == 201, r.text


# ---------------------------------------------------------------------------------------
# link codes: anything malformed is unknown (404), never a 500
# ---------------------------------------------------------------------------------------
# as they appear in the URL (percent-encoded where a URL must be)
BAD_CODES = ["ü" * 20 + "." + "é" * 16, "abc%00def.0123456789abcdef", "x" * 300, "no-dot",
             "a.b", "..", "%C0%AF", "ab%20cd.0123456789abcdef", "a.0123456789abcde%7F",
             "Zm9v.%E2%80%AE123456789abcdef"]


@pytest.mark.parametrize("code", BAD_CODES)
async def test_malformed_codes_are_unknown(client: httpx.AsyncClient, world: World,
                                           code: str) -> None:
    for method, url in (("POST", f"{API}/public/waitlist/{code}/accept"),
                        ("GET", f"{API}/public/tokens/{code}"),
                        ("POST", f"{API}/public/tokens/{code}/check-in")):
        r = await client.request(method, url, json={"lat": 12.97, "lon": 77.59}
                                 if method == "POST" else None)
        assert _problem(r, 404) == [], (method, url)
    r = await client.get(f"/t/{code}")     # the page: its script asks the API
    assert r.status_code in (200, 404), r.text


async def test_a_genuine_code_with_a_forged_mac_is_unknown(client: httpx.AsyncClient,
                                                           world: World) -> None:
    code = link_code(await issue(client, world, 0))
    assert (await client.get(f"{API}/public/tokens/{code}")).status_code == 200
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert _problem(await client.get(f"{API}/public/tokens/{forged}"), 404) == []
    non_ascii = code[:-1] + "é"
    assert _problem(await client.get(f"{API}/public/tokens/{non_ascii}"), 404) == []


# ---------------------------------------------------------------------------------------
# strict types: a string is no number, a boolean no integer
# ---------------------------------------------------------------------------------------
STRICT: list[tuple[str, str, Body, str]] = [
    ("minutes '5'", "/doctors/{doctor}/pause", lambda w: {"minutes": "5"}, "minutes"),
    ("minutes true", "/doctors/{doctor}/pause", lambda w: {"minutes": True}, "minutes"),
    ("minutes 5.5", "/doctors/{doctor}/pause", lambda w: {"minutes": 5.5}, "minutes"),
    ("priority true", "/tokens", lambda w: _token(w, priority=True), "priority"),
    ("priority '2'", "/tokens", lambda w: _token(w, priority="2"), "priority"),
    ("sms_opt_in 'yes'", "/patients", lambda w: _patient(w, sms_opt_in="true"), "sms_opt_in"),
    ("sms_opt_in 1", "/patients", lambda w: _patient(w, sms_opt_in=1), "sms_opt_in"),
    ("distance_km '3'", "/patients", lambda w: _patient(w, distance_km="3"), "distance_km"),
    ("avg_consultation_min '10'", "/departments",
     lambda w: {"name": "Eye", "code": "EYE", "avg_consultation_min": "10"},
     "avg_consultation_min"),
    ("skip_places false", "/departments",
     lambda w: {"name": "Eye", "code": "EYE", "skip_places": False}, "skip_places"),
    ("patient_id 42", "/tokens", lambda w: _token(w, patient_id=42), "patient_id"),
    ("name 42", "/patients", lambda w: _patient(w, name=42), "name"),
]


@pytest.mark.parametrize(("case", "path", "body", "field"), STRICT, ids=[s[0] for s in STRICT])
async def test_strict_types(client: httpx.AsyncClient, world: World, pool: asyncpg.Pool,
                            case: str, path: str, body: Body, field: str) -> None:
    before = await _counts(pool)
    r = await client.post(API + path.format(doctor=world.doctors[0]), json=body(world),
                          headers=world.h("admin"))
    assert _problem(r, 422) == [field]
    assert await _counts(pool) == before


async def test_an_integral_float_is_an_integer(client: httpx.AsyncClient, world: World) -> None:
    """JSON Schema counts 8.0 as an integer; so does the API."""
    r = await client.post(f"{API}/departments", json={
        "name": "Eye", "code": "EYE", "skip_places": 8.0, "avg_consultation_min": 7.255},
        headers=world.h("admin"))
    assert r.status_code == 201, r.text
    assert r.json()["skip_places"] == 8
    assert r.json()["avg_consultation_min"] == 7.26       # rounded to 0.01


# ---------------------------------------------------------------------------------------
# a body is application/json
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1",
                                          "application/jsonx"])
async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, world: World,
                                              pool: asyncpg.Pool,
                                              content_type: str | None) -> None:
    before = await _counts(pool)
    headers = world.h()
    if content_type:
        headers["content-type"] = content_type
    r = await client.post(f"{API}/patients", content=json.dumps(_patient(world)),
                          headers=headers)
    assert _problem(r, 415) == ["body"]
    assert await _counts(pool) == before


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=\"UTF-8\""])
async def test_json_with_a_utf8_charset_is_taken(client: httpx.AsyncClient, world: World,
                                                 content_type: str) -> None:
    r = await client.post(f"{API}/patients", content=json.dumps(_patient(world)),
                          headers={**world.h(), "content-type": content_type})
    assert r.status_code == 201, r.text


async def test_an_action_without_a_body_needs_no_content_type(client: httpx.AsyncClient,
                                                              world: World) -> None:
    """The pages post actions with no body and no Content-Type (static/js/api.js)."""
    r = await client.post(f"{API}/doctors/{world.doctors[0]}/pause", headers=world.h("admin"))
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/doctors/{world.doctors[0]}/resume", headers=world.h("admin"))
    assert r.status_code == 200, r.text
    token = await issue(client, world, 0)
    r = await client.post(f"{API}/tokens/{token['id']}/cancel", headers=world.h("admin"))
    assert r.status_code == 200, r.text


async def test_malformed_json_is_400_naming_the_body(client: httpx.AsyncClient,
                                                     world: World) -> None:
    for raw in ('{"name": ', "[1, 2]", '"text"', "\xff"):
        r = await client.post(f"{API}/patients", content=raw.encode("latin-1"),
                              headers={**world.h(), "content-type": "application/json"})
        assert r.status_code in (400, 422), (raw, r.text)
        assert _problem(r, r.status_code) == ["body"], raw
