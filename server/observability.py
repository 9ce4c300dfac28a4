"""Structured logs and per-request log lines, with phone numbers redacted on the way out.

Every log line passes through `redact_phones`, so a phone number that slips into a message
or a field is masked before it reaches a file: the rule holds even where a caller forgets.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import metrics

# "+919812345678", "98123 45678", "+1 (415) 555-0100": 8+ digits with common separators,
# not touching letters or dashes (so the digit runs inside a UUID are left alone)
_PHONE = re.compile(r"(?<![0-9A-Za-z_-])\+?\d[\d\s().-]{6,}\d(?![0-9A-Za-z_-])")


def mask_phone(phone: str) -> str:
    """"+919812345678" -> "+91******5678": enough to tell two numbers apart, no more."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 6:
        return "*" * len(digits)
    prefix = "+" + digits[:2] if phone.strip().startswith("+") else digits[:2]
    return prefix + "*" * (len(digits) - 6) + digits[-4:]


def _mask_match(m: re.Match[str]) -> str:
    text = m.group(0)
    if sum(c.isdigit() for c in text) < 8:
        return text
    return mask_phone(text)


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return _PHONE.sub(_mask_match, value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def redact_phones(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if k in _SAFE_KEYS else redact(v)) for k, v in event_dict.items()}


# fields that hold numbers which are not phones (ids, timings) and are not free text
_SAFE_KEYS = frozenset({"timestamp", "duration_ms", "status", "seq", "request_id", "job_id",
                        "path", "method"})


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_phones,
        structlog.processors.JSONRenderer() if json
        else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


class RequestLog:
    """ASGI middleware: a request id per request, one log line and one metric per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        structlog.contextvars.bind_contextvars(request_id=rid)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            endpoint = scope.get("endpoint")
            route = getattr(endpoint, "__name__", "unmatched")
            metrics.HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(scope["method"], route).observe(elapsed)
            if scope["path"] not in ("/metrics", "/healthz"):
                self.log.info("request", method=scope["method"], path=scope["path"],
                              status=status, duration_ms=round(elapsed * 1000, 1))
            structlog.contextvars.unbind_contextvars("request_id")
