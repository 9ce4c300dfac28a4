"""Request bodies and queries of the integrations API: API keys and outgoing webhooks."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from server.auth.principal import Role
from server.integrations.events import WEBHOOK_EVENTS
from server.models.admin import (
    _DOCTOR_TIE,
    _NO_DOCTOR,
    _NOT_DOCTOR,
    _NURSE_TIE,
    PatchBody,
    _if_role,
    _role_ties,
)
from server.models.common import Body, NoControls, text

EventType = Literal["token.created", "token.called", "token.updated", "queue.updated",
                    "doctor.status"]
WebhookURL = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10,
                                              max_length=2000, pattern=r"^https?://\S+$"),
                       NoControls]
KeyName = text(100, min_length=1)
Events = Annotated[list[EventType], Field(min_length=1, max_length=len(WEBHOOK_EVENTS))]


class ApiKeyCreate(Body):
    model_config = ConfigDict(json_schema_extra={
        "description": "The key acts with this role's rights in the hospital: a doctor key "
                       "names its `doctor_id` (and only a doctor key does); a nurse key its "
                       "`department_id`.",
        "allOf": [_if_role("doctor", _DOCTOR_TIE), _if_role(_NOT_DOCTOR, _NO_DOCTOR),
                  _if_role("nurse", _NURSE_TIE)]})
    name: KeyName
    role: Role
    doctor_id: UUID | None = None
    department_id: UUID | None = None

    @model_validator(mode="after")
    def _ties(self) -> ApiKeyCreate:
        _role_ties(self.role, self.doctor_id, self.department_id)
        return self


def _distinct(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))


class WebhookCreate(Body):
    url: WebhookURL
    events: Events

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[str]) -> list[str]:
        return _distinct(events)


class WebhookPatch(PatchBody):
    schema_rules: ClassVar[dict[str, Any]] = {
        "description": "`status` PAUSED holds deliveries back (they are kept); ACTIVE sends "
                       "them on, in order."}
    url: WebhookURL | None = None
    events: Events | None = None
    status: Literal["ACTIVE", "PAUSED"] | None = None

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[str] | None) -> list[str] | None:
        return _distinct(events) if events is not None else None


class DeliveriesQuery(Body):
    status: Literal["PENDING", "RETRYING", "DELIVERED"] | None = None
    limit: int = Field(default=50, ge=1, le=200)
