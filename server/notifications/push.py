"""Web push: the VAPID key, what a push says, and one send through pywebpush.

The VAPID key identifies this server to the browsers' push services (RFC 8292): the page
subscribes with its public half, each push is signed with the private half. It is
VAPID_PRIVATE_KEY (base64url, raw 32 bytes or DER), else one generated once and kept in the
data folder, like the signing key: a new key would orphan every subscription made with the old.

A push carries the token number, the cabin and the position only: it crosses a third party's
service (encrypted, but still), so never a name, a phone number or the patient's link.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from server.settings import Settings

KINDS = ("AHEAD", "CALL_NOW")
KEY_FILE = "vapid_private_key"
TTL_S = {"AHEAD": 15 * 60, "CALL_NOW": 5 * 60}   # a stale "go now" is worse than none
GONE = frozenset({404, 410})                        # the browser unsubscribed: forget it

_keys: dict[str, Vapid] = {}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def vapid(settings: Settings) -> Vapid:
    """The server's VAPID key (read or made once per process and key source)."""
    configured = settings.vapid_private_key
    source = "setting" if configured else str(settings.data_dir / KEY_FILE)
    if source not in _keys:
        if configured:
            _keys[source] = Vapid.from_string(configured.get_secret_value().strip())
        else:
            _keys[source] = _kept_key(settings.data_dir / KEY_FILE)
    return _keys[source]


def _kept_key(path: Path) -> Vapid:
    if not path.exists():
        key = Vapid()
        key.generate_keys()
        raw = key.private_key.private_numbers().private_value.to_bytes(32, "big")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_b64url(raw))
        path.chmod(0o600)
    return Vapid.from_string(path.read_text().strip())


def public_key(settings: Settings) -> str:
    """The applicationServerKey a page subscribes with: the uncompressed point, base64url."""
    point = vapid(settings).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return _b64url(point)


def subject(settings: Settings) -> str:
    """The contact push services may use (VAPID `sub`): a mailto: or https: URL."""
    if settings.vapid_subject:
        return settings.vapid_subject
    base = settings.base_url
    return base if base.startswith("https://") else "mailto:opdq@localhost"


def payload(kind: str, number: Any, cabin: str | None, position: int | None) -> str:
    """What the service worker shows, as JSON: nothing that names the patient."""
    return json.dumps({"kind": kind, "token": number, "cabin": cabin, "position": position},
                      separators=(",", ":"))


@dataclass(frozen=True)
class PushResult:
    status: int | None          # the push service's answer; None when it was not reached
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status in GONE


async def send(settings: Settings, session: aiohttp.ClientSession, subscription: dict[str, Any],
               body: str, kind: str, timeout_s: float = 10.0) -> PushResult:
    """Encrypt (aes128gcm) and POST one push; the push service's status, never an exception
    for an answer it gave."""
    info = {"endpoint": subscription["endpoint"],
            "keys": {"p256dh": subscription["p256dh"], "auth": subscription["auth"]}}
    try:
        response = await webpush_async(
            info, body, vapid_private_key=vapid(settings),
            vapid_claims={"sub": subject(settings)}, ttl=TTL_S.get(kind, 300),
            timeout=aiohttp.ClientTimeout(total=timeout_s),  # type: ignore[arg-type]
            headers={"Urgency": "high"}, aiohttp_session=session)
    except WebPushException as exc:
        status = getattr(exc.response, "status", None)
        return PushResult(status, f"push service answered {status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return PushResult(None, type(exc).__name__)
    return PushResult(getattr(response, "status", 201))
