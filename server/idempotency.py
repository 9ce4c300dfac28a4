"""Idempotency-Key for every mutating API call, in one ASGI middleware.

A retried request (a tablet on a flaky network, a double tap that sends the same key)
gets the first answer and changes nothing twice. The key is scoped to the caller's
credential, so two users cannot see each other's answers; reusing a key for a different
request is refused. 5xx answers are not kept, so a retry after a failure runs again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.db import idempotency as store
from server.errors import PayloadTooLarge

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WAIT_STEP_S = 0.05
WAIT_MAX_S = 10.0
MAX_KEY = 200


def _problem(status: int, title: str, detail: str, field: str | None = None) -> bytes:
    body: dict[str, object] = {"type": "/problems/idempotency", "title": title,
                               "status": status, "detail": detail}
    if field:
        body["errors"] = [{"field": field, "message": detail}]
    return json.dumps(body).encode()


class Idempotency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in MUTATING
                or not scope["path"].startswith("/api/")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"idempotency-key", b"").decode("latin-1").strip()
        if not key:
            await self.app(scope, receive, send)
            return
        if len(key) > MAX_KEY:
            await _send(send, 422, "application/problem+json",
                        _problem(422, "Invalid input", f"at most {MAX_KEY} characters",
                                 "Idempotency-Key"))
            return

        body, more = b"", True
        try:
            while more:  # the body is needed for the request hash; the app gets it replayed
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
        except PayloadTooLarge as exc:  # BodyLimit counts what we read
            await _send(send, 413, "application/problem+json",
                        _problem(413, exc.title, exc.detail))
            return
        credential = headers.get(b"authorization") or headers.get(b"cookie") or b"anonymous"
        scope_id = hashlib.sha256(credential).hexdigest()[:32]
        request_hash = hashlib.sha256(
            scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + body).digest()
        pool = scope["app"].state.opdq.pool

        if not await store.claim(pool, scope_id, key, request_hash):
            await self._replay(send, pool, scope_id, key, request_hash)
            return

        sent_body = False

        async def replay_receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status, content_type, chunks = 500, "application/json", []

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for k, v in message.get("headers", []):
                    if k.lower() == b"content-type":
                        content_type = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            if status < 500:
                await store.answer(pool, scope_id, key, status, content_type, b"".join(chunks))
            else:
                await store.release(pool, scope_id, key)

    async def _replay(self, send: Send, pool: object, scope_id: str, key: str,
                      request_hash: bytes) -> None:
        waited = 0.0
        while True:
            rec = await store.get(pool, scope_id, key)  # type: ignore[arg-type]
            if rec is None:  # the first request failed and let the key go: say so
                await _send(send, 409, "application/problem+json", _problem(
                    409, "Conflict", "the first request with this key failed; retry"))
                return
            if rec["request_hash"] != request_hash:
                await _send(send, 422, "application/problem+json", _problem(
                    422, "Invalid input", "this key was used for a different request",
                    "Idempotency-Key"))
                return
            if rec["status_code"] is not None:
                await _send(send, rec["status_code"], rec["content_type"] or "application/json",
                            rec["response_body"] or b"", replayed=True)
                return
            if waited >= WAIT_MAX_S:
                await _send(send, 409, "application/problem+json", _problem(
                    409, "Conflict", "a request with this key is still in progress"))
                return
            # the first request with this key is still running: its answer is ours too
            await asyncio.sleep(WAIT_STEP_S)
            waited += WAIT_STEP_S


async def _send(send: Send, status: int, content_type: str, body: bytes,
                replayed: bool = False) -> None:
    headers = [(b"content-type", content_type.encode()),
               (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
