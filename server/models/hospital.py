"""Request body of the hospital settings (PATCH /api/v1/hospital, docs/settings.md).

Every rule JSON Schema can say is in the models (the timezone as the list of IANA zones this
machine knows, each alert threshold's bounds from domain.alerts.Thresholds); the one rule
spanning stored and given values (the address point inside the geofence) is checked by the
use-case, server/db/hospital.py.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any, ClassVar
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, create_model

from server.domain.alerts import Thresholds
from server.models.admin import BoardLanguages, PatchBody, Places
from server.models.common import Body, Language, Name, text

# "localtime" is this machine's own clock, not a place
ZONES = sorted(available_timezones() - {"localtime"})
_ZONE_SET = frozenset(ZONES)


def _zone(value: str) -> str:
    if value not in _ZONE_SET:
        raise ValueError("must be an IANA time zone such as Asia/Kolkata")
    return value


Timezone = Annotated[str, AfterValidator(_zone), WithJsonSchema(
    {"type": "string", "enum": ZONES,
     "description": "An IANA time zone, e.g. `Asia/Kolkata`, `Europe/London`."})]


def _money(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return Decimal(str(value))


def _amount(places: int, most: int, description: str) -> Any:
    """A JSON number, 0..most, rounded to `places` decimals (the column's numeric scale)."""
    step = Decimal(1).scaleb(-places)
    return Annotated[Decimal, BeforeValidator(_money), Field(ge=0, le=most),
                     AfterValidator(lambda d: d.quantize(step)),
                     WithJsonSchema({"type": "number", "minimum": 0, "maximum": most,
                                     "description": description})]


MessageCost = _amount(4, 1000, "Cost of one message in the hospital's currency, 0 to 1000.")
SlotValue = _amount(2, 1_000_000, "What one consultation slot is worth, 0 to 1,000,000.")
Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]


class Point(Body):
    """The hospital's address as a map point (e.g. copied from a map app)."""

    lat: Lat
    lon: Lon


class Geofence(Body):
    """Where self check-in is allowed: a circle around (lat, lon)."""

    lat: Lat
    lon: Lon
    radius_m: int = Field(ge=10, le=50000, description="Radius in metres, 10 to 50,000.")


class Languages(Body):
    messages: Language | None = Field(
        default=None, description="The language of patients' messages when a patient has none.")
    board: BoardLanguages | None = Field(
        default=None, description="The waiting-room boards' languages in order (at most 3), "
                                  "for departments without their own; [] = each department's "
                                  "language, then English.")


class Costs(Body):
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$",
                                   description="ISO 4217 code, e.g. INR")] | None = None
    sms: MessageCost | None = None
    whatsapp: MessageCost | None = None
    slot_value: SlotValue | None = None


def _threshold_field(name: str) -> Any:
    lo, hi = Thresholds.BOUNDS[name]
    return (Annotated[int, Field(ge=lo, le=hi)] | None, None)


AlertThresholds = create_model(  # type: ignore[call-overload]
    "AlertThresholds", __base__=Body,
    **{name: _threshold_field(name) for name in Thresholds.BOUNDS})
AlertThresholds.__doc__ = ("Live alert thresholds (docs/alerts.md); a key left out is kept, "
                           "null puts back the default.")


Tier = Annotated[int, Field(ge=1, le=6, description="A risk tier, 1 to 5 (6: no booking).")]
Hours = Annotated[float, Field(ge=0, le=14 * 24, description="Hours before the slot, 0 to 336.")]


class TeleconsultRule(Body):
    name: text(40, min_length=1)  # type: ignore[valid-type]
    keywords: list[text(60, min_length=1)] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=30,
        description="Whole words or phrases of the visit reason, any case.")
    reason: text(80, min_length=1) | None = Field(  # type: ignore[valid-type]
        default=None, description="Said to the desk, e.g. `follow-up visit`; default: name.")


class Teleconsult(Body):
    """Teleconsult suggestion rules (docs/risk.md); a key left out is kept, null puts back
    the default."""

    enabled: bool | None = None
    within_days: int | None = Field(
        default=None, ge=1, le=3650,
        description="Suggested only when the patient was seen in the department this recently.")
    rules: list[TeleconsultRule] | None = Field(
        default=None, max_length=20, description="Replace the whole list; [] suggests nothing.")


class OutreachPolicy(Body):
    """The outreach plan by risk tier (docs/risk.md); a key left out is kept, null puts back
    the default."""

    confirm_tier: Tier | None = None
    extra_tier: Tier | None = None
    call_tier: Tier | None = None
    confirm_lead_h: Hours | None = None
    extra_lead_h: Hours | None = None
    last_touch_h: Hours | None = None
    offer_minutes: int | None = Field(
        default=None, ge=5, le=24 * 60, description="A waitlist offer stays open this long.")
    teleconsult: Teleconsult | None = None


class ReinstatePlaces(Body):
    department_id: UUID
    reinstate_places: Places


class HospitalPatch(PatchBody):
    """Any subset of the settings; address and geofence may be null (removed)."""

    nullable: ClassVar[frozenset[str]] = frozenset({"address", "geofence"})
    name: Name | None = None
    timezone: Timezone | None = None
    address: Point | None = None
    geofence: Geofence | None = None
    languages: Languages | None = None
    alert_thresholds: AlertThresholds | None = None  # type: ignore[valid-type]
    reinstate: list[ReinstatePlaces] | None = Field(
        default=None, max_length=200,
        description="Per department: a reinstated token goes back behind this many waiting.")
    costs: Costs | None = None
    delay_notify_min: int | None = Field(
        default=None, ge=1, le=240,
        description="A doctor's pause texts waiting patients only when it moves their ETA by "
                    "at least this many minutes.")
    outreach_policy: OutreachPolicy | None = None
    summary_hour: int | None = Field(
        default=None, ge=0, le=23,
        description="The local hour (0-23) at which the admins' daily summary is written.")
