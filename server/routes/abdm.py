"""ABDM Scan & Share: the gateway's profile share, answered with a walk-in token
(server/integrations/abdm.py). Not served (404) unless ABDM is configured."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.routing import Route

from server.errors import NotFound, Unauthorized
from server.integrations import abdm
from server.models.common import read_json
from server.responses import JSONResponse
from server.routes.render import service, state

# the HIP's bridge URL registered with ABDM is PUBLIC_BASE_URL + BRIDGE
BRIDGE = "/api/v1/abdm"
SHARE_PATH = BRIDGE + abdm.SHARE_PATH


async def profile_share(request: Request) -> JSONResponse:
    settings = state(request).settings
    if not abdm.enabled(settings):
        raise NotFound("ABDM Scan & Share is not configured")
    if not abdm.gateway_allowed(settings, request.headers.get("authorization")):
        raise Unauthorized("the ABDM gateway's bearer token is required")
    req = abdm.parse_share(await read_json(request))
    outcome = await abdm.share(state(request).pool, service(request), settings, req)
    body = abdm.on_share_body(req, outcome)
    # the gateway hears the token number on its on-share callback; the 202 carries it too
    return JSONResponse(body, status_code=202,
                        background=BackgroundTask(abdm.send_on_share, settings, body))


routes = [Route(SHARE_PATH, profile_share, methods=["POST"])]
