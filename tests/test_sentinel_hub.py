"""The sentinel serving its hub: a real WebSocket client gets the snapshot, live checks and acks.

The sentinel runs on a ManualClock, so the hub's own poll never fires: every event a client
receives was delivered because the sentinel woke the hub after committing its batch.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from nephos.clock import ManualClock
from nephos.config.types import (
    Config,
    HotStoreConfig,
    HubConfig,
    SentinelConfig,
    StorageConfig,
)
from nephos.model import Alert, AlertRule, AlertState, CheckKind, CheckResult, EventKind, Target
from nephos.sentinel.events import AlertEvent, CheckEvent, SentinelEvent
from nephos.sentinel.runner import Sentinel
from nephos.sim.http_server import HttpSim, Respond
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.client import StreamClient, StreamMessage
from nephos.stream.protocol import EventMessage, Snapshot

INTERVAL = timedelta(seconds=10)
REMIND = timedelta(minutes=5)


@pytest.fixture
async def web() -> AsyncIterator[HttpSim]:
    sim = HttpSim()
    sim.add_route("/ok", Respond(200, body="fine"))
    sim.add_route("/down", Respond(503, body="no"))
    async with sim:
        yield sim


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock)
    await hot.open()
    yield hot
    await hot.close()


def _target(web: HttpSim, name: str, path: str, **kw: object) -> Target:
    return Target(
        name=name,
        kind=CheckKind.HTTP,
        address=web.url(path),
        interval=INTERVAL,
        timeout=timedelta(seconds=2),
        **kw,  # type: ignore[arg-type]
    )


class Events:
    """The sentinel's events, with a wait for the next one that matches."""

    def __init__(self) -> None:
        self.seen: list[SentinelEvent] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: SentinelEvent) -> None:
        self.seen.append(event)
        self._arrived.set()

    async def wait_for(self, match: Callable[[SentinelEvent], bool], after: int = 0) -> None:
        while not any(match(e) for e in self.seen[after:]):
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), 10)


async def _next(stream: AsyncIterator[StreamMessage], match: Callable[[object], bool]) -> object:
    while True:
        message = await asyncio.wait_for(anext(stream), 10)
        if match(message):
            return message


def _is_check(target: str) -> Callable[[SentinelEvent], bool]:
    return lambda e: isinstance(e, CheckEvent) and e.result.target == target


def _event_of(kind: EventKind, match: Callable[[CheckResult | Alert], bool]) -> Callable[..., bool]:
    def test(message: object) -> bool:
        return (
            isinstance(message, EventMessage) and message.kind is kind and match(message.record())
        )

    return test


async def test_a_client_gets_the_snapshot_then_live_checks_and_its_ack_stops_reminders(
    tmp_path: Path, web: HttpSim, store: SqliteHotStore, clock: ManualClock
) -> None:
    rule = AlertRule(failure_threshold=1, reminder_interval=REMIND)
    config = Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        sentinel=SentinelConfig(interval=INTERVAL, failing_interval=None),
        targets=(_target(web, "api", "/ok"), _target(web, "db", "/down", alerts=(rule,))),
    )
    events = Events()
    # batch_size=1: a result is written at once, so no clock tick is needed to flush it.
    sentinel = Sentinel(config, store=store, clock=clock, on_event=events, batch_size=1)
    hub = HubConfig(listen="127.0.0.1:0")
    running = asyncio.create_task(sentinel.run(serve=hub))
    client: StreamClient | None = None
    try:
        await asyncio.wait_for(sentinel.serving.wait(), 10)
        assert sentinel.hub is not None
        client = StreamClient(sentinel.hub.url)
        stream = client.messages()
        snapshot = await _next(stream, lambda m: isinstance(m, Snapshot))

        clock.advance(INTERVAL)  # every target is due: one round
        checked = await _next(stream, _event_of(EventKind.CHECK, lambda r: r.target == "api"))
        firing = await _next(stream, _event_of(EventKind.ALERT, lambda a: a.target == "db"))
        alert = firing.record()  # type: ignore[attr-defined]
        assert isinstance(alert, Alert) and alert.state is AlertState.FIRING

        await client.send_ack(alert.id)
        acked = await _next(
            stream,
            _event_of(EventKind.ALERT, lambda a: a.state is AlertState.ACKNOWLEDGED),
        )
        stored = await store.get_alert(alert.id)

        # Past the reminder interval, the still-failing target is checked again: the book
        # sees the ack made through the hub and sends no reminder.
        before = len(events.seen)
        clock.advance(REMIND + INTERVAL)
        await events.wait_for(_is_check("db"), after=before)
        later = await store.get_alert(alert.id)
        book_view = {a.id: a.state for a in sentinel.alert_book.open_alerts()}
    finally:
        sentinel.stop()
        if client is not None:
            await client.close()
        await asyncio.wait_for(running, 10)

    assert isinstance(snapshot, Snapshot)
    assert isinstance(checked, EventMessage) and checked.seq > snapshot.seq
    assert isinstance(acked, EventMessage) and acked.record().id == alert.id  # type: ignore[union-attr]
    assert stored is not None and stored.state is AlertState.ACKNOWLEDGED
    assert later is not None and later.state is AlertState.ACKNOWLEDGED
    assert later.notify_count == alert.notify_count == 1
    assert not [
        e for e in events.seen[before:] if isinstance(e, AlertEvent) and e.alert.id == alert.id
    ]
    assert book_view == {alert.id: AlertState.ACKNOWLEDGED}
    assert sentinel.hub is None


async def test_the_hub_gauges_join_the_sentinel_metrics_while_it_serves(
    tmp_path: Path, web: HttpSim, store: SqliteHotStore, clock: ManualClock
) -> None:
    config = Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        targets=(_target(web, "api", "/ok"),),
    )
    sentinel = Sentinel(config, store=store, clock=clock)
    running = asyncio.create_task(sentinel.run(serve=HubConfig(listen="127.0.0.1:0")))
    try:
        await asyncio.wait_for(sentinel.serving.wait(), 10)
        exposition = sentinel.metrics.exposition().decode()
    finally:
        sentinel.stop()
        await asyncio.wait_for(running, 10)
    assert "nephos_hub_connections" in exposition
    assert "nephos_hub_connections" not in sentinel.metrics.exposition().decode()


async def test_the_sentinel_hub_accepts_ingested_points_into_the_store(
    tmp_path: Path, web: HttpSim, store: SqliteHotStore, clock: ManualClock
) -> None:
    import httpx

    config = Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        targets=(_target(web, "api", "/ok"),),
    )
    sentinel = Sentinel(config, store=store, clock=clock)
    running = asyncio.create_task(sentinel.run(serve=HubConfig(listen="127.0.0.1:0")))
    try:
        await asyncio.wait_for(sentinel.serving.wait(), 10)
        assert sentinel.hub is not None and sentinel.hub.ingest is not None
        point = {
            "instance": "web-1",
            "metric": "cpu_percent",
            "unit": "percent",
            "ts": "2026-01-05T12:00:00Z",
            "value": 42.5,
        }
        async with httpx.AsyncClient() as http:
            answer = await http.post(sentinel.hub.ingest.url, json=[point])
        assert answer.status_code == 202
    finally:
        sentinel.stop()
        await asyncio.wait_for(running, 10)
    stored = await store.metrics("web-1", "cpu_percent")
    assert [p.value for p in stored] == [42.5]


def _busy_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def test_sentinel_run_on_a_busy_hub_port_exits_4_with_one_line_naming_it(
    tmp_path: Path, web: HttpSim
) -> None:
    with _busy_port() as busy:
        listen = f"127.0.0.1:{busy.getsockname()[1]}"
        config = tmp_path / "nephos.yaml"
        config.write_text(
            f"storage:\n  hot:\n    path: {tmp_path / 'hot.db'}\n"
            f"hub:\n  listen: {listen}\n"
            f"targets:\n  - name: api\n    url: {web.url('/ok')}\n"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "nephos",
            "sentinel",
            "run",
            "-c",
            str(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 4
    assert len(lines) == 1
    assert listen in lines[0] and "already in use" in lines[0]
    assert "--no-serve" in lines[0] and "hub.listen" in lines[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_sentinel_run_serves_the_hub_it_announces_until_sigterm(
    tmp_path: Path, web: HttpSim
) -> None:
    url = f"ws://127.0.0.1:{_free_port()}/"
    config = tmp_path / "nephos.yaml"
    config.write_text(
        f"storage:\n  hot:\n    path: {tmp_path / 'hot.db'}\n"
        f"hub:\n  listen: {url[5:-1]}\n"
        f"targets:\n  - name: api\n    url: {web.url('/ok')}\n    interval: 1s\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nephos",
        "sentinel",
        "run",
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    client = StreamClient(url)
    try:
        line = b""
        while b"live stream" not in line:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "the sentinel exited without announcing its hub"
        stream = client.messages()
        event = await _next(stream, _event_of(EventKind.CHECK, lambda r: r.target == "api"))
    finally:
        await client.close()
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)
    assert f"live stream on {url}" in line.decode()
    assert isinstance(event, EventMessage)
    assert proc.returncode == 0
