"""Query and answer shapes of the reports (API.md "Insight"; docs/reports.md)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from server.models import cursors
from server.models.dates import PlanDate


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    first: PlanDate | None = Field(
        default=None, alias="from",
        description="First day (hospital-local), default 29 days before `to`.")
    last: PlanDate | None = Field(
        default=None, alias="to", description="Last day, default yesterday (hospital-local).")
    department_id: UUID | None = None
    doctor_id: UUID | None = None
    limit: int = Field(default=1000, ge=1, le=5000)
    cursor: Annotated[str | None, Field(
        default=None, pattern=cursors.PATTERN,
        description="`next_cursor` of the page before")] = None
    format: Literal["json", "csv"] = "json"


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    first: PlanDate | None = Field(default=None, alias="from")
    last: PlanDate | None = Field(default=None, alias="to")
    department_id: UUID | None = None
    doctor_id: UUID | None = None


class ReportRow(BaseModel):
    """One doctor's day."""

    date: str
    doctor_id: str
    doctor_name: str
    department_id: str
    department_name: str
    issued: int = Field(description="Tokens of the doctor that day, whatever became of them.")
    seen: int = Field(description="Tokens completed.")
    no_show: int
    cancelled: int
    no_show_rate: float | None = Field(description="no_show / (seen + no_show).")
    wait_mean_min: float | None
    wait_p50_min: float | None = Field(description="Median minutes from arrival to first call.")
    wait_p90_min: float | None
    consult_mean_min: float | None
    first_call_delay_min: int | None = Field(
        description="First call minus the later of shift start and first arrival.")
    late_start: bool
    last_patient_at: str | None
    overtime_min: int | None
    shift_min: int
    busy_min: int
    pause_min: int
    idle_min: int
    utilisation: float | None = Field(description="Busy over unpaused shift time, 0-1.")
    computed_at: str


class ReportList(BaseModel):
    items: list[ReportRow]
    next_cursor: str | None


class DayTotal(BaseModel):
    """Every selected doctor's figures of one day together."""

    date: str
    doctors: int
    issued: int
    seen: int
    no_show: int
    cancelled: int
    no_show_rate: float | None
    wait_p50_min: float | None = Field(description="Over every wait of the day.")
    wait_p90_min: float | None
    consult_mean_min: float | None
    utilisation: float | None
    late_starts: int
    overtime_min: int
    idle_min: int
    pause_min: int


class DayTotals(BaseModel):
    items: list[DayTotal]
