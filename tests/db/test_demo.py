"""The demo hospital: everything the pages and the risk model expect is there, loaded once."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from server.demo import DEMO_CODE, DEMO_LOGINS, load_demo
from server.domain.lifecycle import TRANSITIONS
from server.security.passwords import verify_password

TODAY = date(2026, 3, 10)  # a Tuesday, explicit: the test does not depend on the clock
_TABLES = (
    "hospitals", "departments", "cabins", "doctors", "shifts", "users", "patients", "tokens",
    "token_counters", "token_history", "doctor_performance_metrics",
)


async def _counts(pool: asyncpg.Pool) -> dict[str, int]:
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in _TABLES}


async def test_demo_loads_once_with_what_it_promises(
    pool: asyncpg.Pool, schema_ready: str
) -> None:
    t0 = time.perf_counter()
    assert await load_demo(schema_ready, seed=7, today=TODAY) is True
    assert time.perf_counter() - t0 < 15

    hospital = await pool.fetchrow("SELECT * FROM hospitals WHERE code = $1", DEMO_CODE)
    assert hospital["timezone"] == "Asia/Kolkata" and hospital["geofence_radius_m"] == 300
    hid = hospital["id"]
    departments = await pool.fetch("SELECT * FROM departments WHERE hospital_id = $1", hid)
    assert len(departments) >= 2
    assert "hi" in {d["language"] for d in departments}

    # every doctor has a shift today in a cabin of the doctor's own department
    rows = await pool.fetch(
        """SELECT d.id, s.start_time, s.end_time, c.department_id = d.department_id AS own
           FROM doctors d
           LEFT JOIN shifts s ON s.doctor_id = d.id AND s.date = $2
           LEFT JOIN cabins c ON c.id = s.cabin_id
           WHERE d.hospital_id = $1""",
        hid, TODAY,
    )
    assert len(rows) >= 6
    assert all(r["start_time"] is not None and r["own"] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)

    assert await pool.fetchval("SELECT count(*) FROM patients WHERE hospital_id = $1", hid) == 200

    past = await pool.fetchrow(
        """SELECT min(service_date) AS first, max(service_date) AS last,
                  count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
                  count(*) FILTER (WHERE status = 'NO_SHOW') AS no_show,
                  count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
                  count(*) FILTER (WHERE queue_score IS NOT NULL) AS scored
           FROM tokens WHERE hospital_id = $1 AND service_date < $2""",
        hid, TODAY,
    )
    assert (past["last"] - past["first"]).days >= 28 and past["last"] < TODAY
    assert past["completed"] > 500 and past["no_show"] > 50 and past["cancelled"] > 0
    assert past["scored"] == 0

    # one login per role, each verifying with its published password
    users = {
        r["role"]: r for r in await pool.fetch("SELECT * FROM users WHERE hospital_id = $1", hid)
    }
    assert set(users) == set(DEMO_LOGINS) == {"admin", "receptionist", "doctor", "nurse"}
    for role, (username, password) in DEMO_LOGINS.items():
        assert users[role]["username"] == username
        assert len(password) >= 10
        assert verify_password(users[role]["password_hash"], password)
    assert users["doctor"]["doctor_id"] is not None
    assert users["nurse"]["department_id"] is not None

    before = await _counts(pool)
    assert await load_demo(schema_ready, seed=8, today=TODAY) is False
    assert await _counts(pool) == before


async def test_today_queue_is_ready_to_rebuild(pool: asyncpg.Pool, schema_ready: str) -> None:
    await load_demo(schema_ready, today=TODAY)
    rows = await pool.fetch(
        """SELECT t.*, d.department_id AS doctor_department FROM tokens t
           JOIN doctors d ON d.id = t.doctor_id WHERE t.service_date = $1""",
        TODAY,
    )
    per_doctor: dict[object, int] = {}
    for r in rows:
        per_doctor[r["doctor_id"]] = per_doctor.get(r["doctor_id"], 0) + 1
        assert r["status"] == "WAITING" and r["booking_type"] == "WALK_IN"
        assert r["doctor_department"] == r["department_id"] and r["cabin_id"] is not None
        assert r["checked_in_at"] is not None and r["queue_score"] is not None
        credit = 20 * 60 if r["priority"] == 2 else 0
        assert r["queue_score"] == r["checked_in_at"].timestamp() - credit
        local = r["checked_in_at"].astimezone(ZoneInfo("Asia/Kolkata"))
        assert local.date() == TODAY and local.hour < 12
    assert len(per_doctor) == await pool.fetchval("SELECT count(*) FROM doctors")
    assert all(4 <= n <= 6 for n in per_doctor.values())
    assert 1 <= sum(r["priority"] == 2 for r in rows) <= 2


async def test_numbers_history_and_metrics_are_consistent(
    pool: asyncpg.Pool, schema_ready: str
) -> None:
    await load_demo(schema_ready, today=TODAY)
    # gap-free numbers per department per day, matching their counter
    bad = await pool.fetchval(
        """SELECT count(*) FROM (
               SELECT t.department_id, t.service_date, count(*) AS n, max(t.seq) AS top,
                      bool_and(t.number = dp.code || '-' || lpad(t.seq::text, 3, '0')) AS named
               FROM tokens t JOIN departments dp ON dp.id = t.department_id
               GROUP BY 1, 2) g
           LEFT JOIN token_counters c USING (department_id, service_date)
           WHERE g.n <> g.top OR c.last_seq IS DISTINCT FROM g.n OR NOT g.named"""
    )
    assert bad == 0
    # timestamps in order, and a doctor sees one patient at a time
    assert await pool.fetchval(
        """SELECT count(*) FROM tokens WHERE checked_in_at < created_at
           OR called_at < checked_in_at OR started_at < called_at OR completed_at < started_at"""
    ) == 0
    assert await pool.fetchval(
        """SELECT count(*) FROM tokens a JOIN tokens b
           ON a.doctor_id = b.doctor_id AND a.id < b.id
           AND tstzrange(a.called_at, a.completed_at) && tstzrange(b.called_at, b.completed_at)
           WHERE a.completed_at IS NOT NULL AND b.completed_at IS NOT NULL"""
    ) == 0
    # one history row per transition, each one the state machine allows, ending in the status;
    # the one exception is the day-end sweep of booked patients who never came
    allowed = {(s.value, a.value, t.value) for (s, a), t in TRANSITIONS.items()}
    allowed.add(("BOOKED", "no-show", "NO_SHOW"))
    history = await pool.fetch(
        """SELECT h.token_id, h.action, h.from_status, h.to_status, h.at, t.status
           FROM token_history h JOIN tokens t ON t.id = h.token_id ORDER BY h.token_id, h.at"""
    )
    last: dict[object, tuple[str, datetime]] = {}
    for h in history:
        if h["from_status"] is None:
            assert h["token_id"] not in last and h["action"] in {"issue", "book"}
        else:
            prev_status, prev_at = last[h["token_id"]]
            assert h["from_status"] == prev_status and h["at"] >= prev_at
            assert (h["from_status"], h["action"], h["to_status"]) in allowed, dict(h)
        last[h["token_id"]] = (h["to_status"], h["at"])
    statuses = {r["id"]: r["status"] for r in await pool.fetch("SELECT id, status FROM tokens")}
    assert set(last) == set(statuses)
    assert all(last[k][0] == s for k, s in statuses.items())
    # daily metrics agree with the tokens they summarise
    mismatched = await pool.fetchval(
        """SELECT count(*) FROM doctor_performance_metrics m
           JOIN LATERAL (SELECT count(*) AS total,
                                count(*) FILTER (WHERE status = 'COMPLETED') AS done,
                                count(*) FILTER (WHERE status = 'NO_SHOW') AS missed
                         FROM tokens t WHERE t.doctor_id = m.doctor_id
                         AND t.service_date = m.metric_date) t ON true
           WHERE (m.tokens_total, m.tokens_completed, m.tokens_no_show)
                 <> (t.total, t.done, t.missed)"""
    )
    assert mismatched == 0
    assert await pool.fetchval("SELECT count(*) FROM doctor_performance_metrics") > 100
    assert await pool.fetchval(
        "SELECT max(metric_date) FROM doctor_performance_metrics"
    ) == TODAY - timedelta(days=1)
