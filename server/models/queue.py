"""Request bodies of the patient, token and doctor-queue endpoints (API.md).

Rules that span fields are checked by field validators (so the error names the field) and
written into each model's JSON Schema as well (`allOf` of `anyOf`/`if`-`then`), so the OpenAPI
document states them. What no schema can state (an id that must exist, an order between two
values, a day of the hospital's own calendar) is said in the description.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from server.domain.lifecycle import Status
from server.errors import InvalidInput
from server.models import cursors
from server.models.admin import PatchBody
from server.models.common import (
    Body,
    E164Phone,
    Language,
    Name,
    NoControls,
    ShortText,
    text,
)
from server.models.dates import MAX_LEAVE, BirthDate, BookingDateTime, PlanDate, PlanDateTime

Uhid = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{3,32}$"),
                 NoControls]
# what a receptionist types in a search box: a token number, a name's words, phone digits
SearchText = text(100, min_length=1)
# 1 normal, 2 senior, 3 emergency; an integer, never a boolean or a string
Priority = Annotated[int, Field(ge=1, le=3)]


def _string(name: str) -> dict[str, Any]:
    """JSON Schema: `name` is present and not null."""
    return {"required": [name], "properties": {name: {"type": "string"}}}


def _null(name: str) -> dict[str, Any]:
    """JSON Schema: `name` is absent or null."""
    return {"properties": {name: {"type": "null"}}}


class PatientCreate(Body):
    name: Name
    phone: E164Phone
    uhid: Uhid | None = None
    date_of_birth: BirthDate | None = None
    gender: Literal["F", "M", "O", "U"] | None = None
    language: Language = "en"
    sms_opt_in: bool = True
    whatsapp_opt_in: bool = False
    distance_km: float | None = Field(default=None, ge=0, le=5000)
    commute_min: int | None = Field(default=None, ge=0, le=24 * 60)


class PatientQuery(BaseModel):
    model_config = ConfigDict(json_schema_extra={
        "description": "Give `q` (a name's words, phone digits or a UHID), `phone` or `uhid`."})
    q: SearchText | None = None
    phone: E164Phone | None = None
    uhid: Uhid | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if not self.phone and not self.uhid and not self.q:
            raise InvalidInput.field("q", "give q, phone or uhid")
        return self


class PatientPatch(PatchBody):
    """What the desk may correct on a patient's record (audited)."""

    nullable = frozenset({"date_of_birth", "gender"})
    name: Name | None = None
    phone: E164Phone | None = None
    language: Language | None = None
    sms_opt_in: bool | None = None
    whatsapp_opt_in: bool | None = None
    date_of_birth: BirthDate | None = None
    gender: Literal["F", "M", "O", "U"] | None = None


STATUSES = ",".join(s.value for s in Status)
_ONE_STATUS = "|".join(s.value for s in Status)


class TokenListQuery(BaseModel):
    date: PlanDate | None = None
    department_id: UUID | None = None
    doctor_id: UUID | None = None
    status: Annotated[str | None, Field(
        default=None, max_length=200, pattern=rf"^({_ONE_STATUS})(,({_ONE_STATUS}))*$",
        description=f"comma-separated statuses, of {STATUSES}")] = None
    q: SearchText | None = None
    limit: int = Field(default=100, ge=1, le=500)
    cursor: Annotated[str | None, Field(
        default=None, pattern=cursors.PATTERN,
        description="`next_cursor` of the page before")] = None
    format: Literal["json", "csv"] = "json"

    def statuses(self) -> list[str] | None:
        return self.status.split(",") if self.status else None


class RunningLate(Body):
    minutes: Literal[10, 20, 30]


class TokenCreate(Body):
    model_config = ConfigDict(json_schema_extra={
        "description": (
            "Give `doctor_id` or `department_id` (a doctor of that department when both). "
            "An ONLINE booking needs `scheduled_time`, on a day of the hospital's calendar "
            "from today; WALK_IN and EMERGENCY take none (they are for today). An EMERGENCY "
            "token has priority 3."),
        "allOf": [
            {"anyOf": [_string("doctor_id"), _string("department_id")]},
            {"if": {"properties": {"booking_type": {"const": "ONLINE"}}},
             "then": _string("scheduled_time"), "else": _null("scheduled_time")},
            {"if": {"properties": {"booking_type": {"const": "EMERGENCY"}}},
             "then": {"properties": {"priority": {"enum": [3, None]}}}},
        ]})

    patient_id: UUID
    doctor_id: UUID | None = None
    department_id: UUID | None = Field(default=None, validate_default=True)
    booking_type: Literal["WALK_IN", "ONLINE", "EMERGENCY"]
    priority: Priority | None = Field(default=None, validate_default=True)
    scheduled_time: BookingDateTime | None = Field(default=None, validate_default=True)
    visit_reason: ShortText | None = None
    allow_duplicate: bool = Field(default=False, description=(
        "Issue even when the patient already has a live token in the department that day "
        "(else 409 `/problems/duplicate-token`)."))

    # field validators (not a model validator) so an error names its field
    @field_validator("department_id")
    @classmethod
    def _doctor_or_department(cls, v: UUID | None, info: ValidationInfo) -> UUID | None:
        if v is None and info.data.get("doctor_id") is None:
            raise ValueError("give doctor_id or department_id")
        return v

    @field_validator("priority")
    @classmethod
    def _emergency_first(cls, v: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("booking_type") == "EMERGENCY" and v not in (None, 3):
            raise ValueError("an EMERGENCY token has priority 3")
        return v

    @field_validator("scheduled_time")
    @classmethod
    def _booked_slot(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        booking = info.data.get("booking_type")
        if booking == "ONLINE" and v is None:
            raise ValueError("an ONLINE booking needs scheduled_time")
        if booking in ("WALK_IN", "EMERGENCY") and v is not None:
            raise ValueError("only ONLINE bookings take scheduled_time")
        return v

    @property
    def effective_priority(self) -> int:
        return 3 if self.booking_type == "EMERGENCY" else (self.priority or 1)


class ActionBody(Body):
    reason: ShortText | None = None


class TransferBody(ActionBody):
    doctor_id: UUID


class PriorityBody(ActionBody):
    priority: Priority


class GeoBody(Body):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class NextBody(Body):
    # the token the tablet shows as current (null: it shows nobody); a second tablet or a
    # double tap that saw an older state is refused instead of calling another patient
    current_token_id: UUID | None = None


class PauseBody(Body):
    reason: ShortText | None = None
    minutes: int | None = Field(default=None, ge=1, le=600)


class LeaveBody(Body):
    model_config = ConfigDict(json_schema_extra={
        "description": f"`end` is after `start`, at most {MAX_LEAVE.days} days later."})

    start: PlanDateTime
    end: PlanDateTime
    reason: ShortText
    kind: Literal["LEAVE", "UNPLANNED_LEAVE", "TRAINING", "SURGERY"] = "LEAVE"

    # a field validator (not a model validator) so the error names end
    @field_validator("end")
    @classmethod
    def _ordered(cls, v: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and v <= start:
            raise ValueError("end must be after start")
        if start is not None and v - start > MAX_LEAVE:
            raise ValueError(f"a leave spans at most {MAX_LEAVE.days} days")
        return v

