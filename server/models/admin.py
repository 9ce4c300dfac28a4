"""Request bodies for the admin setup API: one Create and one Patch model per resource.

Patch models take any subset of fields, refuse an empty body and refuse null for a field the
schema requires. Rules spanning fields (a doctor account needs doctor_id) raise InvalidInput
naming the field, so the client sees which input to fix, and are written into the model's JSON
Schema (`allOf` of `if`/`then`, `dependentRequired`, `minProperties`) for the OpenAPI document.
Numbers are JSON numbers (minutes with decimals are rounded to 0.01), never strings.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from server.auth.principal import ROLES, Role
from server.errors import InvalidInput
from server.models.common import (
    Body,
    E164Phone,
    Language,
    Name,
    NoControls,
    SchemaExtra,
    text,
)
from server.models.dates import PlanDate, WallTime

DeptCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][A-Z0-9]{1,9}$"),
                     NoControls]
DeptName = text(100, min_length=1)
CabinNumber = text(20, min_length=1)
Floor = text(20, min_length=1)
# lowered before the pattern check, so "DrRao" is accepted as "drrao" (login lowers too)
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$"),
                     BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
                     NoControls,
                     SchemaExtra({"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$",
                                  "description": "3 to 64 letters, digits, `.`, `_`, `-`; "
                                                 "stored in lower case"})]
# argon2 hashes any length, but a megabyte password is a cheap way to burn CPU
Password = text(200, min_length=10)


def _number(value: Any) -> Any:
    """A JSON number only (not a string, not a boolean), as a Decimal of its shortest form."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _minutes(low: str, description: str) -> Any:
    """Minutes as numeric(6, 2) stores them: a JSON number, rounded to 0.01."""
    return Annotated[Decimal, BeforeValidator(_number),
                     Field(ge=Decimal(low), le=480), AfterValidator(_cents),
                     WithJsonSchema({"type": "number", "minimum": float(low), "maximum": 480,
                                     "description": description})]


# 8 h bounds a typo like 1000
Minutes = _minutes("0.01", "Minutes, 0.01 to 480, rounded to 0.01.")
Buffer = _minutes("0", "Minutes, 0 to 480, rounded to 0.01.")
Policy240 = Annotated[int, Field(ge=0, le=240)]
Places = Annotated[int, Field(ge=1, le=50)]
# the board's languages in order, e.g. ["hi", "en"]; [] = the department's language, then English
BoardLanguages = Annotated[list[Language], Field(max_length=3)]
BoardNames = Literal["masked", "hidden"]


def _patch_schema(schema: dict[str, Any], cls: Any) -> None:
    """What PatchBody refuses, said in its schema: null where the column may not be empty,
    an empty body; plus the class's own rules."""
    schema["minProperties"] = 1
    for name, prop in schema.get("properties", {}).items():
        if name in cls.nullable or "anyOf" not in prop:
            continue
        kept = [s for s in prop["anyOf"] if s.get("type") != "null"]
        rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
        prop.clear()
        prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        prop.update(rest)
    schema.update(cls.schema_rules)


class PatchBody(Body):
    """Any subset of fields; at least one; null only where the column may be empty."""

    model_config = ConfigDict(json_schema_extra=_patch_schema)
    nullable: ClassVar[frozenset[str]] = frozenset()
    schema_rules: ClassVar[dict[str, Any]] = {}

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
    avg_consultation_min: Minutes = Field(default=Decimal(10), json_schema_extra={"default": 10})
    buffer_min: Buffer = Field(default=Decimal(5), json_schema_extra={"default": 5})
    daily_cap: int | None = Field(default=None, ge=1, le=10000)
    booked_grace_min: Policy240 = 15
    senior_credit_min: Policy240 = 20
    skip_places: Places = 3
    reinstate_places: Places = 3
    notify_ahead: Places = 3
    late_start_alert_min: int = Field(default=15, ge=1, le=240)
    language: Language = "en"
    board_languages: BoardLanguages = Field(default_factory=list)
    board_names: BoardNames = "masked"


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
    reinstate_places: Places | None = None
    notify_ahead: Places | None = None
    late_start_alert_min: int | None = Field(default=None, ge=1, le=240)
    language: Language | None = None
    active: bool | None = None
    board_languages: BoardLanguages | None = None
    board_names: BoardNames | None = None


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
    model_config = ConfigDict(json_schema_extra={"description": "`end` is after `start`."})
    doctor_id: UUID
    cabin_id: UUID
    date: PlanDate
    start: WallTime
    end: WallTime

    @model_validator(mode="after")
    def _ordered(self) -> ShiftCreate:
        if self.end <= self.start:
            raise _required("end", "must be after start")
        return self


class ShiftPatch(PatchBody):
    schema_rules: ClassVar[dict[str, Any]] = {
        "description": "`end` is after `start`; with only one of them, after (or before) the "
                       "stored one."}
    doctor_id: UUID | None = None
    cabin_id: UUID | None = None
    date: PlanDate | None = None
    start: WallTime | None = None
    end: WallTime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ShiftPatch:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise _required("end", "must be after start")
        return self


# ---------------------------------------------------------------------------------------
def _if_role(role: str | list[str], then: dict[str, Any]) -> dict[str, Any]:
    const = {"const": role} if isinstance(role, str) else {"enum": role}
    return {"if": {"required": ["role"], "properties": {"role": const}}, "then": then}


_DOCTOR_TIE = {"required": ["doctor_id"], "properties": {"doctor_id": {"type": "string"}}}
_NO_DOCTOR = {"properties": {"doctor_id": {"type": "null"}}}
_NOT_DOCTOR = [role for role in ROLES if role != "doctor"]   # only doctors have a doctor_id
_NURSE_TIE = {"required": ["department_id"], "properties": {"department_id": {"type": "string"}}}


class UserCreate(Body):
    model_config = ConfigDict(json_schema_extra={
        "description": "A doctor account names its `doctor_id` (and only a doctor account "
                       "does); a nurse account names its `department_id`.",
        "allOf": [_if_role("doctor", _DOCTOR_TIE),
                  _if_role(_NOT_DOCTOR, _NO_DOCTOR),
                  _if_role("nurse", _NURSE_TIE)]})
    username: Username
    password: Password
    role: Role
    doctor_id: UUID | None = None
    department_id: UUID | None = None
    full_name: Name | None = None

    @model_validator(mode="after")
    def _ties(self) -> UserCreate:
        _role_ties(self.role, self.doctor_id, self.department_id)
        return self


class UserPatch(PatchBody):
    nullable = frozenset({"doctor_id", "department_id", "full_name"})
    # the ties of UserCreate, stated so that no patch depends on the stored row: a change of
    # doctor_id comes with the role, a department taken away with a role that needs none
    schema_rules: ClassVar[dict[str, Any]] = {
        "description": "`role: doctor` comes with its `doctor_id`, `role: nurse` with its "
                       "`department_id`; `doctor_id` changes only with `role` (another role "
                       "clears it); `department_id: null` only with a role other than nurse.",
        "dependentRequired": {"doctor_id": ["role"]},
        "allOf": [
            _if_role("doctor", _DOCTOR_TIE),
            _if_role(_NOT_DOCTOR, _NO_DOCTOR),
            _if_role("nurse", _NURSE_TIE),
            {"if": {"required": ["department_id"],
                    "properties": {"department_id": {"type": "null"}}},
             "then": {"required": ["role"]}},
        ]}
    username: Username | None = None
    password: Password | None = None
    role: Role | None = None
    doctor_id: UUID | None = None
    department_id: UUID | None = None
    full_name: Name | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _ties(self) -> UserPatch:
        given = self.model_fields_set
        if "doctor_id" in given and "role" not in given:
            raise _required("role", "give the role with doctor_id")
        if "department_id" in given and self.department_id is None and "role" not in given:
            raise _required("role", "give the role when clearing department_id")
        if "role" in given:
            _role_ties(self.role, self.doctor_id, self.department_id)
        return self


def _role_ties(role: str | None, doctor_id: UUID | None, department_id: UUID | None) -> None:
    """A doctor account names its doctor, and only a doctor account does; a nurse names the
    department she works in."""
    if role == "doctor" and doctor_id is None:
        raise _required("doctor_id", "required for role doctor")
    if role != "doctor" and doctor_id is not None:
        raise _required("doctor_id", "only for role doctor")
    if role == "nurse" and department_id is None:
        raise _required("department_id", "required for role nurse")

    def changes(self) -> dict[str, Any]:
        out = super().changes()
        if "role" in out and out["role"] != "doctor":
            out["doctor_id"] = None     # a former doctor's tie goes with the role
        return out


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
    date: PlanDate | None = None
