"""Web push for the patient's page: the server's VAPID public key, and a browser's
subscription to the token's "near the front" and "called" pushes (sent by workers/push.py).

The patient's signed code is the credential, as for the rest of the page; a subscription
lasts until the end of the token's day (hospital time) and at most MAX_PER_TOKEN browsers
follow one token.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.db import doctors as doctors_db
from server.db import push as push_db
from server.errors import Conflict, InvalidInput
from server.integrations import urls
from server.models.common import parse_body
from server.models.push import PushSubscribe, PushUnsubscribe
from server.notifications import push
from server.presenters import jsonable
from server.responses import JSONResponse
from server.routes import render
from server.routes.public import _limit, token_for_code

FOLLOWED = ("BOOKED", "WAITING", "CALLED")   # a push can still tell the patient something


async def push_key(request: Request) -> JSONResponse:
    await _limit(request)
    return JSONResponse({"public_key": push.public_key(render.state(request).settings)})


async def push_subscribe(request: Request) -> JSONResponse:
    await _limit(request)
    row = await token_for_code(request, request.path_params["code"])
    body = await parse_body(request, PushSubscribe)
    st = render.state(request)
    try:
        urls.check_syntax(body.endpoint, allow_private=st.settings.push_allow_private)
    except urls.RefusedURL as exc:
        raise InvalidInput.field("endpoint", str(exc)) from None
    if row["status"] not in FOLLOWED:
        raise Conflict(f"this visit is {row['status']}: there is nothing left to notify",
                       extra={"current_status": row["status"]})
    hosp = await doctors_db.hospital(st.pool, row["hospital_id"])
    assert hosp
    day_end = datetime.combine(row["service_date"] + timedelta(days=1), time(0),
                               ZoneInfo(hosp["timezone"]))
    sub = await push_db.subscribe(
        st.pool, hospital_id=row["hospital_id"], token_id=row["id"], endpoint=body.endpoint,
        p256dh=body.keys.p256dh, auth=body.keys.auth,
        notify_at_position=body.notify_at_position, expires_at=day_end)
    if sub is None:
        raise Conflict(f"this token is followed by {push_db.MAX_PER_TOKEN} browsers already")
    return JSONResponse({"id": str(sub["id"]), "notify_at_position": sub["notify_at_position"],
                         "expires_at": jsonable(sub["expires_at"])}, status_code=201)


async def push_unsubscribe(request: Request) -> Response:
    await _limit(request)
    row = await token_for_code(request, request.path_params["code"])
    body = await parse_body(request, PushUnsubscribe)
    await push_db.unsubscribe(render.state(request).pool, row["id"], body.endpoint)
    return Response(status_code=204)


routes = [
    Route("/api/v1/public/push/key", push_key, methods=["GET"]),
    Route("/api/v1/public/tokens/{code}/push", push_subscribe, methods=["POST"]),
    Route("/api/v1/public/tokens/{code}/push", push_unsubscribe, methods=["DELETE"]),
]
