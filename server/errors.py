"""Typed errors and their one rendering: application/problem+json (RFC 9457).

Routes and use-cases raise these; `install(app)` maps them, pydantic's ValidationError and
anything unexpected to a problem body in one place.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from asyncpg import exceptions as pg
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server.observability import log_path
from server.responses import JSONResponse

log = structlog.get_logger("errors")

PROBLEM = "application/problem+json"

# a backing service went away (or is shutting down, or timed out) mid-request: 503 with
# Retry-After, never a 500: the client may retry, with its Idempotency-Key, and get one effect
SERVICE_DOWN: tuple[type[Exception], ...] = (
    RedisConnectionError, RedisTimeoutError,
    asyncpg.PostgresConnectionError, asyncpg.InterfaceError, pg.InternalClientError,
    pg.OperatorInterventionError,            # admin shutdown, crash shutdown, cannot connect now
    pg.InsufficientResourcesError,           # too many connections, out of memory or disk
    pg.QueryCanceledError,                   # statement or lock timeout
    pg.TransactionRollbackError,             # deadlock or serialization failure: try again
    ConnectionError, TimeoutError,
)


class AppError(Exception):
    status = 500
    title = "Internal error"
    type_ = "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(AppError):
    status, title, type_ = 400, "Bad request", "/problems/bad-request"


class InvalidInput(AppError):
    status, title, type_ = 422, "Invalid input", "/problems/invalid-input"

    @classmethod
    def field(cls, field: str, message: str) -> InvalidInput:
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])


class Unauthorized(AppError):
    status, title, type_ = 401, "Not logged in", "/problems/unauthorized"


class Forbidden(AppError):
    status, title, type_ = 403, "Forbidden", "/problems/forbidden"


class NotFound(AppError):
    status, title, type_ = 404, "Not found", "/problems/not-found"


class Conflict(AppError):
    status, title, type_ = 409, "Conflict", "/problems/conflict"


class DuplicateToken(Conflict):
    """The patient already holds a live token of the department that day (API.md)."""

    title, type_ = "Duplicate token", "/problems/duplicate-token"

    def __init__(self, existing_token_id: Any, number: str) -> None:
        super().__init__(
            f"this patient already has token {number} in this department today; send "
            "allow_duplicate to issue another", extra={"existing_token_id": str(existing_token_id)})
        self.existing_token_id = existing_token_id


class InvalidTransition(Conflict):
    title, type_ = "Refused transition", "/problems/invalid-transition"


class PayloadTooLarge(AppError):
    status, title, type_ = 413, "Payload too large", "/problems/payload-too-large"


class RateLimited(AppError):
    status, title, type_ = 429, "Too many requests", "/problems/rate-limited"

    def __init__(self, retry_after_s: int, detail: str | None = None) -> None:
        super().__init__(
            detail or f"try again in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        )


class Unavailable(AppError):
    status, title, type_ = 503, "Service unavailable", "/problems/unavailable"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "body"
        out.append({"field": field, "message": err["msg"]})
    return out


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return problem(exc.status, exc.title, exc.detail, type_=exc.type_, errors=exc.errors,
                   headers=exc.headers, extra=exc.extra)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    errors = validation_errors(exc)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "Invalid input", detail, type_="/problems/invalid-input", errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, exc.detail or "HTTP error", exc.detail or "",
                   headers=dict(exc.headers or {}))


async def _service_down(request: Request, exc: Exception) -> Response:
    """Redis or PostgreSQL unreachable: say so (clients retry), rather than a bare 500."""
    which = "redis" if isinstance(exc, RedisConnectionError | RedisTimeoutError) else "postgresql"
    log.warning("backing service unreachable", service=which, error=type(exc).__name__)
    return problem(503, "Service unavailable", f"{which} is unreachable; try again shortly",
                   type_="/problems/unavailable", headers={"Retry-After": "2"},
                   extra={"unreachable": [which]})


async def _data_error(request: Request, exc: Exception) -> Response:
    """Last defence: a value PostgreSQL refuses (NUL in text, a date out of its range, ...).
    The request models refuse such input first, naming the field; reaching here is a gap in
    them, logged to be closed, and still answered as bad input rather than a 500."""
    log.warning("input refused by postgresql, not by its model", path=log_path(request.scope),
                error=type(exc).__name__)
    return problem(422, "Invalid input", "a value of the request cannot be stored",
                   type_="/problems/invalid-input",
                   errors=[{"field": "body", "message": "a value cannot be stored"}])


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", path=log_path(request.scope))
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged")


def install(app: Starlette) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for down in SERVICE_DOWN:
        app.add_exception_handler(down, _service_down)
    app.add_exception_handler(pg.DataError, _data_error)
    app.add_exception_handler(Exception, _unexpected)
