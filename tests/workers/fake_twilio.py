"""A local fake of Twilio's Messages API, driven by the real `twilio` client.

Speaks POST /2010-04-01/Accounts/{sid}/Messages.json (form-encoded, HTTP basic auth) with
Twilio's JSON answers and error bodies, records every request, and can be told to answer the
next N requests with a failure: throttled (429 / 20429), a server error (500), unsubscribed
(21610), outside the WhatsApp window (63016), an invalid number (21211, whose message names
the number, as Twilio's does), or to hang (a timeout on the client's side).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

ERRORS: dict[str, tuple[int, int, str]] = {
    "429": (429, 20429, "Too Many Requests"),
    "500": (500, 20500, "Internal Server Error"),
    "21610": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "63016": (400, 63016, "Failed to send freeform message because you are outside the "
                          "allowed window. If you want to send messages outside the session "
                          "window, use a Template."),
    "21211": (400, 21211, "The 'To' number {to} is not a valid phone number."),
}


@dataclass
class Recorded:
    path: str
    form: dict[str, str]
    auth: tuple[str, str] | None
    status: int = 0
    sid: str | None = None
    request_id: str | None = None                # the X-Request-ID header, if sent
    at: float = field(default_factory=time.time)   # arrival (wall clock; the bench uses it)

    @property
    def to(self) -> str:
        return self.form.get("To", "")

    @property
    def body(self) -> str:
        return self.form.get("Body", "")


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    latency_s: float = 0.0                       # answer after this long (lets races overlap)
    requests: list[Recorded] = field(default_factory=list)
    _failures: deque[str] = field(default_factory=deque)
    _failures_for: dict[str, deque[str]] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

    @property
    def messages(self) -> list[Recorded]:
        """Requests that created a message (201)."""
        return [r for r in self.requests if r.status == 201]

    def fail_next(self, kind: str, n: int = 1) -> None:
        """Answer the next n requests with `kind` (a key of ERRORS, or "hang")."""
        assert kind in ERRORS or kind == "hang", kind
        self._failures.extend([kind] * n)

    def fail_for(self, to: str, kind: str, n: int = 1) -> None:
        """Answer the next n requests to `to` with `kind`, whatever else is sent meanwhile
        (several messages in flight reach the fake in any order)."""
        assert kind in ERRORS, kind
        self._failures_for.setdefault(to, deque()).extend([kind] * n)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        self._release.set()
        if self._runner:
            await self._runner.cleanup()

    async def wait_for(self, predicate: Callable[[FakeTwilio], bool],
                       within_s: float = 10.0) -> None:
        """Until predicate(self) holds; woken by each request, never polling."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    def _auth(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _create(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        rec = Recorded(request.path, form, self._auth(request),
                       request_id=request.headers.get("X-Request-ID"))
        self.requests.append(rec)
        try:
            if self._failures and self._failures[0] == "hang":
                self._failures.popleft()
                await self._release.wait()  # the client times out; released when the fake stops
                return self._error(rec, 503, 20503, "Service Unavailable")
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            return self._answer(request, rec)
        finally:
            await self._notify()

    def _answer(self, request: web.Request, rec: Recorded) -> web.Response:
        if rec.auth != (self.account_sid, self.auth_token):
            return self._error(rec, 401, 20003, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return self._error(rec, 404, 20404, "The requested resource was not found")
        mine = self._failures_for.get(rec.to)
        if mine or self._failures:
            kind = mine.popleft() if mine else self._failures.popleft()
            status, code, message = ERRORS[kind]
            return self._error(rec, status, code, message.format(to=rec.to))
        rec.status, rec.sid = 201, "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC))
        return web.json_response(status=201, data={
            "sid": rec.sid, "account_sid": self.account_sid, "to": rec.to,
            "from": rec.form.get("From"), "body": rec.body, "status": "queued",
            "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
            "date_created": now, "date_updated": now, "date_sent": None,
            "error_code": None, "error_message": None, "price": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{rec.sid}.json",
        })

    def _error(self, rec: Recorded, status: int, code: int, message: str) -> web.Response:
        rec.status = status
        body: dict[str, Any] = {"code": code, "message": message, "status": status,
                                "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        return web.json_response(status=status, data=body)
