"""Queries for live alerts (system_alerts): the snapshot the rules read, applying their plan,
and the staff's list and resolve.

A live alert has an `alert_key`; the unique index system_alerts_key_idx holds one row per key
while its condition holds (cleared_at null), whether still open or resolved by a person, so
an INSERT of a key that is already there does nothing: raised once, whoever runs the job.
Rows written elsewhere (message failures, login lock-outs) have no key and are resolved by
people only.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.domain import alerts as rules

Executor = asyncpg.Pool | asyncpg.Connection

# security events stay with admins (they name users and client addresses)
ADMIN_ONLY_KINDS = ("LOGIN_THROTTLED",)
COLUMNS = """a.id, a.kind, a.severity, a.entity_type, a.entity_id, a.department_id, a.message,
             a.details, a.created_at, a.resolved_at, a.resolved_by, a.cleared_at, a.alert_key,
             u.username AS resolved_by_username"""


async def hospital_ids(db: Executor) -> list[UUID]:
    return [r["id"] for r in await db.fetch("SELECT id FROM hospitals ORDER BY id")]


async def snapshot(db: Executor, h: UUID, now: datetime) -> rules.Snapshot | None:
    """The hospital's live state at `now`, from the record (positions and ETAs are written
    with every change of a queue)."""
    hosp = await db.fetchrow(
        """SELECT timezone, alert_thresholds,
                  ($2::timestamptz AT TIME ZONE timezone)::date AS day
           FROM hospitals WHERE id = $1""", h, now)
    if hosp is None:
        return None
    th = rules.Thresholds.from_settings(as_dict(hosp["alert_thresholds"]))
    day = hosp["day"]
    deps = await db.fetch(
        "SELECT id, name FROM departments WHERE hospital_id = $1 AND active ORDER BY name", h)
    waiting = await db.fetch(
        """SELECT t.id, t.number, t.department_id, t.doctor_id, t.priority, t.booking_type,
                  t.checked_in_at, s.eta_p90_min, s.shown_at AS eta_updated_at, t.queue_score
           FROM tokens t LEFT JOIN token_eta_shown s ON s.token_id = t.id
           WHERE t.hospital_id = $1 AND t.service_date = $2 AND t.status = 'WAITING'""",
        h, day)
    doctors = await db.fetch(
        """WITH sh AS (
               SELECT DISTINCT ON (s.doctor_id) s.doctor_id,
                      (s.date + s.start_time) AT TIME ZONE $4 AS start_at,
                      (s.date + s.end_time) AT TIME ZONE $4 AS end_at,
                      s.start_time = '00:00' AS all_day
               FROM shifts s
               WHERE s.hospital_id = $1 AND s.date = $2
                 AND (s.date + s.start_time) AT TIME ZONE $4 <= $3
                 AND (s.date + s.end_time) AT TIME ZONE $4 > $3
               ORDER BY s.doctor_id, s.start_time DESC)
           SELECT d.id, d.name, d.department_id, dep.late_start_alert_min,
                  sh.start_at AS shift_start, sh.all_day,
                  EXISTS (SELECT 1 FROM doctor_pauses p
                          WHERE p.doctor_id = d.id AND p.ended_at IS NULL) AS paused,
                  EXISTS (SELECT 1 FROM tokens t WHERE t.doctor_id = d.id
                          AND t.service_date = $2
                          AND t.status IN ('CALLED', 'IN_CONSULTATION')) AS has_current,
                  EXISTS (SELECT 1 FROM tokens t WHERE t.doctor_id = d.id
                          AND t.service_date = $2 AND t.called_at >= sh.start_at) AS called,
                  greatest(
                      (SELECT max(greatest(t.called_at, t.started_at, t.completed_at,
                                           t.no_show_at))
                       FROM tokens t WHERE t.doctor_id = d.id AND t.service_date = $2),
                      (SELECT max(p.ended_at) FROM doctor_pauses p
                       WHERE p.doctor_id = d.id AND p.ended_at >= sh.start_at)
                  ) AS last_activity_at
           FROM doctors d
           JOIN departments dep ON dep.id = d.department_id
           JOIN sh ON sh.doctor_id = d.id
           WHERE d.hospital_id = $1 AND d.active""",
        h, day, now, hosp["timezone"])
    msgs = await db.fetchrow(
        """SELECT count(*) FILTER (WHERE status IN ('SENT', 'DELIVERED', 'FAILED',
                                                    'UNDELIVERED')) AS done,
                  count(*) FILTER (WHERE status IN ('FAILED', 'UNDELIVERED')) AS failed
           FROM notifications_log
           WHERE hospital_id = $1 AND updated_at > $2::timestamptz - make_interval(mins => $3)
             AND updated_at <= $2::timestamptz""",
        h, now, th.messages_window_min)
    return rules.Snapshot(
        now=now, thresholds=th,
        departments=[rules.Department(r["id"], r["name"]) for r in deps],
        doctors=[rules.Doctor(
            id=r["id"], name=r["name"], department_id=r["department_id"], on_shift=True,
            shift_start=r["shift_start"], all_day=r["all_day"], paused=r["paused"],
            has_current=r["has_current"], called_since_shift_start=r["called"],
            last_activity_at=r["last_activity_at"],
            late_start_alert_min=r["late_start_alert_min"]) for r in doctors],
        waiting=[rules.WaitingToken(**dict(r)) for r in waiting],
        messages_done=msgs["done"], messages_failed=msgs["failed"])


def as_dict(value: Any) -> dict[str, Any]:
    """A jsonb value, whether the pool decodes JSON (the app's) or not (a plain pool)."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


async def live_alerts(db: Executor, h: UUID
                      ) -> tuple[dict[str, rules.OpenAlert], dict[str, UUID]]:
    """(open alerts by key, alerts a person resolved while their condition held, by key)."""
    rows = await db.fetch(
        """SELECT id, alert_key, details, resolved_at FROM system_alerts
           WHERE hospital_id = $1 AND alert_key IS NOT NULL AND cleared_at IS NULL""", h)
    open_ = {r["alert_key"]: rules.OpenAlert(r["id"], as_dict(r["details"]))
             for r in rows if r["resolved_at"] is None}
    held = {r["alert_key"]: r["id"] for r in rows if r["resolved_at"] is not None}
    return open_, held


async def apply(conn: asyncpg.Connection, h: UUID, plan: rules.Plan, now: datetime
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply a plan in the caller's transaction: (rows raised, rows resolved), only those this
    call changed (a racing run's rows are its own to announce)."""
    raised = []
    for c in plan.raise_:
        row = await conn.fetchrow(
            """INSERT INTO system_alerts (hospital_id, kind, severity, entity_type, entity_id,
                   message, details, created_at, alert_key, department_id)
               VALUES ($1, $2, $3, $4, $5, left($6, 2000), $7::text::jsonb, $8, $9, $10)
               ON CONFLICT (hospital_id, alert_key)
                   WHERE alert_key IS NOT NULL AND cleared_at IS NULL DO NOTHING
               RETURNING id""",
            h, c.kind, c.severity, c.entity_type, c.entity_id, c.message, json.dumps(c.details),
            now,
            c.key, c.department_id)
        if row:
            raised.append(row["id"])
    resolved = [r["id"] for r in await conn.fetch(
        """UPDATE system_alerts SET resolved_at = $3, cleared_at = $3
           WHERE hospital_id = $1 AND id = ANY($2::uuid[]) AND resolved_at IS NULL
           RETURNING id""", h, plan.resolve, now)] if plan.resolve else []
    if plan.clear:
        await conn.execute(
            """UPDATE system_alerts SET cleared_at = $3
               WHERE hospital_id = $1 AND id = ANY($2::uuid[]) AND cleared_at IS NULL""",
            h, plan.clear, now)
    for alert_id, c in plan.update:
        await conn.execute(
            """UPDATE system_alerts SET details = $3::text::jsonb, message = left($4, 2000)
               WHERE hospital_id = $1 AND id = $2 AND resolved_at IS NULL""",
            h, alert_id, json.dumps(c.details), c.message)
    return (await by_ids(conn, h, raised), await by_ids(conn, h, resolved))


async def by_ids(db: Executor, h: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = await db.fetch(
        f"""SELECT {COLUMNS} FROM system_alerts a LEFT JOIN users u ON u.id = a.resolved_by
            WHERE a.hospital_id = $1 AND a.id = ANY($2::uuid[]) ORDER BY a.created_at, a.id""",
        h, ids)
    return [dict(r) for r in rows]


async def get(db: Executor, h: UUID, alert_id: UUID) -> dict[str, Any] | None:
    rows = await by_ids(db, h, [alert_id])
    return rows[0] if rows else None


async def list_alerts(db: Executor, h: UUID, *, resolved: bool, department_id: UUID | None,
                      admin: bool, kind: str | None, after: tuple[datetime, UUID] | None,
                      limit: int) -> list[dict[str, Any]]:
    """Newest first. A nurse (department_id given) sees their department's alerts and the
    hospital-wide ones; only admins see security events."""
    rows = await db.fetch(
        f"""SELECT {COLUMNS} FROM system_alerts a LEFT JOIN users u ON u.id = a.resolved_by
            WHERE a.hospital_id = $1 AND (a.resolved_at IS NOT NULL) = $2
              AND ($3::uuid IS NULL OR a.department_id IS NULL OR a.department_id = $3)
              AND ($4 OR a.kind <> ALL($5::text[]))
              AND ($6::text IS NULL OR a.kind = $6)
              AND ($7::timestamptz IS NULL OR (a.created_at, a.id) < ($7, $8::uuid))
            ORDER BY a.created_at DESC, a.id DESC LIMIT $9""",
        h, resolved, department_id, admin, list(ADMIN_ONLY_KINDS), kind,
        after[0] if after else None, after[1] if after else None, limit)
    return [dict(r) for r in rows]


async def resolve_by(conn: asyncpg.Connection, h: UUID, alert_id: UUID, user_id: UUID | None
                     ) -> dict[str, Any] | None:
    """A person resolves an open alert; None when it was not open. A keyless alert is done
    with; a live one stays held until its condition ends (so it is not raised again at once)."""
    row = await conn.fetchrow(
        """UPDATE system_alerts SET resolved_at = now(), resolved_by = $3,
               cleared_at = CASE WHEN alert_key IS NULL THEN now() ELSE cleared_at END
           WHERE hospital_id = $1 AND id = $2 AND resolved_at IS NULL RETURNING id""",
        h, alert_id, user_id)
    return await get(conn, h, alert_id) if row else None
