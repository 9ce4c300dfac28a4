"""Queue order per doctor: the sorted-set score of a waiting token, skip/hold placement, ties.

Redis keeps each doctor's waiting tokens in a sorted set (lower score = called sooner) and
the Lua scripts mirror `skip_score` exactly; rebuilding a queue from PostgreSQL recomputes
`queue_score`, so both paths give the same order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

EMERGENCY_OFFSET_S: float = 1e9
"""Subtracted from emergency scores: ~31 years, so they sort ahead of every non-emergency
(any realistic epoch time minus senior credit stays far above it) yet stay FIFO among
themselves."""


@dataclass(frozen=True)
class QueuePolicy:
    """Per-department tunables of the order; defaults follow DESIGN.md."""

    booked_grace_min: int = 15
    """A booked patient checking in up to this late still keeps the slot time."""
    senior_credit_min: int = 20
    """Seniors (priority 2) are treated as if they arrived this much earlier: a credit,
    not absolute precedence, so normal patients are never starved."""
    skip_places: int = 3
    """How many waiting tokens a skipped/held token is put behind."""


def _epoch(dt: datetime, name: str) -> float:
    """Epoch seconds of an aware datetime; naive ones are refused because their zone is a guess."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {dt.isoformat()}")
    return dt.timestamp()


def queue_score(
    *,
    booking_type: str,
    priority: int,
    arrived_at: datetime,
    scheduled_time: datetime | None,
    policy: QueuePolicy,
) -> float:
    """Score of a waiting token: effective epoch seconds minus priority credits.

    Effective time is the arrival (check-in or walk-in issue) time, except that an ONLINE
    booking checked in no later than slot + grace keeps its slot time, so arriving early does
    not jump the booked order and arriving a little late is forgiven. Priority 2 (senior)
    subtracts `senior_credit_min` minutes; priority 3 or booking type EMERGENCY subtracts
    EMERGENCY_OFFSET_S. Timezone-aware datetimes are required (ValueError otherwise).
    """
    effective = _epoch(arrived_at, "arrived_at")
    if booking_type == "ONLINE" and scheduled_time is not None:
        slot = _epoch(scheduled_time, "scheduled_time")
        if arrived_at <= scheduled_time + timedelta(minutes=policy.booked_grace_min):
            effective = slot
    score = effective
    if priority == 2:
        score -= policy.senior_credit_min * 60.0
    if priority == 3 or booking_type == "EMERGENCY":
        score -= EMERGENCY_OFFSET_S
    return score


def skip_score(waiting_scores: Sequence[float], places: int, now_score: float) -> float:
    """Score that puts a skipped/held token behind `places` of the tokens still waiting.

    `waiting_scores` are the scores of the waiting tokens (the skipped one not among them);
    they are sorted here, as ZRANGE returns them. With s = sorted scores, n = len(s):
      - n == 0:          now_score
      - n <= places:     s[n-1] + 1.0              (behind everyone)
      - n >  places:     (s[places-1] + s[places]) / 2   (midpoint, IEEE double arithmetic)
    The Lua script computes the same expression on the same doubles, so both agree bit for bit.
    If s[places-1] == s[places] (or they are adjacent doubles) the midpoint ties with one of
    them; Redis then orders the tie by member id, so the token may land one place off.
    """
    if places < 1:
        raise ValueError(f"places must be >= 1, got {places}")
    scores = sorted(waiting_scores)
    n = len(scores)
    if n == 0:
        return now_score
    if n <= places:
        return scores[-1] + 1.0
    return (scores[places - 1] + scores[places]) / 2


def order(entries: Iterable[tuple[str, float]]) -> list[str]:
    """Member ids in the order a Redis ZSET returns them: by score, ties by member bytes.

    Redis compares tied members with memcmp on their bytes, so ids are compared as UTF-8
    bytes (the same as code-point order for valid text, but stated the way Redis does it).
    NaN scores are refused because Redis refuses them.
    """
    items = list(entries)
    for member, score in items:
        if math.isnan(score):
            raise ValueError(f"NaN score for {member!r}")
    items.sort(key=lambda e: (e[1], e[0].encode("utf-8", "surrogatepass")))
    return [member for member, _ in items]


def late_places(minutes: int, mean_consult_min: float) -> int:
    """How far back a patient who says "I'll be `minutes` late" goes: the consults that will
    be over by then (at least one place, so saying it always makes room)."""
    if minutes <= 0 or not mean_consult_min > 0:
        raise ValueError("minutes and mean consult time must be positive")
    return max(1, math.floor(minutes / mean_consult_min))


def emergency_line(now_s: float) -> float:
    """Scores below this are emergencies (queue_score subtracts EMERGENCY_OFFSET_S)."""
    return now_s - EMERGENCY_OFFSET_S / 2
