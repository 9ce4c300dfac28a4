"""Which API key the current request acts with, for the audit.

Authentication (server/auth/principal.py) sets it when the credential is an API key; the
audit writers (db.admin.write_audit, db.tokens.insert_history) read it, so every change made
with a key names the key without each route passing it along. `Attribution` gives every
request a fresh value, so nothing carries over from one request to the next (an in-process
test client runs requests in one task).
"""

from __future__ import annotations

from contextvars import ContextVar
from uuid import UUID

from starlette.types import ASGIApp, Receive, Scope, Send

current_api_key: ContextVar[UUID | None] = ContextVar("opdq_api_key", default=None)


class Attribution:
    """ASGI middleware: no API key until the request's credential says so."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = current_api_key.set(None)
        try:
            await self.app(scope, receive, send)
        finally:
            current_api_key.reset(token)
