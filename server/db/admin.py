"""Queries for a hospital's setup (departments, cabins, doctors, shifts, users, display keys)
and its audit trail.

Every statement filters by hospital_id, so an id from another hospital is simply not found.
Each change and its `admin_audit` row commit together. Column names come from the `Table`
specs below, never from the request, so the small amount of SQL built here is not injectable.
Constraint violations become typed errors naming the API field (409 unique, 422 FK/check).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from server.auth.attribution import current_api_key
from server.errors import Conflict, InvalidInput
from server.presenters import jsonable

Executor = asyncpg.Pool | asyncpg.Connection
Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    name: str
    entity: str                       # admin_audit.entity
    fields: dict[str, str]            # API field -> column (the writable ones)
    readonly: tuple[str, ...] = ()    # further columns shown (same name in API and SQL)
    checks: dict[str, str] = field(default_factory=dict)  # unnamed CHECK -> API field
    secret: frozenset[str] = frozenset()   # written but never shown nor audited by value

    def select(self, alias: str = "") -> str:
        p = f"{alias}." if alias else ""
        cols = [f"{p}id"] + [f'{p}{col} AS "{api}"' for api, col in self.fields.items()
                             if api not in self.secret]
        return ", ".join(cols + [f"{p}{c}" for c in self.readonly])

    def field_for(self, column: str) -> str:
        for api, col in self.fields.items():
            if col == column:
                return api
        return column


DEPARTMENTS = Table("departments", "department", {c: c for c in (
    "name", "code", "avg_consultation_min", "buffer_min", "daily_cap", "booked_grace_min",
    "senior_credit_min", "skip_places", "reinstate_places", "notify_ahead",
    "late_start_alert_min", "language", "active", "board_languages", "board_names")},
    readonly=("created_at", "updated_at"))
CABINS = Table("cabins", "cabin", {c: c for c in ("department_id", "number", "floor", "active")},
               readonly=("created_at", "updated_at"))
DOCTORS = Table("doctors", "doctor", {c: c for c in (
    "name", "department_id", "avg_consultation_min", "phone", "active")},
    readonly=("created_at", "updated_at"))
SHIFTS = Table("shifts", "shift", {"doctor_id": "doctor_id", "cabin_id": "cabin_id",
                                   "date": "date", "start": "start_time", "end": "end_time"},
               readonly=("created_at", "updated_at"), checks={"shifts_check": "end"})
USERS = Table("users", "user", {c: c for c in (
    "username", "role", "doctor_id", "department_id", "full_name", "active")}
    | {"password_hash": "password_hash"},
    readonly=("last_login_at", "created_at", "updated_at"),
    checks={"users_check": "doctor_id", "users_check1": "department_id"},
    secret=frozenset({"password_hash"}))
DISPLAYS = Table("display_keys", "display", {"department_id": "department_id", "name": "name"},
                 readonly=("key_prefix", "created_at", "revoked_at", "last_seen_at"))


# ---------------------------------------------------------------------------------------
# constraint violations -> field errors
# ---------------------------------------------------------------------------------------
_KEY_COLUMNS = re.compile(r"Key \(([^)]*)\)")


def _columns(exc: asyncpg.PostgresError) -> list[str]:
    m = _KEY_COLUMNS.search(getattr(exc, "detail", None) or "")
    cols = [c.strip() for c in m.group(1).split(",")] if m else []
    return [c for c in cols if c != "hospital_id"] or cols


@contextlib.contextmanager
def _translate(table: Table) -> Iterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        cols = _columns(exc)
        name = table.field_for(cols[-1]) if cols else "id"
        raise Conflict(f"{name}: already taken",
                       errors=[{"field": name, "message": "already taken"}]) from None
    except asyncpg.ForeignKeyViolationError as exc:
        cols = _columns(exc)
        name = table.field_for(cols[-1]) if cols else "id"
        raise InvalidInput.field(name, "unknown in this hospital") from None
    except (asyncpg.CheckViolationError, asyncpg.NotNullViolationError) as exc:
        constraint = getattr(exc, "constraint_name", None) or ""
        name = table.checks.get(constraint) or getattr(exc, "column_name", None)
        if not name:
            col = constraint.removeprefix(f"{table.name}_").removesuffix("_check")
            name = table.field_for(col)
        raise InvalidInput.field(name, "is not allowed here") from None


# ---------------------------------------------------------------------------------------
# audit
# ---------------------------------------------------------------------------------------
async def write_audit(
    conn: asyncpg.Connection, *, hospital_id: UUID, actor_id: UUID | None, entity: str,
    entity_id: UUID | None, action: str, changes: dict[str, Any],
) -> None:
    """One audit row; a change made with an API key names the key (auth.attribution)."""
    await conn.execute(
        """INSERT INTO admin_audit (hospital_id, actor_id, entity, entity_id, action, changes,
                                    api_key_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        hospital_id, actor_id, entity, entity_id, action, changes, current_api_key.get(),
    )


def _audit_created(table: Table, values: Row) -> dict[str, Any]:
    return {k: ("(set)" if k in table.secret else jsonable(v)) for k, v in values.items()}


def _audit_diff(table: Table, old: Row, values: Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k in table.secret:
            out[k] = "(changed)"
        elif old.get(k) != v:
            out[k] = {"from": jsonable(old.get(k)), "to": jsonable(v)}
    return out


async def list_audit(db: Executor, hospital_id: UUID, limit: int = 100) -> list[Row]:
    rows = await db.fetch(
        """SELECT id, actor_id, api_key_id, entity, entity_id, action, changes, at
           FROM admin_audit
           WHERE hospital_id = $1 ORDER BY id DESC LIMIT $2""",
        hospital_id, limit,
    )
    return [dict(r) for r in rows]


# ---------------------------------------------------------------------------------------
# generic scoped CRUD over a Table
# ---------------------------------------------------------------------------------------
Check = Callable[[asyncpg.Connection, UUID, UUID], Awaitable[None]]


async def list_rows(db: Executor, table: Table, hospital_id: UUID, **filters: Any) -> list[Row]:
    where, args = ["hospital_id = $1"], [hospital_id]
    for api, value in filters.items():
        if value is not None:
            args.append(value)
            where.append(f"{table.fields[api]} = ${len(args)}")
    rows = await db.fetch(
        f"SELECT {table.select()} FROM {table.name} WHERE {' AND '.join(where)} "
        "ORDER BY created_at, id", *args,
    )
    return [dict(r) for r in rows]


async def get_row(db: Executor, table: Table, hospital_id: UUID, row_id: UUID) -> Row | None:
    row = await db.fetchrow(
        f"SELECT {table.select()} FROM {table.name} WHERE hospital_id = $1 AND id = $2",
        hospital_id, row_id,
    )
    return dict(row) if row else None


async def create_row(
    pool: asyncpg.Pool, table: Table, *, hospital_id: UUID, actor_id: UUID | None,
    values: Row, check: Check | None = None, audit_extra: dict[str, Any] | None = None,
) -> Row:
    cols = [table.fields[k] for k in values]
    params = ", ".join(f"${i}" for i in range(2, len(cols) + 2))
    sql = (f"INSERT INTO {table.name} (hospital_id, {', '.join(cols)}) VALUES ($1, {params}) "
           f"RETURNING {table.select()}")
    async with pool.acquire() as conn, conn.transaction():
        with _translate(table):
            row = dict(await conn.fetchrow(sql, hospital_id, *values.values()))
        if check:
            await check(conn, hospital_id, row["id"])
        await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id, entity=table.entity,
                          entity_id=row["id"], action="create",
                          changes=_audit_created(table, values) | (audit_extra or {}))
    return row


async def update_row(
    pool: asyncpg.Pool, table: Table, *, hospital_id: UUID, actor_id: UUID | None,
    row_id: UUID, values: Row, check: Check | None = None,
    after: Callable[[asyncpg.Connection, Row, Row], Awaitable[None]] | None = None,
) -> Row | None:
    """Change some fields; None when the row is not in this hospital. Unchanged values are
    written too (harmless) but not audited."""
    sets = ", ".join(f"{table.fields[k]} = ${i}" for i, k in enumerate(values, start=3))
    sql = (f"UPDATE {table.name} SET {sets} WHERE hospital_id = $1 AND id = $2 "
           f"RETURNING {table.select()}")
    async with pool.acquire() as conn, conn.transaction():
        old = await conn.fetchrow(
            f"SELECT {table.select()} FROM {table.name} WHERE hospital_id = $1 AND id = $2 "
            "FOR UPDATE", hospital_id, row_id,
        )
        if old is None:
            return None
        with _translate(table):
            row = dict(await conn.fetchrow(sql, hospital_id, row_id, *values.values()))
        if check:
            await check(conn, hospital_id, row_id)
        if after:
            await after(conn, dict(old), values)
        changes = _audit_diff(table, dict(old), values)
        if changes:
            await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id,
                              entity=table.entity, entity_id=row_id, action="update",
                              changes=changes)
    return row


# ---------------------------------------------------------------------------------------
# rules that span rows
# ---------------------------------------------------------------------------------------
async def check_shift_cabin(conn: asyncpg.Connection, hospital_id: UUID, shift_id: UUID) -> None:
    """A shift's cabin must belong to its doctor's department (the schema cannot say so)."""
    same = await conn.fetchval(
        """SELECT d.department_id = c.department_id
           FROM shifts s
           JOIN doctors d ON d.hospital_id = s.hospital_id AND d.id = s.doctor_id
           JOIN cabins c ON c.hospital_id = s.hospital_id AND c.id = s.cabin_id
           WHERE s.hospital_id = $1 AND s.id = $2""",
        hospital_id, shift_id,
    )
    if not same:
        raise InvalidInput.field("cabin_id", "must be a cabin of the doctor's department")


async def revoke_sessions_if_locked_out(conn: asyncpg.Connection, old: Row, values: Row) -> None:
    """A deactivated user, or one whose password, role or tie changed, must log in again."""
    ties = ("role", "doctor_id", "department_id")
    if (values.get("active") is False or "password_hash" in values
            or any(k in values and values[k] != old[k] for k in ties)):
        await conn.execute(
            "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            old["id"],
        )


async def hospital_summary(db: Executor, hospital_id: UUID) -> Row | None:
    row = await db.fetchrow(
        "SELECT id, name, code, timezone, default_language FROM hospitals WHERE id = $1",
        hospital_id,
    )
    return dict(row) if row else None


# ---------------------------------------------------------------------------------------
# display keys
# ---------------------------------------------------------------------------------------
async def create_display_key(
    pool: asyncpg.Pool, *, hospital_id: UUID, actor_id: UUID | None, department_id: UUID,
    name: str,
    key_hash: bytes, key_prefix: str,
) -> Row:
    async with pool.acquire() as conn, conn.transaction():
        with _translate(DISPLAYS):
            row = dict(await conn.fetchrow(
                f"""INSERT INTO display_keys (hospital_id, department_id, name, key_hash,
                                              key_prefix, created_by)
                    VALUES ($1, $2, $3, $4, $5, $6) RETURNING {DISPLAYS.select()}""",
                hospital_id, department_id, name, key_hash, key_prefix, actor_id,
            ))
        await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id, entity="display",
                          entity_id=row["id"], action="create",
                          changes={"department_id": str(department_id), "name": name,
                                   "key_prefix": key_prefix})
    return row


async def revoke_display_key(
    pool: asyncpg.Pool, *, hospital_id: UUID, actor_id: UUID | None, key_id: UUID,
) -> bool | None:
    """True when revoked now, False when it already was, None when not in this hospital."""
    async with pool.acquire() as conn, conn.transaction():
        revoked_at = await conn.fetchrow(
            "SELECT revoked_at FROM display_keys WHERE hospital_id = $1 AND id = $2 FOR UPDATE",
            hospital_id, key_id,
        )
        if revoked_at is None:
            return None
        if revoked_at["revoked_at"] is not None:
            return False
        await conn.execute("UPDATE display_keys SET revoked_at = now() WHERE id = $1", key_id)
        await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id, entity="display",
                          entity_id=key_id, action="revoke", changes={})
    return True


# a board polls and reconnects all day: one write a minute is enough to tell it is alive
_SEEN_EVERY = timedelta(minutes=1)


async def display_key_by_hash(db: Executor, key_hash: bytes) -> Row | None:
    """The live (unrevoked) key with this hash; stamps last_seen_at at most once a minute."""
    row = await db.fetchrow(
        """SELECT id, hospital_id, department_id, last_seen_at FROM display_keys
           WHERE key_hash = $1 AND revoked_at IS NULL""",
        key_hash,
    )
    if row is None:
        return None
    seen = row["last_seen_at"]
    if seen is None or seen < datetime.now(UTC) - _SEEN_EVERY:
        await db.execute("UPDATE display_keys SET last_seen_at = now() WHERE id = $1", row["id"])
    return dict(row)
