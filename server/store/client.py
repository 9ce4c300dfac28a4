"""The Redis connections used by the web process."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str, *, subscriber: bool = False) -> Redis:
    """Commands time out after 10 s; a pub/sub subscriber waits on its socket indefinitely
    (an idle feed is not a broken one), kept honest by TCP keepalive."""
    if subscriber:
        return Redis.from_url(url, decode_responses=True, socket_connect_timeout=5,
                              socket_keepalive=True)
    # health checks and retries keep a long-lived process going across a Redis restart
    return Redis.from_url(
        url, decode_responses=True, health_check_interval=15,
        socket_connect_timeout=5, socket_timeout=10, retry_on_timeout=True,
    )
