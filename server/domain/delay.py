"""Who is told of a doctor's pause, and when (issue 14): pure rules, no I/O.

A pause holds every waiting patient's call back by the same amount: the pause's expected
length, or its length so far once it runs over (an open pause: its length so far). A patient
is texted DELAY only when that move reaches the hospital's threshold (a 5-minute break or an
8-second one sends nothing), once per pause; on resume, each patient told of that pause (and
still waiting) gets one message with the new ETA, nobody else.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

DEFAULT_THRESHOLD_MIN = 15   # hospitals.delay_notify_min's default


def pause_shift_min(expected_min: float | None, elapsed_min: float) -> float:
    """How far a pause moves each waiting patient's ETA: its announced length, or its
    length so far when it has run longer (or was open-ended)."""
    return max(float(expected_min or 0), max(0.0, elapsed_min))


def to_tell_of_delay(waiting: Iterable[str], told: Collection[str], shift_min: float,
                     threshold_min: float) -> list[str]:
    """Waiting patients (in queue order) to text DELAY now: the pause moves their ETA by at
    least the threshold and they were not told of this pause yet."""
    if shift_min < threshold_min:
        return []
    return [t for t in waiting if t not in told]


def to_tell_of_resume(waiting: Iterable[str], told: Collection[str]) -> list[str]:
    """On resume: those told of the delay who still wait (each gets their new ETA once)."""
    return [t for t in waiting if t in told]
