"""Twilio's error codes in a few plain words, for the messages view (what a nurse can act on).

Codes from Twilio's error dictionary (twilio.com/docs/api/errors); an unknown code is shown
as "Twilio error <code>", and Twilio's own text stays beside it in `error_message`.
"""

from __future__ import annotations

WORDS: dict[int, str] = {
    -1: "No answer from Twilio (timeout or network)",
    0: "Unknown error",
    20003: "Twilio account not authorised (check the credentials)",
    20429: "Too many requests to Twilio",
    21211: "Not a valid phone number",
    21408: "Sending to this country is not enabled",
    21610: "The patient replied STOP (unsubscribed)",
    21612: "This number cannot receive messages from our sender",
    21614: "Not a mobile number",
    21617: "Message too long",
    30001: "Twilio's queue overflowed",
    30002: "Twilio account suspended",
    30003: "Phone switched off or unreachable",
    30004: "Blocked by the recipient",
    30005: "Unknown number, or no longer in service",
    30006: "Landline or unreachable carrier",
    30007: "Filtered by the carrier (looks like spam)",
    30008: "Unknown delivery error",
    30032: "Sender number not registered for messaging",
    63003: "Not a WhatsApp number",
    63016: "Outside WhatsApp's 24-hour window (template needed)",
    63018: "WhatsApp rate limit reached",
    63024: "Not a valid WhatsApp recipient",
    63032: "WhatsApp refused this template for the recipient",
}


def in_words(code: int | None) -> str | None:
    """A short reason for a failure code; None when there is no code."""
    if code is None:
        return None
    if 400 <= code < 600:     # an HTTP status (no Twilio code in the answer)
        return f"Twilio answered HTTP {code}"
    return WORDS.get(code, f"Twilio error {code}")
