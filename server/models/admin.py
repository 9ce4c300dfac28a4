"""Request bodies for the admin setup API: one Create and one Patch model per resource.

Patch models take any subset of fields, refuse an empty body and refuse null for a field the
schema requires. Rules spanning fields (a doctor account needs doctor_id) raise InvalidInput
naming the field, so the client sees which input to fix.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import BeforeValidator, Field, StringConstraints, field_validator, model_validator

from server.errors import InvalidInput
from server.models.common import Body, E164Phone, Language, Name

Role = Literal["admin", "receptionist", "doctor", "nurse"]
DeptCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][A-Z0-9]{1,9}$")]
DeptName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CabinNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Floor = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
# lowered before the pattern check, so "DrRao" is accepted as "drrao" (login lowers too)
Username = Annotated[str, BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
                     StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")]
# argon2 hashes any length, but a megabyte password is a cheap way to burn CPU
Password = Annotated[str, StringConstraints(min_length=10, max_length=200)]
# minutes with two decimals, as numeric(6, 2) stores them; 8 h bounds a typo like 1000
Minutes = Annotated[Decimal, Field(gt=0, le=480, max_digits=6, decimal_places=2)]
Buffer = Annotated[Decimal, Field(ge=0, le=480, max_digits=6, decimal_places=2)]
Policy240 = Annotated[int, Field(ge=0, le=240)]
Places = Annotated[int, Field(ge=1, le=50)]


class PatchBody(Body):
    """Any subset of fields; at least one; null only where the column may be empty."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _no_null(cls, value: Any, info: Any) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> PatchBody:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


def _required(field: str, message: str) -> InvalidInput:
    return InvalidInput.field(field, message)


# ---------------------------------------------------------------------------------------
class DepartmentCreate(Body):
    name: DeptName
    code: DeptCode
    avg_consultation_min: Minutes = Decimal(10)
    buffer_min: Buffer = Decimal(5)
    daily_cap: int | None = Field(default=None, ge=1, le=10000)
    booked_grace_min: Policy240 = 15
    senior_credit_min: Policy240 = 20
    skip_places: Places = 3
    notify_ahead: Places = 3
    late_start_alert_min: int = Field(default=15, ge=1, le=240)
    language: Language = "en"


class DepartmentPatch(PatchBody):
    nullable = frozenset({"daily_cap"})
    name: DeptName | None = None
    code: DeptCode | None = None
    avg_consultation_min: Minutes | None = None
    buffer_min: Buffer | None = None
    daily_cap: int | None = Field(default=None, ge=1, le=10000)
    booked_grace_min: Policy240 | None = None
    senior_credit_min: Policy240 | None = None
    skip_places: Places | None = None
    notify_ahead: Places | None = None
    late_start_alert_min: int | None = Field(default=None, ge=1, le=240)
    language: Language | None = None
    active: bool | None = None


# ---------------------------------------------------------------------------------------
class CabinCreate(Body):
    department_id: UUID
    number: CabinNumber
    floor: Floor | None = None


class CabinPatch(PatchBody):
    nullable = frozenset({"floor"})
    department_id: UUID | None = None
    number: CabinNumber | None = None
    floor: Floor | None = None
    active: bool | None = None


# ---------------------------------------------------------------------------------------
class DoctorCreate(Body):
    name: Name
    department_id: UUID
    avg_consultation_min: Minutes | None = None
    phone: E164Phone | None = None


class DoctorPatch(PatchBody):
    nullable = frozenset({"avg_consultation_min", "phone"})
    name: Name | None = None
    department_id: UUID | None = None
    avg_consultation_min: Minutes | None = None
    phone: E164Phone | None = None
    active: bool | None = None


# ---------------------------------------------------------------------------------------
class ShiftCreate(Body):
    doctor_id: UUID
    cabin_id: UUID
    date: dt.date
    start: dt.time
    end: dt.time

    @model_validator(mode="after")
    def _ordered(self) -> ShiftCreate:
        if self.end <= self.start:
            raise _required("end", "must be after start")
        return self


class ShiftPatch(PatchBody):
    doctor_id: UUID | None = None
    cabin_id: UUID | None = None
    date: dt.date | None = None
    start: dt.time | None = None
    end: dt.time | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ShiftPatch:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise _required("end", "must be after start")
        return self


# ---------------------------------------------------------------------------------------
class UserCreate(Body):
    username: Username
    password: Password
    role: Role
    doctor_id: UUID | None = None
    department_id: UUID | None = None
    full_name: Name | None = None

    @model_validator(mode="after")
    def _ties(self) -> UserCreate:
        if self.role == "doctor" and self.doctor_id is None:
            raise _required("doctor_id", "required for role doctor")
        if self.role != "doctor" and self.doctor_id is not None:
            raise _required("doctor_id", "only for role doctor")
        if self.role == "nurse" and self.department_id is None:
            raise _required("department_id", "required for role nurse")
        return self


class UserPatch(PatchBody):
    nullable = frozenset({"doctor_id", "department_id", "full_name"})
    username: Username | None = None
    password: Password | None = None
    role: Role | None = None
    doctor_id: UUID | None = None
    department_id: UUID | None = None
    full_name: Name | None = None
    active: bool | None = None


# ---------------------------------------------------------------------------------------
class DisplayCreate(Body):
    department_id: UUID
    name: DeptName


class DisplayPatch(PatchBody):
    name: DeptName | None = None


# ---------------------------------------------------------------------------------------
class DepartmentFilter(Body):
    department_id: UUID | None = None


class ShiftFilter(Body):
    doctor_id: UUID | None = None
    cabin_id: UUID | None = None
    date: dt.date | None = None
