"""Request bodies of the patient, token and doctor-queue endpoints (API.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from server.models.common import Body, E164Phone, Language, Name, ShortText

Uhid = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{3,32}$")]


class PatientCreate(Body):
    name: Name
    phone: E164Phone
    uhid: Uhid | None = None
    date_of_birth: date | None = None
    gender: Literal["F", "M", "O", "U"] | None = None
    language: Language = "en"
    sms_opt_in: bool = True
    whatsapp_opt_in: bool = False
    distance_km: float | None = Field(default=None, ge=0, le=5000)
    commute_min: int | None = Field(default=None, ge=0, le=24 * 60)

    # a field validator (not a model validator) so the error names date_of_birth
    @field_validator("date_of_birth")
    @classmethod
    def _born_in_the_past(cls, v: date | None) -> date | None:
        if v and v > date.today():
            raise ValueError("date_of_birth cannot be in the future")
        return v


class PatientQuery(BaseModel):
    phone: E164Phone | None = None
    uhid: Uhid | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if not self.phone and not self.uhid:
            raise ValueError("give phone or uhid")
        return self


class TokenCreate(Body):
    patient_id: UUID
    doctor_id: UUID | None = None
    department_id: UUID | None = Field(default=None, validate_default=True)
    booking_type: Literal["WALK_IN", "ONLINE", "EMERGENCY"]
    priority: Literal[1, 2, 3] | None = Field(default=None, validate_default=True)
    scheduled_time: AwareDatetime | None = Field(default=None, validate_default=True)
    visit_reason: ShortText | None = None

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
        if info.data.get("booking_type") == "ONLINE" and v is None:
            raise ValueError("an ONLINE booking needs scheduled_time")
        return v

    @property
    def effective_priority(self) -> int:
        return 3 if self.booking_type == "EMERGENCY" else (self.priority or 1)


class ActionBody(Body):
    reason: ShortText | None = None


class TransferBody(ActionBody):
    doctor_id: UUID


class PriorityBody(ActionBody):
    priority: Literal[1, 2, 3]


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
    start: AwareDatetime
    end: AwareDatetime
    reason: ShortText
    kind: Literal["LEAVE", "UNPLANNED_LEAVE", "TRAINING", "SURGERY"] = "LEAVE"

    # a field validator (not a model validator) so the error names end
    @field_validator("end")
    @classmethod
    def _ordered(cls, v: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and v <= start:
            raise ValueError("end must be after start")
        return v
