"""Hospital settings (GET/PATCH /api/v1/hospital): what an admin changes is what every page
then reads, each change audited; a geofence that leaves out the hospital's own address, an
unknown timezone or a threshold out of bounds is refused naming the field, nothing written."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from server.db import outreach as outreach_db
from server.db import teleconsult as teleconsult_db
from server.domain.alerts import Thresholds
from server.risk import outreach, teleconsult
from tests.api.helpers import auth, staff_world

API = "/api/v1/hospital"
# Bengaluru: a hospital's front door and a point 1.1 km north of it
DOOR = {"lat": 12.9716, "lon": 77.5946}
NORTH_1KM = {"lat": 12.9816, "lon": 77.5946}


def _fields(r: httpx.Response) -> list[str]:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return [e["field"] for e in r.json()["errors"]]


async def _audit(pool: asyncpg.Pool, entity: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM admin_audit WHERE entity = $1 ORDER BY id", entity)
    return [dict(r) for r in rows]


async def test_admin_changes_settings_and_every_role_reads_them(
        pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    w = await staff_world(pool, "HS1")
    admin = auth(w["tokens"]["admin"])
    r = await client.patch(API, headers=admin, json={
        "name": "City Hospital", "timezone": "Europe/London",
        "address": DOOR, "geofence": {**DOOR, "radius_m": 250},
        "languages": {"messages": "hi", "board": ["hi", "en"]},
        "alert_thresholds": {"idle_min": 25, "long_wait_over_eta_min": 30},
        "reinstate": [{"department_id": str(w["department_id"]), "reinstate_places": 7}],
        "costs": {"currency": "INR", "sms": 0.25, "whatsapp": 0.6, "slot_value": 500},
        "summary_hour": 19, "delay_notify_min": 25,
    })
    assert r.status_code == 200, r.text
    for role in ("receptionist", "doctor", "nurse"):
        got = await client.get(API, headers=auth(w["tokens"][role]))
        assert got.status_code == 200, got.text
        s = got.json()
        assert s["name"] == "City Hospital" and s["timezone"] == "Europe/London"
        assert s["geofence"] == {**DOOR, "radius_m": 250} and s["address"] == DOOR
        assert s["geofence_check"] == {"address_inside": True, "distance_m": 0}
        assert s["languages"] == {"messages": "hi", "board": ["hi", "en"]}
        assert s["alert_thresholds"]["idle_min"] == 25
        assert s["alert_thresholds"]["bottleneck_waiting"] == Thresholds().bottleneck_waiting
        assert s["reinstate"][0]["reinstate_places"] == 7
        assert s["costs"] == {"currency": "INR", "sms": 0.25, "whatsapp": 0.6,
                              "slot_value": 500.0}
        assert s["summary_hour"] == 19 and s["delay_notify_min"] == 25
    # a board of a department without languages of its own takes the hospital's
    board = await client.get(f"/api/v1/departments/{w['department_id']}/board",
                             headers=auth(w["tokens"]["display"]))
    assert board.status_code == 200, board.text
    assert board.json()["department"]["languages"] == ["hi", "en"]
    # the live alert worker reads the same thresholds; the queue the same reinstate place
    stored = await pool.fetchrow("SELECT alert_thresholds, default_language FROM hospitals "
                                 "WHERE id = $1", w["hospital_id"])
    assert Thresholds.from_settings(stored["alert_thresholds"]).idle_min == 25
    assert stored["default_language"] == "hi"
    assert await pool.fetchval("SELECT delay_notify_min FROM hospitals WHERE id = $1",
                               w["hospital_id"]) == 25   # what the pause's messages read
    assert await pool.fetchval("SELECT reinstate_places FROM departments WHERE id = $1",
                               w["department_id"]) == 7
    # audited: who, and each field's old and new value
    (h_row,) = await _audit(pool, "hospital")
    assert h_row["actor_id"] == w["users"]["admin"] and h_row["action"] == "update"
    assert h_row["changes"]["timezone"] == {"from": "Asia/Kolkata", "to": "Europe/London"}
    assert h_row["changes"]["geofence_radius_m"]["to"] == 250
    (d_row,) = await _audit(pool, "department")
    assert d_row["changes"] == {"reinstate_places": {"from": 3, "to": 7}}


async def test_a_threshold_set_to_null_goes_back_to_its_default(
        pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    w = await staff_world(pool, "HS2")
    admin = auth(w["tokens"]["admin"])
    await client.patch(API, headers=admin, json={"alert_thresholds": {"idle_min": 30,
                                                                      "imbalance_gap": 9}})
    r = await client.patch(API, headers=admin, json={"alert_thresholds": {"idle_min": None}})
    assert r.status_code == 200, r.text
    assert r.json()["alert_thresholds"]["idle_min"] == Thresholds().idle_min
    assert r.json()["alert_thresholds"]["imbalance_gap"] == 9


async def test_geofence_leaving_out_the_address_is_refused(
        pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    w = await staff_world(pool, "HS3")
    admin = auth(w["tokens"]["admin"])
    ok = await client.patch(API, headers=admin,
                            json={"address": DOOR, "geofence": {**DOOR, "radius_m": 300}})
    assert ok.status_code == 200, ok.text
    before = await pool.fetchrow("SELECT * FROM hospitals WHERE id = $1", w["hospital_id"])
    audits = len(await _audit(pool, "hospital"))
    # the centre moved 1.1 km away with a 300 m radius: the front door would be outside
    r = await client.patch(API, headers=admin, json={"geofence": {**NORTH_1KM, "radius_m": 300}})
    assert r.status_code == 422 and _fields(r) == ["geofence"]
    assert "1112 m from the geofence centre" in r.json()["errors"][0]["message"]
    # the address moved out of the stored fence: named as the address
    r = await client.patch(API, headers=admin, json={"address": NORTH_1KM})
    assert r.status_code == 422 and _fields(r) == ["address"]
    # a radius that reaches the door is fine
    r = await client.patch(API, headers=admin, json={"geofence": {**NORTH_1KM, "radius_m": 1200}})
    assert r.status_code == 200 and r.json()["geofence_check"]["address_inside"] is True
    assert r.json()["geofence_check"]["distance_m"] == 1112
    # nothing was written by the refused ones
    assert len(await _audit(pool, "hospital")) == audits + 1
    assert before["latitude"] == DOOR["lat"]


async def test_bad_settings_are_refused_naming_the_field(
        pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    w = await staff_world(pool, "HS4")
    admin = auth(w["tokens"]["admin"])
    before = dict(await pool.fetchrow("SELECT * FROM hospitals WHERE id = $1",
                                      w["hospital_id"]))
    cases = [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"alert_thresholds": {"idle_min": 1}}, "alert_thresholds.idle_min"),
        ({"alert_thresholds": {"messages_fail_pct": 101}}, "alert_thresholds.messages_fail_pct"),
        ({"alert_thresholds": {"nonsense": 3}}, "alert_thresholds.nonsense"),
        ({"geofence": {**DOOR, "radius_m": 5}}, "geofence.radius_m"),
        ({"languages": {"board": ["hi", "en", "ta", "te"]}}, "languages.board"),
        ({"costs": {"sms": -1}}, "costs.sms"),
        ({"costs": {"currency": "rupees"}}, "costs.currency"),
        ({"summary_hour": 24}, "summary_hour"),
        ({"delay_notify_min": 0}, "delay_notify_min"),
        ({"reinstate": [{"department_id": str(w["hospital_id"]), "reinstate_places": 4}]},
         "reinstate.0.department_id"),
        ({"outreach_policy": {"confirm_tier": 0}}, "outreach_policy.confirm_tier"),
        ({"outreach_policy": {"extra_lead_h": -2}}, "outreach_policy.extra_lead_h"),
        ({"outreach_policy": {"offer_minutes": 1}}, "outreach_policy.offer_minutes"),
        ({"outreach_policy": {"sms_now": True}}, "outreach_policy.sms_now"),
        ({"outreach_policy": {"teleconsult": {"within_days": 0}}},
         "outreach_policy.teleconsult.within_days"),
        ({"outreach_policy": {"teleconsult": {"rules": [{"name": "x", "keywords": []}]}}},
         "outreach_policy.teleconsult.rules.0.keywords"),
        ({"name": None}, "name"),
        ({}, "body"),
    ]
    for body, field in cases:
        r = await client.patch(API, headers=admin, json=body)
        assert r.status_code == 422, (body, r.text)
        assert any(f.startswith(field) for f in _fields(r)), (body, _fields(r))
    assert dict(await pool.fetchrow("SELECT * FROM hospitals WHERE id = $1",
                                    w["hospital_id"])) == before
    assert await _audit(pool, "hospital") == []


async def test_only_admins_change_settings(pool: asyncpg.Pool, client: httpx.AsyncClient
                                           ) -> None:
    w = await staff_world(pool, "HS5")
    for role in ("receptionist", "doctor", "nurse", "display"):
        r = await client.patch(API, headers=auth(w["tokens"][role]), json={"name": "X"})
        assert r.status_code == 403, (role, r.text)
    assert await pool.fetchval("SELECT name FROM hospitals WHERE id = $1",
                               w["hospital_id"]) == "Hospital HS5"


async def test_outreach_policy_and_teleconsult_rules_are_settings(
        pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    """What used to be SQL only: the tiers and hours of the outreach plan and the teleconsult
    rules, merged key by key, read by the outreach worker and the suggestion, audited."""
    w = await staff_world(pool, "HS6")
    admin = auth(w["tokens"]["admin"])
    shown = (await client.get(API, headers=admin)).json()["outreach_policy"]
    assert shown["confirm_tier"] == outreach.DEFAULT.confirm_tier
    assert shown["teleconsult"]["within_days"] == teleconsult.DEFAULT.within_days
    assert [r["name"] for r in shown["teleconsult"]["rules"]] == [
        r.name for r in teleconsult.DEFAULT.rules]

    r = await client.patch(API, headers=admin, json={"outreach_policy": {
        "confirm_tier": 2, "extra_lead_h": 30, "offer_minutes": 45,
        "teleconsult": {"within_days": 60, "rules": [
            {"name": "wound check", "keywords": ["dressing", "Suture removal"]}]}}})
    assert r.status_code == 200, r.text
    # a second change keeps what it leaves out, and null puts a default back
    r = await client.patch(API, headers=admin, json={"outreach_policy": {
        "extra_lead_h": None, "call_tier": 5, "teleconsult": {"enabled": False}}})
    assert r.status_code == 200, r.text
    s = r.json()["outreach_policy"]
    assert (s["confirm_tier"], s["call_tier"], s["offer_minutes"]) == (2, 5, 45)
    assert s["extra_lead_h"] == outreach.DEFAULT.extra_lead_h
    assert s["teleconsult"] == {"enabled": False, "within_days": 60, "rules": [
        {"name": "wound check", "keywords": ["dressing", "suture removal"],
         "reason": "wound check"}]}

    # what the outreach worker and the teleconsult suggestion read
    pol = outreach.Policy.from_json(await outreach_db.policy(pool, w["hospital_id"]))
    assert (pol.confirm_tier, pol.call_tier, pol.extra_lead_h, pol.offer_minutes) == (
        2, 5, 20.0, 45)
    assert not outreach.on_call_list(4, pol) and outreach.on_call_list(5, pol)
    rules = await teleconsult_db.rules(pool, w["hospital_id"])
    assert not rules.enabled and rules.within_days == 60
    await client.patch(API, headers=admin,
                       json={"outreach_policy": {"teleconsult": {"enabled": True}}})
    rules = await teleconsult_db.rules(pool, w["hospital_id"])
    assert teleconsult.suggest("Dressing change", 10, rules).rule == "wound check"
    assert not teleconsult.suggest("report review", 10, rules).suggested

    # null for the whole teleconsult object: its defaults again
    r = await client.patch(API, headers=admin, json={"outreach_policy": {"teleconsult": None}})
    assert r.json()["outreach_policy"]["teleconsult"]["within_days"] == 90
    assert r.json()["outreach_policy"]["confirm_tier"] == 2

    first, *_ = await _audit(pool, "hospital")
    assert first["actor_id"] == w["users"]["admin"]
    assert first["changes"]["outreach_policy"]["from"] == {}
    assert first["changes"]["outreach_policy"]["to"]["confirm_tier"] == 2
    assert len(await _audit(pool, "hospital")) == 4
