"""What counts as "a dependency is down" in the worker (as opposed to a bug).

An outage is retried: a job raises arq's Retry with backoff (workers/notify.py), the
dispatcher's readers wait and read again (workers/dispatch.py), and the supervisor
(workers/run.py) waits for Redis and starts a fresh ARQ worker. Anything else is a bug and
is allowed to fail loudly.
"""

from __future__ import annotations

import asyncpg
from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

OUTAGES: tuple[type[BaseException], ...] = (
    OSError,                               # refused, reset, unreachable (Redis or PostgreSQL)
    TimeoutError,                          # asyncio's and the sockets' (3.11: the same class)
    RedisConnectionError,                  # BusyLoadingError (Redis loading its data) too
    RedisTimeoutError,
    asyncpg.PostgresConnectionError,       # class 08: ConnectionDoesNotExistError, ...
    asyncpg.InterfaceError,                # "connection is closed", "another operation ..."
    asyncpg.InternalClientError,           # the protocol lost its state with the connection
    asyncpg.OperatorInterventionError,     # class 57: AdminShutdown, CrashShutdown,
                                           # CannotConnectNow, QueryCanceled, IdleSessionTimeout
    asyncpg.InsufficientResourcesError,    # class 53: TooManyConnections, DiskFull, OOM
    asyncpg.TransactionRollbackError,      # class 40: serialization failure, deadlock
)

# Redis answers these while it cannot serve writes: a replica after a failover, a full disk
# (MISCONF), a Cluster moving slots or without a master
_REDIS_TRANSIENT = ("READONLY", "MISCONF", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")


# OSErrors that are about files, not connections
_FILES = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
          PermissionError)


def is_outage(exc: BaseException) -> bool:
    """A dependency (PostgreSQL, Redis) is unreachable or refusing for now: retry later.
    Wrong credentials are a configuration error, not an outage."""
    if isinstance(exc, (AuthenticationError, AuthorizationError, *_FILES)):
        return False
    if isinstance(exc, OUTAGES):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith(_REDIS_TRANSIENT)
