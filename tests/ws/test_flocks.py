"""Flocks (server.flock): caught-up subscribers of one audience written as one. Each test
checks what a board or console would notice: every event once, in order, nothing after its
close, a slow one dropped without costing the others."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from typing import Any

from redis.asyncio import Redis

from server.flock import Flock, write_all
from server.realtime import CLOSE_OVERLOADED, Hub
from server.store import keys
from server.subscribers import DoctorSubscriber
from tests.ws.conftest import live_socket_on
from tests.ws.test_fanout import Collect, event, parse
from tests.ws.test_live_socket import masked, received


class Direct(Collect):
    """An outlet whose transport the hub may write directly (as LiveSocket.direct), so its
    subscriber can join a flock. A write after its close is recorded as a fault."""

    def __init__(self, on_write: Any = None) -> None:
        super().__init__()
        self.direct_writes = 0
        self.after_close = 0
        self.on_write = on_write

    def keepalive(self, now: float, silent_s: float) -> bool:
        return True

    def direct(self) -> Any:
        return None if self.closed is not None else self.take

    def take(self, data: bytes) -> None:
        if self.closed is not None:
            self.after_close += 1
        self.direct_writes += 1
        self.messages += [json.loads(f.data) for f in parse(data)]
        self.got.set()
        if self.on_write is not None:
            self.on_write(self)


def flock_of(hub: Hub, h: str, doctor: str) -> Flock | None:
    return hub.flocks.of(h).get(("doctor", doctor), {}).get(("doctor", doctor))


async def live(hub: Hub, h: str, doctor: str, n: int, **kw: Any) -> list[DoctorSubscriber]:
    subs = [DoctorSubscriber(h, doctor_id=doctor, outlet=Direct(**kw)) for _ in range(n)]
    for sub in subs:
        await hub.register(sub)
        hub.go_live(sub)
    return subs


async def send(hub: Hub, h: str, doctor: str, *seqs: int) -> None:
    """Events dispatched in one turn (one burst), then the burst written to the end."""
    for seq in seqs:
        hub.dispatch(h, json.loads(event(seq, doctor)), event(seq, doctor))
    async with asyncio.timeout(5):  # a turn of the loop per chunk written: no timer
        while hub.burst.pending or hub.burst.writing:  # noqa: ASYNC110
            await asyncio.sleep(0)


def seqs(sub: DoctorSubscriber) -> list[int]:
    return [m["seq"] for m in sub.outlet.messages if "seq" in m]  # type: ignore[union-attr]


async def test_caught_up_consoles_become_one_flock_and_get_every_event_once(hub: Hub) -> None:
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    subs = await live(hub, h, doctor, 5)
    await send(hub, h, doctor, 1)  # written one by one; then caught up together
    flock = flock_of(hub, h, doctor)
    assert flock is not None and len(flock) == 5
    assert not hub.index[h].get(("doctor", doctor))
    await send(hub, h, doctor, 2)
    await send(hub, h, doctor, 3, 4)
    await send(hub, h, doctor, 4)  # a repeat (a feed replayed): not sent again
    for sub in subs:
        assert seqs(sub) == [1, 2, 3, 4]
        assert sub.outlet.direct_writes == 2  # type: ignore[union-attr]  # 2, and 3+4 joined


async def test_a_socket_whose_snapshot_is_ahead_or_behind_joins_without_a_gap_or_a_repeat(
        hub: Hub) -> None:
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    await live(hub, h, doctor, 3)
    await send(hub, h, doctor, 1, 2)
    ahead = DoctorSubscriber(h, doctor_id=doctor, outlet=Direct())
    behind = DoctorSubscriber(h, doctor_id=doctor, outlet=Direct())
    for sub in (ahead, behind):
        await hub.register(sub)  # held until live
    await send(hub, h, doctor, 3, 4)
    ahead.sent_seq, behind.sent_seq = 4, 2  # what each one's snapshot showed
    hub.go_live(ahead)
    hub.go_live(behind)
    await send(hub, h, doctor, 5)
    await send(hub, h, doctor, 6)
    assert seqs(ahead) == [5, 6]
    assert seqs(behind) == [3, 4, 5, 6]
    flock = flock_of(hub, h, doctor)
    assert flock is not None and len(flock) == 5
    assert ahead.flock is flock and behind.flock is flock


async def test_members_dropped_in_the_middle_of_a_burst_get_nothing_after_their_close(
        hub: Hub) -> None:
    """One member written already, one not yet, when both are dropped between two chunks of
    a burst: neither gets a byte after its close frame, and the slots of the others do not
    move under the rest of the burst (each gets the event once)."""
    hub.burst.FLUSH_CHUNK = 2
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    subs = await live(hub, h, doctor, 7)
    await send(hub, h, doctor, 1)
    flock = flock_of(hub, h, doctor)
    assert flock is not None and len(flock) == 7
    first, last = flock.members[0], flock.members[-1]  # written in the first chunk, the last

    def meanwhile() -> None:  # after the first chunk of the burst, before the rest
        hub.drop(first, 4403)
        hub.drop(last, 4403)

    hub.dispatch(h, json.loads(event(2, doctor)), event(2, doctor))
    asyncio.get_running_loop().call_soon(meanwhile)
    await send(hub, h, doctor)  # the burst is out
    await send(hub, h, doctor, 3)
    assert seqs(first) == [1, 2] and seqs(last) == [1]
    for gone in (first, last):
        assert gone.outlet.closed == 4403  # type: ignore[union-attr]
        assert gone.outlet.after_close == 0  # type: ignore[union-attr]
    for sub in subs:
        if sub not in (first, last):
            assert seqs(sub) == [1, 2, 3]
    assert len(flock_of(hub, h, doctor) or ()) == 5  # compacted once the burst was out


async def test_a_socket_whose_snapshot_is_ahead_of_the_feed_waits_to_join(hub: Hub) -> None:
    """Its snapshot read a seq whose events are still on their way to this process: written
    alone meanwhile (a pong), it joins the flock only once both are at the same seq, so the
    events its snapshot showed are not sent to it again."""
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    await live(hub, h, doctor, 2)
    await send(hub, h, doctor, 1, 2)
    ahead = DoctorSubscriber(h, doctor_id=doctor, outlet=Direct())
    await hub.register(ahead)
    ahead.sent_seq = 4  # its snapshot showed 3 and 4, not yet dispatched here
    hub.go_live(ahead)
    hub.heard_text(ahead, '{"type": "ping"}')
    await send(hub, h, doctor)
    assert ahead.flock is None
    await send(hub, h, doctor, 3, 4)
    await send(hub, h, doctor, 5)
    await send(hub, h, doctor, 6)
    assert seqs(ahead) == [5, 6]
    assert ahead.flock is flock_of(hub, h, doctor)


async def test_a_member_past_its_bound_is_dropped_after_the_write_and_the_others_go_on(
        hub: Hub) -> None:
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    subs = await live(hub, h, doctor, 4)
    await send(hub, h, doctor, 1)
    slow = subs[1]

    def passes_its_bound(outlet: Direct) -> None:  # as LiveSocket.pause_writing reports it
        if outlet is slow.outlet and outlet.direct_writes == 1:
            hub.overflowed(slow)

    for sub in subs:
        sub.outlet.on_write = passes_its_bound  # type: ignore[union-attr]
    await send(hub, h, doctor, 2)
    await send(hub, h, doctor, 3)
    assert slow.outlet.closed == CLOSE_OVERLOADED  # type: ignore[union-attr]
    assert seqs(slow) == [1, 2] and slow.outlet.after_close == 0  # type: ignore[union-attr]
    for sub in subs[:1] + subs[2:]:
        assert seqs(sub) == [1, 2, 3]


async def test_a_quiet_flock_gets_heartbeats_with_its_last_seq(beating_hub: Hub) -> None:
    hub = beating_hub
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    subs = await live(hub, h, doctor, 3)
    await send(hub, h, doctor, 41)
    assert len(flock_of(hub, h, doctor) or ()) == 3
    for sub in subs:
        got = await sub.outlet.wait_for(2)  # type: ignore[union-attr]
        assert got[1]["type"] == "heartbeat" and got[1]["seq"] == 41


async def test_a_flock_member_that_pings_gets_its_pongs_and_no_heartbeat(
        beating_hub: Hub) -> None:
    """A client that pings (live.js, every 15 s) hears from us through its pongs: the
    flock's heartbeat goes only to the members that heard nothing (no write to every idle
    board every heartbeat_s, each waking its client)."""
    hub = beating_hub
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    talker, *quiet = await live(hub, h, doctor, 3)
    await send(hub, h, doctor, 41)
    assert len(flock_of(hub, h, doctor) or ()) == 3

    async def pings() -> None:  # a client pinging far more often than heartbeat_s
        while True:
            hub.heard_text(talker, '{"type": "ping"}')
            await asyncio.sleep(0.02)

    pinging = asyncio.create_task(pings())
    try:
        for sub in quiet:
            got = await sub.outlet.wait_for(2)  # type: ignore[union-attr]
            assert got[1]["type"] == "heartbeat" and got[1]["seq"] == 41
        kinds = {m["type"] for m in talker.outlet.messages}  # type: ignore[union-attr]
        assert "pong" in kinds and "heartbeat" not in kinds
    finally:
        pinging.cancel()


async def test_events_from_redis_reach_a_flock_and_a_lost_feed_closes_it(
        hub: Hub, redis: Redis) -> None:
    """The whole path: published events, a flock formed, a lost feed closes every member
    (they resume from the stream)."""
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    subs = await live(hub, h, doctor, 3)
    for seq in (1, 2, 3):
        await redis.publish(keys.channel(h), event(seq, doctor))
        for sub in subs:
            await sub.outlet.wait_for(seq)  # type: ignore[union-attr]
    assert len(flock_of(hub, h, doctor) or ()) == 3
    assert hub._close_all(1012) == 3
    assert all(sub.outlet.closed == 1012 for sub in subs)  # type: ignore[union-attr]
    assert all(sub.outlet.after_close == 0 for sub in subs)  # type: ignore[union-attr]
    assert not flock_of(hub, h, doctor)


def test_a_transport_that_refuses_a_write_costs_only_its_own() -> None:
    got: list[list[bytes]] = [[], [], [], []]

    def refuses(data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")

    writes = [got[0].append, refuses, got[2].append, got[3].append]
    write_all(writes, 0, 3, b"frame")  # a chunk: the first three
    assert got == [[b"frame"], [], [b"frame"], []]


async def frames(sock: socket.socket, n: int) -> list[Any]:
    """The next `n` whole frames a client reads off its socket."""
    data = b""
    async with asyncio.timeout(5):
        while True:
            data += await asyncio.get_running_loop().sock_recv(sock, 65536)
            try:
                got = parse(data)
            except EOFError:  # a frame not yet whole
                continue
            if len(got) >= n:
                return got


async def test_a_board_that_closes_gets_nothing_after_the_close_answer_over_a_real_socket(
        hub: Hub) -> None:
    """Two flocked LiveSockets over real socket pairs. An event is on its way (its burst
    is scheduled) when one client's close frame arrives: that client reads our close answer
    and then the end of the stream, no frame after it (RFC 6455 5.5.1: the closed transport
    takes no flock write), and the other gets the event from the flock."""
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    pairs = []
    for _ in range(2):
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        transport, _ = await asyncio.get_running_loop().connect_accepted_socket(
            asyncio.Protocol, ours)
        proto = live_socket_on(transport)
        sub = DoctorSubscriber(h, doctor_id=doctor, outlet=proto)
        proto.feed, proto.sub, proto.conn = hub, sub, None  # as detach() leaves it
        await hub.register(sub)
        hub.go_live(sub)
        pairs.append((proto, sub, theirs))
    (closing, _, client), (_, other, other_client) = pairs
    try:
        await send(hub, h, doctor, 1)
        assert len(flock_of(hub, h, doctor) or ()) == 2
        for sock in (client, other_client):
            assert [json.loads(f.data)["seq"] for f in await frames(sock, 1)] == [1]
        hub.dispatch(h, json.loads(event(2, doctor)), event(2, doctor))  # written next turn
        closing.data_received(masked(0x8, (1000).to_bytes(2, "big")))
        await send(hub, h, doctor)
        assert await received(client, 100) == b"\x88\x02\x03\xe8"  # the answer, then EOF
        assert [json.loads(f.data)["seq"] for f in await frames(other_client, 1)] == [2]
        assert other.flock is flock_of(hub, h, doctor)
    finally:
        for proto, _, theirs in pairs:
            proto.transport.abort()
            theirs.close()
