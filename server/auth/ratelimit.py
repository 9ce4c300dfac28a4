"""Rate limits in Redis: fixed windows for the public patient endpoints, and login throttling.

Public endpoints (`hit`, `enforce`): one key per window holding a counter that expires with
the window: `SET key 0 EX w NX` then `INCR` in one MULTI, so the first hit of a window starts
the clock and no key outlives it.

Login (`LoginThrottle`) slows attackers, not staff. Only failed logins count, in three places:

- per (username, client address): the first `login_free_failures` are free; each further one
  locks that pair out for a delay that doubles (`login_delay_base_s`, 2x, 4x ...) up to
  `login_delay_max_s`. The pair's failures are forgotten `login_failure_window_s` after its
  last lock ends; a successful login forgets them at once.
- per client address, whatever the username: at most `login_address_max_failures` a window
  (`login_failure_window_s`). A hospital's staff share one NAT address, so this ceiling is
  high; it is the backstop against one address spraying many usernames, and the one throttle
  that may refuse a user who did not fail (everyone behind an address that is over it).
- per username, across addresses: past `login_user_max_failures` a window the user is under
  a distributed attack; then only addresses that have not failed for that username are heard
  (each guessing address gets one try per window), and a right password from a clean address
  still gets in. So no one elsewhere can lock the real user out.

An attempt that is refused verifies nothing and counts nothing (waiting users do not extend
their own lock). An attempt that is heard is counted as a failure *before* the password is
checked (one Lua script, atomic over the three keys), so a burst of parallel guesses cannot
all slip through before the first failure is recorded; a success takes that count back.

An address is an IPv4 address or an IPv6 /64 (`address_bucket`). Times come from an
injectable clock and live in the keys' values (milliseconds); key expiry only collects
garbage. The keys share one hash tag (server/store/keys.py).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from server.errors import RateLimited
from server.settings import Settings
from server.store.keys import (
    login_addr_key,
    login_alert_key,
    login_pair_key,
    login_user_key,
    public_key,
)

# key names live in server/store/keys.py; re-exported for the routes that count hits
__all__ = ["Attempt", "LoginThrottle", "address_bucket", "enforce", "hit", "login_addr_key",
           "login_alert_key", "login_pair_key", "login_user_key", "public_key"]

Scope = Literal["pair", "address", "user"]
_SCOPES: dict[int, Scope] = {1: "pair", 2: "address", 3: "user"}


# one key: start its window if none runs, count, and say how long the window has left. A
# script rather than MULTI: a Redis Cluster client has no transactions (the key is one slot).
_HIT_LUA = """
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
local n = redis.call('INCR', KEYS[1])
return {n, redis.call('PTTL', KEYS[1])}
"""


async def hit(redis: Redis, key: str, limit: int, window_s: int) -> int | None:
    """Count one request. None when allowed, else the seconds until the window resets."""
    count, pttl = await redis.register_script(_HIT_LUA)(keys=[key], args=[window_s])
    if int(count) <= limit:
        return None
    return max(1, math.ceil(int(pttl) / 1000)) if int(pttl) > 0 else window_s


async def enforce(redis: Redis, key: str, limit: int, window_s: int) -> None:
    """`hit`, raising 429 with Retry-After when over the limit."""
    retry = await hit(redis, key, limit, window_s)
    if retry is not None:
        raise RateLimited(retry)


# ---------------------------------------------------------------------------------------
# login
# ---------------------------------------------------------------------------------------
# KEYS: pair {f: failures, u: locked until, x: forgotten at}, user {s: window start, n},
# address {s, n}. ARGV: now, free failures, base delay, max delay, window (all ms but the
# counts), user max, address max.
# Returns {0, delay_if_it_fails, pair_failures, address_reached, user_reached} when heard
# (and counted as a failure), or {scope 1|2|3, ms until it may try again, pair_failures, 0, 0}.
_CHECK_LUA = """
local now = tonumber(ARGV[1])
local free, base, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local window, user_max, addr_max = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])

local p = redis.call('HMGET', KEYS[1], 'f', 'u', 'x')
local fails, locked, forget = tonumber(p[1]) or 0, tonumber(p[2]) or 0, tonumber(p[3]) or 0
if now >= forget then fails, locked, forget = 0, 0, 0 end
if locked > now then return {1, locked - now, fails, 0, 0} end

local function counter(key)
  local w = redis.call('HMGET', key, 's', 'n')
  local s, n = tonumber(w[1]) or 0, tonumber(w[2]) or 0
  if now >= s + window then s, n = now, 0 end
  return s, n
end
local as, an = counter(KEYS[3])
if an >= addr_max then return {2, as + window - now, fails, 0, 0} end
local us, un = counter(KEYS[2])
if un >= user_max and fails > 0 then
  return {3, math.min(us + window, forget) - now, fails, 0, 0}
end

fails = fails + 1
local delay = 0
if fails > free then
  delay = math.floor(math.min(base * 2 ^ math.min(fails - free - 1, 40), cap))
end
locked = now + delay
forget = locked + window
redis.call('HSET', KEYS[1], 'f', fails, 'u', locked, 'x', forget)
redis.call('PEXPIRE', KEYS[1], forget - now)
redis.call('HSET', KEYS[3], 's', as, 'n', an + 1)
redis.call('PEXPIRE', KEYS[3], math.max(as + window - now, 1))
redis.call('HSET', KEYS[2], 's', us, 'n', un + 1)
redis.call('PEXPIRE', KEYS[2], math.max(us + window - now, 1))
return {0, delay, fails, (an + 1 == addr_max) and 1 or 0, (un + 1 == user_max) and 1 or 0}
"""

# KEYS as above. The attempt succeeded: forget the pair, give the counted failure back.
_SUCCESS_LUA = """
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  local n = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
  if n > 0 then redis.call('HINCRBY', KEYS[i], 'n', -1) end
end
return 1
"""


# KEYS as above; ARGV[1] = the lock the attempt set. Checking the password could not be done
# (the database was down): the attempt was no failure, so take back its count and its lock.
_REFUND_LUA = """
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
if f > 0 then redis.call('HINCRBY', KEYS[1], 'f', -1) end
if tonumber(redis.call('HGET', KEYS[1], 'u') or '0') == tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'u', 0)
end
for i = 2, 3 do
  local n = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
  if n > 0 then redis.call('HINCRBY', KEYS[i], 'n', -1) end
end
return 1
"""


def address_bucket(address: str) -> str:
    """The client address as the login throttle counts it: an IPv6 client's /64 (one host
    usually holds a whole /64 and could rotate through it), an IPv4 address as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


@dataclass(frozen=True)
class Attempt:
    """What the throttle said about one login attempt."""

    username: str
    address: str
    refused_by: Scope | None      # None: heard (and counted as a failure until it succeeds)
    retry_after_s: int            # refused: when to try again; heard: the lock if it fails
    failures: int                 # of this pair, this attempt included when heard
    address_reached: bool = False  # heard: if it fails, the address is at its ceiling
    user_reached: bool = False    # heard: if it fails, the user is at its ceiling
    locked_until_ms: int = 0      # heard: the lock it set (kept if it fails)

    @property
    def locks_if_failed(self) -> bool:
        return self.refused_by is None and self.retry_after_s > 0

    def refusal(self) -> RateLimited:
        return RateLimited(self.retry_after_s,
                           f"too many failed logins; try again in {self.retry_after_s} s")


class LoginThrottle:
    def __init__(self, redis: Redis, settings: Settings,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis, self.settings, self.clock = redis, settings, clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _keys(self, username: str, address: str) -> list[str]:
        return [login_pair_key(username, address), login_user_key(username),
                login_addr_key(address)]

    async def check(self, username: str, address: str) -> Attempt:
        """Refuse, or hear (counting a failure that `succeeded` takes back)."""
        s, now = self.settings, self._now_ms()
        script = self.redis.register_script(_CHECK_LUA)
        code, ms, fails, addr_reached, user_reached = (int(x) for x in await script(
            keys=self._keys(username, address),
            args=[now, s.login_free_failures, max(1, round(s.login_delay_base_s * 1000)),
                  s.login_delay_max_s * 1000, s.login_failure_window_s * 1000,
                  s.login_user_max_failures, s.login_address_max_failures]))
        if code:
            return Attempt(username, address, _SCOPES[code], _seconds(ms), fails)
        return Attempt(username, address, None, _seconds(ms) if ms > 0 else 0, fails,
                       bool(addr_reached), bool(user_reached), locked_until_ms=now + ms)

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: that pair starts afresh, its counted failure is given back."""
        script = self.redis.register_script(_SUCCESS_LUA)
        await script(keys=self._keys(attempt.username, attempt.address))

    async def not_checked(self, attempt: Attempt) -> None:
        """The password could not be checked (an outage): the attempt counts for nothing."""
        script = self.redis.register_script(_REFUND_LUA)
        await script(keys=self._keys(attempt.username, attempt.address),
                     args=[attempt.locked_until_ms])

    async def first_in_window(self, *parts: str) -> bool:
        """True once per failure window for these parts (to alert once, not per attempt)."""
        window_ms = self.settings.login_failure_window_s * 1000
        return bool(await self.redis.set(login_alert_key(*parts), 1, px=window_ms, nx=True))
