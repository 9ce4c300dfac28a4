"""Fixed-window rate limits in Redis, shared by login and the public patient endpoints.

A window is one key holding a counter that expires with the window: `SET key 0 EX w NX` then
`INCR` in one MULTI, so the first hit of a window starts the clock and no key outlives it.
Fixed windows let a client make up to 2 x limit requests across a boundary; for login at
10 a minute that is still far too slow to guess a password.
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

from server.errors import RateLimited
from server.store.keys import login_addr_key, login_user_key, public_key

# key names live in server/store/keys.py; re-exported for the routes that count hits
__all__ = ["enforce", "hit", "login_addr_key", "login_user_key", "public_key", "refund"]

# KEYS[1] = counter. Gives one hit back, but never creates a key nor goes below zero, so a
# refund that lands after the window expired does nothing.
_REFUND_LUA = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


async def hit(redis: Redis, key: str, limit: int, window_s: int) -> int | None:
    """Count one request. None when allowed, else the seconds until the window resets."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=window_s, nx=True)
        pipe.incr(key)
        pipe.pttl(key)
        _, count, pttl = await pipe.execute()
    if int(count) <= limit:
        return None
    return max(1, math.ceil(int(pttl) / 1000)) if int(pttl) > 0 else window_s


async def refund(redis: Redis, key: str) -> None:
    """Give back a hit that turned out fine (a successful login)."""
    # once per successful login: sending the script text each time costs nothing worth caching
    await redis.eval(_REFUND_LUA, 1, key)  # type: ignore[misc]


async def enforce(redis: Redis, key: str, limit: int, window_s: int) -> None:
    """`hit`, raising 429 with Retry-After when over the limit."""
    retry = await hit(redis, key, limit, window_s)
    if retry is not None:
        raise RateLimited(retry)
