"""The outreach plan: which messages a booking gets for its no-show risk tier, and when.

Pure (no I/O), so the plan is tested by table and the same function feeds the worker that
sends the touches and the desk's call list that shows them. A hospital sets its own policy
(`hospitals.outreach_policy`, a key left out takes its default):

- every tier: the standard reminders (REMINDER_DAY_BEFORE, REMINDER_2H: workers/notify_cron.py);
- tier >= confirm_tier (3): a confirm-by-reply message (CONFIRM_REQUEST) confirm_lead_h (48)
  before the slot;
- tier >= extra_tier (4): a second touch the day before (REMINDER_EXTRA, extra_lead_h = 20
  before the slot, after the standard one at 24 h), also asking for a reply;
- tier >= call_tier (4): an entry on the desk's call list.

A booking made after a touch's time gets it at once while the slot is more than
last_touch_h (2) away; when a later touch is already due too, the earlier one is left out
(one message asking for a reply, not two in a row).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

CONFIRM, EXTRA = "CONFIRM_REQUEST", "REMINDER_EXTRA"
OUTREACH_EVENTS = (CONFIRM, EXTRA)
STANDARD = (("REMINDER_DAY_BEFORE", 24.0), ("REMINDER_2H", 2.0))


@dataclass(frozen=True)
class Policy:
    confirm_tier: int = 3
    extra_tier: int = 4
    call_tier: int = 4
    confirm_lead_h: float = 48.0
    extra_lead_h: float = 20.0
    last_touch_h: float = 2.0
    offer_minutes: int = 30          # a waitlist offer stays open this long

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> Policy:
        """The hospital's stored policy; unknown keys and wrong types fall back to defaults."""
        raw = raw or {}
        kw: dict[str, Any] = {}
        for f in fields(cls):
            v = raw.get(f.name)
            if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
                kw[f.name] = int(v) if f.type in ("int", int) else float(v)
        return cls(**kw)


DEFAULT = Policy()


@dataclass(frozen=True)
class Touch:
    event: str
    at: datetime          # when it is planned to go
    standard: bool        # a reminder every booking gets (sent by the reminders cron)


def plan(tier: int, slot: datetime, policy: Policy = DEFAULT) -> list[Touch]:
    """Every message the booking's tier asks for, in time order."""
    touches = [Touch(ev, slot - timedelta(hours=lead), True) for ev, lead in STANDARD]
    if tier >= policy.confirm_tier:
        touches.append(Touch(CONFIRM, slot - timedelta(hours=policy.confirm_lead_h), False))
    if tier >= policy.extra_tier:
        touches.append(Touch(EXTRA, slot - timedelta(hours=policy.extra_lead_h), False))
    return sorted(touches, key=lambda t: t.at)


def on_call_list(tier: int, policy: Policy = DEFAULT) -> bool:
    return tier >= policy.call_tier


def due(tier: int, slot: datetime, now: datetime, policy: Policy = DEFAULT) -> list[str]:
    """The outreach touches (not the standard reminders) to send now: planned at or before
    now, slot still more than last_touch_h away; of several due at once, the latest only."""
    if slot - now <= timedelta(hours=policy.last_touch_h):
        return []
    ready = [t for t in plan(tier, slot, policy) if not t.standard and t.at <= now]
    return [ready[-1].event] if ready else []
