"""The admins' evening summary of a day, written from a template (no I/O).

`compose(figures)` is the summary itself; a language model may only reword it
(server/daily_summary.py), and `same_numbers` is how its wording is checked: every number it
writes must be one the template wrote, so a reworded summary can never invent a figure.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

ALERT_WORDS = {"LONG_WAIT": ("long wait", "long waits"),
               "BOTTLENECK": ("bottleneck", "bottlenecks"),
               "DOCTOR_IDLE": ("idle doctor", "idle doctors"),
               "DOCTOR_LATE_START": ("late start", "late starts"),
               "MESSAGES_FAILING": ("failing-messages alert", "failing-messages alerts")}


@dataclass(frozen=True)
class Department:
    name: str
    issued: int
    wait_p90_min: int | None


@dataclass(frozen=True)
class Figures:
    """One hospital's day in numbers: no patient, no name but departments'."""

    day: date
    hospital: str
    issued: int = 0
    seen: int = 0
    no_show: int = 0
    cancelled: int = 0
    still_waiting: int = 0
    wait_mean_min: int | None = None
    wait_p90_min: int | None = None
    scored: int = 0                       # tokens of the day with a no-show risk score
    scored_no_show: int = 0               # of those, how many did not come
    expected_no_show: float | None = None  # sum of their predicted no-show chances
    busiest: Department | None = None
    alerts: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["day"] = self.day.isoformat()
        return out


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _alerts(alerts: dict[str, int]) -> str:
    total = sum(alerts.values())
    if total == 0:
        return "No live alerts were raised."
    parts = [_plural(n, *ALERT_WORDS.get(kind, (kind.lower().replace("_", " "),) * 2))
             for kind, n in sorted(alerts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return f"{_plural(total, 'live alert')} ({', '.join(parts)})."


def compose(f: Figures) -> str:
    """The summary in plain sentences, most important first."""
    head = f"{f.day.strftime('%A %d %B %Y')}, {f.hospital}:"
    if f.issued == 0:
        return f"{head} no tokens were issued. {_alerts(f.alerts)}"
    lines = [f"{head} {_plural(f.issued, 'token')} issued, {f.seen} seen, "
             f"{_plural(f.no_show, 'no-show')}, {f.cancelled} cancelled."]
    if f.still_waiting:
        lines.append(f"{_plural(f.still_waiting, 'patient')} still in a queue.")
    if f.wait_mean_min is not None:
        lines.append(f"Waits: {f.wait_mean_min} min on average; 9 in 10 patients were called "
                     f"within {f.wait_p90_min} min.")
    if f.scored and f.expected_no_show is not None:
        lines.append(f"Of {_plural(f.scored, 'booking')} with a risk score, {f.scored_no_show} "
                     f"did not come against {f.expected_no_show:.1f} expected.")
    if f.busiest is not None:
        wait = (f", 9 in 10 called within {f.busiest.wait_p90_min} min"
                if f.busiest.wait_p90_min is not None else "")
        lines.append(f"Busiest: {f.busiest.name} ({_plural(f.busiest.issued, 'token')}{wait}).")
    lines.append(_alerts(f.alerts))
    return " ".join(lines)


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def same_numbers(template: str, reworded: str) -> bool:
    """True when the rewording writes no number the template did not (it may leave some out)."""
    return numbers(reworded) <= numbers(template)
