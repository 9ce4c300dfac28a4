"""Every Lua script touches one slot: it gets its keys in KEYS and builds no key name itself
(a name built inside Lua from ARGV could name another hospital's slot, which a cluster
refuses and a single Redis would not notice). Pure: reads the scripts' text. Which keys a
script is given is checked for real by the cluster tests (test_queue_on_cluster.py)."""

from __future__ import annotations

import re

import pytest

from server.auth import ratelimit
from server.store.scripts import LUA_DIR

SCRIPTS = {p.name: p.read_text() for p in sorted(LUA_DIR.glob("*.lua"))} | {
    name: getattr(ratelimit, name) for name in ("_HIT_LUA", "_CHECK_LUA", "_SUCCESS_LUA",
                                                 "_REFUND_LUA")}
# commands whose first argument is not a key
NOT_KEYED = {"INFO", "PUBLISH", "TIME"}
CALL = re.compile(r"redis\.call\(\s*'(\w+)'\s*,\s*([^,)]+)")


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_a_script_names_only_the_keys_it_is_given(name: str) -> None:
    text = SCRIPTS[name]
    code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())   # no comments
    assert "opd:" not in code and "{h:" not in code, "a key name built inside the script"
    for command, first in CALL.findall(code):
        if command.upper() in NOT_KEYED:
            continue
        first = first.strip()
        assert re.fullmatch(r"KEYS\[[^\]]+\]|[A-Za-z_]\w*", first), (command, first)
        assert first != "ARGV" and ".." not in first, (command, first)


def test_the_check_sees_the_calls() -> None:
    """The pattern finds the scripts' calls (an empty match would pass everything)."""
    found = {c for text in SCRIPTS.values() for c, _ in CALL.findall(text)}
    assert {"ZPOPMIN", "HSET", "XADD", "PUBLISH", "INCR", "HMGET"} <= found
