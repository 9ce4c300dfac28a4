"""The websocket protocol against real uvicorn processes and the real websockets client."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from server.store.live import LiveStore
from tests.api.helpers import make_display_key
from tests.livesrv import LiveServer
from tests.queue.conftest import World, build_world
from tests.ws.conftest import METRICS_TOKEN, next_message, until, ws_connect


@pytest.fixture
async def w(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


async def api(server: LiveServer, w: World, method: str, path: str, role: str = "admin",
              **kw) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as c:
        return await c.request(method, path, headers=w.h(role), **kw)


async def issue(server: LiveServer, w: World, patient: int, doctor: int = 0) -> dict:
    r = await api(server, w, "POST", "/api/v1/tokens", role="receptionist", json={
        "patient_id": str(w.patients[patient]), "booking_type": "WALK_IN",
        "doctor_id": str(w.doctors[doctor])})
    assert r.status_code == 201, r.text
    return r.json()


async def press_next(server: LiveServer, w: World, doctor: int = 0, **body) -> dict:
    r = await api(server, w, "POST", f"/api/v1/doctors/{w.doctors[doctor]}/next", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_doctor_socket_starts_with_the_queue_snapshot(server_a: LiveServer, w: World) -> None:
    a = await issue(server_a, w, 0)
    async with ws_connect(server_a, f"/ws/doctor/{w.doctors[0]}", token=w.tokens["doctor"]) as ws:
        first = await next_message(ws)
        assert first["type"] == "snapshot" and first["seq"] > 0
        get = (await api(server_a, w, "GET", f"/api/v1/doctors/{w.doctors[0]}/queue")).json()
        assert first["data"]["doctor"] == get["doctor"]
        assert [t["id"] for t in first["data"]["waiting"]] == [a["id"]]


async def test_events_arrive_in_sequence_order(server_a: LiveServer, w: World) -> None:
    async with ws_connect(server_a, f"/ws/doctor/{w.doctors[0]}", token=w.tokens["doctor"]) as ws:
        snap = await next_message(ws)
        a = await issue(server_a, w, 0)
        await issue(server_a, w, 1)
        await press_next(server_a, w, current_token_id=None)
        msgs = await until(ws, lambda m: m["type"] == "token.called")
        seqs = [snap["seq"]] + [m["seq"] for m in msgs]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert msgs[-1]["data"]["token"]["id"] == a["id"]
        assert msgs[-1]["data"]["cabin"] == "C-101"


async def test_a_board_on_process_b_sees_a_call_made_through_process_a(
        server_a: LiveServer, server_b: LiveServer, w: World, pool: asyncpg.Pool) -> None:
    _, key = await make_display_key(pool, w.hospital_id, w.department_id)
    a = await issue(server_a, w, 0)
    async with ws_connect(server_b, f"/ws/board/{w.department_id}?key={key}") as board:
        snap = await next_message(board)
        assert snap["type"] == "snapshot"
        assert snap["data"]["cabins"][0]["next"][0]["display_name"] == "P. Kumar"
        await press_next(server_a, w, current_token_id=None)
        msgs = await until(board, lambda m: m["type"] == "token.called")
        token = msgs[-1]["data"]["token"]
        assert token["id"] == a["id"] and token["display_name"] == "P. Kumar"
        assert "Patient0" not in str(msgs)            # boards never see full names


async def test_resume_with_since_replays_exactly_what_was_missed(server_a: LiveServer,
                                                                 w: World) -> None:
    path = f"/ws/doctor/{w.doctors[0]}"
    async with ws_connect(server_a, path, token=w.tokens["doctor"]) as ws:
        last = (await next_message(ws))["seq"]
    await issue(server_a, w, 0)
    await issue(server_a, w, 1)
    await press_next(server_a, w, current_token_id=None)
    async with ws_connect(server_a, f"{path}?since={last}", token=w.tokens["doctor"]) as ws:
        msgs = await until(ws, lambda m: m["type"] == "token.called")
        assert msgs[0]["type"] != "snapshot"
        assert msgs[0]["seq"] > last
        types = [m["type"] for m in msgs]
        assert types.count("token.created") == 2


async def test_resume_from_a_forgotten_point_gets_a_snapshot(server_a: LiveServer,
                                                             w: World) -> None:
    async with ws_connect(server_a, f"/ws/doctor/{w.doctors[0]}?since=5",
                          token=w.tokens["doctor"]) as ws:
        assert (await next_message(ws))["type"] == "snapshot"


async def test_patient_socket_sees_only_its_own_token(server_a: LiveServer, w: World) -> None:
    mine = await issue(server_a, w, 1)
    other = await issue(server_a, w, 2)
    code = mine["patient_link"].rsplit("/", 1)[1]
    # put someone ahead of me: a skipped-back first token would change my position
    first = await issue(server_a, w, 0, doctor=1)
    del first
    async with ws_connect(server_a, f"/ws/token/{code}") as ws:
        snap = await next_message(ws)
        assert snap["data"]["number"] == mine["number"] and snap["data"]["position"] == 1
        assert "patient" not in snap["data"]
        await press_next(server_a, w, current_token_id=None)     # calls mine
        msgs = await until(ws, lambda m: m["type"] == "token.called")
        assert msgs[-1]["data"] == {"number": mine["number"], "cabin": "C-101",
                                    "doctor_name": "Dr. Doctor0", "recall": False}
        assert all(other["id"] not in str(m) and other["number"] not in str(m) for m in msgs)


async def test_patient_gets_position_updates(server_a: LiveServer, w: World) -> None:
    await issue(server_a, w, 0)
    mine = await issue(server_a, w, 1)
    code = mine["patient_link"].rsplit("/", 1)[1]
    async with ws_connect(server_a, f"/ws/token/{code}") as ws:
        assert (await next_message(ws))["data"]["position"] == 2
        await press_next(server_a, w, current_token_id=None)
        msgs = await until(ws, lambda m: m["type"] == "token.updated")
        assert msgs[-1]["data"]["position"] == 1
        assert msgs[-1]["data"]["status"] == "WAITING"


async def test_ping_pong(server_a: LiveServer, w: World) -> None:
    async with ws_connect(server_a, f"/ws/doctor/{w.doctors[0]}", token=w.tokens["doctor"]) as ws:
        await next_message(ws)
        await ws.send('{"type": "ping"}')
        assert (await next_message(ws))["type"] == "pong"


async def test_permessage_deflate_is_not_negotiated(server_a: LiveServer, w: World) -> None:
    async with ws_connect(server_a, f"/ws/doctor/{w.doctors[0]}", token=w.tokens["doctor"],
                          compression="deflate") as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        await next_message(ws)


async def _closed_with(server: LiveServer, path: str, code: int, **kw) -> None:
    async with ws_connect(server, path, **kw) as ws:
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await next_message(ws)
    assert info.value.rcvd is not None and info.value.rcvd.code == code


@pytest.mark.parametrize("case", ["no-key", "wrong-department", "forged-token", "other-doctor",
                                  "anonymous-doctor", "bad-origin"])
async def test_refusals_close_with_4401(server_a: LiveServer, w: World, pool: asyncpg.Pool,
                                        case: str) -> None:
    other_dep = await pool.fetchval(
        "INSERT INTO departments (hospital_id, name, code) VALUES ($1, 'Ortho', 'ORTH') "
        "RETURNING id", w.hospital_id)
    _, key = await make_display_key(pool, w.hospital_id, other_dep)
    path, kw = {
        "no-key": (f"/ws/board/{w.department_id}", {}),
        "wrong-department": (f"/ws/board/{w.department_id}?key={key}", {}),
        "forged-token": ("/ws/token/abcdefghijklmnop.ABCDEFGHIJKLMNOP", {}),
        "other-doctor": (f"/ws/doctor/{w.doctors[1]}", {"token": w.tokens["doctor"]}),
        "anonymous-doctor": (f"/ws/doctor/{w.doctors[0]}", {}),
        "bad-origin": (f"/ws/doctor/{w.doctors[0]}", {"token": w.tokens["doctor"],
                                                      "origin": "https://evil.example"}),
    }[case]
    await _closed_with(server_a, path, 4401, **kw)


async def test_revoking_a_display_key_closes_its_board(server_a: LiveServer, w: World,
                                                       pool: asyncpg.Pool) -> None:
    key_id, key = await make_display_key(pool, w.hospital_id, w.department_id)
    async with ws_connect(server_a, f"/ws/board/{w.department_id}?key={key}") as board:
        await next_message(board)
        r = await api(server_a, w, "DELETE", f"/api/v1/displays/{key_id}")
        assert r.status_code == 204
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await next_message(board)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4403


async def test_a_stalled_client_is_dropped_and_the_others_keep_up(
        server_a: LiveServer, w: World, pool: asyncpg.Pool, redis) -> None:
    """One board that never reads among healthy ones: it is dropped, they get everything."""

    _, key = await make_display_key(pool, w.hospital_id, w.department_id)
    path = f"/ws/board/{w.department_id}?key={key}"
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect, to stick
    stalled.connect(("127.0.0.1", server_a.port))
    stalled.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    live = LiveStore(redis)
    n, blob = 2000, "x" * 16000   # ~32 MB: far more than kernel buffers and its queue hold
    healthy = [await ws_connect(server_a, path).__aenter__() for _ in range(3)]
    try:
        for ws in healthy:
            await next_message(ws)
        readers = [asyncio.create_task(until(
            ws, lambda m: m["type"] == "announcement" and m["data"]["i"] == n - 1, wait=60))
            for ws in healthy]
        for i in range(n):
            await live.announce(w.hospital_id, "announcement",
                                {"department_id": str(w.department_id), "i": i, "text": blob})
        for got in await asyncio.gather(*readers):
            assert [m["data"]["i"] for m in got if m["type"] == "announcement"] == list(range(n))
        async with httpx.AsyncClient(base_url=server_a.url) as c:
            metrics = (await c.get("/metrics", headers={
                "Authorization": f"Bearer {METRICS_TOKEN}"})).text
        dropped = [line for line in metrics.splitlines()
                   if line.startswith("opdq_ws_dropped_total ")]
        assert dropped and float(dropped[0].split()[1]) >= 1
    finally:
        for ws in healthy:
            await ws.close()
        stalled.close()


async def test_an_idle_socket_gets_heartbeats_with_its_last_seq(server_a: LiveServer,
                                                                 w: World) -> None:
    import json

    async with ws_connect(server_a, f"/ws/doctor/{w.doctors[0]}", token=w.tokens["doctor"]) as ws:
        snap = await next_message(ws)
        async with asyncio.timeout(5):
            beat = json.loads(await ws.recv())
        assert beat["type"] == "heartbeat" and beat["seq"] == snap["seq"]


async def test_boards_get_the_head_of_a_queue_and_no_token_updates(
        server_a: LiveServer, w: World, pool: asyncpg.Pool) -> None:
    _, key = await make_display_key(pool, w.hospital_id, w.department_id)
    for i in range(8):
        await issue(server_a, w, i)
    async with ws_connect(server_a, f"/ws/board/{w.department_id}?key={key}") as board:
        await next_message(board)
        await press_next(server_a, w, current_token_id=None)
        msgs = await until(board, lambda m: m["type"] == "queue.updated")
        assert "token.updated" not in [m["type"] for m in msgs]
        q = msgs[-1]["data"]
        # the board snapshot's cabin shape: the current token and the next five, no more
        assert len(q["next"]) == 5 and q["waiting_count"] == 7 and "waiting" not in q
        assert [t["position"] for t in q["next"]] == [1, 2, 3, 4, 5]


async def test_a_snapshot_taken_while_the_queue_moves_misses_no_event(redis) -> None:
    """When every build overlaps an event, the snapshot is labelled with the sequence read
    before its build, so the events that may not be in it are still sent after it."""
    from server.realtime import consistent_snapshot
    from server.store import keys

    h = "00000000-0000-0000-0000-000000000001"
    await redis.set(keys.seq(h), 100)

    async def moving_build() -> dict:
        return {"seq_seen": int(await redis.incr(keys.seq(h)))}  # an event lands mid-build

    seq, data = await consistent_snapshot(redis, h, moving_build)
    assert seq < data["seq_seen"]          # the last event may be missing: it is not skipped


async def test_a_since_the_server_cannot_honour_gets_a_snapshot(server_a: LiveServer, w: World,
                                                                redis) -> None:
    await issue(server_a, w, 0)
    ahead = await LiveStore(redis).current_seq(w.hospital_id) + 1000  # Redis came back older
    for since in (str(ahead), "99999999999999999999999", "-5", "abc"):
        path = f"/ws/doctor/{w.doctors[0]}?since={since}"
        async with ws_connect(server_a, path, token=w.tokens["doctor"]) as ws:
            first = await next_message(ws)
            assert first["type"] == "snapshot", since
            assert first["data"]["waiting"], since


async def test_a_board_gets_its_cabin_in_the_snapshot_shape_in_queue_updated(
        server_a: LiveServer, w: World, pool: asyncpg.Pool) -> None:
    """One shape for a board's cabin: the queue.updated a board receives carries the cabin as
    the board snapshot has it (views.board_cabin), so the page converts nothing."""
    _, key = await make_display_key(pool, w.hospital_id, w.department_id)
    for i in range(7):
        await issue(server_a, w, i)
    async with ws_connect(server_a, f"/ws/board/{w.department_id}?key={key}") as board:
        await next_message(board)
        await press_next(server_a, w, current_token_id=None)
        event = (await until(board, lambda m: m["type"] == "queue.updated"))[-1]["data"]
        snap = (await api(server_a, w, "GET", f"/api/v1/departments/{w.department_id}/board"
                          )).json()
    cabin = next(c for c in snap["cabins"] if c["doctor"]["id"] == str(w.doctors[0]))
    assert event["doctor_id"] == str(w.doctors[0])
    assert set(cabin) <= set(event)
    for k in ("doctor", "cabin", "current", "waiting_count"):
        assert event[k] == cabin[k], k
    assert [{**n, "eta": set(n["eta"])} for n in event["next"]] == \
        [{**n, "eta": set(n["eta"])} for n in cabin["next"]]     # ETAs age between the two
    assert len(cabin["next"]) == 5 and cabin["waiting_count"] == 6


async def test_a_board_of_a_department_that_hides_names_gets_none_in_its_events(
        server_a: LiveServer, w: World, pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE departments SET board_names = 'hidden' WHERE id = $1",
                       w.department_id)
    _, key = await make_display_key(pool, w.hospital_id, w.department_id)
    for i in range(3):
        await issue(server_a, w, i)
    async with ws_connect(server_a, f"/ws/board/{w.department_id}?key={key}") as board:
        snap = await next_message(board)
        await press_next(server_a, w, current_token_id=None)
        msgs = await until(board, lambda m: m["type"] == "queue.updated")
    called = next(m for m in msgs if m["type"] == "token.called")
    assert called["data"]["token"]["display_name"] == ""
    assert called["data"]["token"]["number"] == "CARD-001"
    cabin = msgs[-1]["data"]
    assert cabin["current"]["number"] == "CARD-001" and cabin["current"]["display_name"] == ""
    assert [n["display_name"] for n in cabin["next"]] == ["", ""]
    for text in (str(snap), str(msgs)):
        assert "Kumar" not in text                   # not even the masked "P. Kumar"


async def test_a_revoked_display_key_opens_no_board_again(server_a: LiveServer,
                                                          server_b: LiveServer, w: World,
                                                          pool: asyncpg.Pool) -> None:
    """Both processes served the key (and may remember it for reconnects); once each has
    closed its board on the revocation, the key opens nothing there."""
    key_id, key = await make_display_key(pool, w.hospital_id, w.department_id)
    path = f"/ws/board/{w.department_id}?key={key}"
    async with ws_connect(server_a, path) as a, ws_connect(server_b, path) as b:
        for board in (a, b):
            await next_message(board)
        r = await api(server_a, w, "DELETE", f"/api/v1/displays/{key_id}")
        assert r.status_code == 204
        for board in (a, b):
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await next_message(board)
            assert info.value.rcvd is not None and info.value.rcvd.code == 4403
    for server in (server_a, server_b):
        await _closed_with(server, path, 4401)
