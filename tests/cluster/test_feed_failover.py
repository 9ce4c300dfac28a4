"""The hub's feed in a cluster (store/client.NodeSubscriber): one node's connection hears every
node's PUBLISH, and when that node dies the next subscription goes through another node.
Its own cluster (one node is killed), which keeps serving the slots it still has."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from server.store import keys
from server.store.client import create_redis, publish
from tests.cluster.local import running_cluster

pytestmark = pytest.mark.cluster


def hospital_on(cluster, node: int, avoid: int | None = None) -> str:  # type: ignore[no-untyped-def]
    """A hospital id whose tag lives on `node` (or, with avoid, on any other node)."""
    for i in range(10_000):
        h = f"00000000-0000-4000-8000-{i:012d}"
        on = cluster.node_of(keys.tag(h))
        if (avoid is None and on == node) or (avoid is not None and on != avoid):
            return h
    raise AssertionError("no such hospital id")


async def heard(pubsub, channel: str) -> str:  # type: ignore[no-untyped-def]
    """The next event message (subscribe confirmations are ignored)."""
    async with asyncio.timeout(10):
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            if msg is not None:
                assert msg["channel"] == channel
                return str(msg["data"])


async def test_the_feed_hears_every_node_and_moves_on_when_its_node_dies(tmp_path: Path
                                                                          ) -> None:
    with running_cluster(tmp_path, full_coverage=False) as cluster:
        cmd = create_redis(cluster.url, cluster=True)
        feed = create_redis(cluster.url, subscriber=True, cluster=True)
        try:
            first = feed.pubsub()
            await first.psubscribe(keys.EVENTS_PATTERN)
            node = cluster.ports.index(feed.node[1])
            # published on each node, heard through one
            for n in range(3):
                ch = keys.channel(hospital_on(cluster, n))
                await publish(cmd, ch, f"on node {n}")
                assert await heard(first, ch) == f"on node {n}"

            cluster.kill(node)
            with pytest.raises(RedisConnectionError):   # what Hub._listen meets: resync, retry
                await heard(first, "-")
            await first.aclose()

            again = feed.pubsub()
            await again.psubscribe(keys.EVENTS_PATTERN)
            assert feed.node[1] != cluster.ports[node]
            ch = keys.channel(hospital_on(cluster, 0, avoid=node))
            await publish(cmd, ch, "after the failure")
            assert await heard(again, ch) == "after the failure"
            await again.aclose()
        finally:
            await feed.aclose()
            await cmd.aclose()
