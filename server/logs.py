"""One log format for every logger, a request id to follow, and a last line of defence.

structlog renders every line, ours and the standard library's alike (uvicorn, arq, asyncpg,
twilio): our loggers hand their event dicts to `logging`, and one handler on the root logger
formats everything with structlog's ProcessorFormatter, as JSON (LOG_JSON, production) or as
readable key=value lines (development).

Privacy: no patient name, phone number, patient link or code, message body or credential is
logged at any level. Code keeps to that at the source (it logs ids, never the values); what
slips through anyway is caught on the way out by `redact_secrets` (phone numbers masked,
link codes, bearer tokens, key= parameters and fields with a secret's name replaced), and the
libraries whose low levels dump URLs, headers or frames (twilio, uvicorn's connection lines,
websockets, httpx) are held at WARNING whatever the level (LIBRARY_FLOOR).

Request ids: RequestLog (server/observability.py) binds one per HTTP request; it travels with
the queue events that request announces (server/store/live.py), the jobs they lead to
(workers/dispatch.py, workers/tracing.py) and the Twilio request (X-Request-ID), so one id
finds every line of a message's way.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any, TextIO

import structlog

# "+919812345678", "98123 45678", "+1 (415) 555-0100": 8+ digits with common separators,
# not touching letters or dashes (so the digit runs inside a UUID are left alone)
_PHONE = re.compile(r"(?<![0-9A-Za-z_-])\+?\d[\d\s().-]{6,}\d(?![0-9A-Za-z_-])")
# a patient's link or code in a path: /t/<code>, /w/<code>, /ws/token/<code>, the public API
_LINK = re.compile(r"(/(?:t|w|ws/token|api/v1/public/tokens|api/v1/public/waitlist)/)"
                   r"[A-Za-z0-9_.~%-]+")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
# key=..., token=..., the session cookie: in a query string, a fragment, a header dump
_PARAM = re.compile(r"(?i)(\b(?:key|display_key|api_key|token|access_token|code|opdq_session)"
                    r"=)[^&#\s\"';,]+")
REDACTED = "[redacted]"
# fields whose value is a secret or a person's data whatever it looks like
SECRET_FIELDS = frozenset({
    "body", "phone", "name", "full_name", "patient_name", "first_name", "password",
    "authorization", "cookie", "key", "display_key", "code", "public_code", "link",
    "patient_link", "url", "token", "secret",
})
# fields that hold numbers which are not phones (ids, timings) and are not free text
_SAFE_FIELDS = frozenset({"timestamp", "duration_ms", "status", "seq", "request_id", "job_id",
                          "method", "level", "logger"})

# libraries whose lower levels print URLs (with link codes and display keys), headers,
# request bodies or websocket frames: never below this, whatever LOG_LEVEL says
LIBRARY_FLOOR = {
    "twilio": logging.WARNING,           # request dumps: URL, query (To), headers
    "uvicorn.access": logging.WARNING,   # every request line, path and query
    "uvicorn.error": logging.WARNING,    # INFO: '"WebSocket /ws/token/<code>" [accepted]'
    "websockets": logging.WARNING,       # DEBUG: every frame
    "httpx": logging.WARNING,            # INFO: every request URL
    "httpcore": logging.WARNING,
}

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


# ---------------------------------------------------------------------------- request ids
def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def accept_request_id(given: str | None) -> str:
    """A caller's id (a proxy's X-Request-ID) when it is a plain token, else a fresh one: a
    header is free text, and this value is logged unredacted and forwarded."""
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return new_request_id()


def current_request_id() -> str | None:
    """The request id bound in this context (a web request, a job), if any."""
    rid = structlog.contextvars.get_contextvars().get("request_id")
    return str(rid) if rid else None


# ---------------------------------------------------------------------------- redaction
def mask_phone(phone: str) -> str:
    """"+919812345678" -> "+91******5678": enough to tell two numbers apart, no more."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 6:
        return "*" * len(digits)
    prefix = "+" + digits[:2] if phone.strip().startswith("+") else digits[:2]
    return prefix + "*" * (len(digits) - 6) + digits[-4:]


def _mask_match(m: re.Match[str]) -> str:
    text = m.group(0)
    if sum(c.isdigit() for c in text) < 8:
        return text
    return mask_phone(text)


def redact(value: Any) -> Any:
    """Phone numbers masked, link codes, bearer tokens and key= values replaced, in a
    string or in the strings of a dict, list or tuple."""
    if isinstance(value, str):
        value = _PHONE.sub(_mask_match, value)
        value = _LINK.sub(r"\1{code}", value)
        value = _BEARER.sub(r"\1" + REDACTED, value)
        return _PARAM.sub(r"\1" + REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in SECRET_FIELDS else redact(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def redact_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the last line of defence, after the sources' own care."""
    out: dict[str, Any] = {}
    for k, v in event_dict.items():
        if k in _SAFE_FIELDS or v is None or isinstance(v, bool | int | float | uuid.UUID):
            out[k] = v                      # our own ids and timings; numbers, flags
        elif k.lower() in SECRET_FIELDS:
            out[k] = REDACTED
        elif isinstance(v, str | dict | list | tuple):
            out[k] = redact(v)
        else:                               # any other object: as the renderer would print it
            out[k] = redact(repr(v))
    return out


redact_phones = redact_secrets  # the name it had before it did more than phones


class LibraryFloor(logging.Filter):
    """Drops a library's records below its LIBRARY_FLOOR level."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        while name:
            floor = LIBRARY_FLOOR.get(name)
            if floor is not None:
                return record.levelno >= floor
            name = name.rpartition(".")[0]
        return True


# ---------------------------------------------------------------------------- set-up
class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (a test's capture swaps it)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def _pre_chain() -> list[Any]:
    """What every line gets before it is rendered, whoever logged it."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str = "INFO", json: bool | None = False, *,
                      stream: TextIO | None = None, redact: bool = True) -> None:
    """Route structlog and the standard library through one handler on the root logger.

    Called again (tests, a second app in one process), it replaces its own handler and leaves
    any other (pytest's) alone. `stream`: where lines go (default: sys.stderr at each write).
    `redact=False` is for the tests that prove the sources clean without the last defence.
    """
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,      # the stdlib level, read at each call
            *_pre_chain(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_pre_chain(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,   # a traceback is text, redacted like text
            *([redact_secrets] if redact else []),
            renderer,
        ],
    )
    handler: logging.Handler = (logging.StreamHandler(stream) if stream is not None
                                else _Stderr())
    handler.setFormatter(formatter)
    handler.addFilter(LibraryFloor())
    handler.opdq = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "opdq", False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn and arq bring their own handlers and formats: theirs go through ours instead
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq"):
        lib = logging.getLogger(name)
        for h in list(lib.handlers):
            lib.removeHandler(h)
        lib.propagate = True
