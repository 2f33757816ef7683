"""Hub requests and edges over real WebSockets: resync, subscribe, bad queries, the transport's
error mapping, and serving from a HubConfig."""

from __future__ import annotations

import json
import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from nephos.clock import ManualClock
from nephos.config.types import HubConfig
from nephos.errors import StreamError
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.hub import Hub, serve_hub
from nephos.stream.protocol import EventMessage, Hello, Snapshot
from nephos.stream.transport import AuthError, ConnectError, StreamClosed, WebSocketTransport
from tests.test_hub import commit, recv, recv_until_event, result


@pytest.fixture
async def store(tmp_path):
    hot = SqliteHotStore(str(tmp_path / "hot.db"))
    await hot.open()
    yield hot
    await hot.close()


@pytest.fixture
async def hub(store):
    async with Hub(store, listen="127.0.0.1:0", poll_interval=0.01) as running:
        yield running


async def test_resync_request_gets_a_fresh_snapshot_marked_resync(store, hub) -> None:
    await store.put_results([result("api")])
    async with connect(hub.url) as ws:
        await recv(ws)
        first = await recv(ws)
        await commit(store, hub, [result("web")])
        await recv_until_event(ws, 2)
        await ws.send('{"type": "resync"}')
        fresh = await recv(ws)
    assert isinstance(first, Snapshot) and not first.resync
    assert isinstance(fresh, Snapshot) and fresh.resync and fresh.seq == 2
    assert sorted(r.target for r in fresh.results) == ["api", "web"]


async def test_subscribe_without_since_sends_a_snapshot_for_the_new_filter(store, hub) -> None:
    await store.put_results([result("api"), result("web")])
    async with connect(hub.url) as ws:
        await recv(ws)
        await recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "targets": ["web"]}))
        snapshot = await recv(ws)
        seq = await commit(store, hub, [result("api", i=1), result("web", i=1)])
        events = await recv_until_event(ws, seq)
    assert isinstance(snapshot, Snapshot) and [r.target for r in snapshot.results] == ["web"]
    assert [e.data["target"] for e in events] == ["web"]


async def test_since_ahead_of_the_store_gets_a_snapshot_instead(store, hub) -> None:
    await store.put_results([result("api")])
    async with connect(hub.url + "?since=999") as ws:
        hello = await recv(ws)
        snapshot = await recv(ws)
    assert isinstance(hello, Hello) and hello.seq == 1
    assert isinstance(snapshot, Snapshot) and snapshot.seq == 1


@pytest.mark.parametrize("query", ["?since=abc", "?kinds=bogus"])
async def test_a_bad_query_is_refused_at_the_handshake_with_400(hub, query: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(hub.url + query)
    assert refused.value.response.status_code == 400


async def test_websocket_transport_maps_401_refusal_and_close(store) -> None:
    transport = WebSocketTransport()
    async with Hub(store, listen="127.0.0.1:0", token="a-long-enough-token") as h:
        with pytest.raises(AuthError, match="401"):
            await transport.connect(h.url, {})
        conn = await transport.connect(h.url, {"Authorization": "Bearer a-long-enough-token"})
        assert json.loads(await conn.recv())["type"] == "hello"
        port = h.port
    with pytest.raises(StreamClosed) as closed:
        while True:
            await conn.recv()
    await conn.close()
    assert closed.value.code == 1001  # the hub went away
    with pytest.raises(ConnectError):
        await transport.connect(f"ws://127.0.0.1:{port}/", {})


async def test_serve_hub_runs_from_the_hub_config_and_notify_wakes_the_feed(store) -> None:
    config = HubConfig(listen="127.0.0.1:0", token=None, max_frame_bytes=4096)
    # The manual clock never moves, so the feed's poll never fires: only notify() delivers.
    async with serve_hub(store, config, clock=ManualClock()) as hub, connect(hub.url) as ws:
        await recv(ws)
        await recv(ws)
        (seq,) = await store.put_results([result("api")])
        hub.notify()
        (event,) = await recv_until_event(ws, seq)
    assert isinstance(event, EventMessage)


async def test_a_port_in_use_is_a_stream_error(store, hub) -> None:
    with pytest.raises(StreamError, match="cannot listen"):
        await Hub(store, listen=f"127.0.0.1:{hub.port}").start()


async def test_tokens_never_reach_the_logs_even_at_debug(store, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "never-log-this-token"
    async with Hub(store, listen="127.0.0.1:0", token=secret) as h:
        transport = WebSocketTransport()
        conn = await transport.connect(h.url, {"Authorization": f"Bearer {secret}"})
        await conn.recv()
        await conn.close()
        with pytest.raises(AuthError):
            await transport.connect(h.url + "?token=wrong-" + secret, {})
    assert caplog.records  # the hub did log, at info
    assert secret not in caplog.text
