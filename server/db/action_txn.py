"""An action's transaction (server/queue/base.QueueBase._action): its advisory locks, and
BEGIN and COMMIT batched with them into single round trips, and its commit marker in
`live_actions`, the proof once committed that the action happened."""

from __future__ import annotations

from uuid import UUID

import asyncpg


def _hospital_lock(hospital_id: UUID) -> str:
    return f"hashtextextended('hosp:' || {uuid_literal(hospital_id)}::text, 0)"


async def lock_hospital(conn: asyncpg.Connection, hospital_id: UUID) -> None:
    await conn.execute(f"SELECT pg_advisory_xact_lock({_hospital_lock(hospital_id)})")


def uuid_literal(value: UUID) -> str:
    """A UUID written into SQL text, for the statements an action batches into one round
    trip (a simple query takes no parameters): a UUID's text is hex digits and dashes, and
    anything else is refused here."""
    if not isinstance(value, UUID):
        raise TypeError(f"not a UUID: {type(value).__name__}")
    return f"'{value}'::uuid"


def begin_action(hospital_id: UUID, doctor_ids: list[UUID], *, whole_hospital: bool = False,
                 lock_timeout_s: int | None = None) -> str:
    """BEGIN and an action's locks, one round trip. One doctor's queue changes one action at
    a time across every process: the Lua script and the PostgreSQL record of an action happen
    under the doctor's lock, so a repair never races an action in flight. The hospital's lock
    comes first, shared (a whole-hospital rebuild takes it alone), then the doctors' sorted, so
    two-doctor transfers cannot deadlock (a select list is evaluated in order)."""
    parts = ["BEGIN"]
    if lock_timeout_s:
        parts.append(f"SET LOCAL lock_timeout = '{int(lock_timeout_s)}s'")
    if whole_hospital:
        parts.append(f"SELECT pg_advisory_xact_lock({_hospital_lock(hospital_id)})")
    else:
        parts.append("SELECT " + ", ".join(
            [f"pg_advisory_xact_lock_shared({_hospital_lock(hospital_id)})"]
            + [f"pg_advisory_xact_lock(hashtextextended('doc:' || {uuid_literal(d)}::text, 0))"
               for d in sorted(set(doctor_ids), key=str)]))
    return "; ".join(parts)


def commit_action(action_id: UUID | None, hospital_id: UUID) -> str:
    """The commit marker (when the action changed the live view) and COMMIT, one round trip:
    once committed, the marker is the proof that the action happened."""
    if action_id is None:
        return "COMMIT"
    return (f"INSERT INTO live_actions (id, hospital_id) "
            f"VALUES ({uuid_literal(action_id)}, {uuid_literal(hospital_id)}); COMMIT")


async def lock_patient(conn: asyncpg.Connection, patient_id: UUID) -> None:
    """Two desks issuing for one patient at once see each other's token (duplicate check)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('pat:' || $1::uuid::text, 0))",
        patient_id)


async def committed(conn: asyncpg.Connection, action_ids: list[UUID]) -> set[UUID]:
    rows = await conn.fetch("SELECT id FROM live_actions WHERE id = ANY($1::uuid[])", action_ids)
    return {r["id"] for r in rows}


async def purge_actions(conn: asyncpg.Connection | asyncpg.Pool, older_than_days: int = 2) -> int:
    status = await conn.execute(
        "DELETE FROM live_actions WHERE at < now() - make_interval(days => $1)", older_than_days)
    return int(status.split()[-1])
