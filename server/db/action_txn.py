"""An action's transaction (server/queue/base.QueueBase._action): its advisory locks, and
BEGIN and COMMIT batched with them into single round trips, and its commit marker in
`live_actions`, the proof once committed that the action happened."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

import asyncpg


def _hospital_lock(hospital_id: UUID) -> str:
    return f"hashtextextended('hosp:' || {uuid_literal(hospital_id)}::text, 0)"


async def lock_hospital(conn: asyncpg.Connection, hospital_id: UUID) -> None:
    await conn.execute(f"SELECT pg_advisory_xact_lock({_hospital_lock(hospital_id)})")


def _uuid_text(value: UUID) -> str:
    """A UUID's text (hex digits and dashes), for SQL text; anything else is refused."""
    if not isinstance(value, UUID):
        raise TypeError(f"not a UUID: {type(value).__name__}")
    return str(value)


def uuid_literal(value: UUID) -> str:
    """A UUID written into SQL text, for the statements an action batches into one round
    trip (a simple query takes no parameters)."""
    return f"'{_uuid_text(value)}'::uuid"


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


class Shown(NamedTuple):
    """What a waiting patient was shown by an action: their place and ETA range."""

    position: int
    p50_min: int
    p90_min: int
    at: datetime


def _int_literal(value: int) -> str:
    return str(operator.index(value))  # an integer, or TypeError


def _time_text(value: datetime) -> str:
    """An aware datetime's ISO text: digits, '-', ':', '.', '+' and 'T' only."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError("not an aware datetime")
    return value.isoformat()


def _shown_sql(shown: Mapping[UUID, Shown]) -> str:
    """token_eta_shown's rows for the waiting tokens of the queues the action moved (their
    narrow rows, HOT updates: schema.sql), as one array literal per column: a long queue's
    rows parse and plan as five values, not five per row (at 110 waiting, ~0.3 ms less of
    PostgreSQL per press than a VALUES list; docs/benchmarks.md, run M)."""
    times: dict[datetime, str] = {}  # one action's queues share a moment or two
    for s in shown.values():
        if s.at not in times:
            times[s.at] = _time_text(s.at)
    rows = shown.values()
    # array elements with no comma, brace, quote or space need no quoting
    t, pos, p50, p90, at = ("'{" + ",".join(c) + "}'" for c in (
        map(_uuid_text, shown), (_int_literal(s.position) for s in rows),
        (_int_literal(s.p50_min) for s in rows), (_int_literal(s.p90_min) for s in rows),
        (times[s.at] for s in rows)))
    return ("INSERT INTO token_eta_shown AS s (token_id, position, eta_p50_min, eta_p90_min, "
            f"shown_at) SELECT * FROM unnest({t}::uuid[], {pos}::int[], {p50}::int[], "
            f"{p90}::int[], {at}::timestamptz[]) ON CONFLICT (token_id) DO UPDATE SET "
            "position = excluded.position, eta_p50_min = excluded.eta_p50_min, "
            "eta_p90_min = excluded.eta_p90_min, shown_at = excluded.shown_at")


def commit_action(action_id: UUID | None, hospital_id: UUID,
                  shown: Mapping[UUID, Shown] | None = None) -> str:
    """The action's last writes, the places and ETAs its queues now show (`shown`) and the
    commit marker (when it changed the live view), with COMMIT: one round trip. Once
    committed, the marker is the proof that the action happened."""
    parts = [_shown_sql(shown)] if shown else []
    if action_id is not None:
        parts.append(f"INSERT INTO live_actions (id, hospital_id) "
                     f"VALUES ({uuid_literal(action_id)}, {uuid_literal(hospital_id)})")
    return "; ".join([*parts, "COMMIT"])


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
