"""Per-request log lines and request ids (the logging set-up itself: server/logs.py).

configure_logging, redact and mask_phone are re-exported here for the modules that have
always imported them from this one.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import metrics
from server.logs import (
    accept_request_id,
    configure_logging,
    mask_phone,
    redact,
    redact_phones,
)

__all__ = ["RequestLog", "configure_logging", "log_path", "mask_phone", "redact",
           "redact_phones"]


# a path parameter that is a record id or a route's own word ("complete", "no-show") is
# shown as it is; anything else (a link code) is not
_PLAIN = re.compile(r"[a-z][a-z-]{0,30}|\d{1,12}"
                    r"|(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def _is_id(value: Any) -> bool:
    return isinstance(value, uuid.UUID | int) or bool(_PLAIN.fullmatch(str(value)))


def log_path(scope: Scope) -> str:
    """The path as logged: each path parameter that is neither a record id nor a plain word
    (a patient link's code, an offer code) shown as its name: "/t/{code}", never the code."""
    path: str = scope.get("path", "")
    params: dict[str, Any] = scope.get("path_params") or {}
    secret = {str(v) for v in params.values() if not _is_id(v)}
    if not secret:
        return path
    names = {str(v): k for k, v in params.items()}
    return "/".join("{" + names[seg] + "}" if seg in secret else seg for seg in path.split("/"))


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
        rid = accept_request_id(headers.get(b"x-request-id", b"").decode("latin-1"))
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
                self.log.info("request", method=scope["method"], path=log_path(scope),
                              status=status, duration_ms=round(elapsed * 1000, 1))
            structlog.contextvars.unbind_contextvars("request_id")
