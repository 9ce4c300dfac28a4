"""Events cross nodes: hospitals whose hash tags live on each of the three masters, boards on
one web process, actions through the other. Whichever node that process's feed subscribes
through, two of the hospitals publish on other nodes: the cluster carries their events over."""

from __future__ import annotations

import asyncpg
import pytest

from server.store import keys
from tests.api.helpers import make_display_key
from tests.cluster.local import LocalCluster
from tests.livesrv import LiveServer
from tests.queue.conftest import World, build_world
from tests.ws.conftest import next_message, until, ws_connect
from tests.ws.test_protocol import issue, press_next

pytestmark = pytest.mark.cluster


async def one_world_per_node(pool: asyncpg.Pool, cluster: LocalCluster) -> list[World]:
    """Hospitals (ids drawn by PostgreSQL) until every node holds one; the first of each."""
    by_node: dict[int, World] = {}
    for i in range(60):  # each draw misses a given node with p = 2/3: 60 draws leave ~1e-10
        w = await build_world(pool, code=f"N{i:02d}", n_doctors=2, n_patients=2)
        by_node.setdefault(cluster.node_of(keys.tag(w.hospital_id)), w)
        if len(by_node) == len(cluster.ports):
            return [by_node[n] for n in sorted(by_node)]
    raise AssertionError("no hospital landed on some node")


async def test_boards_on_one_process_see_calls_of_hospitals_on_every_node(
        server_a: LiveServer, server_b: LiveServer, pool: asyncpg.Pool,
        redis_cluster: LocalCluster) -> None:
    worlds = await one_world_per_node(pool, redis_cluster)
    assert len({redis_cluster.node_of(keys.channel(w.hospital_id)) for w in worlds}) == 3
    for w in worlds:
        _, key = await make_display_key(pool, w.hospital_id, w.department_id)
        a = await issue(server_a, w, 0)
        async with ws_connect(server_b, f"/ws/board/{w.department_id}?key={key}") as board:
            assert (await next_message(board))["type"] == "snapshot"
            await press_next(server_a, w, current_token_id=None)
            msgs = await until(board, lambda m: m["type"] == "token.called")
            assert msgs[-1]["data"]["token"]["id"] == a["id"]
            # resume across the cluster: the stream of the hospital's own node replays it
            async with ws_connect(server_a, f"/ws/board/{w.department_id}?key={key}"
                                  f"&since={msgs[0]['seq'] - 1}") as again:
                replay = await until(again, lambda m: m["type"] == "token.called")
                assert replay[0]["type"] != "snapshot"
                assert replay[-1]["seq"] == msgs[-1]["seq"]
