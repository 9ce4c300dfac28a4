"""The desk's day (API.md "Wave 2 additions"): today's list and its search, name search of
patients, patient edits, the duplicate warning, reinstate, and what the token JSON tells a page
it may do (`allowed_actions`) and how long the patient has waited (`waited_min`)."""

from __future__ import annotations

import csv
import io
from typing import Any

import asyncpg
import httpx
import pytest

from tests.queue.conftest import (
    Clock,
    World,
    act,
    add_department,
    book,
    get_token,
    issue,
    local_at,
    press_next,
    queue,
)


async def register(client: httpx.AsyncClient, w: World, name: str, phone: str,
                   **extra: Any) -> str:
    r = await client.post("/api/v1/patients", json={"name": name, "phone": phone, **extra},
                          headers=w.h())
    assert r.status_code == 201, r.text
    w.patients.append(r.json()["id"])
    return str(r.json()["id"])


async def listing(client: httpx.AsyncClient, w: World, role: str = "receptionist",
                  **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/tokens", params=params, headers=w.h(role))
    assert r.status_code == 200, r.text
    return r.json()


def numbers(page: dict[str, Any]) -> list[str]:
    return [t["number"] for t in page["items"]]


# ------------------------------------------------------------------ today's list
async def test_list_is_newest_first_with_live_positions(client: httpx.AsyncClient,
                                                        world: World, clock: Clock) -> None:
    for p in range(3):
        await issue(client, world, p)
        clock.advance(minutes=1)
    page = await listing(client, world)
    assert numbers(page) == ["CARD-003", "CARD-002", "CARD-001"]
    assert [t["position"] for t in page["items"]] == [3, 2, 1]
    assert all(t["eta"] is not None for t in page["items"])
    assert page["next_cursor"] is None
    await press_next(client, world)
    called = (await listing(client, world, q="CARD-001"))["items"][0]
    assert called["status"] == "CALLED" and called["position"] is None


async def test_list_filters(client: httpx.AsyncClient, world: World, pool: asyncpg.Pool,
                            clock: Clock) -> None:
    ent, ent_doctors = await add_department(pool, world)
    await issue(client, world, 0, doctor=0)
    clock.advance(minutes=1)
    await issue(client, world, 1, doctor=1)
    clock.advance(minutes=1)
    r = await client.post("/api/v1/tokens", json={
        "patient_id": str(world.patients[2]), "doctor_id": str(ent_doctors[0]),
        "booking_type": "WALK_IN"}, headers=world.h())
    assert r.status_code == 201, r.text
    await press_next(client, world, 0)
    assert numbers(await listing(client, world, department_id=str(ent))) == ["ENT-001"]
    assert numbers(await listing(client, world, doctor_id=str(world.doctors[1]))) == ["CARD-002"]
    assert numbers(await listing(client, world, status="CALLED")) == ["CARD-001"]
    assert numbers(await listing(client, world, status="WAITING,CALLED",
                                 department_id=str(world.department_id))) == [
        "CARD-002", "CARD-001"]


async def test_list_pages_by_cursor_without_repeats(client: httpx.AsyncClient, world: World,
                                                    clock: Clock) -> None:
    for p in range(5):
        await issue(client, world, p, doctor=p % 3)
        clock.advance(seconds=20)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await listing(client, world, **params)
        seen += numbers(page)
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [f"CARD-00{i}" for i in range(5, 0, -1)]


async def test_list_of_another_day_and_csv(client: httpx.AsyncClient, world: World,
                                           clock: Clock) -> None:
    await issue(client, world, 0)
    booked = await book(client, world, 1, local_at(11, days=1))
    tomorrow = booked["service_date"]
    assert numbers(await listing(client, world, date=tomorrow)) == [booked["number"]]
    r = await client.get("/api/v1/tokens", params={"format": "csv"}, headers=world.h())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["number"], row["status"], row["patient_name"]) for row in rows] == [
        ("CARD-001", "WAITING", "Patient0 Kumar")]
    r2 = await client.get("/api/v1/tokens", headers={**world.h(), "Accept": "text/csv"})
    assert r2.text == r.text


@pytest.mark.parametrize("params", [{"status": "WAITING,ASLEEP"}, {"cursor": "not-a-cursor"},
                                    {"limit": "0"}, {"date": "2026-02-30"}])
async def test_list_bad_query_names_the_field(client: httpx.AsyncClient, world: World,
                                              params: dict[str, str]) -> None:
    r = await client.get("/api/v1/tokens", params=params, headers=world.h())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == next(iter(params))


async def test_list_needs_staff(client: httpx.AsyncClient, world: World) -> None:
    assert (await client.get("/api/v1/tokens")).status_code == 401


# ------------------------------------------------------------------ search
async def test_search_by_number_name_in_any_script_and_phone(client: httpx.AsyncClient,
                                                             world: World, clock: Clock) -> None:
    sharma = await register(client, world, "Rahul Sharmá", "+919811100001")
    hindi = await register(client, world, "राहुल शर्मा", "+919811100002")
    other = await register(client, world, "Asha Rao", "+919822200003")
    for pid in (sharma, hindi, other):
        r = await client.post("/api/v1/tokens", json={
            "patient_id": pid, "doctor_id": str(world.doctors[0]), "booking_type": "WALK_IN"},
            headers=world.h())
        assert r.status_code == 201, r.text

    async def found(q: str) -> list[str]:
        return numbers(await listing(client, world, q=q))

    assert await found("sharma") == ["CARD-001"]         # accent-insensitive, any case
    assert await found("SHA") == ["CARD-001"]            # a prefix of a word
    assert await found("rahul sh") == ["CARD-001"]       # every word a prefix
    assert await found("arma") == []                     # not inside a word
    assert await found("शर्") == ["CARD-002"]             # Devanagari prefix
    assert await found("राहुल") == ["CARD-002"]
    assert await found("CARD-003") == ["CARD-003"]
    assert await found("card 3") == ["CARD-003"]
    assert await found("2") == ["CARD-002"]              # a bare token number
    assert await found("22200") == ["CARD-003"]          # digits of the phone
    assert await found("%") == []                        # a wildcard is a character


async def test_patient_search_by_name(client: httpx.AsyncClient, world: World) -> None:
    async def names(q: str) -> list[str]:
        r = await client.get("/api/v1/patients", params={"q": q}, headers=world.h())
        assert r.status_code == 200, r.text
        assert r.json()["items"] == r.json()["patients"]
        return sorted(p["name"] for p in r.json()["items"])

    assert await names("meera") == []                    # "no patient found" ...
    await register(client, world, "Meera Iyer", "+919833300001", uhid="MR-77")
    await register(client, world, "मीरा अय्यर", "+919833300002")
    assert await names("meera") == ["Meera Iyer"]         # ... until she is registered
    assert await names("मीरा") == ["मीरा अय्यर"]
    assert await names("33300") == ["Meera Iyer", "मीरा अय्यर"]
    assert await names("mr-77") == ["Meera Iyer"]         # the UHID, any case
    r = await client.get("/api/v1/patients", headers=world.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "q"


# ------------------------------------------------------------------ edit a patient
async def test_edit_patient_is_audited(client: httpx.AsyncClient, world: World,
                                       pool: asyncpg.Pool) -> None:
    pid = await register(client, world, "Kiran Das", "+919844400001")
    r = await client.patch(f"/api/v1/patients/{pid}", json={
        "name": "Kiran Dasgupta", "phone": "+91 98444 00002", "language": "hi",
        "whatsapp_opt_in": True, "date_of_birth": "1970-05-01"}, headers=world.h())
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["name"], p["phone"], p["language"], p["whatsapp_opt_in"], p["date_of_birth"]) == (
        "Kiran Dasgupta", "+919844400002", "hi", True, "1970-05-01")
    found = await client.get("/api/v1/patients", params={"q": "dasg"}, headers=world.h())
    assert [x["id"] for x in found.json()["items"]] == [pid]   # the new name is searchable
    audit = await pool.fetchrow(
        "SELECT actor_id, action, changes FROM admin_audit WHERE entity = 'patient' "
        "AND entity_id = $1", pid)
    assert audit["action"] == "update" and audit["actor_id"] is not None
    assert audit["changes"]["phone"] == {"from": "+919844400001", "to": "+919844400002"}


@pytest.mark.parametrize(("patch", "field"), [
    ({"phone": "98444"}, "phone"), ({"language": "hindi"}, "language"),
    ({"name": ""}, "name"), ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
    ({"name": None}, "name"), ({}, None), ({"uhid": "X-1"}, "uhid")])
async def test_edit_patient_bad_input_changes_nothing(client: httpx.AsyncClient, world: World,
                                                      patch: dict[str, Any],
                                                      field: str | None) -> None:
    pid = await register(client, world, "Kiran Das", "+919844400001")
    r = await client.patch(f"/api/v1/patients/{pid}", json={"language": "hi", **patch}
                           if field else patch, headers=world.h())
    assert r.status_code == 422, r.text
    if field:
        assert r.json()["errors"][0]["field"] == field
    after = (await client.get(f"/api/v1/patients/{pid}", headers=world.h())).json()
    assert (after["phone"], after["language"], after["name"]) == ("+919844400001", "en",
                                                                  "Kiran Das")


async def test_edit_patient_access(client: httpx.AsyncClient, world: World) -> None:
    pid = await register(client, world, "Kiran Das", "+919844400001")
    r = await client.patch(f"/api/v1/patients/{pid}", json={"language": "hi"},
                           headers=world.h("doctor"))
    assert r.status_code == 403
    r = await client.patch("/api/v1/patients/00000000-0000-0000-0000-000000000000",
                           json={"language": "hi"}, headers=world.h())
    assert r.status_code == 404


# ------------------------------------------------------------------ duplicate warning
async def test_duplicate_live_token_asks_to_confirm(client: httpx.AsyncClient, world: World,
                                                    pool: asyncpg.Pool) -> None:
    first = await issue(client, world, 0, doctor=0)
    body = {"patient_id": str(world.patients[0]), "doctor_id": str(world.doctors[1]),
            "booking_type": "WALK_IN"}
    r = await client.post("/api/v1/tokens", json=body, headers=world.h())
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"] == "/problems/duplicate-token"
    assert problem["existing_token_id"] == first["id"]
    assert problem["existing_token"]["number"] == "CARD-001"
    assert await pool.fetchval("SELECT count(*) FROM tokens") == 1   # nothing half-written
    r = await client.post("/api/v1/tokens", json={**body, "allow_duplicate": True},
                          headers=world.h())
    assert r.status_code == 201 and r.json()["number"] == "CARD-002"


async def test_no_warning_once_the_visit_is_over_or_elsewhere(
        client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, clock: Clock) -> None:
    first = await issue(client, world, 0)
    await press_next(client, world)
    assert (await act(client, world, first["id"], "no-show")).status_code == 200
    await issue(client, world, 0, allow_duplicate=False)   # a missed visit: no warning
    _, ent_doctors = await add_department(pool, world)
    r = await client.post("/api/v1/tokens", json={
        "patient_id": str(world.patients[0]), "doctor_id": str(ent_doctors[0]),
        "booking_type": "WALK_IN"}, headers=world.h())
    assert r.status_code == 201                            # another department


async def test_a_booking_counts_as_live(client: httpx.AsyncClient, world: World,
                                        clock: Clock) -> None:
    await book(client, world, 0, local_at(11))
    r = await client.post("/api/v1/tokens", json={
        "patient_id": str(world.patients[0]), "doctor_id": str(world.doctors[0]),
        "booking_type": "WALK_IN"}, headers=world.h())
    assert r.status_code == 409 and r.json()["type"] == "/problems/duplicate-token"


# ------------------------------------------------------------------ reinstate
async def missed(client: httpx.AsyncClient, w: World, patient: int) -> dict[str, Any]:
    """A token called and marked no-show."""
    t = await issue(client, w, patient)
    r = await press_next(client, w)
    assert r.json()["called"]["id"] == t["id"], r.text
    r = await act(client, w, t["id"], "no-show")
    assert r.status_code == 200 and r.json()["status"] == "NO_SHOW"
    return r.json()


async def test_reinstate_goes_behind_the_next_three(client: httpx.AsyncClient, world: World,
                                                    clock: Clock, pool: asyncpg.Pool) -> None:
    gone = await missed(client, world, 0)
    assert "reinstate" in gone["allowed_actions"]
    waiting = []
    for p in range(1, 6):
        clock.advance(minutes=1)
        waiting.append((await issue(client, world, p))["id"])
    clock.advance(minutes=1)
    r = await act(client, world, gone["id"], "reinstate", role="receptionist",
                  reason="came back from the pharmacy")
    assert r.status_code == 200, r.text
    back = r.json()
    assert back["status"] == "WAITING" and back["position"] == 4 and back["reinstated"]
    order = [t["id"] for t in (await queue(client, world))["waiting"]]
    assert order == [*waiting[:3], gone["id"], *waiting[3:]]
    history = await pool.fetch("SELECT action, reason FROM token_history WHERE token_id = $1 "
                               "ORDER BY at, id", gone["id"])
    assert history[-1]["action"] == "reinstate"
    assert history[-1]["reason"] == "came back from the pharmacy"
    # the record's order is the live one: a rebuild from PostgreSQL keeps the place
    await pool.execute("SELECT 1")
    r = await press_next(client, world)
    assert r.json()["called"]["id"] == waiting[0]


async def test_reinstate_never_passes_an_emergency(client: httpx.AsyncClient, world: World,
                                                   clock: Clock) -> None:
    gone = await missed(client, world, 0)
    emergencies = []
    for p in range(1, 5):
        clock.advance(minutes=1)
        emergencies.append((await issue(client, world, p, booking_type="EMERGENCY"))["id"])
    r = await act(client, world, gone["id"], "reinstate")
    assert r.status_code == 200 and r.json()["position"] == 5


async def test_reinstate_with_a_short_queue_goes_last(client: httpx.AsyncClient, world: World,
                                                      clock: Clock, pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE departments SET reinstate_places = 2")
    gone = await missed(client, world, 0)
    clock.advance(minutes=1)
    only = await issue(client, world, 1)
    r = await act(client, world, gone["id"], "reinstate")
    assert r.status_code == 200 and r.json()["position"] == 2
    assert [t["id"] for t in (await queue(client, world))["waiting"]] == [only["id"], gone["id"]]


async def test_reinstate_a_cancelled_token_of_today(client: httpx.AsyncClient, world: World,
                                                    clock: Clock) -> None:
    t = await issue(client, world, 0)
    assert (await act(client, world, t["id"], "cancel")).status_code == 200
    r = await act(client, world, t["id"], "reinstate", role="receptionist")
    assert r.status_code == 200 and r.json()["status"] == "WAITING"


@pytest.mark.parametrize("status", ["WAITING", "CALLED", "COMPLETED"])
async def test_reinstate_refused_from_other_states(client: httpx.AsyncClient, world: World,
                                                   clock: Clock, status: str) -> None:
    t = await issue(client, world, 0)
    if status != "WAITING":
        await press_next(client, world)
    if status == "COMPLETED":
        clock.advance(minutes=5)
        await press_next(client, world)
    assert (await get_token(client, world, t["id"]))["status"] == status
    r = await act(client, world, t["id"], "reinstate")
    assert r.status_code == 409 and status in r.json()["detail"]
    assert "reinstate" not in (await get_token(client, world, t["id"]))["allowed_actions"]


async def test_reinstate_refused_for_another_day(client: httpx.AsyncClient, world: World,
                                                 clock: Clock) -> None:
    booked = await book(client, world, 0, local_at(11, days=1))
    assert (await act(client, world, booked["id"], "cancel")).status_code == 200
    token = await get_token(client, world, booked["id"])
    assert "reinstate" not in token["allowed_actions"]
    r = await act(client, world, booked["id"], "reinstate")
    assert r.status_code == 409 and "today" in r.json()["detail"]


async def test_who_may_reinstate(client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    gone = await missed(client, world, 0)
    assert (await act(client, world, gone["id"], "reinstate", role="doctor2")).status_code == 403
    assert (await act(client, world, gone["id"], "reinstate", role="doctor")).status_code == 200


# ------------------------------------------------------------------ allowed_actions, waited_min
async def test_allowed_actions_follow_status_and_role(client: httpx.AsyncClient, world: World,
                                                      clock: Clock) -> None:
    t = await issue(client, world, 0)
    desk = (await get_token(client, world, t["id"], role="receptionist"))["allowed_actions"]
    assert desk == ["cancel", "reschedule", "transfer", "priority"]
    nurse = (await get_token(client, world, t["id"], role="nurse"))["allowed_actions"]
    assert nurse == ["skip", "no-show", "cancel", "reschedule", "transfer", "priority"]
    await press_next(client, world)
    doctor = (await get_token(client, world, t["id"], role="doctor"))["allowed_actions"]
    assert doctor == ["start", "complete", "recall", "skip", "no-show"]
    other = (await get_token(client, world, t["id"], role="doctor2"))["allowed_actions"]
    assert other == []
    console = (await client.get(f"/api/v1/doctors/{world.doctors[0]}/queue",
                                headers=world.h("doctor"))).json()
    assert console["current"]["allowed_actions"] == ["start", "complete", "recall", "skip",
                                                      "no-show"]


async def test_every_allowed_action_is_accepted(client: httpx.AsyncClient, world: World,
                                                clock: Clock) -> None:
    """What the JSON offers the server does: each listed action, tried on a fresh token."""
    for role in ("receptionist", "nurse", "doctor", "admin"):
        for status_path in ("waiting", "called"):
            t = await issue(client, world, 0, allow_duplicate=True)
            if status_path == "called":
                clock.advance(minutes=1)
                r = await press_next(client, world)
                assert r.json()["called"]["id"] == t["id"], r.text
            offered = (await get_token(client, world, t["id"], role=role))["allowed_actions"]
            for action in offered:
                body: dict[str, Any] = {}
                if action == "transfer":
                    body = {"doctor_id": str(world.doctors[2])}
                if action == "priority":
                    body = {"priority": 2}
                r = await client.post(f"/api/v1/tokens/{t['id']}/{action}", json=body or None,
                                      headers=world.h(role))
                assert r.status_code == 200, (role, action, r.text)
                break   # one action changes the token: the next list is a new question
            clock.advance(minutes=1)
            if (now := await get_token(client, world, t["id"]))["status"] in ("CALLED",
                                                                               "IN_CONSULTATION"):
                await act(client, world, now["id"], "complete")
            for w in (await queue(client, world))["waiting"]:   # the next round starts empty
                await act(client, world, w["id"], "cancel")


async def test_waited_min_counts_from_check_in_through_a_skip(
        client: httpx.AsyncClient, world: World, clock: Clock) -> None:
    t = await issue(client, world, 0)
    await issue(client, world, 1)
    clock.advance(minutes=12)
    assert (await get_token(client, world, t["id"]))["waited_min"] == 12
    await press_next(client, world)
    clock.advance(minutes=3)
    assert (await act(client, world, t["id"], "skip")).status_code == 200
    clock.advance(minutes=5)
    assert (await get_token(client, world, t["id"]))["waited_min"] == 20
    booked = await book(client, world, 2, local_at(11))
    assert booked["waited_min"] is None      # not here yet
