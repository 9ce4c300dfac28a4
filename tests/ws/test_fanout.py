"""Fan-out internals: frames built once and written to transports, the slow-client bound, and
per-hospital subscriptions against a real Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from server.realtime import CLOSE_OVERLOADED, CLOSE_RESYNC, Hub
from server.store import keys
from server.store.client import create_redis
from server.subscribers import DoctorSubscriber
from server.ws_out import text_frame
from tests.api.helpers import make_display_key
from tests.faults.services import PrivateRedis
from tests.livesrv import LiveServer
from tests.queue.conftest import World, build_world
from tests.ws.conftest import live_socket_on, next_message, until, ws_connect
from tests.ws.test_protocol import issue, press_next


def parse(data: bytes) -> list[Frame]:
    """Frames as a websocket client reads them."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while reader.buffer:
        gen = Frame.parse(reader.read_exact, mask=False)
        try:
            next(gen)
        except StopIteration as done:
            frames.append(done.value)
    return frames


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_a_text_frame_reads_back_as_its_payload(size: int) -> None:
    payload = ("x" * size).encode()
    [frame] = parse(text_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


def test_joined_frames_read_back_as_separate_messages() -> None:
    a, b = json.dumps({"type": "a"}).encode(), json.dumps({"type": "b", "x": "y" * 300}).encode()
    assert [f.data for f in parse(text_frame(a) + text_frame(b))] == [a, b]


class Collect:
    """An outlet that keeps what it is given (the hub's side of a socket, in memory)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.writes = 0
        self.closed: int | None = None
        self.got = asyncio.Event()
        self.gone = asyncio.Event()

    def write(self, frames: bytes, messages: str | tuple[str, ...]) -> bool:
        messages = [messages] if isinstance(messages, str) else list(messages)
        self.writes += 1
        assert [f.data.decode() for f in parse(frames)] == messages
        self.messages += [json.loads(m) for m in messages]
        self.got.set()
        return True

    async def wait_for(self, n: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(5):
            while len(self.messages) < n:
                self.got.clear()
                await self.got.wait()
        return self.messages

    def close(self, code: int) -> None:
        self.closed = code
        self.gone.set()

    def release(self) -> None:
        pass


async def numsub(redis: Redis, channel: str) -> int:
    return dict(await redis.pubsub_numsub(channel)).get(channel, 0)  # type: ignore[no-any-return]


def event(seq: int | None, doctor: str, **data: Any) -> str:
    body = {"type": "token.updated", "ts": "now", "data": {"doctor_id": doctor, **data}}
    return json.dumps(body if seq is None else {**body, "seq": seq})


async def test_a_process_subscribes_to_a_hospital_only_while_it_has_subscribers(
        hub: Hub, redis: Redis) -> None:
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    channel = keys.channel(h)
    assert await numsub(redis, channel) == 0
    sub = DoctorSubscriber(h, doctor_id=doctor, outlet=Collect())
    await hub.register(sub)
    # subscribed by the time register returns: a snapshot read now misses nothing after it
    assert await numsub(redis, channel) == 1 and hub.hospitals() == {h}
    await redis.publish(channel, event(1, doctor))
    hub.go_live(sub)
    await asyncio.wait_for(sub.outlet.got.wait(), 5)  # type: ignore[union-attr]
    assert [m["seq"] for m in sub.outlet.messages] == [1]  # type: ignore[union-attr]
    other = str(uuid.uuid4())
    assert await numsub(redis, keys.channel(other)) == 0   # not every hospital's channel
    hub.linger_s = 60
    hub.unregister(sub)
    assert await numsub(redis, channel) == 1     # kept a while for a reconnecting client
    await hub.release(h)                         # as when the linger is over
    # another hospital's SUBSCRIBE, confirmed after the UNSUBSCRIBE on the same connection
    await hub.register(DoctorSubscriber(other, doctor_id=doctor, outlet=Collect()))
    assert await numsub(redis, channel) == 0
    assert hub.hospitals() == {other}


async def test_a_subscriber_arriving_while_the_channel_lingers_keeps_it(
        hub: Hub, redis: Redis) -> None:
    hub.linger_s = 60
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    first = DoctorSubscriber(h, doctor_id=doctor, outlet=Collect())
    await hub.register(first)
    hub.unregister(first)
    second = DoctorSubscriber(h, doctor_id=doctor, outlet=Collect())
    await hub.register(second)
    hub.go_live(second)
    assert await numsub(redis, keys.channel(h)) == 1
    await redis.publish(keys.channel(h), event(7, doctor))
    await asyncio.wait_for(second.outlet.got.wait(), 5)  # type: ignore[union-attr]
    assert first.outlet.messages == []  # type: ignore[union-attr]


async def test_resubscribing_after_a_release_misses_no_event(hub: Hub, redis: Redis) -> None:
    """Unsubscribe (last one left) and subscribe (a new one came) in quick succession: the
    new subscriber's register returns only when the channel is subscribed again."""
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    for round_ in range(5):
        sub = DoctorSubscriber(h, doctor_id=doctor, outlet=Collect())
        await hub.register(sub)
        hub.go_live(sub)
        await redis.publish(keys.channel(h), event(round_ + 1, doctor))
        await asyncio.wait_for(sub.outlet.got.wait(), 5)  # type: ignore[union-attr]
        hub.unregister(sub)
        await asyncio.sleep(0.05)   # about the linger: the release races the next register


async def marker(hub: Hub, redis: Redis, h: str) -> DoctorSubscriber:
    """A live subscriber of another doctor of the hospital: when a message published after
    others reaches it, the hub has dispatched the others (one connection, in order)."""
    sub = DoctorSubscriber(h, doctor_id=str(uuid.uuid4()), outlet=Collect())
    await hub.register(sub)
    hub.go_live(sub)
    return sub


async def processed(redis: Redis, h: str, mark: DoctorSubscriber) -> None:
    n = len(mark.outlet.messages) + 1  # type: ignore[union-attr]
    await redis.publish(keys.channel(h), event(None, mark.doctor_id))  # no seq: not de-duplicated
    await mark.outlet.wait_for(n)  # type: ignore[union-attr]


async def test_events_held_until_live_skip_what_the_snapshot_had(hub: Hub, redis: Redis) -> None:
    """Events that arrive between register and the snapshot are held; those the snapshot
    already reflects (seq <= its seq) are not sent twice, the later ones are, in order."""
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    sub = DoctorSubscriber(h, doctor_id=doctor, outlet=Collect())
    await hub.register(sub)
    mark = await marker(hub, redis, h)
    for seq in (4, 5, 6):
        await redis.publish(keys.channel(h), event(seq, doctor))
    await processed(redis, h, mark)
    assert len(sub.held or ()) == 3
    sub.sent_seq = 5                     # the snapshot showed up to seq 5
    hub.go_live(sub)
    await asyncio.wait_for(sub.outlet.got.wait(), 5)  # type: ignore[union-attr]
    await redis.publish(keys.channel(h), event(5, doctor))   # a replayed seq: not again
    await redis.publish(keys.channel(h), event(7, doctor))
    await processed(redis, h, mark)
    assert [m["seq"] for m in sub.outlet.messages] == [6, 7]  # type: ignore[union-attr]


async def test_events_published_together_reach_a_socket_in_one_write(hub: Hub,
                                                                      redis: Redis) -> None:
    """A press's events are published by one script (emit.lua): they arrive in one burst
    and each socket gets them in one write (two frames joined), in order."""
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    subs = [DoctorSubscriber(h, doctor_id=doctor, outlet=Collect()) for _ in range(3)]
    for sub in subs:
        await hub.register(sub)
        hub.go_live(sub)
    await redis.eval("redis.call('PUBLISH', KEYS[1], ARGV[1]); "
                     "redis.call('PUBLISH', KEYS[1], ARGV[2])", 1, keys.channel(h),
                     event(1, doctor), event(2, doctor))
    for sub in subs:
        got = await sub.outlet.wait_for(2)  # type: ignore[union-attr]
        assert [m["seq"] for m in got] == [1, 2]
        assert sub.outlet.writes == 1  # type: ignore[union-attr]


async def test_a_burst_to_many_sockets_is_written_a_chunk_per_turn_and_in_order(
        hub: Hub) -> None:
    """A burst to more sockets than FLUSH_CHUNK gives the event loop back between chunks (a
    press's queries are served meanwhile); an event that arrives in between reaches every
    socket after the one before it, never ahead of it."""
    hub.burst.FLUSH_CHUNK = 2
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    subs = [DoctorSubscriber(h, doctor_id=doctor, outlet=Collect()) for _ in range(7)]
    for sub in subs:
        await hub.register(sub)
        hub.go_live(sub)
    written_after_one_turn: list[int] = []

    def meanwhile() -> None:  # runs after the first chunk, before the rest
        written_after_one_turn.append(sum(1 for s in subs if s.outlet.messages))  # type: ignore[union-attr]
        hub.dispatch(h, json.loads(event(2, doctor)), event(2, doctor))

    hub.dispatch(h, json.loads(event(1, doctor)), event(1, doctor))
    asyncio.get_running_loop().call_soon(meanwhile)
    for sub in subs:
        got = await sub.outlet.wait_for(2)  # type: ignore[union-attr]
        assert [m["seq"] for m in got] == [1, 2]
    assert written_after_one_turn == [2]


async def test_a_subscriber_whose_held_messages_overflow_is_dropped(hub: Hub,
                                                                    redis: Redis) -> None:
    h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
    sub = DoctorSubscriber(h, held_max=3, doctor_id=doctor, outlet=Collect())
    await hub.register(sub)
    mark = await marker(hub, redis, h)
    for seq in range(1, 6):
        await redis.publish(keys.channel(h), event(seq, doctor))
    await processed(redis, h, mark)
    assert sub.closed and sub.outlet.closed == CLOSE_OVERLOADED  # type: ignore[union-attr]


async def test_a_lost_feed_resyncs_its_sockets_and_resubscribes_when_back(
        private_redis: PrivateRedis) -> None:
    """Redis goes away: every socket is closed with 1012 (reconnect and resume); once it is
    back, a new socket's hospital channel is subscribed again and its events arrive."""
    hub = Hub(create_redis(private_redis.url, subscriber=True), heartbeat_s=60)
    await hub.start()
    try:
        await asyncio.wait_for(hub.connected.wait(), 5)
        h, doctor = str(uuid.uuid4()), str(uuid.uuid4())
        first = DoctorSubscriber(h, doctor_id=doctor, outlet=Collect())
        await hub.register(first)
        hub.go_live(first)
        private_redis.kill()
        await asyncio.wait_for(first.outlet.gone.wait(), 10)  # type: ignore[union-attr]
        assert first.outlet.closed == CLOSE_RESYNC  # type: ignore[union-attr]
        private_redis.start()
        await asyncio.wait_for(hub.connected.wait(), 15)
        second = DoctorSubscriber(h, doctor_id=doctor, outlet=Collect())
        await hub.register(second)
        hub.go_live(second)
        probe = create_redis(private_redis.url)
        try:
            assert await numsub(probe, keys.channel(h)) == 1
            await probe.publish(keys.channel(h), event(1, doctor))
            assert [m["seq"] for m in await second.outlet.wait_for(1)] == [1]  # type: ignore[union-attr]
        finally:
            await probe.aclose()
    finally:
        await hub.stop()
        await hub.redis.aclose()


async def test_a_transport_that_cannot_take_more_is_reported_over_its_bound() -> None:
    """Bytes a client does not read stay in its transport's buffer (no queue, no task); past
    the bound the outlet says so, and the hub drops the client."""
    stalled = asyncio.Event()

    async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stalled.wait()
        writer.close()

    server = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await asyncio.get_running_loop().create_connection(
        asyncio.Protocol, "127.0.0.1", port)

    outlet = live_socket_on(transport)
    outlet.bound(256 * 1024)
    frame = text_frame(b"x" * 16000)
    writes = 0
    while outlet.write(frame, ()):
        writes += 1
        assert writes < 10_000, "the kernel and the transport took it all"
    assert transport.get_write_buffer_size() > 256 * 1024
    stalled.set()
    transport.abort()
    server.close()


async def test_every_board_of_a_department_gets_the_same_bytes(
        server_a: LiveServer, server_b: LiveServer, w: World, pool: asyncpg.Pool) -> None:
    _, key = await make_display_key(pool, w.hospital_id, w.department_id)
    a = await issue(server_a, w, 0)
    path = f"/ws/board/{w.department_id}?key={key}"
    boards = [await ws_connect(srv, path).__aenter__()
              for srv in (server_a, server_b) for _ in range(6)]
    try:
        for b in boards:
            assert (await next_message(b))["type"] == "snapshot"
        await press_next(server_a, w, current_token_id=None)
        got = []
        for b in boards:
            msgs = await until(b, lambda m: m["type"] == "queue.updated")
            got.append(msgs)
        called = [next(m for m in msgs if m["type"] == "token.called") for msgs in got]
        assert all(c["data"]["token"]["id"] == a["id"] for c in called)
        assert all(c == called[0] for c in called)
        assert all(msgs[-1] == got[0][-1] for msgs in got)
    finally:
        for b in boards:
            await b.close()


@pytest.fixture
async def w(pool: asyncpg.Pool) -> World:
    return await build_world(pool)
