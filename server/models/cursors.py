"""Keyset cursors of the lists (API.md "Wave 2 additions"): a position (created_at, id) of
the last row shown, so a page never repeats or skips a row that others insert meanwhile.

Written as `<microseconds since the epoch>_<id as 32 hex digits>`: every string the pattern
admits is a position (a fuzzer's or a hand-edited cursor included), so a cursor is never
refused for its content, only for its form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

PATTERN = r"^[0-9]{1,16}_[0-9a-f]{32}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode(position: tuple[datetime, UUID]) -> str:
    at, ident = position
    return f"{(at - _EPOCH) // timedelta(microseconds=1)}_{ident.hex}"


def decode(cursor: str | None) -> tuple[datetime, UUID] | None:
    """The position of a cursor the model's pattern has admitted."""
    if not cursor:
        return None
    micros, _, ident = cursor.partition("_")
    return _EPOCH + timedelta(microseconds=int(micros)), UUID(hex=ident)
