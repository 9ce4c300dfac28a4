"""Log lines as JSON into a buffer, without the redacting processor: what tests read to check
that no name, phone or secret reaches a log."""

from __future__ import annotations

import io
import logging

import structlog


def into(buf: io.StringIO) -> None:
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars,
                    structlog.processors.add_log_level,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(file=buf),
        cache_logger_on_first_use=False,
    )
