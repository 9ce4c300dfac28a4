"""Patient links: `/t/<public_code>.<mac>`.

The public code is 96 random bits stored with the token; the MAC binds it to the token's
day under the server's secret, so a link cannot be forged from a leaked database column
alone, and the day in the MAC lets a link die with its day.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date

MAC_CHARS = 16


def _mac(secret: bytes, public_code: str, day: date) -> str:
    digest = hmac.new(secret, f"{public_code}|{day.isoformat()}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode()[:MAC_CHARS]


def sign(secret: bytes, public_code: str, day: date) -> str:
    return f"{public_code}.{_mac(secret, public_code, day)}"


def split(code: str) -> tuple[str, str] | None:
    if len(code) > 64 or "." not in code:
        return None
    public_code, _, mac = code.rpartition(".")
    if not public_code or len(mac) != MAC_CHARS:
        return None
    return public_code, mac


def verify(secret: bytes, public_code: str, mac: str, day: date) -> bool:
    return hmac.compare_digest(_mac(secret, public_code, day), mac)


def url(base_url: str, code: str) -> str:
    return f"{base_url}/t/{code}"
