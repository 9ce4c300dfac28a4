"""The hospital's own settings (GET/PATCH /api/v1/hospital): read them as the API shows them,
change any subset in one transaction with its audit rows.

A change to the geofence or the address is refused when the address's map point would lie
outside the geofence (a map-free check: great-circle distance against the radius), so a
hospital cannot switch on a self check-in that its own front door would fail.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from uuid import UUID

import asyncpg

from server.db.admin import write_audit
from server.domain import geo
from server.domain.alerts import Thresholds
from server.errors import InvalidInput
from server.models.hospital import HospitalPatch
from server.presenters import jsonable
from server.risk import outreach, teleconsult

Row = dict[str, Any]
_DEFAULTS = Thresholds()

_COLUMNS = """id, name, code, timezone, latitude, longitude, geofence_radius_m,
              address_latitude, address_longitude, default_language, board_languages,
              alert_thresholds, delay_notify_min, currency, sms_cost, whatsapp_cost,
              slot_value, summary_hour, outreach_policy, updated_at"""


def geofence_check(h: Row) -> Row | None:
    """Where the address point lies against the geofence; None until both are set."""
    if h["latitude"] is None or h["address_latitude"] is None:
        return None
    ok, dist = geo.inside(h["address_latitude"], h["address_longitude"], h["latitude"],
                          h["longitude"], h["geofence_radius_m"])
    return {"address_inside": ok, "distance_m": round(dist)}


def _thresholds(raw: Any) -> dict[str, int]:
    stored = raw if isinstance(raw, dict) else {}
    effective = Thresholds.from_settings(stored)
    return {name: getattr(effective, name) for name in Thresholds.BOUNDS}


def _outreach(raw: Any) -> Row:
    """The outreach policy in effect (stored keys over the defaults), its teleconsult rules
    included."""
    stored = raw if isinstance(raw, dict) else {}
    tele = teleconsult.Rules.from_json(stored.get("teleconsult", {}))
    return {**asdict(outreach.Policy.from_json(stored)),
            "teleconsult": {"enabled": tele.enabled, "within_days": tele.within_days,
                            "rules": [{"name": r.name, "keywords": list(r.keywords),
                                       "reason": r.reason} for r in tele.rules]}}


def _merge(old: Any, given: dict[str, Any]) -> Row:
    """`given` over the stored object key by key; a null key is removed (its default)."""
    merged = dict(old) if isinstance(old, dict) else {}
    for key, value in given.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _policy(old: Any, body: Any) -> Row:
    given = body.model_dump(include=body.model_fields_set - {"teleconsult"})
    merged = _merge(old, given)
    if "teleconsult" in body.model_fields_set:
        t = body.teleconsult
        tele = {} if t is None else _merge(
            merged.get("teleconsult"),
            {k: ([r.model_dump(exclude_none=True) for r in t.rules] if k == "rules"
                 and t.rules is not None else getattr(t, k)) for k in t.model_fields_set})
        merged.pop("teleconsult", None)
        if tele:
            merged["teleconsult"] = tele
    return merged


def settings_view(h: Row, departments: list[Row]) -> Row:
    """The settings as GET /api/v1/hospital shows them."""
    return jsonable({
        "id": h["id"], "name": h["name"], "code": h["code"], "timezone": h["timezone"],
        "address": ({"lat": h["address_latitude"], "lon": h["address_longitude"]}
                    if h["address_latitude"] is not None else None),
        "geofence": ({"lat": h["latitude"], "lon": h["longitude"],
                      "radius_m": h["geofence_radius_m"]} if h["latitude"] is not None
                     else None),
        "geofence_check": geofence_check(h),
        "languages": {"messages": h["default_language"],
                      "board": list(h["board_languages"] or [])},
        "alert_thresholds": _thresholds(h["alert_thresholds"]),
        "alert_threshold_limits": {k: {"min": lo, "max": hi, "default": getattr(_DEFAULTS, k)}
                                   for k, (lo, hi) in Thresholds.BOUNDS.items()},
        "reinstate": [{"department_id": d["id"], "name": d["name"], "code": d["code"],
                       "reinstate_places": d["reinstate_places"]} for d in departments],
        "costs": {"currency": h["currency"], "sms": float(h["sms_cost"]),
                  "whatsapp": float(h["whatsapp_cost"]), "slot_value": float(h["slot_value"])},
        "delay_notify_min": h["delay_notify_min"],
        "summary_hour": h["summary_hour"],
        "outreach_policy": _outreach(h["outreach_policy"]),
        "updated_at": h["updated_at"],
    })


async def _departments(db: asyncpg.Pool | asyncpg.Connection, hospital_id: UUID) -> list[Row]:
    rows = await db.fetch(
        """SELECT id, name, code, reinstate_places FROM departments
           WHERE hospital_id = $1 AND active ORDER BY name""", hospital_id)
    return [dict(r) for r in rows]


async def read(db: asyncpg.Pool, hospital_id: UUID) -> Row | None:
    async with db.acquire() as conn:
        h = await conn.fetchrow(f"SELECT {_COLUMNS} FROM hospitals WHERE id = $1", hospital_id)
        if h is None:
            return None
        return settings_view(dict(h), await _departments(conn, hospital_id))


def _new_values(old: Row, body: HospitalPatch) -> Row:
    """Column -> new value of what the body changes (nested objects merge key by key)."""
    given = body.model_fields_set
    out: Row = {}
    if "name" in given:
        out["name"] = body.name
    if "timezone" in given:
        out["timezone"] = body.timezone
    if "address" in given:
        out["address_latitude"] = body.address.lat if body.address else None
        out["address_longitude"] = body.address.lon if body.address else None
    if "geofence" in given:
        g = body.geofence
        out["latitude"], out["longitude"] = (g.lat, g.lon) if g else (None, None)
        if g:
            out["geofence_radius_m"] = g.radius_m
    if body.languages is not None:
        langs = body.languages.model_fields_set
        if "messages" in langs and body.languages.messages:
            out["default_language"] = body.languages.messages
        if "board" in langs and body.languages.board is not None:
            out["board_languages"] = list(dict.fromkeys(body.languages.board))
    if body.alert_thresholds is not None:
        merged = dict(old["alert_thresholds"] if isinstance(old["alert_thresholds"], dict)
                      else {})
        for name in body.alert_thresholds.model_fields_set:
            value = getattr(body.alert_thresholds, name)
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        out["alert_thresholds"] = merged
    if body.costs is not None:
        names = {"currency": "currency", "sms": "sms_cost", "whatsapp": "whatsapp_cost",
                 "slot_value": "slot_value"}
        for api, col in names.items():
            value = getattr(body.costs, api)
            if api in body.costs.model_fields_set and value is not None:
                out[col] = value
    if body.outreach_policy is not None:
        out["outreach_policy"] = _policy(old["outreach_policy"], body.outreach_policy)
    if "summary_hour" in given:
        out["summary_hour"] = body.summary_hour
    if "delay_notify_min" in given:
        out["delay_notify_min"] = body.delay_notify_min
    return {k: v for k, v in out.items() if k in old and old[k] != v}


def _check_fence(after: Row, changed: Row) -> None:
    check = geofence_check(after)
    if check is None or check["address_inside"]:
        return
    field = "geofence" if {"latitude", "geofence_radius_m"} & changed.keys() else "address"
    raise InvalidInput.field(
        field, f"the address point is {check['distance_m']} m from the geofence centre, "
               f"outside its {after['geofence_radius_m']} m radius: move the centre or widen "
               "the radius")


async def patch(pool: asyncpg.Pool, hospital_id: UUID, actor_id: UUID | None,
                body: HospitalPatch) -> Row | None:
    """Apply the change and audit it (one row for the hospital, one per department whose
    reinstate policy moved); None when the hospital is unknown."""
    async with pool.acquire() as conn, conn.transaction():
        old = await conn.fetchrow(f"SELECT {_COLUMNS} FROM hospitals WHERE id = $1 FOR UPDATE",
                                  hospital_id)
        if old is None:
            return None
        old = dict(old)
        changed = _new_values(old, body)
        _check_fence(old | changed, changed)
        if changed:
            sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changed, start=2))
            await conn.execute(f"UPDATE hospitals SET {sets}, updated_at = now() WHERE id = $1",
                               hospital_id, *changed.values())
            await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id,
                              entity="hospital", entity_id=hospital_id, action="update",
                              changes={k: {"from": jsonable(old[k]), "to": jsonable(v)}
                                       for k, v in changed.items()})
        for i, item in enumerate(body.reinstate or []):
            before = await conn.fetchval(
                """SELECT reinstate_places FROM departments
                   WHERE hospital_id = $1 AND id = $2 FOR UPDATE""",
                hospital_id, item.department_id)
            if before is None:
                raise InvalidInput.field(f"reinstate.{i}.department_id",
                                         "unknown in this hospital")
            if before == item.reinstate_places:
                continue
            await conn.execute(
                """UPDATE departments SET reinstate_places = $3, updated_at = now()
                   WHERE hospital_id = $1 AND id = $2""",
                hospital_id, item.department_id, item.reinstate_places)
            await write_audit(conn, hospital_id=hospital_id, actor_id=actor_id,
                              entity="department", entity_id=item.department_id,
                              action="update",
                              changes={"reinstate_places": {"from": before,
                                                            "to": item.reinstate_places}})
        h = await conn.fetchrow(f"SELECT {_COLUMNS} FROM hospitals WHERE id = $1", hospital_id)
        return settings_view(dict(h), await _departments(conn, hospital_id))
