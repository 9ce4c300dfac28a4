"""Shared field types and the one way a route reads its input.

Every input is refused at this layer, with a 4xx problem naming the field, before anything is
written: control characters in text (PostgreSQL cannot store NUL), JSON nested deeper than
MAX_DEPTH, a body that is not `application/json`, strings where numbers or booleans belong
(bodies are validated in pydantic's strict mode: `"5"` is not 5, `true` is not 1), dates out of
range (server/models/dates.py). Each type also says in its JSON Schema what it accepts, so the
OpenAPI document (server/openapi.py) describes every rule a client can know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from uuid import UUID

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from starlette.requests import Request

from server.errors import AppError, BadRequest, InvalidInput, NotFound, validation_errors
from server.languages import LANGUAGES

M = TypeVar("M", bound=BaseModel)

# JSON deeper than this is refused before it is parsed: no body of the API nests beyond 3,
# and a deep one costs recursion (json.loads raised RecursionError at 20,000)
MAX_DEPTH = 32

# C0 and C1 control characters and DEL; multi-line text keeps tab, newline and return.
# Lone surrogates cannot be encoded as UTF-8 (PostgreSQL would refuse them too).
_CONTROLS_LINE = "\\x00-\\x1f\\x7f-\\x9f"
_CONTROLS_TEXT = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
_BAD_LINE = re.compile(f"[{_CONTROLS_LINE}\\ud800-\\udfff]")
_BAD_TEXT = re.compile(f"[{_CONTROLS_TEXT}\\ud800-\\udfff]")
# what str.strip() removes, less the control characters refused anyway: a required text field
# needs one character outside this set (ECMA-262 and Python read these escapes alike)
_SPACES = "\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"


class UnsupportedMediaType(AppError):
    status, title, type_ = 415, "Unsupported media type", "/problems/unsupported-media-type"


@dataclass(frozen=True, eq=False)   # hashed by identity: typing hashes Annotated metadata
class SchemaExtra:
    """Annotated metadata adding keys to a type's JSON Schema (and nothing to validation)."""

    extra: dict[str, Any]

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out.update(self.extra)
        return out


def _no_controls(multiline: bool) -> Callable[[Any], Any]:
    bad = _BAD_TEXT if multiline else _BAD_LINE

    def check(value: Any) -> Any:
        if isinstance(value, str) and (m := bad.search(value)):
            raise PydanticCustomError(
                "control_character",
                "must not contain control characters (found U+{code} at {at})",
                {"code": f"{ord(m.group()):04X}", "at": m.start()})
        return value
    return check


NoControls = BeforeValidator(_no_controls(multiline=False))


def text_pattern(*, min_length: int = 0, multiline: bool = False) -> str:
    """The JSON Schema pattern of free text: no control characters, and at least
    `min_length` characters once stripped of surrounding spaces."""
    ctl = _CONTROLS_TEXT if multiline else _CONTROLS_LINE
    spaces = _SPACES + ("\\t\\n\\r" if multiline else "")   # what stripping removes
    if min_length <= 0:
        return f"^[^{ctl}]*$"
    edge = f"[^{ctl}{spaces}]"
    if min_length == 1:
        return f"^[^{ctl}]*{edge}[^{ctl}]*$"
    return f"^[{spaces}]*{edge}[^{ctl}]{{{min_length - 2},}}{edge}[{spaces}]*$"


def text(max_length: int, *, min_length: int = 0, multiline: bool = False) -> Any:
    """Free text: stripped, `min_length`..`max_length` characters, no control characters."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        BeforeValidator(_no_controls(multiline)),   # runs first, on the text as sent
        SchemaExtra({"pattern": text_pattern(min_length=min_length, multiline=multiline)}),
    ]


# what a typed number may hold besides its digits: "+91 98123-45678", "+91 (98123) 45678"
_PHONE_INPUT = re.compile(r"\+[0-9][0-9 ().-]{5,23}[0-9]", re.ASCII)


def _e164(value: str) -> str:
    if not _PHONE_INPUT.fullmatch(value):   # no letters, extensions or other junk
        raise ValueError("must be an E.164 phone number such as +919812345678")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("must be an E.164 phone number such as +919812345678") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


E164_PATTERN = "^\\+[1-9][0-9]{6,14}$"
PHONE_DOC = ("A phone number in E.164 form (`+` country code and number, digits only), that "
             "is also a number in service under its country's numbering plan (checked with "
             "libphonenumber), e.g. `+919812345678`. Spaces and dashes are tolerated on input; "
             "answers give E.164.")

# "phone" is this API's own format name: the pattern says the shape, the numbering-plan check
# that follows cannot be said in JSON Schema (schema-driven test tools register the format)
E164Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20), NoControls,
                      AfterValidator(_e164),
                      SchemaExtra({"pattern": E164_PATTERN, "maxLength": 16, "format": "phone",
                                   "description": PHONE_DOC})]
Name = text(200, min_length=1)
ShortText = text(500, multiline=True)
# one of the languages the messages, patient page, slip and board speak (server/languages.py)
Language = Annotated[str, StringConstraints(pattern=rf"^({'|'.join(LANGUAGES)})$"), NoControls,
                     SchemaExtra({"enum": list(LANGUAGES),
                                  "description": "ISO 639-1 code of a supported language: "
                                                 + ", ".join(LANGUAGES)})]


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused, so a typo is not silently ignored;
    numbers are finite (no NaN or Infinity)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- reading bodies
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep `raw` nests arrays and objects, counting up to just past `limit`."""
    depth = deepest = 0
    for m in _TOKENS.finditer(raw):
        token = m.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _json_media_type(request: Request) -> bool:
    """Content-Type application/json, with at most a UTF-8 charset."""
    value = request.headers.get("content-type")
    if value is None:
        return False
    media, *params = (p.strip().lower() for p in value.split(";"))
    if media != "application/json":
        return False
    for param in params:
        name, _, val = param.partition("=")
        if name.strip() == "charset" and val.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


async def read_body(request: Request) -> bytes:
    """The raw body of a JSON request: b"" when there is none; 415 when there is one that is
    not `application/json`; 400 when it nests deeper than MAX_DEPTH."""
    raw = await request.body()   # first: an oversized body is a 413 whatever its type
    if not raw.strip():
        return b""
    if not _json_media_type(request):
        raise UnsupportedMediaType(
            "send the body as application/json",
            errors=[{"field": "body", "message": "Content-Type must be application/json"}])
    if json_depth(raw) > MAX_DEPTH:
        raise BadRequest(f"body: JSON nests deeper than {MAX_DEPTH} levels",
                         errors=[{"field": "body",
                                  "message": f"nests deeper than {MAX_DEPTH} levels"}])
    return raw


async def read_json(request: Request) -> Any:
    """The body as JSON ({} when empty), with the checks of read_body."""
    raw = await read_body(request)
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:   # also: an integer of over 4,300 digits
        raise BadRequest(f"body is not valid JSON: {exc}",
                         errors=[{"field": "body", "message": "is not valid JSON"}]) from None


_SURROGATE = re.compile("[\\ud800-\\udfff]")


def _text_floor(value: str, field: str, *, controls: bool = True) -> None:
    """What no string may hold, whatever its field's type: an unpaired surrogate (one escaped
    alone in JSON, which no UTF-8 text can hold) and, with `controls`, control characters
    other than tab and line breaks. (Each text type of a body refuses control characters
    itself, single-line ones tab and line breaks too; login takes any and fails.)"""
    if m := (_BAD_TEXT if controls else _SURROGATE).search(value):
        code = ord(m.group())
        what = "an unpaired surrogate" if 0xD800 <= code <= 0xDFFF else "control characters"
        raise InvalidInput.field(field, f"must not contain {what} (found U+{code:04X})")


def _normalised(value: Any, field: str = "body") -> Any:
    """The parsed body as the API reads it: 8.0 is the integer 8, as JSON Schema counts it
    (8.5 stays a float); a string with an unpaired surrogate is refused, naming its field
    (pydantic's JSON parser would refuse the whole body)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        _text_floor(value, field, controls=False)
    if isinstance(value, dict):
        return {_normalised(k, field): _normalised(v, k if field == "body" else f"{field}.{k}")
                for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v, f"{field}.{i}") for i, v in enumerate(value)]
    return value


async def parse_body(request: Request, model: type[M]) -> M:
    """The body validated by `model` in strict mode: a JSON string is no number and no
    boolean, a number no string (an empty body is `{}`)."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object",
                           errors=[{"field": "body", "message": "must be a JSON object"}])
    try:
        # strict validation of JSON text (not of Python values), so dates, times and ids
        # still come as strings
        return model.model_validate_json(json.dumps(_normalised(data)), strict=True)
    except ValidationError as exc:
        raise _invalid(validation_errors(exc)) from None


def parse_query(request: Request, model: type[M]) -> M:
    """Query parameters validated by `model` (lax: they are strings on the wire)."""
    params = dict(request.query_params)
    for name, value in params.items():
        _text_floor(name, "query")      # a name no parameter has: say where, not what
        _text_floor(value, name)
    return validate(model, params)


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(validation_errors(exc)) from None


def _invalid(errors: list[dict[str, str]]) -> InvalidInput:
    return InvalidInput("; ".join(f"{e['field']}: {e['message']}" for e in errors),
                        errors=errors)


def path_uuid(request: Request, name: str) -> UUID:
    """A malformed id in the path is simply unknown: 404, not 422."""
    try:
        return UUID(str(request.path_params[name]))
    except ValueError:
        raise NotFound(f"no such {name.removesuffix('_id')}") from None
