"""Request bodies of the patient's web push subscription (POST/DELETE .../tokens/{code}/push).

Validated before anything is stored: the endpoint is an https URL (the Push API gives nothing
else), the keys are what the browser's PushSubscription.toJSON() gives: p256dh an uncompressed
P-256 point (65 bytes), auth 16 bytes, both base64url.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from server.models.common import Body, NoControls

PushEndpoint = Annotated[str, StringConstraints(min_length=10, max_length=2000,
                                                pattern=r"^https://[^\s/?#]+\S*$"), NoControls]


def _decoded(value: str, size: int) -> str:
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("must be base64url") from None
    if len(raw) != size or (size == 65 and raw[0] != 4):
        raise ValueError(f"must be {size} bytes" + (" (an uncompressed P-256 point)"
                                                    if size == 65 else ""))
    return value


class PushKeys(Body):
    # the patterns are the sizes exactly: 87 characters are 65 bytes, the first 0x04 ("B",
    # then A-P); 22 characters are 16 bytes (padding optional)
    p256dh: Annotated[str, StringConstraints(pattern=r"^B[A-P][A-Za-z0-9_-]{85}=?$")]
    auth: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{22}(==)?$")]

    @field_validator("p256dh")
    @classmethod
    def _point(cls, v: str) -> str:
        return _decoded(v, 65)

    @field_validator("auth")
    @classmethod
    def _secret(cls, v: str) -> str:
        return _decoded(v, 16)


class PushSubscribe(Body):
    endpoint: PushEndpoint = Field(description="The PushSubscription's endpoint (https).")
    keys: PushKeys
    notify_at_position: int = Field(default=3, ge=1, le=50, description=(
        "Push \"your turn is near\" once the token is this far from the front or closer."))


class PushUnsubscribe(Body):
    endpoint: PushEndpoint | None = Field(default=None, description=(
        "The subscription to remove; without it, every one of the token's."))
