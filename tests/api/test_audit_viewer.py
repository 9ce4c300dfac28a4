"""The audit viewer (GET /api/v1/audit): setup changes and token history in one list, newest
first, filtered by day, actor, entity and action; pages by cursor without repeats or gaps;
the CSV has the same rows as the JSON and parses with Python's csv module."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx

from tests.api.helpers import auth, staff_world

API = "/api/v1"


async def _token_story(client: httpx.AsyncClient, w: dict[str, Any]) -> str:
    """A walk-in issued at the desk, then cancelled by the desk: two history rows."""
    desk = auth(w["tokens"]["receptionist"])
    p = await client.post(f"{API}/patients", headers=desk,
                          json={"name": "Asha Rao", "phone": "+919812345678"})
    assert p.status_code == 201, p.text
    t = await client.post(f"{API}/tokens", headers=desk, json={
        "patient_id": p.json()["id"], "doctor_id": str(w["doctor_id"]),
        "booking_type": "WALK_IN"})
    assert t.status_code == 201, t.text
    c = await client.post(f"{API}/tokens/{t.json()['id']}/cancel", headers=desk,
                          json={"reason": "left to see another hospital"})
    assert c.status_code == 200, c.text
    return str(t.json()["number"])


async def _all_pages(client: httpx.AsyncClient, headers: dict[str, str], query: str
                     ) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        url = f"{API}/audit?{query}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        r = await client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def test_setup_and_token_history_in_one_filtered_list(
        pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    w = await staff_world(pool, "AU1")
    admin = auth(w["tokens"]["admin"])
    r = await client.patch(f"{API}/hospital", headers=admin, json={"summary_hour": 18})
    assert r.status_code == 200, r.text
    r = await client.patch(f"{API}/departments/{w['department_id']}", headers=admin,
                           json={"skip_places": 5})
    assert r.status_code == 200, r.text
    number = await _token_story(client, w)

    # the default is what this endpoint always answered: setup changes only
    setup = (await client.get(f"{API}/audit", headers=admin)).json()["items"]
    assert [(i["entity"], i["action"]) for i in setup] == [("department", "update"),
                                                           ("hospital", "update")]
    assert setup[1]["actor"]["username"] == w["usernames"]["admin"]
    assert setup[1]["actor_id"] == str(w["users"]["admin"])
    assert setup[1]["changes"] == {"summary_hour": {"from": 20, "to": 18}}

    everything = await _all_pages(client, admin, "source=all")
    kinds = [(i["source"], i["entity"], i["action"]) for i in everything]
    assert kinds[:2] == [("tokens", "token", "cancel"), ("tokens", "token", "issue")]
    assert kinds[2:] == [("setup", "department", "update"), ("setup", "hospital", "update")]
    cancel = everything[0]
    assert cancel["token_number"] == number
    assert cancel["actor"]["username"] == w["usernames"]["receptionist"]
    assert cancel["actor"]["role"] == "receptionist"
    assert cancel["changes"]["from"] == "WAITING" and cancel["changes"]["to"] == "CANCELLED"
    assert cancel["changes"]["reason"] == "left to see another hospital"
    # pages of two: no row twice, none missing, newest first
    assert len({(i["source"], i["id"]) for i in everything}) == len(everything) == 4
    assert [i["at"] for i in everything] == sorted((i["at"] for i in everything), reverse=True)

    # filters: actor, entity, action, days
    by_desk = await _all_pages(client, admin,
                               f"source=all&actor_id={w['users']['receptionist']}")
    assert {i["source"] for i in by_desk} == {"tokens"} and len(by_desk) == 2
    only_hospital = await _all_pages(client, admin, "source=all&entity=hospital")
    assert [i["entity"] for i in only_hospital] == ["hospital"]
    cancels = await _all_pages(client, admin, "source=tokens&action=cancel")
    assert [i["action"] for i in cancels] == ["cancel"]
    today = date.today()
    week_ago = (today - timedelta(days=7)).isoformat()
    past = await _all_pages(client, admin, f"source=all&from={week_ago}&to={week_ago}")
    assert past == []
    span = await _all_pages(client, admin, f"source=all&from={week_ago}"
                                           f"&to={(today + timedelta(days=1)).isoformat()}")
    assert len(span) == 4


async def test_csv_has_the_rows_of_the_json(pool: asyncpg.Pool, client: httpx.AsyncClient
                                            ) -> None:
    w = await staff_world(pool, "AU2")
    admin = auth(w["tokens"]["admin"])
    await client.patch(f"{API}/hospital", headers=admin,
                       json={"name": "=HYPERLINK(\"http://evil\")"})
    number = await _token_story(client, w)
    as_json = (await client.get(f"{API}/audit?source=all", headers=admin)).json()["items"]
    r = await client.get(f"{API}/audit?source=all&format=csv", headers=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(as_json) == 3
    for row, item in zip(rows, as_json, strict=True):
        assert row["at"] == item["at"] and row["action"] == item["action"]
        assert row["entity"] == item["entity"] and row["source"] == item["source"]
        assert json.loads(row["changes"]) == item["changes"]
    assert rows[0]["token_number"] == number
    assert rows[0]["actor"] == w["usernames"]["receptionist"]
    # a value a spreadsheet would run as a formula stays text
    assert json.loads(rows[2]["changes"])["name"]["to"].startswith("=HYPERLINK")
    assert not rows[2]["changes"].startswith("=")


async def test_audit_is_for_admins_of_the_hospital(pool: asyncpg.Pool,
                                                   client: httpx.AsyncClient) -> None:
    w = await staff_world(pool, "AU3")
    other = await staff_world(pool, "AU4")
    await client.patch(f"{API}/hospital", headers=auth(other["tokens"]["admin"]),
                       json={"summary_hour": 21})
    for role in ("receptionist", "doctor", "nurse", "display"):
        r = await client.get(f"{API}/audit?source=all", headers=auth(w["tokens"][role]))
        assert r.status_code == 403, role
    mine = await client.get(f"{API}/audit?source=all", headers=auth(w["tokens"]["admin"]))
    assert mine.json()["items"] == []
    bad = await client.get(f"{API}/audit?from=yesterday", headers=auth(w["tokens"]["admin"]))
    assert bad.status_code == 422
