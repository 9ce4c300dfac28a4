"""Idempotency-Key for every mutating API call, in one ASGI middleware.

A retried request (a tablet on a flaky network, a double tap that sends the same key) gets
the first answer and changes nothing twice, whatever happened to that answer:

- the key is claimed (a row) before the request runs; a second request with the key waits
  for the first one's answer and gets it (`Idempotent-Replayed: true`);
- the use-case that changes the queue writes its action's id into the same row in its own
  transaction (`record_effect`), so the row says "done" exactly when the effect committed;
- the answer is stored once sent. When it could not be (a 5xx after the commit, a lost
  connection, a crash), a retry runs the route again in replay mode: the use-case returns
  the committed effect instead of acting again, and the route renders it as it is now;
- a failed request whose effect did not commit lets the key go, so the retry runs afresh.

The key's scope is the caller (hospital and user, display key, or anonymous), not the raw
credential header: the same session sent as a bearer token or as a cookie is one caller.
Login is not covered (its answer is a secret and a retry simply logs in again); an answer
marked `Cache-Control: no-store` (one that shows a secret once) is never kept: a replay says
the request was done, not what it answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth.principal import optional_principal
from server.db import idempotency as store
from server.errors import SERVICE_DOWN, PayloadTooLarge

log = structlog.get_logger("idempotency")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXEMPT = frozenset({"/api/v1/auth/login"})
WAIT_STEP_S = 0.05
WAIT_MAX_S = 10.0
ANSWER_GRACE_S = 5.0   # a committed effect with no answer after this: its request died
MAX_KEY = 200
KEEP_RETRY_S = (0.0, 0.05, 0.2, 0.5, 1.0)
NOT_KEPT = json.dumps({
    "type": "/problems/idempotency", "title": "Already done", "status": 409,
    "detail": "a request with this key was completed; its answer held a secret that is "
              "shown only once, so it is not repeated"}).encode()


@dataclass(frozen=True)
class Claim:
    scope: str
    key: str
    replay: UUID | None = None   # the effect the first request committed: answer from it


CLAIM: ContextVar[Claim | None] = ContextVar("idempotency_claim", default=None)


def replaying() -> UUID | None:
    """In a replay, the effect (an action id) the first request with this key committed."""
    claim = CLAIM.get()
    return claim.replay if claim else None


async def record_effect(conn: asyncpg.Connection, effect: UUID) -> None:
    """Called inside the transaction of the request's first durable effect."""
    claim = CLAIM.get()
    if claim is not None and claim.replay is None:
        await store.record_effect(conn, claim.scope, claim.key, effect)


def _problem(status: int, title: str, detail: str, field: str | None = None) -> bytes:
    body: dict[str, object] = {"type": "/problems/idempotency", "title": title,
                               "status": status, "detail": detail}
    if field:
        body["errors"] = [{"field": field, "message": detail}]
    return json.dumps(body).encode()


async def _caller(scope: Scope) -> str:
    """The key's scope: who is asking, whatever header carries their credential."""
    who = await optional_principal(Request(scope))
    if who is None:
        return "anonymous"
    if who.kind == "display":
        return f"{who.hospital_id}:display:{who.display_key_id}"
    if who.api_key_id is not None:
        return f"{who.hospital_id}:key:{who.api_key_id}"
    return f"{who.hospital_id}:user:{who.user_id}"


class Idempotency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in MUTATING
                or not scope["path"].startswith("/api/") or scope["path"] in EXEMPT):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"idempotency-key", b"").decode("latin-1").strip()
        if not key:
            await self.app(scope, receive, send)
            return
        if len(key) > MAX_KEY or not key.isprintable() or not key.isascii():
            await _send(send, 422, "application/problem+json", _problem(
                422, "Invalid input", f"at most {MAX_KEY} printable ASCII characters",
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
        request_hash = hashlib.sha256(
            scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + body).digest()
        pool = scope["app"].state.opdq.pool
        me = uuid.uuid4()
        who = None
        try:
            who = await _caller(scope)
            waited = 0.0
            while not await store.claim(pool, who, key, request_hash, me):
                rec = await store.get(pool, who, key)
                if rec is None:
                    continue  # the first request failed and let the key go: ours runs
                if rec["request_hash"] != request_hash:
                    await _send(send, 422, "application/problem+json", _problem(
                        422, "Invalid input", "this key was used for a different request",
                        "Idempotency-Key"))
                    return
                if rec["status_code"] is not None:
                    await _send(send, rec["status_code"],
                                rec["content_type"] or "application/json",
                                rec["response_body"] or b"", replayed=True)
                    return
                if rec["effect"] is not None and (rec["unanswered"]
                                                  or rec["age_s"] >= ANSWER_GRACE_S):
                    # done, but its answer was lost: answer from the committed effect
                    await self._run(scope, receive, send, pool,
                                    Claim(who, key, rec["effect"]), body)
                    return
                if waited >= WAIT_MAX_S:
                    await _send(send, 409, "application/problem+json", _problem(
                        409, "Conflict", "a request with this key is still in progress"))
                    return
                # the first request with this key is still running: its answer is ours too
                await asyncio.sleep(WAIT_STEP_S)
                waited += WAIT_STEP_S
        except SERVICE_DOWN as exc:
            log.warning("idempotency record unavailable", error=type(exc).__name__)
            if who is not None:  # our claim may have committed: do not leave the key held
                await _persist(lambda: store.unclaim(pool, who, key, me))
            await _send(send, 503, "application/problem+json", json.dumps({
                "type": "/problems/unavailable", "title": "Service unavailable", "status": 503,
                "detail": "postgresql is unreachable; try again shortly"}).encode(),
                extra=[(b"retry-after", b"2")])
            return
        await self._run(scope, receive, send, pool, Claim(who, key), body)

    async def _run(self, scope: Scope, receive: Receive, send: Send, pool: asyncpg.Pool,
                   claim: Claim, body: bytes) -> None:
        """Run the request (or its replay) under the claim, then keep its answer."""
        sent_body = False

        async def replay_receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status, content_type, no_store, chunks = 500, "application/json", False, []

        async def capture(message: Message) -> None:
            nonlocal status, content_type, no_store
            if message["type"] == "http.response.start":
                status = message["status"]
                if claim.replay is not None:  # the answer of the first request, rebuilt
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"idempotent-replayed", b"true")]}
                for k, v in message.get("headers", []):
                    if k.lower() == b"content-type":
                        content_type = v.decode("latin-1")
                    if k.lower() == b"cache-control" and b"no-store" in v.lower():
                        no_store = True
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        token = CLAIM.set(claim)
        try:
            await self.app(scope, replay_receive, capture)
        finally:
            CLAIM.reset(token)
            if status >= 500:
                await _persist(lambda: store.release(pool, claim.scope, claim.key))
            elif no_store and status < 300:
                await _persist(lambda: store.answer(pool, claim.scope, claim.key, 409,
                                                    "application/problem+json", NOT_KEPT))
            else:
                await _persist(lambda: store.answer(pool, claim.scope, claim.key, status,
                                                    content_type, b"".join(chunks)))


async def _persist(write: Callable[[], Awaitable[None]]) -> None:
    """Keep the outcome of a keyed request, trying a few times: a claim left without one
    holds its key (retries wait, then hear "in progress") until it is taken for abandoned;
    an answer that is not kept is rebuilt from the effect, if any, by the retry."""
    for wait_s in KEEP_RETRY_S:
        await asyncio.sleep(wait_s)
        try:
            await write()
            return
        except SERVICE_DOWN as exc:
            log.warning("could not keep the idempotent outcome yet", error=type(exc).__name__)


async def _send(send: Send, status: int, content_type: str, body: bytes,
                replayed: bool = False, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type.encode()),
               (b"content-length", str(len(body)).encode()), *(extra or [])]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
