"""Pure decisions of the notification jobs, by table: is the record behind the event (wait
for it), in step (send), or past it (drop)? And which errors are an outage (retry)?"""

from __future__ import annotations

import asyncpg
import pytest
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workers.notify import AHEAD, BEHIND, EXPECT, RELEVANT, RELEVANT_NOW, freshness
from workers.outages import is_outage

ALL = ("BOOKED", "WAITING", "CALLED", "IN_CONSULTATION", "COMPLETED", "NO_SHOW", "CANCELLED",
       "RESCHEDULED")
NONE: frozenset[str] = frozenset()
CALLED_ONCE = frozenset({"WAITING", "CALLED"})          # the history of a token put back
CANCELLED_ONCE = frozenset({"WAITING", "CANCELLED"})    # ... of a cancel reinstated


@pytest.mark.parametrize(("event", "status", "reached", "verdict"), [
    # TOKEN_CREATED: its row may not be committed yet; once there, any state past
    # WAITING/BOOKED means the patient has had (or no longer needs) the news
    ("TOKEN_CREATED", None, NONE, BEHIND),
    ("TOKEN_CREATED", "WAITING", NONE, RELEVANT_NOW),
    ("TOKEN_CREATED", "BOOKED", NONE, RELEVANT_NOW),
    ("TOKEN_CREATED", "CALLED", NONE, AHEAD),
    ("TOKEN_CREATED", "CANCELLED", NONE, AHEAD),
    ("TOKEN_CREATED", "COMPLETED", NONE, AHEAD),
    # CALL_NOW: WAITING is the record before the call commits...
    ("CALL_NOW", None, NONE, BEHIND),
    ("CALL_NOW", "WAITING", NONE, BEHIND),
    ("CALL_NOW", "BOOKED", NONE, BEHIND),
    ("CALL_NOW", "CALLED", CALLED_ONCE, RELEVANT_NOW),
    # ... unless its history shows the call: then it was put back (skip) since
    ("CALL_NOW", "WAITING", CALLED_ONCE, AHEAD),
    ("CALL_NOW", "IN_CONSULTATION", CALLED_ONCE, AHEAD),
    ("CALL_NOW", "COMPLETED", CALLED_ONCE, AHEAD),
    ("CALL_NOW", "NO_SHOW", CALLED_ONCE, AHEAD),
    ("CALL_NOW", "NO_SHOW", NONE, AHEAD),
    ("CALL_NOW", "CANCELLED", NONE, AHEAD),
    ("CALL_NOW", "RESCHEDULED", NONE, AHEAD),
    # CANCELLED / RESCHEDULED: the record names which of the two
    ("CANCELLED", "WAITING", NONE, BEHIND),
    ("CANCELLED", "BOOKED", NONE, BEHIND),
    ("CANCELLED", None, NONE, BEHIND),
    ("CANCELLED", "CANCELLED", CANCELLED_ONCE, RELEVANT_NOW),
    ("CANCELLED", "RESCHEDULED", NONE, RELEVANT_NOW),
    ("RESCHEDULED", "CANCELLED", NONE, RELEVANT_NOW),
    ("CANCELLED", "WAITING", CANCELLED_ONCE, AHEAD),       # reinstated since
    ("CANCELLED", "CALLED", NONE, AHEAD),
    ("CANCELLED", "COMPLETED", NONE, AHEAD),
    # AHEAD: a BOOKED token in the live waiting list is a check-in not yet committed
    ("AHEAD", "WAITING", NONE, RELEVANT_NOW),
    ("AHEAD", "BOOKED", NONE, BEHIND),
    ("AHEAD", None, NONE, BEHIND),
    ("AHEAD", "CALLED", NONE, AHEAD),
    # events read from the record itself are never behind it
    ("DELAY", "WAITING", NONE, RELEVANT_NOW),
    ("DELAY", "CALLED", NONE, AHEAD),
    ("DELAY", None, NONE, AHEAD),
    ("REMINDER_2H", "BOOKED", NONE, RELEVANT_NOW),
    ("REMINDER_2H", "WAITING", NONE, AHEAD),
    ("REMINDER_DAY_BEFORE", "CANCELLED", NONE, AHEAD),
    ("REMINDER_DAY_BEFORE", None, NONE, AHEAD),
])
def test_freshness(event: str, status: str | None, reached: frozenset[str],
                   verdict: str) -> None:
    assert freshness(event, status, reached) == verdict


@pytest.mark.parametrize("event", sorted(EXPECT))
def test_every_state_has_one_verdict_and_relevant_means_send(event: str) -> None:
    for status in (None, *ALL):
        got = freshness(event, status)
        assert got in (BEHIND, RELEVANT_NOW, AHEAD)
        assert (got == RELEVANT_NOW) == (status in RELEVANT[event])
        # whatever the history, a relevant record is relevant and a past one stays past
        assert freshness(event, status, frozenset(ALL)) == (
            RELEVANT_NOW if got == RELEVANT_NOW
            else AHEAD if EXPECT[event].reached or got == AHEAD else BEHIND)


@pytest.mark.parametrize(("exc", "outage"), [
    (ConnectionRefusedError(111, "refused"), True),
    (OSError("Multiple exceptions: [Errno 111] Connect call failed"), True),
    (TimeoutError(), True),
    (RedisConnectionError("Connection closed by server."), True),
    (BusyLoadingError("Redis is loading the dataset in memory"), True),
    (RedisTimeoutError("Timeout reading from socket"), True),
    (ReadOnlyError("READONLY You can't write against a read only replica."), True),
    (ResponseError("MISCONF Redis is configured to save RDB snapshots"), True),
    (ResponseError("LOADING Redis is loading the dataset in memory"), True),
    (asyncpg.InternalClientError("unexpected state"), True),
    (asyncpg.InterfaceError("connection is closed"), True),
    (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle"), True),
    (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
    (asyncpg.CannotConnectNowError("the database system is starting up"), True),
    (asyncpg.CrashShutdownError("crash"), True),
    (asyncpg.TooManyConnectionsError("sorry, too many clients already"), True),
    (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), True),
    (asyncpg.SerializationError("could not serialize access"), True),
    (asyncpg.DeadlockDetectedError("deadlock detected"), True),
    # bugs and configuration errors: not retried
    (asyncpg.UniqueViolationError("duplicate key"), False),
    (asyncpg.UndefinedColumnError("column does not exist"), False),
    (asyncpg.InvalidPasswordError("password authentication failed"), False),
    (AuthenticationError("invalid username-password pair"), False),
    (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), False),
    (FileNotFoundError("model.json"), False),
    (KeyError("status"), False),
    (ValueError("bad"), False),
])
def test_outages(exc: BaseException, outage: bool) -> None:
    assert is_outage(exc) is outage
