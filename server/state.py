"""What the lifespan builds and every request and job shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
from redis.asyncio import Redis

from server.settings import Settings


@dataclass
class AppState:
    settings: Settings
    pool: asyncpg.Pool
    redis: Redis
    extras: dict[str, Any] = field(default_factory=dict)
