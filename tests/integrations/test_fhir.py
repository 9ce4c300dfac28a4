"""FHIR R4 read API: every resource validates with the fhir.resources models, every token
status maps to the documented Appointment.status, errors are OperationOutcomes, and only
staff and API keys of the hospital read it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from server.integrations import fhir
from tests.api.helpers import auth, make_display_key
from tests.queue.conftest import TZ, World, build_world

FHIR_JSON = "application/fhir+json"
# docs/integrations.md, "Token status -> Appointment.status"
EXPECTED = {
    "BOOKED": "booked", "WAITING": "arrived", "CALLED": "arrived", "IN_CONSULTATION": "arrived",
    "COMPLETED": "fulfilled", "NO_SHOW": "noshow", "CANCELLED": "cancelled",
    "RESCHEDULED": "cancelled",
}
# the R4 value set of Appointment.status (the models do not check codes)
R4_STATUSES = {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
               "entered-in-error", "checked-in", "waitlist"}


def today() -> Any:
    return datetime.now(ZoneInfo(TZ)).date()


async def token_in(pool: asyncpg.Pool, w: World, status: str, seq: int) -> UUID:
    """A token of today in `status`, written straight to the record with its times."""
    now = datetime.now(UTC)
    times: dict[str, Any] = {"checked_in_at": now - timedelta(minutes=30)}
    if status in ("IN_CONSULTATION", "COMPLETED"):
        times["started_at"] = now - timedelta(minutes=12)
    if status == "COMPLETED":
        times["completed_at"] = now - timedelta(minutes=2)
    if status == "BOOKED":
        times = {}
    doctor = {"CALLED": 1, "IN_CONSULTATION": 2}.get(status, 0)
    booking = "ONLINE" if status in ("BOOKED", "RESCHEDULED") else "WALK_IN"
    cols = {"hospital_id": w.hospital_id, "department_id": w.department_id,
            "doctor_id": w.doctors[doctor], "patient_id": w.patients[seq],
            "service_date": today(), "seq": seq + 1, "number": f"CARD-{seq + 1:03d}",
            "booking_type": booking, "status": status, "public_code": secrets.token_hex(8),
            "scheduled_time": now + timedelta(hours=2) if booking == "ONLINE" else None,
            "cancel_reason": "went home" if status == "CANCELLED" else None, **times}
    names = ", ".join(cols)
    params = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    return await pool.fetchval(f"INSERT INTO tokens ({names}) VALUES ({params}) RETURNING id",
                               *cols.values())


async def fhir_get(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                   status: int = 200) -> dict[str, Any]:
    r = await client.get(path, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON)
    return dict(r.json())


async def test_capability_statement(client: httpx.AsyncClient, world: World) -> None:
    body = await fhir_get(client, "/fhir/r4/metadata", {})
    cs = CapabilityStatement.model_validate(body)
    assert cs.fhirVersion == "4.0.1" and cs.kind == "instance"
    assert {r.type: {i.code for i in r.interaction} for r in cs.rest[0].resource} == {
        "Appointment": {"read", "search-type"}, "Patient": {"read"}}


async def test_every_token_status_maps_and_every_resource_validates(
        client: httpx.AsyncClient, pool: asyncpg.Pool, world: World) -> None:
    ids = {status: await token_in(pool, world, status, i)
           for i, status in enumerate(EXPECTED)}
    day = today().isoformat()
    body = await fhir_get(client, f"/fhir/r4/Appointment?date={day}", world.h("nurse"))
    bundle = Bundle.model_validate(body)
    assert bundle.type == "searchset" and bundle.total == len(EXPECTED)
    by_id = {e.resource.id: e.resource for e in bundle.entry}
    status_ext = fhir.token_status_url("http://testserver")
    for status, token_id in ids.items():
        appt = by_id[str(token_id)]
        assert isinstance(appt, Appointment)
        assert appt.status == EXPECTED[status] and appt.status in R4_STATUSES, status
        assert [(e.url, e.valueCode) for e in appt.extension] == [(status_ext, status)]
        # R4 invariant app-3: only proposed, cancelled or waitlist may lack start and end
        if appt.status not in ("proposed", "cancelled", "waitlist"):
            assert appt.start is not None and appt.end is not None and appt.end > appt.start
        refs = [p.actor.reference for p in appt.participant if p.actor.reference]
        assert refs[0].startswith("Patient/")
        # the read answers the same resource as the search
        one = await fhir_get(client, f"/fhir/r4/Appointment/{token_id}", world.h("doctor"))
        assert Appointment.model_validate(one).model_dump() == appt.model_dump()
    cancelled = by_id[str(ids["CANCELLED"])]
    assert cancelled.cancelationReason.text == "went home"
    assert by_id[str(ids["RESCHEDULED"])].cancelationReason.text == "rescheduled"
    fulfilled = by_id[str(ids["COMPLETED"])]
    assert (fulfilled.end - fulfilled.start) == timedelta(minutes=10)   # started -> completed
    # another day: an empty searchset
    empty = await fhir_get(client, "/fhir/r4/Appointment?date=eq2030-01-01", world.h("nurse"))
    assert Bundle.model_validate(empty).total == 0 and "entry" not in empty


def test_the_mapping_covers_every_status_of_the_schema() -> None:
    assert fhir.STATUS == EXPECTED


async def test_patient_read(client: httpx.AsyncClient, pool: asyncpg.Pool, world: World) -> None:
    pid = world.patients[0]
    await pool.execute("UPDATE patients SET gender = 'F', date_of_birth = '1980-02-03', "
                       "language = 'ta' WHERE id = $1", pid)
    body = await fhir_get(client, f"/fhir/r4/Patient/{pid}", world.h("receptionist"))
    p = Patient.model_validate(body)
    assert p.gender == "female" and str(p.birthDate) == "1980-02-03"
    assert p.identifier[0].value == "UH00000" and p.identifier[0].system == "urn:opdq:CITY:uhid"
    assert p.telecom[0].value == "+919876500000"
    assert p.communication[0].language.coding[0].code == "ta"


@pytest.mark.parametrize("query", ["", "?date=26-11-2030", "?date=ge2030-01-01",
                                   "?date=2030-01-01&date=2030-01-02",
                                   "?date=2030-01-01&patient=x"])
async def test_bad_searches_are_operation_outcomes(client: httpx.AsyncClient, world: World,
                                                   query: str) -> None:
    body = await fhir_get(client, f"/fhir/r4/Appointment{query}", world.h("admin"), 400)
    assert OperationOutcome.model_validate(body).issue[0].code == "invalid"


async def test_only_staff_and_keys_of_the_hospital(client: httpx.AsyncClient,
                                                   pool: asyncpg.Pool, world: World) -> None:
    token_id = await token_in(pool, world, "WAITING", 0)
    path = f"/fhir/r4/Appointment/{token_id}"
    outcome = await fhir_get(client, path, {}, 401)
    assert OperationOutcome.model_validate(outcome).issue[0].code == "login"
    _, display = await make_display_key(pool, world.hospital_id, world.department_id)
    outcome = await fhir_get(client, path, auth(display), 403)
    assert OperationOutcome.model_validate(outcome).issue[0].code == "forbidden"
    other = await build_world(pool, code="OTHER")
    for p in (path, f"/fhir/r4/Patient/{world.patients[0]}", "/fhir/r4/Patient/not-an-id"):
        outcome = await fhir_get(client, p, other.h("admin"), 404)
        assert OperationOutcome.model_validate(outcome).issue[0].code == "not-found"
    r = await client.post("/api/v1/api-keys", json={"name": "EMR", "role": "receptionist"},
                          headers=world.h("admin"))
    key = r.json()["key"]
    appt = await fhir_get(client, path, auth(key))
    assert appt["status"] == "arrived"
