"""The hub over real WebSockets on 127.0.0.1, tailing a real SQLite hot store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from nephos.errors import ConfigError
from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    EventKind,
    Health,
    Instance,
    InstanceState,
    Severity,
)
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.hub import Hub
from nephos.stream.protocol import (
    ErrorMessage,
    EventMessage,
    Hello,
    Lag,
    Pong,
    ServerMessage,
    Snapshot,
    parse_server_message,
)

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def result(target: str, *, provider: str = "aws", i: int = 0, reason: str = "") -> CheckResult:
    return CheckResult(
        target=target,
        kind=CheckKind.HTTP,
        ts=T0 + timedelta(seconds=i),
        health=Health.HEALTHY,
        latency_ms=10.0 + i,
        success=True,
        provider=provider,
        reason=reason,
    )


def alert(alert_id: str = "al-1", *, target: str = "api", provider: str = "aws") -> Alert:
    return Alert(
        id=alert_id,
        dedup_key=f"{target}:status",
        target=target,
        source=AlertSource.SENTINEL,
        state=AlertState.FIRING,
        severity=Severity.CRITICAL,
        title=f"{target} is down",
        message="[STATUS] was 503",
        started_at=T0,
        updated_at=T0,
        provider=provider,
    )


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"))
    await hot.open()
    yield hot
    await hot.close()


@pytest.fixture
async def hub(store: SqliteHotStore) -> AsyncIterator[Hub]:
    async with Hub(store, listen="127.0.0.1:0", poll_interval=0.01) as running:
        yield running


async def recv(ws: ClientConnection) -> ServerMessage:
    return parse_server_message(await asyncio.wait_for(ws.recv(), 10))


async def recv_until_event(ws: ClientConnection, seq: int) -> list[EventMessage]:
    """Events received until the one with ``seq``, skipping nothing."""
    events: list[EventMessage] = []
    while not events or events[-1].seq < seq:
        message = await recv(ws)
        if isinstance(message, EventMessage):
            events.append(message)
    return events


async def commit(store: SqliteHotStore, hub: Hub, results: list[CheckResult]) -> int:
    seqs = await store.put_results(results)
    hub.notify()
    return seqs[-1]


async def test_new_client_gets_hello_then_snapshot_then_live_events(store, hub) -> None:
    await store.put_results([result("api", i=0), result("api", i=1), result("web", i=2)])
    await store.put_alert(alert())
    await store.put_instances(
        [Instance(provider="aws", id="i-1", name="node-1", state=InstanceState.RUNNING)]
    )
    latest = await store.latest_seq()
    async with connect(hub.url) as ws:
        hello = await recv(ws)
        snapshot = await recv(ws)
        seq = await commit(store, hub, [result("api", i=3)])
        (event,) = await recv_until_event(ws, seq)
    assert isinstance(hello, Hello) and hello.seq == latest
    assert isinstance(snapshot, Snapshot) and snapshot.seq == latest and not snapshot.resync
    assert {(r.target, r.latency_ms) for r in snapshot.results} == {("api", 11.0), ("web", 12.0)}
    assert [a.id for a in snapshot.alerts] == ["al-1"]
    assert [i.name for i in snapshot.instances] == ["node-1"]
    assert event.seq == latest + 1 and event.kind is EventKind.CHECK
    assert event.record() == result("api", i=3)


async def test_resume_replays_then_goes_live_with_no_gap_and_no_duplicate_under_commits(
    store,
) -> None:
    # A tiny outbox and page force the replay to overtake a live feed that keeps overflowing.
    async with Hub(
        store, listen="127.0.0.1:0", poll_interval=0.005, queue_size=8, page_size=7
    ) as h:
        for chunk in range(10):
            await store.put_results([result(f"t{n}", i=chunk) for n in range(20)])
        start = await store.latest_seq()

        async def keep_committing() -> int:
            last = 0
            for chunk in range(60):
                last = await commit(store, h, [result(f"t{n}", i=chunk) for n in range(5)])
                await asyncio.sleep(0)
            return last

        async with connect(h.url + "?since=50") as ws:
            committer = asyncio.create_task(keep_committing())
            assert isinstance(await recv(ws), Hello)
            final = await committer
            events = await recv_until_event(ws, final)
    assert start == 200
    assert [e.seq for e in events] == list(range(51, final + 1))


async def test_client_resumes_after_hub_restart_on_the_same_port_without_loss_or_repeat(
    store,
) -> None:
    from nephos.stream.client import Phase, StateChange, StreamClient

    first = Hub(store, listen="127.0.0.1:0", poll_interval=0.01)
    await first.start()
    port = first.port
    client = StreamClient(first.url, backoff_base=0.05, backoff_cap=0.2)
    seen: list[int] = []
    phases: list[Phase] = []
    await store.put_results([result("api")])
    hub_holder = {"hub": first}

    async def drive() -> None:
        await store.put_results([result("api", i=1)])
        hub_holder["hub"].notify()

    async for message in client.messages():
        if isinstance(message, StateChange):
            phases.append(message.state.phase)
            if message.state.phase is Phase.RECONNECTING and len(seen) == 1:
                # The hub is down: commit while it is, then bring a new hub up on the port.
                await store.put_results([result("api", i=n) for n in range(2, 6)])
                second = Hub(store, listen=f"127.0.0.1:{port}", poll_interval=0.01)
                await second.start()
                hub_holder["hub"] = second
        elif isinstance(message, Snapshot):
            await drive()
        elif isinstance(message, EventMessage):
            seen.append(message.seq)
            if len(seen) == 1:
                await first.stop()
            if message.seq == 6:
                await commit(store, hub_holder["hub"], [result("api", i=7)])
            if message.seq == 7:
                await client.close()
    await hub_holder["hub"].stop()
    assert seen == [2, 3, 4, 5, 6, 7]
    assert phases.count(Phase.LIVE) == 2
    assert Phase.RECONNECTING in phases


async def test_a_client_that_does_not_read_is_resynced_or_closed_and_never_slows_others(
    store,
) -> None:
    async with Hub(
        store, listen="127.0.0.1:0", poll_interval=0.005, queue_size=64, max_lags=2
    ) as h:
        slow = await connect(h.url, max_queue=1)  # reads nothing from here on
        async with connect(h.url) as normal:
            assert isinstance(await recv(normal), Hello)
            assert isinstance(await recv(normal), Snapshot)
            received: list[int] = []
            bulky = "x" * 8192
            for batch in range(60):
                last = await commit(
                    store, h, [result(f"t{n}", i=batch, reason=bulky) for n in range(40)]
                )
                received += [e.seq for e in await recv_until_event(normal, last)]
            assert received == list(range(1, last + 1))
        frames: list[ServerMessage] = []
        code = None
        try:
            while True:
                frames.append(parse_server_message(await asyncio.wait_for(slow.recv(), 10)))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
    lags = [i for i, f in enumerate(frames) if isinstance(f, Lag)]
    resynced = bool(lags) and any(
        isinstance(f, Snapshot) and f.resync for f in frames[lags[0] + 1 :]
    )
    assert code == 1013 or resynced
    assert len([f for f in frames if isinstance(f, EventMessage)]) < last


async def test_token_is_required_from_header_or_query_when_configured(store) -> None:
    async with Hub(store, listen="127.0.0.1:0", token="s3cret-token") as h:
        for headers, url in [({}, h.url), ({"Authorization": "Bearer wrong"}, h.url)]:
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, additional_headers=headers)
            assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            await connect(h.url + "?token=wrong")
        async with connect(
            h.url, additional_headers={"Authorization": "Bearer s3cret-token"}
        ) as ws:
            assert isinstance(await recv(ws), Hello)
        async with connect(h.url + "?token=s3cret-token") as ws:
            assert isinstance(await recv(ws), Hello)


async def test_no_token_needed_on_loopback_but_required_beyond_it(store, hub) -> None:
    async with connect(hub.url) as ws:
        assert isinstance(await recv(ws), Hello)
    with pytest.raises(ConfigError, match="token"):
        Hub(store, listen="0.0.0.0:0")


async def test_malformed_frame_closes_1008_oversized_1009_and_others_are_still_served(
    store,
) -> None:
    async with (
        Hub(store, listen="127.0.0.1:0", max_frame_bytes=1024) as h,
        connect(h.url) as good,
        connect(h.url) as bad,
        connect(h.url) as big,
    ):
        await bad.send("{not json")
        await big.send(json.dumps({"type": "ping", "t": 1, "pad": "x" * 4096}))
        for ws, code in ((bad, 1008), (big, 1009)):
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code
        await good.send(json.dumps({"type": "ping", "t": 42.5}))
        replies = [await recv(good) for _ in range(3)]
    assert Pong(t=42.5) in replies


async def test_filters_by_kind_provider_and_target_apply_to_snapshot_and_events(store, hub) -> None:
    await store.put_results([result("api"), result("web", provider="gcp")])
    async with (
        connect(hub.url + "?kinds=check&providers=gcp") as by_provider,
        connect(hub.url + "?kind=alert") as alerts_only,
        connect(hub.url + "?targets=api") as by_target,
    ):
        for ws in (by_provider, alerts_only, by_target):
            await recv(ws)
        snapshots = [await recv(ws) for ws in (by_provider, alerts_only, by_target)]
        await commit(store, hub, [result("api", i=1), result("web", provider="gcp", i=1)])
        alert_seq = (await store.put_alert(alert()), await store.latest_seq())[1]
        hub.notify()
        got_provider = await recv_until_event(by_provider, 4)
        got_alert = await recv_until_event(alerts_only, alert_seq)
        got_target = await recv_until_event(by_target, alert_seq)
    assert [[r.target for r in s.results] for s in snapshots if isinstance(s, Snapshot)] == [
        ["web"],
        [],
        ["api"],
    ]
    assert [(e.seq, e.data["target"]) for e in got_provider] == [(4, "web")]
    assert [e.kind for e in got_alert] == [EventKind.ALERT]
    assert [(e.kind, e.data["target"]) for e in got_target] == [
        (EventKind.CHECK, "api"),
        (EventKind.ALERT, "api"),
    ]


async def test_subscribe_message_replays_after_since_with_the_new_filter(store, hub) -> None:
    await store.put_results([result("api", i=n) for n in range(3)] + [result("web")])
    async with connect(hub.url) as ws:
        await recv(ws)
        await recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "since": 1, "targets": ["api"]}))
        events = await recv_until_event(ws, 3)
    assert [e.seq for e in events] == [2, 3]


async def test_healthz_answers_json_and_unknown_paths_404(hub) -> None:
    async with connect(hub.url), httpx.AsyncClient() as http:
        base = f"http://127.0.0.1:{hub.port}"
        health = await http.get(base + "/healthz")
        missing = await http.get(base + "/nope")
    assert health.status_code == 200
    assert health.headers["content-type"] == "application/json"
    assert health.json()["status"] == "ok" and health.json()["connections"] == 1
    assert missing.status_code == 404


async def test_ack_acknowledges_the_alert_in_the_store_and_errors_go_back(store, hub) -> None:
    await store.put_alert(alert())
    async with connect(hub.url) as ws:
        await recv(ws)
        await recv(ws)
        await ws.send(json.dumps({"type": "ack", "alert_id": "al-1"}))
        (event,) = await recv_until_event(ws, 2)
        await ws.send(json.dumps({"type": "ack", "alert_id": "al-nope"}))
        error = await recv(ws)
    stored = await store.get_alert("al-1")
    assert stored is not None and stored.state is AlertState.ACKNOWLEDGED
    assert stored.acknowledged_at is not None
    assert event.data["state"] == "acknowledged"
    assert isinstance(error, ErrorMessage) and error.code == "not_found" and error.ref == "al-nope"


async def test_connection_count_and_client_lag_are_in_the_registry(store) -> None:
    registry = CollectorRegistry()
    async with (
        Hub(store, listen="127.0.0.1:0", registry=registry) as h,
        connect(h.url) as a,
        connect(h.url) as b,
    ):
        await recv(a)
        await recv(b)
        assert registry.get_sample_value("nephos_hub_connections") == 2
        lags = [
            s
            for m in registry.collect()
            for s in m.samples
            if s.name == "nephos_hub_client_lag_events"
        ]
    assert len(lags) == 2
    assert registry.get_sample_value("nephos_hub_connections") is None  # unregistered on stop


async def test_a_silent_peer_is_dropped_by_the_keepalive(store) -> None:
    async with Hub(store, listen="127.0.0.1:0", ping_interval=0.05, ping_timeout=0.05) as h:
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert (await reader.readline()).startswith(b"HTTP/1.1 101")
        # This peer answers no ping: the hub must give up on it and close the socket.
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert h.connection_count == 0


async def test_five_hundred_concurrent_clients_all_receive_an_event(store) -> None:
    async with Hub(store, listen="127.0.0.1:0", poll_interval=0.01) as h:
        clients = await asyncio.gather(*(connect(h.url) for _ in range(500)))
        try:
            for ws in clients:
                await recv(ws)
                await recv(ws)
            seq = await commit(store, h, [result("api")])
            got = await asyncio.gather(*(recv(ws) for ws in clients))
        finally:
            await asyncio.gather(*(ws.close() for ws in clients))
    assert {(type(m).__name__, getattr(m, "seq", None)) for m in got} == {("EventMessage", seq)}


async def test_a_burst_beyond_the_queue_gets_a_lag_notice_then_a_resync_snapshot(store) -> None:
    async with (
        Hub(store, listen="127.0.0.1:0", queue_size=64, max_lags=5) as h,
        connect(h.url) as ws,
    ):
        await recv(ws)
        await recv(ws)
        last = await commit(store, h, [result(f"t{n}") for n in range(100)])
        lag = await recv(ws)
        resync = await recv(ws)
        after = await commit(store, h, [result("api", i=1)])
        (event,) = await recv_until_event(ws, after)
    assert lag == Lag(seq=0, dropped=100, count=1, limit=5)
    assert isinstance(resync, Snapshot) and resync.resync and resync.seq == last
    assert len(resync.results) == 100
    assert event.seq == last + 1
