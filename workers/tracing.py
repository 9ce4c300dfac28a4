"""The web request behind a job, in the job's log lines.

A queue event carries the id of the request that announced it (server/store/live.py, the
stream entry's `rid`); the dispatcher hands it to each job it enqueues as the keyword
`request_id`, a @traced job binds it for its log lines and its Twilio request
(X-Request-ID), and passes it on to the jobs it enqueues (`carry()`). Jobs from cron have
none. The keyword is not part of the job's identity: job ids stay deterministic.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

from server.logs import current_request_id

T = TypeVar("T")


def traced(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """A job that accepts `request_id=` and runs with it bound in the log context."""
    @functools.wraps(fn)
    async def wrapper(ctx: dict[str, Any], *args: Any, request_id: str | None = None,
                      **kwargs: Any) -> T:
        if not request_id:
            return await fn(ctx, *args, **kwargs)
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            return await fn(ctx, *args, **kwargs)
    return wrapper


def carry() -> dict[str, str]:
    """Keywords for enqueue_job that pass the current request id on (none: nothing)."""
    rid = current_request_id()
    return {"request_id": rid} if rid else {}


async def enqueue(ctx: dict[str, Any], function: str, *args: Any, job_id: str) -> bool:
    """Enqueue a job under its deterministic id, the request id carried on; False when ARQ
    already knows that id, or when run outside a worker (a script: no job queue)."""
    arq = ctx.get("redis")
    if arq is None:
        structlog.get_logger("jobs").info("no job queue in this context; not enqueued",
                                          function=function)
        return False
    return await arq.enqueue_job(function, *args, _job_id=job_id, **carry()) is not None
