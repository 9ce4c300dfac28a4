"""Sending one SMS or WhatsApp message: through Twilio, or to the log when unconfigured.

TwilioSender drives the real `twilio` client (twilio.rest.Client, messages.create_async) over
an aiohttp transport, so a send never blocks the worker's event loop or takes a thread.
TWILIO_BASE_URL (tests, a proxy) re-points every *.twilio.com URL at another host: the
supported hook for that in twilio-python is a custom http_client, so BaseUrlHttpClient
rewrites scheme and host and leaves the client's URL building, parameters and error parsing
untouched.

Errors come back as SendError with a `transient` flag: Twilio throttling (429 / 20429),
5xx, timeouts and connection errors may be retried; anything else is permanent.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import structlog
from twilio.base.exceptions import TwilioException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from server.logs import REQUEST_ID_HEADER, current_request_id, redact
from server.settings import Settings

log = structlog.get_logger("notify.sender")
# our own line per Twilio request (method, path, status); twilio's logger, whose request
# dumps carry numbers, is held at WARNING (server/logs.py)
http_log = structlog.get_logger("notify.twilio_http")

SMS, WHATSAPP = "SMS", "WHATSAPP"
STATUS_PATH = "/api/v1/webhooks/twilio/status"
HTTP_TIMEOUT_S = 10.0          # one Twilio call; a send attempt's lease is a multiple of it
NO_ANSWER = -1                 # error_code recorded when Twilio did not answer (timeout, network)
THROTTLED = 20429


@dataclass(frozen=True)
class Outgoing:
    channel: str                              # SMS | WHATSAPP
    to: str                                   # E.164
    body: str
    content_sid: str | None = None            # an approved WhatsApp template instead of body
    content_variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str
    delivered: bool = True  # False: recorded only (no Twilio credentials, development)


class SendError(Exception):
    """Twilio refused or did not answer; `code` is Twilio's error code (or the HTTP status,
    or NO_ANSWER), `message` is safe to log (phone numbers masked)."""

    def __init__(self, code: int, message: str, *, transient: bool,
                 http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.transient = transient
        self.http_status = http_status


class Sender(Protocol):
    whatsapp_enabled: bool
    sms_enabled: bool
    template_sid: str | None

    async def send(self, msg: Outgoing) -> SendResult: ...

    async def aclose(self) -> None: ...


def is_transient(http_status: int | None, code: int | None) -> bool:
    return (http_status == 429 or code == THROTTLED
            or (http_status is not None and http_status >= 500))


class BaseUrlHttpClient(AsyncHttpClient):
    """twilio's async HttpClient interface over one aiohttp session: every *.twilio.com URL
    re-pointed at `base_url` when set, a default timeout, basic auth sent as a header
    (twilio's own AsyncTwilioHttpClient uses aiohttp.BasicAuth, deprecated in aiohttp 3.14),
    and the current request id as X-Request-ID."""

    def __init__(self, base_url: str | None, timeout: float = HTTP_TIMEOUT_S) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), True, timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.session: aiohttp.ClientSession | None = None  # made in the loop that uses it

    def rewrite(self, url: str) -> str:
        if not self.base_url:
            return url
        parts = urlsplit(url)
        return self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")

    async def request(
            self, method: str, url: str, params: dict[str, object] | None = None,
            data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
            auth: tuple[str, str] | None = None,
            timeout: float | None = None,  # noqa: ASYNC109 (twilio's HttpClient signature)
            allow_redirects: bool = False) -> Response:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        headers = dict(headers or {})
        rid = current_request_id()
        if rid:  # the id of the web request (or job) this message comes from, for support
            headers[REQUEST_ID_HEADER] = rid
        if auth:
            pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        kwargs: dict[str, Any] = {
            "method": method.upper(), "url": self.rewrite(url), "params": params, "data": data,
            "headers": headers, "allow_redirects": allow_redirects,
            "timeout": aiohttp.ClientTimeout(total=timeout or self.timeout),
        }
        async with self.session.request(**kwargs) as resp:
            text = await resp.text()
        http_log.debug("twilio request", method=kwargs["method"], path=urlsplit(url).path,
                       status=resp.status)
        return Response(resp.status, text, resp.headers)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


def status_callback_url(settings: Settings) -> str:
    if settings.twilio_status_callback_url:
        return str(settings.twilio_status_callback_url)
    return settings.base_url + STATUS_PATH


def _whatsapp(address: str) -> str:
    return address if address.startswith("whatsapp:") else f"whatsapp:{address}"


class TwilioSender:
    def __init__(self, settings: Settings, *, timeout: float = HTTP_TIMEOUT_S) -> None:
        assert settings.twilio_account_sid and settings.twilio_auth_token
        self.http = BaseUrlHttpClient(
            str(settings.twilio_base_url) if settings.twilio_base_url else None, timeout)
        self.client = Client(settings.twilio_account_sid,
                             settings.twilio_auth_token.get_secret_value(),
                             http_client=self.http)
        self.sms_from = settings.twilio_sms_from
        self.whatsapp_from = (_whatsapp(settings.twilio_whatsapp_from)
                              if settings.twilio_whatsapp_from else None)
        self.sms_enabled = bool(self.sms_from)
        self.whatsapp_enabled = bool(self.whatsapp_from)
        self.template_sid = settings.twilio_whatsapp_template_sid
        self.callback = status_callback_url(settings)

    async def send(self, msg: Outgoing) -> SendResult:
        kwargs: dict[str, Any] = {"status_callback": self.callback}
        if msg.channel == WHATSAPP:
            kwargs.update(to=_whatsapp(msg.to), from_=self.whatsapp_from)
        else:
            kwargs.update(to=msg.to, from_=self.sms_from)
        if msg.content_sid:
            kwargs.update(content_sid=msg.content_sid,
                          content_variables=json.dumps(msg.content_variables))
        else:
            kwargs["body"] = msg.body
        try:
            created = await self.client.messages.create_async(**kwargs)
        except TwilioException as exc:
            status = getattr(exc, "status", None)
            code = getattr(exc, "code", None) or status or 0
            text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or str(exc)
            raise SendError(int(code), redact(str(text)), http_status=status,
                            transient=is_transient(status, int(code))) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(NO_ANSWER, f"no answer from Twilio: {type(exc).__name__}",
                            transient=True) from None
        return SendResult(sid=str(created.sid), status=str(created.status or "queued"))

    async def aclose(self) -> None:
        await self.http.close()


class LogSender:
    """No Twilio credentials (development): nothing leaves; the caller logs the message as
    recorded, not sent (workers/notify.py)."""

    sms_enabled = True
    whatsapp_enabled = True
    template_sid: str | None = None

    async def send(self, msg: Outgoing) -> SendResult:
        return SendResult(sid=f"LOG{uuid.uuid4().hex}", status="sent", delivered=False)

    async def aclose(self) -> None:
        return None


def build_sender(settings: Settings, *, timeout: float = HTTP_TIMEOUT_S) -> Sender:
    """Twilio when an account, a token and a sender number are configured; else the log."""
    configured = (settings.twilio_account_sid and settings.twilio_auth_token
                  and (settings.twilio_sms_from or settings.twilio_whatsapp_from))
    if configured:
        return TwilioSender(settings, timeout=timeout)
    return LogSender()
