"""Integrations API (admin): API keys and outgoing webhook subscriptions with their deliveries.

A key's value and a subscription's secret are shown once, in the 201 answer, and never again.
Only an admin *user* manages them: an API key cannot mint further keys nor point the
hospital's events somewhere new, so a leaked key cannot entrench itself.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth.principal import Principal, display_key_hash, new_api_key, staff
from server.db import api_keys as keys_db
from server.db import webhooks as hooks_db
from server.errors import Forbidden, InvalidInput, NotFound
from server.integrations import signing, urls
from server.models import integrations as m
from server.models.common import parse_body, parse_query, path_uuid
from server.presenters import jsonable
from server.responses import JSONResponse
from server.state import AppState
from server.store import keys

BASE = "/api/v1"


def _state(request: Request) -> AppState:
    return request.app.state.opdq


def _render(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(data), status_code=status)


def _shown_once(data: Any) -> JSONResponse:
    out = _render(data, 201)
    out.headers["Cache-Control"] = "no-store"   # a secret: an Idempotency-Key replay omits it
    return out


async def _manager(request: Request) -> Principal:
    principal = await staff(request, "admin")
    if principal.api_key_id is not None:
        raise Forbidden("API keys and webhooks are managed by an admin's login, not a key")
    return principal


# ------------------------------------------------------------------------- API keys
async def api_keys(request: Request) -> Response:
    principal = await _manager(request)
    pool = _state(request).pool
    if request.method == "GET":
        return _render({"items": await keys_db.list_keys(pool, principal.hospital_id)})
    body = await parse_body(request, m.ApiKeyCreate)
    key = new_api_key()
    row = await keys_db.create(pool, hospital_id=principal.hospital_id,
                               actor_id=principal.user_id, values=body.model_dump(),
                               key_hash=display_key_hash(key), key_prefix=key[:10])
    return _shown_once(row | {"key": key})


async def api_key(request: Request) -> Response:
    principal = await _manager(request)
    key_id = path_uuid(request, "id")
    pool = _state(request).pool
    if request.method == "DELETE":
        revoked = await keys_db.revoke(pool, hospital_id=principal.hospital_id,
                                       actor_id=principal.user_id, key_id=key_id)
        if revoked is None:
            raise NotFound("no such API key")
        return Response(status_code=204)
    row = await keys_db.get(pool, principal.hospital_id, key_id)
    if row is None:
        raise NotFound("no such API key")
    return _render(row)


# ------------------------------------------------------------------------- webhooks
def _checked_url(request: Request, url: str) -> str:
    try:
        urls.check_syntax(url, allow_private=_state(request).settings.webhook_allow_private)
    except urls.RefusedURL as exc:
        raise InvalidInput.field("url", str(exc)) from None
    return url


async def webhooks(request: Request) -> Response:
    principal = await _manager(request)
    state = _state(request)
    if request.method == "GET":
        return _render({"items": await hooks_db.list_subscriptions(state.pool,
                                                                   principal.hospital_id)})
    body = await parse_body(request, m.WebhookCreate)
    url = _checked_url(request, body.url)
    secret = signing.new_secret()
    # events announced from now on: the sequence number the hospital's stream is at
    start_seq = int(await state.redis.get(keys.seq(principal.hospital_id)) or 0)
    row = await hooks_db.create(state.pool, hospital_id=principal.hospital_id,
                                actor_id=principal.user_id, url=url, events=body.events,
                                secret=secret, start_seq=start_seq)
    return _shown_once(row | {"secret": secret})


async def webhook(request: Request) -> Response:
    principal = await _manager(request)
    sub_id = path_uuid(request, "id")
    pool = _state(request).pool
    if request.method == "DELETE":
        if not await hooks_db.delete(pool, hospital_id=principal.hospital_id,
                                     actor_id=principal.user_id, sub_id=sub_id):
            raise NotFound("no such webhook")
        return Response(status_code=204)
    if request.method == "GET":
        row = await hooks_db.get(pool, principal.hospital_id, sub_id)
    else:
        body = await parse_body(request, m.WebhookPatch)
        values = body.changes()
        if "url" in values:
            _checked_url(request, values["url"])
        row = await hooks_db.update(pool, hospital_id=principal.hospital_id,
                                    actor_id=principal.user_id, sub_id=sub_id, values=values)
    if row is None:
        raise NotFound("no such webhook")
    return _render(row)


async def deliveries(request: Request) -> Response:
    principal = await _manager(request)
    sub_id = path_uuid(request, "id")
    query = parse_query(request, m.DeliveriesQuery)
    pool = _state(request).pool
    if await hooks_db.get(pool, principal.hospital_id, sub_id) is None:
        raise NotFound("no such webhook")
    items = await hooks_db.deliveries(pool, principal.hospital_id, sub_id,
                                      status=query.status, limit=query.limit)
    return _render({"items": items})


routes = [
    Route(f"{BASE}/api-keys", api_keys, methods=["GET", "POST"]),
    Route(f"{BASE}/api-keys/{{id}}", api_key, methods=["GET", "DELETE"]),
    Route(f"{BASE}/webhooks", webhooks, methods=["GET", "POST"]),
    Route(f"{BASE}/webhooks/{{id}}", webhook, methods=["GET", "PATCH", "DELETE"]),
    Route(f"{BASE}/webhooks/{{id}}/deliveries", deliveries, methods=["GET"]),
]
