"""The skip rule exists once in Lua (_lib.lua) and once in the pure domain
(ordering.skip_score): both must place a skipped token on the very same double."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from server.domain.ordering import skip_score
from server.store.scripts import LUA_DIR

# _lib.lua's skip_score over ZRANGE-shaped input, as both scripts call it
HARNESS = (LUA_DIR / "_lib.lua").read_text() + """
local flat = {}
for i = 3, #ARGV do table.insert(flat, 'x'); table.insert(flat, ARGV[i]) end
return string.format('%.17g', skip_score(flat, tonumber(ARGV[1]), tonumber(ARGV[2])))
"""
scores = st.floats(min_value=1.6e9, max_value=1.9e9, allow_nan=False)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # redis is stateless here
@given(st.lists(scores, max_size=12), st.integers(min_value=1, max_value=6), scores)
async def test_lua_and_python_skip_the_same(redis: Redis, waiting: list[float], places: int,
                                            empty: float) -> None:
    ordered = sorted(waiting)[:places + 1]      # what ZRANGE 0 places WITHSCORES gives
    got = await redis.eval(HARNESS, 0, places, repr(empty), *(repr(s) for s in ordered))
    assert float(got) == skip_score(waiting, places, empty)
