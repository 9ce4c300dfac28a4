"""GET /api/v1/reports/daily (+ /summary) over the demo's six weeks: JSON pages and CSV give
the same rows, filters hold, day totals agree with the rows, and only admins see them."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest

from server.demo import DEMO_CODE, DEMO_LOGINS, HISTORY_DAYS, load_demo
from server.routes.reports import CSV_HEADER
from tests.api.helpers import auth, create_hospital_with_admin, session_token

TODAY = date(2026, 3, 10)
FIRST, LAST = TODAY - timedelta(days=HISTORY_DAYS), TODAY - timedelta(days=1)
RANGE = {"from": FIRST.isoformat(), "to": LAST.isoformat()}


@pytest.fixture
async def demo(pool: asyncpg.Pool, schema_ready: str) -> dict[str, dict[str, str]]:
    """The demo hospital; a bearer header per role."""
    assert await load_demo(schema_ready, today=TODAY)
    out = {}
    for role, (username, _) in DEMO_LOGINS.items():
        uid = await pool.fetchval("SELECT id FROM users WHERE username = $1", username)
        out[role] = auth(await session_token(pool, uid))
    return out


async def all_pages(client: httpx.AsyncClient, headers: dict[str, str], **params: Any
                    ) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await client.get("/api/v1/reports/daily", headers=headers,
                             params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if not (cursor := body["next_cursor"]):
            return items


def as_cell(v: Any) -> str:
    return "" if v is None else str(v)


async def open_days(pool: asyncpg.Pool) -> int:
    """Days of the demo's history the OPD was open (it is closed on Sundays)."""
    return int(await pool.fetchval(
        "SELECT count(DISTINCT service_date) FROM tokens WHERE service_date < $1", TODAY))


async def test_csv_has_the_rows_of_the_json_pages_and_filters_hold(client: httpx.AsyncClient,
                                                  demo: dict[str, dict[str, str]],
                                                  pool: asyncpg.Pool) -> None:
    rows = await all_pages(client, demo["admin"], limit=50, **RANGE)
    doctors = len({r["doctor_id"] for r in rows})
    assert doctors == 7 and len(rows) == await open_days(pool) * doctors
    assert len({(r["date"], r["doctor_id"]) for r in rows}) == len(rows)   # no repeats
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)

    for how in ({"params": {**RANGE, "format": "csv"}},
                {"params": RANGE, "headers": {"Accept": "text/csv"}}):
        headers = {**demo["admin"], **how.get("headers", {})}
        r = await client.get("/api/v1/reports/daily", params=how["params"], headers=headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        table = list(csv.DictReader(io.StringIO(r.text)))
        assert list(table[0]) == CSV_HEADER
        assert table == [{k: as_cell(row[k]) for k in CSV_HEADER} for row in rows]

    # charts are full on first open: every day has waits, consults and utilisation
    for r in rows:
        assert r["shift_min"] > 0 and r["utilisation"] is not None, r
        assert r["issued"] >= r["seen"] + r["no_show"] + r["cancelled"]
        if r["seen"]:
            assert r["wait_p50_min"] is not None and r["wait_p90_min"] >= r["wait_p50_min"]
            assert r["consult_mean_min"] > 0 and 0 <= r["utilisation"] <= 1
    assert sum(r["seen"] > 0 for r in rows) > 0.9 * len(rows)
    dept = await pool.fetchrow("SELECT id, name FROM departments WHERE code = 'CARD'")
    card = await all_pages(client, demo["admin"], department_id=str(dept["id"]), **RANGE)
    assert {r["department_name"] for r in card} == {dept["name"]}
    assert len(card) == await open_days(pool) * 2
    one = card[0]["doctor_id"]
    mine = await all_pages(client, demo["admin"], doctor_id=one, **{"from": LAST.isoformat(),
                                                                    "to": LAST.isoformat()})
    assert [(r["doctor_id"], r["date"]) for r in mine] == [(one, LAST.isoformat())]
    # default range: the 30 days up to yesterday (of the real clock): may hold no demo day
    r = await client.get("/api/v1/reports/daily", headers=demo["admin"])
    assert r.status_code == 200 and set(r.json()) == {"items", "next_cursor"}


async def test_day_totals_add_up_and_only_admins_of_the_hospital_see_them(
        client: httpx.AsyncClient, demo: dict[str, dict[str, str]], pool: asyncpg.Pool) -> None:
    r = await client.get("/api/v1/reports/daily/summary", headers=demo["admin"], params=RANGE)
    assert r.status_code == 200, r.text
    days = {d["date"]: d for d in r.json()["items"]}
    assert len(days) == await open_days(pool)
    rows = await all_pages(client, demo["admin"], **RANGE)
    for key in ("issued", "seen", "no_show", "cancelled"):
        for day, total in days.items():
            assert total[key] == sum(x[key] for x in rows if x["date"] == day)
    # the day's p90 over all its patients' waits, straight from the tokens and their history
    waits = await pool.fetch(
        """SELECT (min(h.at) - coalesce(t.checked_in_at, t.created_at)) AS wait
           FROM tokens t JOIN token_history h ON h.token_id = t.id AND h.to_status = 'CALLED'
           WHERE t.service_date = $1 GROUP BY t.id""", LAST)
    minutes = [w["wait"].total_seconds() / 60 for w in waits]
    got = days[LAST.isoformat()]
    assert got["wait_p90_min"] == pytest.approx(np.percentile(minutes, 90), abs=0.06)
    assert got["wait_p50_min"] == pytest.approx(np.percentile(minutes, 50), abs=0.06)
    assert got["no_show_rate"] == round(got["no_show"] / (got["no_show"] + got["seen"]), 3)
    assert 0 < got["utilisation"] <= 1

    # only admins see reports: receptionists, nurses and doctors are refused
    for role in ("receptionist", "nurse", "doctor"):
        for path, params in (("/api/v1/reports/daily", RANGE),
                             ("/api/v1/reports/daily", {**RANGE, "format": "csv"}),
                             ("/api/v1/reports/daily/summary", RANGE)):
            r = await client.get(path, headers=demo[role], params=params)
            assert r.status_code == 403, (role, path, r.text)
            assert "doctor_name" not in r.text
    assert (await client.get("/api/v1/reports/daily", params=RANGE)).status_code == 401
    # another hospital's admin sees none of them
    _, token = await create_hospital_with_admin(pool, "OTHER")
    r = await client.get("/api/v1/reports/daily", headers=auth(token), params=RANGE)
    assert r.status_code == 200 and r.json()["items"] == []
    demo_id = await pool.fetchval("SELECT id FROM hospitals WHERE code = $1", DEMO_CODE)
    doctor = await pool.fetchval("SELECT id FROM doctors WHERE hospital_id = $1 LIMIT 1", demo_id)
    r = await client.get("/api/v1/reports/daily", headers=auth(token),
                         params={**RANGE, "doctor_id": str(doctor)})
    assert r.status_code == 200 and r.json()["items"] == []
