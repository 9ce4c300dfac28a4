"""Security headers on every HTTP response, and no caching of API answers.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses and websockets pass untouched.
The CSP allows only our own scripts and styles: pages must not use inline script or style.
A request that came over HTTPS (directly, or through a trusted proxy's X-Forwarded-Proto,
which uvicorn's --proxy-headers turns into the scheme) gets HSTS: browsers then never try
plain HTTP for this host again. Over plain HTTP it would be ignored, so it is not sent.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; media-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # API answers carry sessions, patients and queues: never let a browser or proxy keep them
        api = scope["path"].startswith("/api/")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if api:
                    headers["Cache-Control"] = "no-store"
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
