"""Admin setup API: departments, cabins, doctors, shifts, users, display keys (the audit
trail they write is read in server/routes/audit.py).

Everything is scoped to the caller's hospital; an id from elsewhere is 404. Setup lists that
the consoles need (departments, cabins, doctors, shifts) are readable by every staff role;
every change is admin-only and audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth.principal import (
    STAFF,
    Principal,
    display_key_hash,
    new_display_key,
    staff,
)
from server.db import admin as db
from server.errors import InvalidInput, NotFound
from server.models import admin as m
from server.models.common import parse_body, parse_query, path_uuid
from server.presenters import jsonable
from server.responses import JSONResponse
from server.security.passwords import hash_password
from server.state import AppState
from server.store import keys
from server.store.client import publish

ADMIN = ("admin",)
BASE = "/api/v1"


def render(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(data), status_code=status)


def _state(request: Request) -> AppState:
    return request.app.state.opdq


Values = Callable[[Principal, dict[str, Any], UUID | None], Awaitable[dict[str, Any]]]


async def _same(principal: Principal, values: dict[str, Any], row_id: UUID | None) -> dict:
    return values


@dataclass(frozen=True)
class Resource:
    """One scoped CRUD resource: which table, which bodies, who may read it."""

    path: str
    table: db.Table
    create: type[BaseModel]
    patch: type[m.PatchBody]
    readers: tuple[str, ...]
    filters: type[BaseModel] | None = None
    values: Values = _same                 # body -> column values (e.g. hash a password)
    check: db.Check | None = None
    after: Callable[..., Awaitable[None]] | None = None

    def routes(self) -> list[Route]:
        return [
            Route(f"{BASE}/{self.path}", self.list_or_create, methods=["GET", "POST"]),
            Route(f"{BASE}/{self.path}/{{id}}", self.read_or_patch, methods=["GET", "PATCH"]),
        ]

    async def list_or_create(self, request: Request) -> Response:
        if request.method == "GET":
            principal = await staff(request, *self.readers)
            filters = parse_query(request, self.filters).model_dump() if self.filters else {}
            rows = await db.list_rows(_state(request).pool, self.table, principal.hospital_id,
                                      **filters)
            return render({"items": rows})
        principal = await staff(request, *ADMIN)
        body = await parse_body(request, self.create)
        values = await self.values(principal, body.model_dump(), None)
        row = await db.create_row(_state(request).pool, self.table,
                                  hospital_id=principal.hospital_id, actor_id=principal.user_id,
                                  values=values, check=self.check)
        return render(row, 201)

    async def read_or_patch(self, request: Request) -> Response:
        if request.method == "GET":
            principal = await staff(request, *self.readers)
            row_id = path_uuid(request, "id")
            row = await db.get_row(_state(request).pool, self.table, principal.hospital_id,
                                   row_id)
        else:
            principal = await staff(request, *ADMIN)
            row_id = path_uuid(request, "id")
            body = await parse_body(request, self.patch)
            values = await self.values(principal, body.changes(), row_id)
            row = await db.update_row(_state(request).pool, self.table,
                                      hospital_id=principal.hospital_id,
                                      actor_id=principal.user_id, row_id=row_id, values=values,
                                      check=self.check, after=self.after)
        if row is None:
            raise NotFound(f"no such {self.table.entity}")
        return render(row)


async def _user_values(principal: Principal, values: dict[str, Any], row_id: UUID | None) -> dict:
    """Hash the password off the event loop; keep an admin from locking themselves out."""
    if row_id is not None and row_id == principal.user_id:
        if values.get("active") is False:
            raise InvalidInput.field("active", "you cannot deactivate your own account")
        if values.get("role", "admin") != "admin":
            raise InvalidInput.field("role", "you cannot change your own role")
    password = values.pop("password", None)
    if password is not None:
        values["password_hash"] = await run_in_threadpool(hash_password, password)
    return values


RESOURCES = [
    Resource("departments", db.DEPARTMENTS, m.DepartmentCreate, m.DepartmentPatch, STAFF),
    Resource("cabins", db.CABINS, m.CabinCreate, m.CabinPatch, STAFF, m.DepartmentFilter),
    Resource("doctors", db.DOCTORS, m.DoctorCreate, m.DoctorPatch, STAFF, m.DepartmentFilter),
    Resource("shifts", db.SHIFTS, m.ShiftCreate, m.ShiftPatch, STAFF, m.ShiftFilter,
             check=db.check_shift_cabin),
    Resource("users", db.USERS, m.UserCreate, m.UserPatch, ADMIN, values=_user_values,
             after=db.revoke_sessions_if_locked_out),
]


# ---------------------------------------------------------------------------------------
# display keys: the key is shown once, at creation; only its hash and prefix are kept
# ---------------------------------------------------------------------------------------
def board_url(request: Request, department_id: UUID, key: str) -> str:
    # in the fragment, so the key never reaches a server log or a Referer header
    return f"{_state(request).settings.base_url}/board/{department_id}#key={key}"


async def displays(request: Request) -> Response:
    principal = await staff(request, *ADMIN)
    pool = _state(request).pool
    if request.method == "GET":
        return render({"items": await db.list_rows(pool, db.DISPLAYS, principal.hospital_id)})
    body = await parse_body(request, m.DisplayCreate)
    key = new_display_key()
    row = await db.create_display_key(
        pool, hospital_id=principal.hospital_id, actor_id=principal.user_id,
        department_id=body.department_id, name=body.name, key_hash=display_key_hash(key),
        key_prefix=key[:10],
    )
    shown_once = render(row | {"key": key, "board_url": board_url(request, body.department_id,
                                                                   key)}, 201)
    shown_once.headers["Cache-Control"] = "no-store"  # a secret: an Idempotency-Key replay omits it
    return shown_once


async def display(request: Request) -> Response:
    principal = await staff(request, *ADMIN)
    key_id = path_uuid(request, "id")
    state = _state(request)
    if request.method == "DELETE":
        revoked = await db.revoke_display_key(state.pool, hospital_id=principal.hospital_id,
                                              actor_id=principal.user_id, key_id=key_id)
        if revoked is None:
            raise NotFound("no such display")
        if revoked:
            await publish(state.redis, keys.DISPLAY_REVOKED, str(key_id))
        return Response(status_code=204)
    if request.method == "GET":
        row = await db.get_row(state.pool, db.DISPLAYS, principal.hospital_id, key_id)
    else:
        body = await parse_body(request, m.DisplayPatch)
        row = await db.update_row(state.pool, db.DISPLAYS, hospital_id=principal.hospital_id,
                                  actor_id=principal.user_id, row_id=key_id,
                                  values=body.changes())
    if row is None:
        raise NotFound("no such display")
    return render(row)


routes = [
    *(route for resource in RESOURCES for route in resource.routes()),
    Route(f"{BASE}/displays", displays, methods=["GET", "POST"]),
    Route(f"{BASE}/displays/{{id}}", display, methods=["GET", "PATCH", "DELETE"]),
]
