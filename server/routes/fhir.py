"""FHIR R4 read API: /fhir/r4/metadata, Appointment (read, search by date), Patient (read).

Staff users and API keys of the hospital only (any role; not display boards); every answer,
errors included, is `application/fhir+json`, an error being an OperationOutcome. Resources
are built and validated in server/integrations/fhir.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from importlib import metadata
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth.principal import Principal, staff
from server.db import fhir as db
from server.errors import AppError, BadRequest, NotFound
from server.integrations import fhir
from server.models.common import path_uuid
from server.presenters import jsonable
from server.state import AppState

BASE = "/fhir/r4"
_DATE = re.compile(r"^(?:eq)?(\d{4}-\d{2}-\d{2})$")
Handler = Callable[[Request], Awaitable[dict[str, Any]]]


def _state(request: Request) -> AppState:
    return request.app.state.opdq


def _answer(resource: dict[str, Any], status: int = 200,
            headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(jsonable(resource), ensure_ascii=False), status_code=status,
                    media_type=fhir.MEDIA_TYPE, headers=headers)


def fhir_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Runs a handler; the app's typed errors become OperationOutcomes (FHIR clients read
    those, not problem+json)."""
    async def endpoint(request: Request) -> Response:
        try:
            return _answer(await handler(request))
        except AppError as exc:
            return _answer(fhir.outcome(exc.status, exc.detail), exc.status,
                           exc.headers or None)
    return endpoint


async def _reader(request: Request) -> Principal:
    return await staff(request)   # any staff role, sessions and API keys alike


def _software_version() -> str:
    try:
        return metadata.version("opdq")
    except metadata.PackageNotFoundError:
        return "dev"


async def capability(request: Request) -> dict[str, Any]:
    return fhir.capability_statement(base_url=_state(request).settings.base_url,
                                     software_version=_software_version(),
                                     now=datetime.now(UTC))


def _search_day(request: Request) -> date:
    params = request.query_params
    unknown = sorted(set(params) - {"date", "_format"})
    if unknown:
        raise BadRequest(f"unknown search parameter: {', '.join(unknown)}")
    values = params.getlist("date")
    if len(values) != 1:
        raise BadRequest("search by one `date` (YYYY-MM-DD), e.g. ?date=2026-11-26")
    m = _DATE.fullmatch(values[0])
    try:
        if m is None:
            raise ValueError(values[0])
        return date.fromisoformat(m.group(1))
    except ValueError:
        raise BadRequest("date: a day as YYYY-MM-DD (prefix `eq` or none)") from None


async def appointments(request: Request) -> dict[str, Any]:
    principal = await _reader(request)
    day = _search_day(request)
    state = _state(request)
    code = await db.hospital_code(state.pool, principal.hospital_id)
    base = state.settings.base_url
    rows = await db.appointments_of_day(state.pool, principal.hospital_id, day)
    resources = [fhir.appointment(r, hospital_code=code, base_url=base) for r in rows]
    return fhir.searchset(resources, self_url=f"{base}{BASE}/Appointment?date={day}",
                          base_url=base)


async def appointment(request: Request) -> dict[str, Any]:
    principal = await _reader(request)
    token_id = path_uuid(request, "id")
    state = _state(request)
    row = await db.appointment(state.pool, principal.hospital_id, token_id)
    if row is None:
        raise NotFound("no such Appointment")
    code = await db.hospital_code(state.pool, principal.hospital_id)
    return fhir.appointment(row, hospital_code=code, base_url=state.settings.base_url)


async def patient(request: Request) -> dict[str, Any]:
    principal = await _reader(request)
    patient_id = path_uuid(request, "id")
    state = _state(request)
    row = await db.patient(state.pool, principal.hospital_id, patient_id)
    if row is None:
        raise NotFound("no such Patient")
    code = await db.hospital_code(state.pool, principal.hospital_id)
    return fhir.patient(row, hospital_code=code)


routes = [
    Route(f"{BASE}/metadata", fhir_endpoint(capability), methods=["GET"]),
    Route(f"{BASE}/Appointment", fhir_endpoint(appointments), methods=["GET"]),
    Route(f"{BASE}/Appointment/{{id}}", fhir_endpoint(appointment), methods=["GET"]),
    Route(f"{BASE}/Patient/{{id}}", fhir_endpoint(patient), methods=["GET"]),
]
