"""The Redis connection used by the web process."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    # health checks and retries keep a long-lived process going across a Redis restart
    return Redis.from_url(
        url, decode_responses=True, health_check_interval=15,
        socket_connect_timeout=5, socket_timeout=10, retry_on_timeout=True,
    )
