"""The Redis connections used by the web process and the workers.

One Redis server (the default), or a Redis Cluster (REDIS_CLUSTER=true; REDIS_URL then names
any one of its nodes, the client learns the others and follows the slot map). Every key of a
hospital carries its hash tag (keys.py), so a hospital lives on one slot: its scripts and
pipelines never cross slots, whatever node holds it.

Pub/sub stays classic PUBLISH, which a cluster delivers to the subscribers of every node: the
hub's feed is a plain connection to one node (NodeSubscriber), picked afresh at each connect.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, parse_url

# AppState.extras key of the web process's client to the jobs' Redis (JOBS_REDIS_URL)
JOBS_REDIS = "jobs_redis"

# a cluster client's commands, as the plain client's: the same methods, per key
AnyRedis = Redis | RedisCluster


def create_redis(url: str, *, subscriber: bool = False, cluster: bool = False) -> Any:
    """Commands time out after 10 s; a pub/sub subscriber waits on its socket indefinitely
    (an idle feed is not a broken one), kept honest by TCP keepalive."""
    if cluster:
        if subscriber:
            return NodeSubscriber(url)
        return RedisCluster.from_url(
            url, decode_responses=True, health_check_interval=15, socket_connect_timeout=5,
            socket_timeout=10)
    if subscriber:
        return Redis.from_url(url, decode_responses=True, socket_connect_timeout=5,
                              socket_keepalive=True)
    # health checks and retries keep a long-lived process going across a Redis restart
    return Redis.from_url(
        url, decode_responses=True, health_check_interval=15,
        socket_connect_timeout=5, socket_timeout=10, retry_on_timeout=True,
    )


def is_cluster(redis: object) -> bool:
    return isinstance(redis, RedisCluster)


async def publish(redis: AnyRedis, channel: str, message: str) -> None:
    """PUBLISH through either client. A cluster client has no publish(): any node will do
    (the cluster passes the message to every node), here the one of the channel's slot."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()  # the slot map (once; a no-op after)
        await redis.execute_command("PUBLISH", channel, message,
                                    target_nodes=redis.get_node_from_key(channel))
    else:
        await redis.publish(channel, message)


async def server_info(redis: AnyRedis, key: str) -> dict[str, Any]:
    """INFO server of the Redis server that holds `key` (in a cluster: its slot's node)."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        return dict(await redis.info("server", target_nodes=redis.get_node_from_key(key)))
    return dict(await redis.info("server"))


class _NodePool(ConnectionPool):
    """Pub/sub connections to one node of a cluster, the next one at each connect.

    Any node will do, a replica too (the cluster bus carries every PUBLISH to every node).
    The cluster's map is read again before each pick (nodes added or failed over are seen),
    and the pick turns round the nodes known, from a random start (the web processes spread
    their feeds over the nodes). A node that died cuts its subscribers; the hub's reconnect
    (realtime.Hub._listen: its clients resync from the stream, then backoff) asks for a
    connection again and lands on the next node."""

    def __init__(self, url: str) -> None:
        opts = parse_url(url)  # host, port, credentials; SSLConnection for rediss://
        opts.pop("db", None)
        opts.setdefault("connection_class", Connection)
        super().__init__(decode_responses=True, socket_connect_timeout=5,
                         socket_keepalive=True, **opts)
        self.seed = (opts.get("host", "127.0.0.1"), int(opts.get("port", 6379)))
        # only to read the map: a cluster missing a node still has subscribers to feed
        self.cluster = RedisCluster.from_url(url, require_full_coverage=False,
                                             socket_connect_timeout=5, socket_timeout=5)
        self.turn = random.randrange(1 << 16)
        self.node: tuple[str, int] | None = None

    async def nodes(self) -> list[tuple[str, int]]:
        with contextlib.suppress(Exception):  # no map now: the nodes known so far
            if self.cluster.get_nodes():
                await self.cluster.nodes_manager.initialize()
            else:
                await self.cluster.initialize()
        known = sorted({(n.host, int(n.port)) for n in self.cluster.get_nodes()})
        return known or [self.seed]

    async def get_connection(self, command_name: Any = None, *keys: Any, **options: Any
                             ) -> Any:
        nodes = await self.nodes()
        self.node = nodes[self.turn % len(nodes)]
        self.turn += 1
        await self.disconnect()  # a connection to the previous node is not reused
        self._available_connections.clear()
        self.connection_kwargs.update(host=self.node[0], port=self.node[1])
        return await super().get_connection()


class NodeSubscriber(Redis):
    """The hub's client in a cluster: `pubsub()` subscribes through one node (see _NodePool)."""

    def __init__(self, url: str) -> None:
        super().__init__(connection_pool=_NodePool(url))
        self.auto_close_connection_pool = True

    @property
    def node(self) -> tuple[str, int] | None:
        """The node the current (or last) subscription went through."""
        return self.connection_pool.node  # type: ignore[attr-defined,no-any-return]

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        await self.connection_pool.cluster.aclose()  # type: ignore[attr-defined]
