"""How a patient's name appears on shared screens: enough to recognise oneself, no more."""

from __future__ import annotations


def display_name(full_name: str) -> str:
    """'Rahul Kumar Sharma' -> 'R. Sharma'; a single name keeps only its initial: 'R.'."""
    parts = full_name.split()
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0][0].upper() + "."
    return f"{parts[0][0].upper()}. {parts[-1]}"
