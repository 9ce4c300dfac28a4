"""Patient links: `/t/<public_code>.<mac>`.

The public code is 96 random bits stored with the token; the MAC binds it to the token's
day under the server's secret, so a link cannot be forged from a leaked database column
alone, and the day in the MAC lets a link die with its day.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from datetime import date

MAC_CHARS = 16
MAX_CODE = 64
# what sign() makes: a base64url public code (16 characters; 22 for demo data), ".", the MAC;
# anything else in a path (non-ASCII, NUL, a stray dot) is no link of ours and never reaches
# the database or the MAC comparison
CODE_PATTERN = rf"^[A-Za-z0-9_-]{{1,{MAX_CODE - MAC_CHARS - 1}}}\.[A-Za-z0-9_-]{{{MAC_CHARS}}}$"
_CODE = re.compile(CODE_PATTERN, re.ASCII)


def _mac(secret: bytes, public_code: str, day: date) -> str:
    digest = hmac.new(secret, f"{public_code}|{day.isoformat()}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode()[:MAC_CHARS]


@functools.lru_cache(maxsize=16384)
def sign(secret: bytes, public_code: str, day: date) -> str:
    """Memoised: a queue's list signs the same links on every read (a day's tokens of a
    large hospital fit)."""
    return f"{public_code}.{_mac(secret, public_code, day)}"


def split(code: str) -> tuple[str, str] | None:
    """(public code, MAC) of a well-formed link code, else None."""
    if len(code) > MAX_CODE or not _CODE.fullmatch(code):
        return None
    public_code, _, mac = code.rpartition(".")
    return public_code, mac


def same(expected: str, given: str) -> bool:
    """Constant-time comparison of two codes as bytes: compare_digest refuses non-ASCII str."""
    return hmac.compare_digest(expected.encode("utf-8", "backslashreplace"),
                               given.encode("utf-8", "backslashreplace"))


def verify(secret: bytes, public_code: str, mac: str, day: date) -> bool:
    return same(_mac(secret, public_code, day), mac)


def url(base_url: str, code: str) -> str:
    return f"{base_url}/t/{code}"
