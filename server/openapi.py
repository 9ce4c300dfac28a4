"""The OpenAPI 3.1 document of the HTTP API (API.md), served at GET /api/v1/openapi.json.

Generated from a small registry (server/openapi_registry.py): one `Op` per method and path
(summary, request body and query models from server/models, the success answer, who may call
it). Request schemas come
from the pydantic models the routes validate with, so the document cannot drift from them;
`missing(app)` lists any /api/v1 route of the app without an entry (a test keeps it empty).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp

from server.auth.principal import STAFF
from server.auth.sessions import COOKIE_NAME
from server.models import dates
from server.models.common import text_pattern
from server.openapi_registry import (
    API,
    OPENAPI_PATH,
    PATH_PATTERNS,
    PLAIN_ACTIONS,
    Op,
    registry,
)
from server.openapi_shapes import Problem
from server.responses import JSONResponse

VERSION = "1.0.0"

AUTH_TEXT: dict[str, str] = {
    "none": "No login.",
    "signed-in": "Any staff session or display key.",
    "staff": f"Any staff user of the hospital ({', '.join(STAFF)}).",
    "admin": "Admins of the hospital.",
    "admin-login": "Admins of the hospital, logged in (not with an API key).",
    "desk": "Admin, receptionist, or a nurse (of the token's department).",
    "queue": "The queue's own doctor, a nurse of its department, or an admin.",
    "token-action": (
        "check-in, cancel, reschedule, priority: admin, receptionist, or a nurse of the "
        "token's department; transfer: also the queue's own doctor; start, complete, recall, "
        "skip, no-show: the queue's own doctor, a nurse of its department, or an admin."),
    "board": "Staff of the hospital, or a display key of that department.",
    "patient-code": "No login: the signed code of the patient's link is the credential.",
    "twilio": "Twilio only: the X-Twilio-Signature header is checked.",
    "abdm-gateway": ("The ABDM gateway only: `Authorization: Bearer` ABDM_GATEWAY_TOKEN. Not "
                     "served (404) unless ABDM Scan & Share is configured."),
    "alerts": ("Admins (every alert), and nurses (their department's alerts and the "
               "hospital-wide ones; never security events)."),
}

PROBLEM_TEXT = {
    400: "Malformed request (e.g. the body is not JSON, or nests deeper than 32 levels).",
    401: "Not logged in, or the session expired.",
    403: "Wrong role, or not this queue or department.",
    404: "Unknown, or not of the caller's hospital.",
    409: "Refused: the detail names the current status (`current_status`).",
    413: "The body is too large.",
    415: "A body that is not `application/json` (UTF-8).",
    422: "Invalid input: `errors` names each field.",
    429: "Rate limited: see Retry-After.",
}


# --------------------------------------------------------------------- building
def _model_schema(model: type[BaseModel], *, request: bool = True) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for sub in (schema, *schema.get("$defs", {}).values()) if request else ():
        for prop in sub.get("properties", {}).values():
            for alt in (prop, *prop.get("anyOf", ())):
                _describe_text(alt)
    return schema


def _describe_text(schema: dict[str, Any]) -> None:
    """A plain string of a request says what every string of the API obeys (parse_body,
    parse_query): no control characters but tab and line breaks, and `minLength` counted
    after surrounding spaces are stripped. Typed strings (pattern, format, enum) say more."""
    if schema.get("type") != "string" or {"pattern", "format", "enum", "const"} & set(schema):
        return
    schema["pattern"] = text_pattern(min_length=schema.get("minLength", 0), multiline=True)


def _schema(model: type[BaseModel], components: dict[str, Any], *,
            request: bool = True) -> dict[str, Any]:
    """A $ref to the model's schema, its definitions hoisted into components."""
    schema = _model_schema(model, request=request)
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path_params(path: str) -> list[dict[str, Any]]:
    out = []
    for name in re.findall(r"\{([^}]+)\}", path):
        schema: dict[str, Any] = {"type": "string"}
        if name == "id" or name.endswith("_id"):
            schema["format"] = "uuid"
        if name == "action":
            schema["enum"] = PLAIN_ACTIONS
        if name in PATH_PATTERNS:
            schema["pattern"] = PATH_PATTERNS[name]
        out.append({"name": name, "in": "path", "required": True, "schema": schema})
    return out


def _query_params(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _model_schema(model)
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required,
             "schema": _not_null(prop)}
            for name, prop in schema.get("properties", {}).items()]


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: `null` is no value it can have."""
    kept = [s for s in prop.get("anyOf", []) if s.get("type") != "null"]
    if len(kept) != 1:
        return prop
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**kept[0], **rest}


def _problem(code: int) -> dict[str, Any]:
    out: dict[str, Any] = {"description": PROBLEM_TEXT[code], "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if code == 429:
        out["headers"] = {"Retry-After": {
            "description": "Seconds to wait before trying again.", "required": True,
            "schema": {"type": "integer", "minimum": 1}}}
    return out


def _operation(op: Op, components: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_",
                              f"{op.method.lower()}_{op.path.removeprefix(API)}").strip("_"),
        "tags": [op.tag],
        "description": " ".join(x for x in (op.description, f"Who: {AUTH_TEXT[op.auth]}") if x),
        "x-access": op.auth,
    }
    params = _path_params(op.path)
    if op.query:
        params += _query_params(op.query, components)
    if params or op.extra_params:
        out["parameters"] = [*params, *op.extra_params]
    if op.body:
        out["requestBody"] = {"required": op.body_required, "content": {
            "application/json": {"schema": _schema(op.body, components)}}}
    elif op.raw_body:
        out["requestBody"] = {"required": True, "content": {
            media: {"schema": schema} for media, schema in op.raw_body.items()}}
    ok: dict[str, Any] = {"description": op.response}
    if op.ok != 204:
        ok["content"] = {op.media: {
            "schema": (_schema(op.returns, components, request=False) if op.returns
                       else {"type": "object" if op.media == "application/json"
                             else "string"})}}
        if op.csv:
            ok["content"]["text/csv"] = {"schema": {"type": "string"}}
    responses: dict[str, Any] = {str(op.ok): ok}
    codes = set(op.errors)
    if op.body or op.query:
        codes |= {400, 422}
    if op.body:
        codes |= {413, 415}
    if op.auth == "abdm-gateway":
        codes |= {401}
    elif op.auth not in ("none", "patient-code", "twilio"):
        codes |= {401, 403}
    if "{" in op.path:
        codes.add(404)
    for code in sorted(codes):
        responses[str(code)] = _problem(code)
    out["responses"] = responses
    if op.auth in ("none", "patient-code", "twilio", "abdm-gateway"):
        out["security"] = []
    return out


def document() -> dict[str, Any]:
    """The document; built again when a date range that moves with the day has moved."""
    return _document(dates.key())


@lru_cache(maxsize=2)
def _document(_day: tuple[Any, ...]) -> dict[str, Any]:   # _day: the cache key
    components: dict[str, Any] = {}
    _schema(Problem, components, request=False)
    paths: dict[str, dict[str, Any]] = {}
    for op in registry():
        method = op.method.lower()
        if method in paths.get(op.path, {}):
            raise ValueError(f"{op.method} {op.path} is registered twice")
        paths.setdefault(op.path, {})[method] = _operation(op, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OPD live token queue",
            "version": VERSION,
            "description": ("The HTTP API of the outpatient live token queue (API.md). Errors "
                            "are application/problem+json. Mutating calls accept an "
                            "`Idempotency-Key` header. Websockets (/ws/...) are described in "
                            "API.md."),
        },
        "tags": [{"name": t} for t in ("Auth", "Admin", "Patients", "Tokens", "Queue",
                                       "Public", "Waitlist", "Webhooks", "Integrations",
                                       "Meta")],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "The token from login, an API key (ak_...) of an "
                                          "integration, or a display key (dk_...) for a "
                                          "board."},
                "session": {"type": "apiKey", "in": "cookie", "name": COOKIE_NAME},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }


def missing(app: ASGIApp) -> list[tuple[str, str]]:
    """(method, path) of every /api/v1 route of the app the document does not describe."""
    paths = document()["paths"]
    out = []
    for route in getattr(app, "routes", []):
        if not isinstance(route, Route) or not route.path.startswith(f"{API}/"):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if method.lower() not in paths.get(route.path, {}):
                out.append((method, route.path))
    return out


async def openapi_json(request: Request) -> JSONResponse:
    settings = request.app.state.opdq.settings
    return JSONResponse({**document(), "servers": [{"url": settings.base_url}]})


routes = [Route(OPENAPI_PATH, openapi_json, methods=["GET"])]
