"""The Lua scripts, loaded once from lua/*.lua with the shared prelude, registered once.

redis-py's Script runs EVALSHA and falls back to loading the script on NOSCRIPT, so a Redis
restart (which forgets loaded scripts) needs nothing from us.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

LUA_DIR = Path(__file__).with_name("lua")
NAMES = (
    "enqueue", "call_next", "current_op", "waiting_op", "transfer", "doctor_status",
    "publish", "read_queue", "rebuild", "emit", "discard", "pending",
)


def source(name: str) -> str:
    """A script's full text: the prelude (_lib.lua) followed by the script itself."""
    return (LUA_DIR / "_lib.lua").read_text() + "\n" + (LUA_DIR / f"{name}.lua").read_text()


_SOURCES = {name: source(name) for name in NAMES}  # read at import, not on the event loop


@dataclass(frozen=True)
class Scripts:
    enqueue: AsyncScript
    call_next: AsyncScript
    current_op: AsyncScript
    waiting_op: AsyncScript
    transfer: AsyncScript
    doctor_status: AsyncScript
    publish: AsyncScript
    read_queue: AsyncScript
    rebuild: AsyncScript
    emit: AsyncScript
    discard: AsyncScript
    pending: AsyncScript


def register(redis: Redis) -> Scripts:
    return Scripts(**{name: redis.register_script(_SOURCES[name]) for name in NAMES})
