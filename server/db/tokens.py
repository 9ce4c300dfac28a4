"""Queries for tokens, their history, counters and pauses (an action's own transaction
statements and locks: server/db/action_txn.py)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.auth.attribution import current_api_key

# tokens' columns, without position / eta_* (superseded by token_eta_shown, no longer written)
TOKEN_COLUMNS = ", ".join(f"t.{c}" for c in (
    "id", "hospital_id", "department_id", "doctor_id", "cabin_id", "patient_id",
    "service_date", "seq", "number", "booking_type", "priority", "status", "queue_score",
    "public_code", "scheduled_time", "visit_reason", "created_at", "checked_in_at", "called_at",
    "started_at", "completed_at", "no_show_at", "cancelled_at", "rescheduled_at",
    "cancel_reason", "check_in_lat", "check_in_lon", "recall_count", "skip_count", "updated_at",
    "late_count", "reinstate_count"))

TOKEN_SELECT = f"""
SELECT {TOKEN_COLUMNS}, p.name AS patient_name, p.phone AS patient_phone,
       p.language AS patient_language, dep.code AS department_code,
       dep.name AS department_name, c.number AS cabin_number, doc.name AS doctor_name
FROM tokens t
JOIN patients p ON p.id = t.patient_id
JOIN departments dep ON dep.id = t.department_id
LEFT JOIN cabins c ON c.id = t.cabin_id
LEFT JOIN doctors doc ON doc.id = t.doctor_id
"""

# a changed or new token's row as TOKEN_SELECT shapes it, from the statement's own RETURNING
_UPDATED_SELECT = TOKEN_SELECT.replace("FROM tokens t", "FROM updated t")

# the timestamp column each status sets when a token enters it
STATUS_TIME = {
    "WAITING": "checked_in_at",
    "CALLED": "called_at",
    "IN_CONSULTATION": "started_at",
    "COMPLETED": "completed_at",
    "NO_SHOW": "no_show_at",
    "CANCELLED": "cancelled_at",
    "RESCHEDULED": "rescheduled_at",
}


async def next_seq(conn: asyncpg.Connection, department_id: UUID, day: date) -> int:
    """Gap-free: the counter row is taken in the caller's transaction, so a rollback gives
    the number back and concurrent issues queue on the row lock."""
    return await conn.fetchval(
        """INSERT INTO token_counters (department_id, service_date, last_seq) VALUES ($1, $2, 1)
           ON CONFLICT (department_id, service_date)
           DO UPDATE SET last_seq = token_counters.last_seq + 1
           RETURNING last_seq""",
        department_id, day,
    )


async def count_for_day(conn: asyncpg.Connection, department_id: UUID, day: date) -> int:
    return await conn.fetchval(
        "SELECT coalesce(max(last_seq), 0) FROM token_counters "
        "WHERE department_id = $1 AND service_date = $2", department_id, day,
    )


async def insert_token(conn: asyncpg.Connection, **cols: Any) -> dict[str, Any]:
    """The new token's row, in TOKEN_SELECT's shape (no second read)."""
    cols.setdefault("public_code", secrets.token_urlsafe(12))
    names = list(cols)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"WITH updated AS (INSERT INTO tokens ({', '.join(names)}) VALUES ({placeholders}) "
        "RETURNING *) " + _UPDATED_SELECT, *cols.values())
    assert row is not None
    return dict(row)


async def get_token(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID,
                    token_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    sql = TOKEN_SELECT + " WHERE t.hospital_id = $1 AND t.id = $2"
    if for_update:
        sql += " FOR UPDATE OF t"
    row = await conn.fetchrow(sql, hospital_id, token_id)
    return dict(row) if row else None


async def get_token_by_code(conn: asyncpg.Connection | asyncpg.Pool,
                            public_code: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(TOKEN_SELECT + " WHERE t.public_code = $1", public_code)
    return dict(row) if row else None


# TOKEN_SELECT with each token's latest risk assessment (or null) as a JSON column
_WITH_RISK_SELECT = TOKEN_SELECT.replace("FROM tokens t", """, (
    SELECT to_jsonb(r) FROM (
        SELECT token_id, score, badge, tier, show_probability, factors, explanation
        FROM risk_assessments WHERE token_id = t.id
        ORDER BY created_at DESC, id DESC LIMIT 1) r) AS latest_risk
FROM tokens t""", 1)
assert _WITH_RISK_SELECT != TOKEN_SELECT




async def set_status(conn: asyncpg.Connection, token_id: UUID, status: str, at: datetime,
                     **extra: Any) -> dict[str, Any]:
    """The token's row after the change, in TOKEN_SELECT's shape (no second read)."""
    sets = ["status = $2"]
    args: list[Any] = [token_id, status]
    col = STATUS_TIME.get(status)
    if col and col not in extra:
        args.append(at)
        # back to WAITING after a skip: the patient arrived when they first checked in, and
        # the wait shown to staff and patient counts from then
        sets.append(f"{col} = coalesce({col}, ${len(args)})" if col == "checked_in_at"
                    else f"{col} = ${len(args)}")
    for name, value in extra.items():
        args.append(value)
        sets.append(f"{name} = ${len(args)}")
    row = await conn.fetchrow(
        f"WITH updated AS (UPDATE tokens SET {', '.join(sets)} WHERE id = $1 RETURNING *) "
        + _UPDATED_SELECT, *args)
    assert row is not None, "set_status on a token that does not exist"
    return dict(row)


async def update_fields(conn: asyncpg.Connection, token_id: UUID, **fields: Any
                        ) -> dict[str, Any]:
    """The token's row after the change, in TOKEN_SELECT's shape (no second read)."""
    sets = [f"{name} = ${i}" for i, name in enumerate(fields, start=2)]
    row = await conn.fetchrow(
        f"WITH updated AS (UPDATE tokens SET {', '.join(sets)} WHERE id = $1 RETURNING *) "
        + _UPDATED_SELECT, token_id, *fields.values())
    assert row is not None, "update_fields on a token that does not exist"
    return dict(row)


async def insert_history(
    conn: asyncpg.Connection, *, hospital_id: UUID, token_id: UUID, action: str,
    from_status: str | None, to_status: str, actor_kind: str, actor_id: UUID | None,
    reason: str | None = None, doctor_id: UUID | None = None, details: dict[str, Any] | None = None,
    at: datetime | None = None, action_id: UUID | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO token_history (hospital_id, token_id, action, from_status, to_status,
               actor_kind, actor_id, reason, doctor_id, details, at, action_id, api_key_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()), $12, $13)""",
        hospital_id, token_id, action, from_status, to_status, actor_kind, actor_id, reason,
        doctor_id, details or {}, at, action_id,
        # a change made with an API key names the key (auth.attribution)
        current_api_key.get() if actor_kind == "user" else None,
    )


_NEXT_PRESS = """
WITH held AS (  -- both rows by their keys, locked; a CTE with FOR UPDATE is not inlined, so
               -- the checks below cannot steer the scan to another index
    SELECT id, doctor_id, status FROM tokens
    WHERE hospital_id = $5 AND id IN ($1, $2)
    FOR UPDATE),
cur AS (SELECT id, status FROM held WHERE id = $1 AND status IN ('CALLED', 'IN_CONSULTATION')),
nxt AS (SELECT id FROM held WHERE id = $2 AND doctor_id = $8 AND status = 'WAITING'),
done AS (
    UPDATE tokens t SET status = 'COMPLETED', completed_at = $3,
           started_at = coalesce(t.started_at, t.called_at)
    FROM cur WHERE t.id = cur.id RETURNING t.*),
called AS (
    UPDATE tokens t SET status = 'CALLED', called_at = $3, cabin_id = $4
    FROM nxt WHERE t.id = nxt.id RETURNING t.*),
history AS (
    INSERT INTO token_history (hospital_id, token_id, action, from_status, to_status,
        actor_kind, actor_id, reason, doctor_id, details, at, action_id, api_key_id)
    SELECT $5::uuid, id, 'complete', status, 'COMPLETED', $6::text, $7::uuid, 'next',
           $8::uuid, '{}'::jsonb, $3::timestamptz, $9::uuid, $10::uuid FROM cur
    UNION ALL
    SELECT $5, id, 'call', 'WAITING', 'CALLED', $6, $7, NULL, $8, '{}'::jsonb, $3, $9, $10
    FROM nxt)
""" + _WITH_RISK_SELECT.replace("FROM tokens t", """, (
    SELECT jsonb_agg(to_jsonb(r)) FROM (
        SELECT DISTINCT ON (token_id) token_id, score, badge, tier, show_probability,
               factors, explanation
        FROM risk_assessments WHERE token_id = ANY($11::uuid[])
        ORDER BY token_id, created_at DESC, id DESC) r) AS queue_risks
FROM (SELECT * FROM done UNION ALL SELECT * FROM called) t""", 1)


@dataclass(frozen=True)
class NextPress:
    """What one press of Next wrote: the rows it changed, by id, as TOKEN_SELECT shapes them
    (a token the record did not hold as the live view said is missing), and the latest
    risks of those rows and of the queue."""

    rows: dict[UUID, dict[str, Any]]
    risks: dict[UUID, dict[str, Any]]


async def next_press(conn: asyncpg.Connection, *, hospital_id: UUID, completed: UUID | None,
                     called: UUID | None, at: datetime, cabin_id: UUID | None,
                     actor_kind: str, actor_id: UUID | None, doctor_id: UUID,
                     action_id: UUID, queue: list[UUID]) -> NextPress:
    """One press of Next in the record, in one statement (one round trip): the current token
    COMPLETED (its consult's start kept) if the record holds it CALLED or IN_CONSULTATION, the
    next one CALLED to the doctor's cabin if the record holds it WAITING for this doctor,
    both history rows in that order, and the risks the answer and the queue's ETAs need
    (`queue`: the tokens of the queue after the press). Where the record disagrees with the
    live view, that row is neither changed nor returned: the caller rolls back and repairs."""
    out = await conn.fetch(
        _NEXT_PRESS, completed, called, at, cabin_id, hospital_id, actor_kind, actor_id,
        doctor_id, action_id, current_api_key.get() if actor_kind == "user" else None, queue)
    rows, risks = {}, {}
    for r in out:
        row = dict(r)
        risk, listed = row.pop("latest_risk"), row.pop("queue_risks")
        rows[row["id"]] = row
        if risk is not None:
            risks[row["id"]] = {**risk, "token_id": row["id"]}
        for q in listed or ():
            risks.setdefault(UUID(q["token_id"]), {**q, "token_id": UUID(q["token_id"])})
    return NextPress(rows, risks)


async def tokens_of_action(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID,
                           action_id: UUID) -> dict[str, UUID]:
    """History action ('issue', 'call', 'complete'...) -> token id, for one committed action."""
    rows = await conn.fetch(
        "SELECT action, token_id FROM token_history WHERE hospital_id = $1 AND action_id = $2",
        hospital_id, action_id)
    return {r["action"]: r["token_id"] for r in rows}


async def current_of(conn: asyncpg.Connection, doctor_id: UUID, day: date) -> UUID | None:
    """The doctor's CALLED or IN_CONSULTATION token of the day, as the record holds it."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        """SELECT id FROM tokens WHERE doctor_id = $1 AND service_date = $2
           AND status IN ('CALLED', 'IN_CONSULTATION')""", doctor_id, day)


async def history(conn: asyncpg.Connection | asyncpg.Pool, token_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT action, from_status, to_status, actor_kind, actor_id, reason, doctor_id, at, "
        "api_key_id FROM token_history WHERE token_id = $1 ORDER BY id", token_id,
    )
    return [dict(r) for r in rows]


async def live_tokens(conn: asyncpg.Connection, hospital_id: UUID, day: date,
                      doctor_ids: list[UUID] | None = None) -> list[dict[str, Any]]:
    """Today's WAITING / CALLED / IN_CONSULTATION tokens: what the live view is rebuilt from."""
    sql = TOKEN_SELECT + """ WHERE t.hospital_id = $1 AND t.service_date = $2
        AND t.status IN ('WAITING', 'CALLED', 'IN_CONSULTATION') AND t.doctor_id IS NOT NULL"""
    args: list[Any] = [hospital_id, day]
    if doctor_ids is not None:
        sql += " AND t.doctor_id = ANY($3::uuid[])"
        args.append(doctor_ids)
    rows = await conn.fetch(sql + " ORDER BY t.queue_score, t.id", *args)
    return [dict(r) for r in rows]


async def latest_risk(conn: asyncpg.Connection | asyncpg.Pool,
                      token_ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    if not token_ids:
        return {}
    rows = await conn.fetch(
        """SELECT DISTINCT ON (token_id) token_id, score, badge, tier, show_probability,
                  factors, explanation
           FROM risk_assessments WHERE token_id = ANY($1::uuid[])
           ORDER BY token_id, created_at DESC, id DESC""",
        token_ids,
    )
    return {r["token_id"]: dict(r) for r in rows}



async def tokens_with_risk(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID,
                           ids: list[UUID], *, for_update: bool = False
                           ) -> tuple[dict[UUID, dict[str, Any]], dict[UUID, dict[str, Any]]]:
    """The tokens by id with their latest risks (latest_risk) in one round trip (a queue read, the
    rows a Next changes and answers with)."""
    if not ids:
        return {}, {}
    sql = _WITH_RISK_SELECT + " WHERE t.hospital_id = $1 AND t.id = ANY($2::uuid[])"
    if for_update:
        sql += " ORDER BY t.id FOR UPDATE OF t"
    tokens, risks = {}, {}
    for r in await conn.fetch(sql, hospital_id, ids):
        row = dict(r)
        risk = row.pop("latest_risk")
        tokens[row["id"]] = row
        if risk is not None:
            risks[row["id"]] = {**risk, "token_id": row["id"]}
    return tokens, risks


async def affected_by_leave(conn: asyncpg.Connection, hospital_id: UUID, doctor_id: UUID,
                            start: datetime, end: datetime, today: date
                            ) -> list[dict[str, Any]]:
    """The doctor's tokens a leave from start to end touches: bookings whose slot falls in it,
    and patients already waiting, in queue order."""
    rows = await conn.fetch(
        """SELECT id, service_date FROM tokens WHERE hospital_id = $1 AND doctor_id = $2
           AND status IN ('BOOKED', 'WAITING')
           AND coalesce(scheduled_time, created_at) < $4
           AND (coalesce(scheduled_time, created_at) >= $3 OR status = 'WAITING')
           AND service_date >= $5
           ORDER BY queue_score NULLS LAST, scheduled_time, id""",
        hospital_id, doctor_id, start, end, today)
    return [dict(r) for r in rows]


async def open_pause(conn: asyncpg.Connection, hospital_id: UUID, doctor_id: UUID,
                     expected_min: int | None, reason: str | None, actor_id: UUID | None,
                     at: datetime | None = None) -> None:
    """`at`: the action's time (the queue's clock, like its history rows); now by default."""
    await conn.execute(
        """INSERT INTO doctor_pauses (hospital_id, doctor_id, expected_min, reason, actor_id,
                                      started_at)
           VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))""",
        hospital_id, doctor_id, expected_min, reason, actor_id, at,
    )


async def close_pause(conn: asyncpg.Connection, doctor_id: UUID, at: datetime | None = None
                      ) -> bool:
    status = await conn.execute(
        """UPDATE doctor_pauses SET ended_at = greatest(started_at, coalesce($2, now()))
           WHERE doctor_id = $1 AND ended_at IS NULL""",
        doctor_id, at,
    )
    return status != "UPDATE 0"


async def insert_exception(conn: asyncpg.Connection, **cols: Any) -> UUID:
    names = list(cols)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    return await conn.fetchval(
        f"INSERT INTO schedule_exceptions ({', '.join(names)}) VALUES ({placeholders}) "
        "RETURNING id", *cols.values(),
    )


async def finish_exception(conn: asyncpg.Connection, exception_id: UUID, affected: int,
                           status: str) -> None:
    await conn.execute(
        "UPDATE schedule_exceptions SET affected_tokens = $2, redistribution_status = $3 "
        "WHERE id = $1", exception_id, affected, status,
    )


async def close_past_days(conn: asyncpg.Connection, hospital_id: UUID, today: date) -> int:
    """Tokens of earlier days that never finished: booked or waiting patients who were not
    seen become NO_SHOW, a consult left open is COMPLETED; each with its history row."""
    rows = await conn.fetch(
        """WITH closed AS (
               UPDATE tokens t SET
                   status = CASE WHEN t.status = 'IN_CONSULTATION' THEN 'COMPLETED'
                                 ELSE 'NO_SHOW' END,
                   no_show_at = CASE WHEN t.status = 'IN_CONSULTATION' THEN t.no_show_at
                                     ELSE now() END,
                   completed_at = CASE WHEN t.status = 'IN_CONSULTATION' THEN now()
                                       ELSE t.completed_at END
               FROM (SELECT id, status FROM tokens
                     WHERE hospital_id = $1 AND service_date < $2
                       AND status IN ('BOOKED', 'WAITING', 'CALLED', 'IN_CONSULTATION')
                     FOR UPDATE) old
               WHERE t.id = old.id
               RETURNING t.id, old.status AS from_status, t.status AS to_status, t.doctor_id)
           INSERT INTO token_history (hospital_id, token_id, action, from_status, to_status,
                                      actor_kind, reason, doctor_id)
           SELECT $1, id, CASE WHEN to_status = 'COMPLETED' THEN 'complete' ELSE 'no-show' END,
                  from_status, to_status, 'system', 'closed at the end of the day', doctor_id
           FROM closed RETURNING token_id""",
        hospital_id, today,
    )
    return len(rows)


async def live_duplicate(conn: asyncpg.Connection, hospital_id: UUID, patient_id: UUID,
                         department_id: UUID, day: date) -> UUID | None:
    """A live token (booked, waiting or called) of the patient in the department that day."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        """SELECT id FROM tokens
           WHERE hospital_id = $1 AND patient_id = $2 AND department_id = $3
             AND service_date = $4 AND status IN ('BOOKED', 'WAITING', 'CALLED')
           ORDER BY created_at DESC LIMIT 1""",
        hospital_id, patient_id, department_id, day)


async def day_list(conn: asyncpg.Connection | asyncpg.Pool, hospital_id: UUID, day: date, *,
                   department_id: UUID | None = None, doctor_id: UUID | None = None,
                   statuses: list[str] | None = None, name_patterns: list[str] | None = None,
                   phone_digits: str | None = None, number: str | None = None,
                   seq: int | None = None, before: tuple[datetime, UUID] | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
    """The desk's list of a day, newest first, filtered; `before` is the keyset cursor
    (created_at, id) of the last row of the previous page. A search (name, phone, number)
    matches any of them."""
    searching = bool(name_patterns) or phone_digits is not None or number is not None \
        or seq is not None
    rows = await conn.fetch(
        TOKEN_SELECT + """
        WHERE t.hospital_id = $1 AND t.service_date = $2
          AND ($3::uuid IS NULL OR t.department_id = $3)
          AND ($4::uuid IS NULL OR t.doctor_id = $4)
          AND ($5::text[] IS NULL OR t.status = ANY($5::text[]))
          AND (NOT $6::boolean
               OR (cardinality($7::text[]) > 0 AND p.name_key LIKE ALL ($7::text[]))
               OR ($8::text IS NOT NULL AND p.phone LIKE '%' || $8 || '%')
               OR ($9::text IS NOT NULL AND t.number = $9)
               OR ($10::int IS NOT NULL AND t.seq = $10))
          AND ($11::timestamptz IS NULL OR (t.created_at, t.id) < ($11, $12::uuid))
        ORDER BY t.created_at DESC, t.id DESC LIMIT $13""",
        hospital_id, day, department_id, doctor_id, statuses, searching,
        name_patterns or [], phone_digits, number, seq,
        before[0] if before else None, before[1] if before else None, limit)
    return [dict(r) for r in rows]


async def moved_from(conn: asyncpg.Connection | asyncpg.Pool, token_id: UUID) -> str | None:
    """The doctor a token was last moved away from (a transfer or a doctor's leave)."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        """SELECT d.name FROM token_history th
           JOIN doctors d ON d.id = (th.details ->> 'from_doctor')::uuid
           WHERE th.token_id = $1 AND th.action = 'transfer'
           ORDER BY th.at DESC, th.id DESC LIMIT 1""", token_id)
