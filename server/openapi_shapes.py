"""The shapes of the API's answers, for its OpenAPI document only (server/openapi.py): the
presenters build the answers themselves (server/presenters.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
    current_status: str | None = None


class Eta(BaseModel):
    p50_min: int
    p90_min: int
    p10_min: int = 0
    updated_at: str


class Risk(BaseModel):
    score: int
    badge: Literal["Low", "Medium", "High"]
    tier: int | None = None


class TokenPatient(BaseModel):
    id: str
    display_name: str
    name: str | None = None
    phone: str | None = None
    language: str | None = None


class Token(BaseModel):
    id: str
    number: str
    status: str
    priority: int
    booking_type: str
    patient: TokenPatient
    doctor_id: str | None
    doctor_name: str | None = None
    department_id: str
    cabin: str | None
    position: int | None
    eta: Eta | None
    risk: Risk | None
    service_date: str
    scheduled_time: str | None = None
    created_at: str
    called_at: str | None = None
    patient_link: str | None = None
    waited_min: int | None = Field(
        default=None, description="Minutes since check-in (a skip or recall keeps counting).")
    allowed_actions: list[str] = Field(
        default_factory=list,
        description="What the caller may do to the token now: the page's buttons.")
    late_count: int = 0
    reinstated: bool = False


class TokenList(BaseModel):
    items: list[Token]
    next_cursor: str | None


class NextResult(BaseModel):
    completed: Token | None
    called: Token | None


class QueueView(BaseModel):
    doctor: dict[str, Any]
    current: Token | None
    waiting: list[Token]


class PublicToken(BaseModel):
    number: str
    status: str
    position: int | None
    eta: Eta | None
    cabin: str | None
    doctor_name: str | None
    service_date: str
    scheduled_time: str | None
    booking_type: str
    can_check_in: bool
    hospital_name: str | None = None
    department_name: str | None = None
    language: str | None = None
    waited_min: int | None = None
    called_at: str | None = None
    no_show_at: str | None = None
    moved_from_doctor: str | None = None
    late_count: int = 0
    late_limit: int = 2
    allowed_actions: list[str] = Field(
        default_factory=list, description="Of `check-in`, `running-late`, `cancel`.")
