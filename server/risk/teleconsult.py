"""Teleconsult suggestion (the source's "virtual eligibility"): may this booking be a video or
phone consult instead of a trip to the hospital?

Pure (no I/O), table-tested. A booking is suggested when its visit reason matches one of the
hospital's keyword rules AND the patient was seen in the same department within the rule's
window: a follow-up or a report review of someone the department already knows, never a
first visit. The hospital sets its rules in `hospitals.outreach_policy -> 'teleconsult'`
(`{"enabled": true, "within_days": 90, "rules": [{"name", "keywords": [...], "reason"}]}`);
what is left out takes the defaults below. The answer names the rule and the last visit, so the
desk can say why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_RULES = 20
MAX_KEYWORDS = 30


@dataclass(frozen=True)
class Rule:
    name: str
    keywords: tuple[str, ...]
    reason: str                 # in words, e.g. "follow-up visit"


@dataclass(frozen=True)
class Rules:
    enabled: bool = True
    within_days: int = 90       # "seen in this department within N days"
    rules: tuple[Rule, ...] = ()

    @classmethod
    def from_json(cls, raw: Any) -> Rules:
        """The hospital's stored rules; a bad part falls back to its default."""
        if not isinstance(raw, dict):
            return DEFAULT
        enabled = raw.get("enabled", True) is not False
        days = raw.get("within_days")
        within = days if isinstance(days, int) and not isinstance(days, bool) \
            and 1 <= days <= 3650 else DEFAULT.within_days
        rules = DEFAULT.rules
        if isinstance(raw.get("rules"), list):
            parsed = [r for r in map(_rule, raw["rules"][:MAX_RULES]) if r is not None]
            rules = tuple(parsed)
        return cls(enabled=enabled, within_days=within, rules=rules)


def _rule(raw: Any) -> Rule | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("keywords"), list):
        return None
    words = tuple(w.strip().lower() for w in raw["keywords"][:MAX_KEYWORDS]
                  if isinstance(w, str) and w.strip())
    if not words:
        return None
    name = str(raw.get("name") or words[0])[:40]
    reason = str(raw.get("reason") or name)[:80]
    return Rule(name=name, keywords=words, reason=reason)


DEFAULT = Rules(rules=(
    Rule("follow-up", ("follow-up", "follow up", "followup", "review visit", "post-op check"),
         "follow-up visit"),
    Rule("report review", ("report", "reports", "test results", "lab results", "results"),
         "report review"),
    Rule("stable chronic", ("refill", "repeat prescription", "medication review",
                            "stable", "routine check"),
         "stable chronic condition"),
))


@dataclass(frozen=True)
class Suggestion:
    suggested: bool
    reason: str | None = None
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"suggested": self.suggested, "reason": self.reason, "rule": self.rule}


NO = Suggestion(False)


def _matches(text: str, keyword: str) -> bool:
    # whole words: "report" matches "blood report", not "reporter"
    return re.search(rf"(?<![\w-]){re.escape(keyword)}(?![\w-])", text) is not None


def suggest(visit_reason: str | None, days_since_seen: int | None,
            rules: Rules = DEFAULT) -> Suggestion:
    """`days_since_seen`: days from the patient's last completed visit in the booking's
    department to the booking's day (None: never seen there)."""
    if not rules.enabled or not visit_reason or days_since_seen is None:
        return NO
    if not 0 <= days_since_seen <= rules.within_days:
        return NO
    text = " ".join(visit_reason.lower().split())
    for rule in rules.rules:
        if any(_matches(text, k) for k in rule.keywords):
            when = "today" if days_since_seen == 0 else \
                "1 day ago" if days_since_seen == 1 else f"{days_since_seen} days ago"
            return Suggestion(True, f"{rule.reason}; seen in this department {when}",
                              rule.name)
    return NO
