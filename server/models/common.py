"""Shared field types and the one way a route reads its input."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar
from uuid import UUID

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError
from starlette.requests import Request

from server.errors import BadRequest, InvalidInput, NotFound, validation_errors

M = TypeVar("M", bound=BaseModel)


def _e164(value: str) -> str:
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("must be an E.164 phone number such as +919812345678") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


E164Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20),
                      AfterValidator(_e164)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None


async def parse_body(request: Request, model: type[M]) -> M:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object", errors=[{"field": "body",
                                                                  "message": "must be an object"}])
    return validate(model, data)


def parse_query(request: Request, model: type[M]) -> M:
    return validate(model, dict(request.query_params))


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = validation_errors(exc)
        raise InvalidInput("; ".join(f"{e['field']}: {e['message']}" for e in errors),
                           errors=errors) from None


def path_uuid(request: Request, name: str) -> UUID:
    """A malformed id in the path is simply unknown: 404, not 422."""
    try:
        return UUID(str(request.path_params[name]))
    except ValueError:
        raise NotFound(f"no such {name.removesuffix('_id')}") from None
