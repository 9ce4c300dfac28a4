"""What the lifespan builds and every request and job shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from redis.asyncio import Redis

from server.settings import Settings
from server.view_cache import ViewCache

if TYPE_CHECKING:
    from server.queue import QueueService


@dataclass
class AppState:
    settings: Settings
    pool: asyncpg.Pool
    redis: Redis
    queue: QueueService
    views: ViewCache
    extras: dict[str, Any] = field(default_factory=dict)
