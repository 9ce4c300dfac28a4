"""Websockets: /ws/board/{department_id}, /ws/doctor/{doctor_id}, /ws/token/{code}, /ws/desk,
/ws/admin (live alerts).

Protocol (API.md): the first message is `snapshot` (the matching GET), unless `since` can be
honoured exactly, in which case the missed events come first, in order; then live events,
each with the hospital's sequence number. Clients may send {"type": "ping"}.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import structlog
from starlette.routing import Match, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from server import views
from server.auth.principal import (
    DESK,
    Principal,
    can_act_on_queue,
    display_key_hash,
    optional_principal,
    resolve_display_key,
)
from server.auth.principal import STAFF as STAFF_ROLES
from server.db import doctors as doctors_db
from server.db import tokens as tokens_db
from server.errors import AppError
from server.realtime import CLOSE_UNAUTHORISED, Hub, consistent_snapshot
from server.routes import alerts as alerts_routes
from server.routes import public as public_routes
from server.routes import render
from server.routes.alerts import ALERT_ROLES
from server.routes.render import state
from server.store.live import LiveStore
from server.subscribers import (
    AdminSubscriber,
    BoardSubscriber,
    DeskSubscriber,
    DoctorSubscriber,
    Subscriber,
    TokenSubscriber,
    now_iso,
)
from server.ws_live import live_socket
from server.ws_out import QueuedOutlet

log = structlog.get_logger("ws")

DESK_SNAPSHOT = 1000  # tokens of a day a desk's snapshot holds (a busy OPD issues ~600)


def hub(ws: WebSocket) -> Hub:
    return state(ws).extras["hub"]  # type: ignore[arg-type, no-any-return]


def origin_allowed(ws: WebSocket) -> bool:
    """Browsers send Origin: only our own pages (or configured ones) may open a socket with
    the user's cookie. Non-browser clients (display boxes, tests) send none."""
    origin = ws.headers.get("origin")
    if not origin:
        return True
    settings = state(ws).settings
    allowed = {settings.base_url.rstrip("/"), *(o.rstrip("/") for o in settings.allowed_origins)}
    if origin.rstrip("/") in allowed:
        return True
    return urlsplit(origin).netloc == ws.headers.get("host")


def _since(ws: WebSocket) -> int | None:
    raw = ws.query_params.get("since")
    return int(raw) if raw and raw.isdigit() else None


Snapshot = Callable[[], Awaitable[dict[str, Any]]]
# what a handler hands to `serve` once the socket is allowed: its subscriber and snapshot (the
# handler's frame, with the request's rows and principal, is then gone, not held for the
# socket's life)
Prepared = tuple[Subscriber, Snapshot]


async def _refuse(ws: WebSocket, code: int, reason: str) -> None:
    await ws.accept()
    await ws.close(code, reason)


KEY_CACHE_S = 10.0  # a display key resolved once per process this long (reconnect storms)
KEY_CACHE_MAX = 10_000


async def display_key_principal(ws: WebSocket, key: str) -> Principal | None:
    """resolve_display_key, remembered for KEY_CACHE_S: after a restart every board of a
    hospital comes back within seconds, each asking PostgreSQL for the same few keys. A
    revocation (the hub's DISPLAY_REVOKED, or a lost feed that may have hidden one) voids
    what was resolved before it, so a revoked key is refused as soon as the hub has heard."""
    h = hub(ws)
    cache = h.display_keys  # the app's own: each app (and its hub) hears its revocations
    digest = display_key_hash(key)
    now = time.monotonic()
    hit = cache.get(digest)
    if hit is not None and hit[0] > now and hit[1] == h.revocations:
        return hit[2]
    generation = h.revocations  # before the read: a revocation during it voids the answer
    who = await resolve_display_key(state(ws).pool, key)
    if who is not None:
        if len(cache) >= KEY_CACHE_MAX:
            cache.clear()
        cache[digest] = (now + KEY_CACHE_S, generation, who)
    return who


async def board_ws(ws: WebSocket) -> Prepared | None:
    if not origin_allowed(ws):
        return await _refuse(ws, CLOSE_UNAUTHORISED, "origin not allowed")
    try:
        dep = UUID(ws.path_params["department_id"])
    except ValueError:
        return await _refuse(ws, CLOSE_UNAUTHORISED, "unknown department")
    key = ws.query_params.get("key")
    who: Principal | None = None
    if key:
        who = await display_key_principal(ws, key)
        if who is None or who.department_id != dep:
            return await _refuse(ws, CLOSE_UNAUTHORISED, "display key not valid here")
    else:
        who = await optional_principal(ws)  # type: ignore[arg-type]
        if who is None or who.kind != "user" or who.role not in STAFF_ROLES:
            return await _refuse(ws, CLOSE_UNAUTHORISED, "log in or use a display key")
    dep_row = await doctors_db.department(state(ws).pool, who.hospital_id, dep)
    if not dep_row:
        return await _refuse(ws, CLOSE_UNAUTHORISED, "unknown department")
    sub = BoardSubscriber(str(who.hospital_id), state(ws).settings.ws_send_queue,
                          department_id=str(dep),
                          display_key_id=str(who.display_key_id) if who.display_key_id else None,
                          names=views.board_shows_names(dep_row))
    return sub, lambda: views.board_snapshot(state(ws).queue, state(ws).pool,
                                             who.hospital_id, dep)  # type: ignore[union-attr]


async def doctor_ws(ws: WebSocket) -> Prepared | None:
    if not origin_allowed(ws):
        return await _refuse(ws, CLOSE_UNAUTHORISED, "origin not allowed")
    who = await optional_principal(ws)  # type: ignore[arg-type]
    if who is None or who.kind != "user":
        return await _refuse(ws, CLOSE_UNAUTHORISED, "log in first")
    try:
        doctor_id = UUID(ws.path_params["doctor_id"])
    except ValueError:
        return await _refuse(ws, CLOSE_UNAUTHORISED, "unknown doctor")
    ctx = await doctors_db.doctor_context_at(state(ws).pool, who.hospital_id, doctor_id,
                                             state(ws).queue.now())
    if not ctx or not can_act_on_queue(who, doctor_id=doctor_id,
                                       department_id=ctx["department_id"]):
        return await _refuse(ws, CLOSE_UNAUTHORISED, "not your queue")
    sub = DoctorSubscriber(str(who.hospital_id), state(ws).settings.ws_send_queue,
                           doctor_id=str(doctor_id))
    return sub, lambda: views.queue_snapshot(state(ws).queue, who.hospital_id, doctor_id,
                                             who)


async def desk_ws(ws: WebSocket) -> Prepared | None:
    """The desk's day, live: a snapshot of today's tokens (GET /api/v1/tokens), then events."""
    if not origin_allowed(ws):
        return await _refuse(ws, CLOSE_UNAUTHORISED, "origin not allowed")
    who = await optional_principal(ws)  # type: ignore[arg-type]
    if who is None or who.kind != "user" or who.role not in DESK:
        return await _refuse(ws, CLOSE_UNAUTHORISED, "log in as desk staff")
    department_id: UUID | None = None
    if dep := ws.query_params.get("department_id"):
        try:
            department_id = UUID(dep)
        except ValueError:
            return await _refuse(ws, CLOSE_UNAUTHORISED, "unknown department")
        if not await doctors_db.department(state(ws).pool, who.hospital_id, department_id):
            return await _refuse(ws, CLOSE_UNAUTHORISED, "unknown department")
    sub = DeskSubscriber(str(who.hospital_id), state(ws).settings.ws_send_queue,
                         department_id=str(department_id) if department_id else None)

    async def snapshot() -> dict[str, Any]:
        svc = state(ws).queue
        today, _ = await svc.today(who.hospital_id)  # type: ignore[union-attr]
        rows = await tokens_db.day_list(svc.pool, who.hospital_id, today,  # type: ignore[union-attr]
                                        department_id=department_id, limit=DESK_SNAPSHOT)
        items = await render.tokens(ws, list(rows))  # type: ignore[arg-type]
        return {"date": today.isoformat(), "items": items}

    return sub, snapshot


async def admin_ws(ws: WebSocket) -> Prepared | None:
    """Live alerts for admins and nurses: a snapshot of the open ones (GET /api/v1/alerts),
    then alert.raised / alert.resolved."""
    if not origin_allowed(ws):
        return await _refuse(ws, CLOSE_UNAUTHORISED, "origin not allowed")
    who = await optional_principal(ws)  # type: ignore[arg-type]
    if who is None or who.kind != "user" or who.role not in ALERT_ROLES:
        return await _refuse(ws, CLOSE_UNAUTHORISED, "log in as an admin or a nurse")
    nurse_dep = who.department_id if who.role == "nurse" else None
    sub = AdminSubscriber(str(who.hospital_id), state(ws).settings.ws_send_queue,
                          department_id=str(nurse_dep) if nurse_dep else None)

    async def snapshot() -> dict[str, Any]:
        items = await alerts_routes.open_alerts(state(ws).pool, who)  # type: ignore[arg-type]
        return {"items": items}

    return sub, snapshot


async def token_ws(ws: WebSocket) -> Prepared | None:
    try:
        row = await public_routes.token_for_code(ws, ws.path_params["code"])  # type: ignore[arg-type]
    except AppError:
        return await _refuse(ws, CLOSE_UNAUTHORISED, "this link is not valid")
    sub = TokenSubscriber(str(row["hospital_id"]), state(ws).settings.ws_send_queue,
                          token_id=str(row["id"]), doctor_id=str(row["doctor_id"]))

    async def snapshot() -> dict[str, Any]:
        fresh = await public_routes.token_for_code(ws, ws.path_params["code"])  # type: ignore[arg-type]
        view = await views.patient_token(state(ws).queue, fresh)
        sub.view = dict(view)
        return view

    sub.view = await views.patient_token(state(ws).queue, row)
    return sub, snapshot


async def serve(ws: WebSocket, sub: Subscriber,
                snapshot: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    """Register first (so nothing is missed), then replay or snapshot, then live: the hub
    writes to the socket's transport and, under our uvicorn protocol (server.ws_live), reads
    its frames too, so this task ends there. Under another server it stays to read."""
    await ws.accept()
    h = hub(ws)
    settings = state(ws).settings
    live = live_socket(ws)
    if live is not None:
        live.bound(settings.ws_send_buffer_bytes)
        sub.outlet = live
    else:
        sub.outlet = QueuedOutlet(ws, settings.ws_send_queue)
    try:
        await h.register(sub)
        await _catch_up(ws, sub, snapshot)
        del snapshot
        h.go_live(sub)
        if live is not None and live.detach(h, sub):
            sub = None  # type: ignore[assignment]  # the socket's end unregisters it now
            return
        _forget_handshake(ws)
        # the hub closing the socket (dropped, revoked) ends this read with a disconnect
        await _read(ws, sub, h)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        if sub is not None:
            h.unregister(sub)
            sub.outlet.release()  # type: ignore[union-attr]


def _forget_handshake(ws: WebSocket) -> None:
    """A live socket needs none of its handshake: its headers (cookies, tokens), query and
    their parsed copies would otherwise be held for the connection's life."""
    ws.scope["headers"] = []
    ws.scope["query_string"] = b""
    ws.scope.pop("state", None)
    for cached in ("_headers", "_query_params", "_cookies", "_url"):
        ws.__dict__.pop(cached, None)


async def _catch_up(ws: WebSocket, sub: Subscriber,
                    snapshot: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    live: LiveStore = state(ws).queue.live
    since = _since(ws)
    if since is not None:
        events = await live.events_since(UUID(sub.hospital_id), since,
                                         limit=state(ws).settings.event_stream_maxlen)
        if events is not None:
            sub.sent_seq = since
            for event in events:
                message = sub.accept(event, json.dumps(event))
                if message is not None:
                    await ws.send_text(message)
                sub.sent_seq = event["seq"]
            return
    seq, data = await consistent_snapshot(live.redis, sub.hospital_id, snapshot)
    sub.sent_seq = seq
    await ws.send_text(json.dumps({"type": "snapshot", "seq": seq, "ts": now_iso(),
                                   "data": data}, default=str))


async def _read(ws: WebSocket, sub: Subscriber, h: Hub) -> None:
    """Client messages (a socket not detached): pings, answered by the hub."""
    while True:
        h.heard_text(sub, await ws.receive_text())


async def websocket_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Websockets straight to their handler: none of the HTTP middleware (body limit,
    security headers, request log, idempotency) applies to them, and their frames would be
    held for the socket's life. An unknown path is closed before the handshake (403)."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            scope.update(child)
            ws = WebSocket(scope, receive, send)
            prepared = await route.endpoint(ws)
            if prepared is not None:
                await serve(ws, *prepared)
            return
    await send({"type": "websocket.close", "code": 1000})


routes = [
    WebSocketRoute("/ws/board/{department_id}", board_ws),
    WebSocketRoute("/ws/doctor/{doctor_id}", doctor_ws),
    WebSocketRoute("/ws/token/{code}", token_ws),
    WebSocketRoute("/ws/desk", desk_ws),
    WebSocketRoute("/ws/admin", admin_ws),
]
