"""Reception: register and find patients."""

from __future__ import annotations

import asyncpg
from starlette.requests import Request
from starlette.routing import Route

from server import idempotency
from server.auth.principal import DESK, staff
from server.db import admin as admin_db
from server.db import patients as patients_db
from server.errors import Conflict, NotFound
from server.models.common import parse_body, parse_query, path_uuid
from server.models.queue import PatientCreate, PatientPatch, PatientQuery
from server.responses import JSONResponse
from server.routes.render import jsonable, state

UHID_ATTEMPTS = 20


async def create_patient(request: Request) -> JSONResponse:
    who = await staff(request, *DESK)
    body = await parse_body(request, PatientCreate)
    pool = state(request).pool
    registered = idempotency.replaying()  # a retry whose first registration committed
    if registered and (row := await patients_db.get(pool, who.hospital_id, registered)):
        return JSONResponse(jsonable(row), status_code=201)
    fields = body.model_dump(exclude_none=True)
    generated = "uhid" not in fields
    async with pool.acquire() as conn, conn.transaction():
        if generated:
            first = await patients_db.next_uhid(conn, who.hospital_id)
        for attempt in range(UHID_ATTEMPTS if generated else 1):
            if generated:
                # the next free number: a UHID typed at the desk (or a registration at the
                # next desk a moment ago) may hold the one counted from the patients so far
                fields["uhid"] = f"UH{int(first[2:]) + attempt:06d}"
            try:
                async with conn.transaction():  # a savepoint: a taken UHID spoils nothing else
                    row = await patients_db.create(conn, who.hospital_id, **fields)
                break
            except asyncpg.UniqueViolationError:
                if generated and attempt + 1 < UHID_ATTEMPTS:
                    continue
                raise Conflict(f"a patient with UHID {fields['uhid']} exists",
                               errors=[{"field": "uhid", "message": "already registered"}]
                               ) from None
        await idempotency.record_effect(conn, row["id"])  # commits with the patient
    return JSONResponse(jsonable(row), status_code=201)


async def find_patients(request: Request) -> JSONResponse:
    who = await staff(request)
    q = parse_query(request, PatientQuery)
    rows = await patients_db.find(state(request).pool, who.hospital_id, phone=q.phone,
                                  uhid=q.uhid, q=q.q)
    found = jsonable(rows)
    # `items` is the Wave 2 list shape; `patients` stays for the pages that read it
    return JSONResponse({"patients": found, "items": found, "next_cursor": None})


async def get_patient(request: Request) -> JSONResponse:
    who = await staff(request)
    pid = path_uuid(request, "patient_id")
    pool = state(request).pool
    row = await patients_db.get(pool, who.hospital_id, pid)
    if not row:
        raise NotFound("no such patient")
    visits = await patients_db.visits(pool, who.hospital_id, pid)
    return JSONResponse(jsonable({**row, "visits": visits}))


async def patch_patient(request: Request) -> JSONResponse:
    """Correct a patient's record at the desk; every change audited with its old value."""
    who = await staff(request, *DESK)
    pid = path_uuid(request, "patient_id")
    body = await parse_body(request, PatientPatch)
    changes = body.changes()
    async with state(request).pool.acquire() as conn, conn.transaction():
        changed = await patients_db.update(conn, who.hospital_id, pid, changes)
        if changed is None:
            raise NotFound("no such patient")
        before, after = changed
        await admin_db.write_audit(
            conn, hospital_id=who.hospital_id, actor_id=who.user_id, entity="patient",
            entity_id=pid, action="update",
            changes={k: {"from": jsonable(before[k]), "to": jsonable(after[k])}
                     for k in changes if before[k] != after[k]})
    return JSONResponse(jsonable(after))


async def patient(request: Request) -> JSONResponse:
    return await (get_patient if request.method in ("GET", "HEAD") else patch_patient)(request)


async def patients(request: Request) -> JSONResponse:
    # one route for the path, so a 405 answers Allow: GET, POST (two would name one each)
    return await (find_patients if request.method in ("GET", "HEAD") else create_patient)(
        request)


routes = [
    Route("/api/v1/patients", patients, methods=["GET", "POST"]),
    Route("/api/v1/patients/{patient_id}", patient, methods=["GET", "PATCH"]),
]
