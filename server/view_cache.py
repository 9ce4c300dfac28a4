"""The doctor console's queue as last rendered, kept by each web process for a moment.

A console reads its queue once per connection and then applies events, so the GET is rare for
one tablet but comes in bursts (a ward's tablets back after a restart or a network cut), and
rendering it costs the queue's script, two queries and the tokens' JSON. Each answer is kept
with the version of the hospital's views it was read at: the event sequence number, which every
committed action moves (its announcement follows its COMMIT), and a revision that changes made
without an event move (`ViewsRevision` below). A GET reads that version (one Redis round trip
for both) once its caller is authenticated, and reuses an answer only when the version is the
same and the answer is under `ttl_s` old on the queue service's clock: what it shows relative
to the moment it was read (ETAs, minutes waited) is never older than that, and a change made
outside the API (a command-line import) shows within it. The version is read before the queue,
so an answer is never kept under a version newer than what it shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth.principal import cached_principal
from server.errors import SERVICE_DOWN
from server.store.live import LiveStore

log = structlog.get_logger("view_cache")

REVISION_TIMEOUT_S = 1.0  # a hung Redis must not hold the answer to a committed change

Version = tuple[str | None, str | None]  # (event sequence number, views revision)


@dataclass(frozen=True, slots=True)
class _Entry:
    version: Version
    at: float
    body: bytes


class ViewCache:
    """Rendered answers by key, a tuple whose first item is the hospital, each under the
    version it was read at."""

    def __init__(self, ttl_s: float, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes  # a long queue's answer is tens of KiB: bound the sum
        self._entries: dict[Hashable, _Entry] = {}
        self._bytes = 0

    def get(self, key: Hashable, version: Version, now: float) -> bytes | None:
        """The answer kept under `key` if read at `version` less than ttl_s before `now`
        (seconds on the clock the answer's ETAs were computed with)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.version != version or not 0 <= now - entry.at < self.ttl_s:
            self._drop(key)
            return None
        return entry.body

    def put(self, key: Hashable, version: Version, body: bytes, now: float) -> None:
        if self.ttl_s <= 0 or len(body) > self.max_bytes:
            return
        self._drop(key)
        while self._bytes + len(body) > self.max_bytes:  # the oldest first (insertion order)
            self._drop(next(iter(self._entries)))
        self._entries[key] = _Entry(version, now, body)
        self._bytes += len(body)

    def forget(self, hospital_id: Hashable) -> None:
        """Drop every answer kept of the hospital (its version could not be moved)."""
        for key in [k for k in self._entries if isinstance(k, tuple) and k[0] == hospital_id]:
            self._drop(key)

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body)

    def __len__(self) -> int:
        return len(self._entries)


# whether the current request announced an event (which moves the views' version by itself)
_announced: ContextVar[bool] = ContextVar("opdq_announced", default=False)


def note_announced() -> None:
    """Called once an action's events are out (server.queue.base): no revision needed."""
    _announced.set(True)


MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ViewsRevision:
    """ASGI middleware: after a staff request changed something without announcing an event
    (a patient's name, a doctor's cabin, a hospital setting), move the hospital's views
    revision before the answer goes out, so the next read of any process renders afresh."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        token = _announced.set(False)

        async def send_after_revision(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400 \
                    and not _announced.get():
                who = cached_principal(scope)
                if who is not None and who.hospital_id is not None:
                    state = scope["app"].state.opdq
                    await _views_changed(state.queue.live, state.views, who.hospital_id)
            await send(message)

        try:
            await self.app(scope, receive, send_after_revision)
        finally:
            _announced.reset(token)


async def _views_changed(live: LiveStore, views: ViewCache, hospital_id: UUID) -> None:
    """Move the revision; when Redis cannot take it in time, the change is committed all the
    same: answer it, and forget this process's answers of the hospital (other processes'
    last out their ttl_s)."""
    try:
        async with asyncio.timeout(REVISION_TIMEOUT_S):
            await live.views_changed(hospital_id)
    except (*SERVICE_DOWN, TimeoutError) as exc:
        log.warning("could not mark the views changed", error=type(exc).__name__)
        views.forget(hospital_id)
