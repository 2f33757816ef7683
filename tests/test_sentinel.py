"""The sentinel end to end: real loopback servers, a real SQLite store, the real alert book."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from nephos.clock import ManualClock, SystemClock
from nephos.config.types import Config, HotStoreConfig, SentinelConfig, StorageConfig
from nephos.model import AlertRule, CheckKind, Health, LatencyThresholds, Target
from nephos.probes.base import Observation, Probe
from nephos.probes.registry import ProbeSet
from nephos.sentinel.events import AlertEvent, CheckEvent, SentinelEvent
from nephos.sentinel.runner import Sentinel
from nephos.sim.http_server import HttpSim, Respond
from nephos.store import open_hot_store
from nephos.store.base import HotStore

FAST = LatencyThresholds(degraded=timedelta(milliseconds=80), unhealthy=timedelta(seconds=3))


@pytest.fixture
async def web() -> AsyncIterator[HttpSim]:
    sim = HttpSim()
    sim.add_route("/ok", Respond(200, body="fine"))
    sim.add_route("/slow", Respond(200, body="slow", delay=0.15))
    sim.add_route("/down", Respond(503, body="no"))
    async with sim:
        yield sim


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[HotStore]:
    hot = open_hot_store(HotStoreConfig(path=str(tmp_path / "hot.db")))
    await hot.open()
    yield hot
    await hot.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(sim: HttpSim, name: str, path: str, interval: float = 60, **kw: object) -> Target:
    return Target(
        name=name,
        kind=CheckKind.HTTP,
        address=sim.url(path),
        interval=timedelta(seconds=interval),
        timeout=timedelta(seconds=2),
        latency=FAST,
        **kw,  # type: ignore[arg-type]
    )


def _config(tmp_path: Path, *targets: Target, **sentinel: object) -> Config:
    return Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        sentinel=SentinelConfig(**sentinel),  # type: ignore[arg-type]
        targets=targets,
    )


async def _run_until(
    sentinel: Sentinel, done: Callable[[], bool], events: asyncio.Event
) -> asyncio.Task[None]:
    task = asyncio.create_task(sentinel.run())
    while not done():
        await asyncio.wait_for(events.wait(), 10)
        events.clear()
    return task


class Collector:
    """An event sink that remembers everything and signals each arrival."""

    def __init__(self) -> None:
        self.events: list[SentinelEvent] = []
        self.arrived = asyncio.Event()

    def __call__(self, event: SentinelEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    def checks(self, target: str | None = None) -> list[CheckEvent]:
        return [
            e
            for e in self.events
            if isinstance(e, CheckEvent) and (target is None or e.result.target == target)
        ]

    def alerts(self) -> list[AlertEvent]:
        return [e for e in self.events if isinstance(e, AlertEvent)]


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (("/ok", "/ok"), Health.HEALTHY),
        (("/ok", "/slow"), Health.DEGRADED),
        (("/ok", "/slow", "/down"), Health.UNHEALTHY),
    ],
)
async def test_one_round_reports_the_worst_health_and_stores_every_result(
    tmp_path: Path, web: HttpSim, store: HotStore, paths: tuple[str, ...], expected: Health
) -> None:
    targets = [_http(web, f"t{i}", path) for i, path in enumerate(paths)]
    sentinel = Sentinel(_config(tmp_path, *targets), store=store, clock=SystemClock())
    health = await sentinel.run_once()
    assert health is expected
    assert health.exit_code == {"healthy": 0, "degraded": 1, "unhealthy": 2}[expected.value]
    stored = {r.target: r for r in await store.latest_results()}
    assert set(stored) == {t.name for t in targets}


async def test_a_failing_canary_marks_results_offline_and_raises_no_alert(
    tmp_path: Path, web: HttpSim, store: HotStore
) -> None:
    canary = Target(
        name="gateway",
        kind=CheckKind.TCP,
        address=f"127.0.0.1:{_closed_port()}",
        timeout=timedelta(seconds=2),
        canary=True,
    )
    down = _http(web, "api", "/down", alerts=(AlertRule(failure_threshold=1),))
    config = _config(tmp_path, canary, down, concurrency=1)
    collector = Collector()
    sentinel = Sentinel(config, store=store, clock=SystemClock(), on_event=collector)
    assert await sentinel.run_once() is Health.UNHEALTHY
    api = collector.checks("api")[0].result
    assert api.sentinel_offline
    assert api.reason.startswith("sentinel offline: canary 'gateway' is failing")
    assert collector.alerts() == []
    assert await store.alerts() == []
    stored = {r.target: r for r in await store.latest_results()}
    assert stored["api"].sentinel_offline


async def test_a_failing_target_opens_an_alert_when_the_sentinel_is_online(
    tmp_path: Path, web: HttpSim, store: HotStore
) -> None:
    down = _http(web, "api", "/down", alerts=(AlertRule(failure_threshold=1),))
    collector = Collector()
    config = _config(tmp_path, down, _http(web, "fine", "/ok"))
    sentinel = Sentinel(config, store=store, clock=SystemClock(), on_event=collector)
    await sentinel.run_once()
    assert [e.alert.target for e in collector.alerts()] == ["api"]
    assert [a.target for a in await store.alerts()] == ["api"]


async def test_a_graceful_stop_stores_every_result_it_reported(
    tmp_path: Path, web: HttpSim, store: HotStore
) -> None:
    targets = [_http(web, f"t{i}", "/ok", interval=0.2) for i in range(5)]
    collector = Collector()
    sentinel = Sentinel(
        _config(tmp_path, *targets), store=store, clock=SystemClock(), on_event=collector
    )
    task = await _run_until(sentinel, lambda: len(collector.checks()) >= 12, collector.arrived)
    sentinel.stop()
    await asyncio.wait_for(task, 10)
    reported = len(collector.checks())
    stored = await store.results(limit=10_000)
    assert len(stored) == reported
    assert {r.target for r in stored} == {t.name for t in targets}


async def test_a_reloaded_config_adds_a_target_without_restarting(
    tmp_path: Path, web: HttpSim, store: HotStore
) -> None:
    first = _http(web, "first", "/ok", interval=0.2)
    collector = Collector()
    config = _config(tmp_path, first)
    sentinel = Sentinel(config, store=store, clock=SystemClock(), on_event=collector)
    task = await _run_until(sentinel, lambda: bool(collector.checks("first")), collector.arrived)
    added = _http(web, "added", "/ok", interval=0.2)
    await sentinel.apply_config(_config(tmp_path, first, added))
    while not collector.checks("added"):
        await asyncio.wait_for(collector.arrived.wait(), 10)
        collector.arrived.clear()
    sentinel.stop()
    await asyncio.wait_for(task, 10)
    assert {r.target for r in await store.latest_results()} == {"first", "added"}


async def test_metrics_are_served_on_loopback_while_running(
    tmp_path: Path, web: HttpSim, store: HotStore
) -> None:
    collector = Collector()
    config = _config(tmp_path, _http(web, "api", "/ok", interval=0.2))
    sentinel = Sentinel(config, store=store, clock=SystemClock(), on_event=collector)
    task = asyncio.create_task(sentinel.run(metrics_port=0))
    while not collector.checks():
        await asyncio.wait_for(collector.arrived.wait(), 10)
        collector.arrived.clear()
    assert sentinel.metrics_port
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{sentinel.metrics_port}/metrics") as response,
    ):
        text = await response.text()
    sentinel.stop()
    await asyncio.wait_for(task, 10)
    assert 'nephos_target_success{kind="http",provider="other",target="api"} 1.0' in text
    assert 'nephos_target_status_code{kind="http",provider="other",target="api"} 200.0' in text
    assert 'nephos_sentinel_checks_total{result="healthy"}' in text
    assert "nephos_sentinel_schedule_jitter_seconds_count" in text


async def test_an_edited_config_file_is_picked_up_while_running(
    tmp_path: Path, web: HttpSim, store: HotStore
) -> None:
    from nephos.config import load_config

    path = tmp_path / "nephos.yaml"
    head = f"storage:\n  hot:\n    path: {tmp_path / 'hot.db'}\ntargets:\n"
    entry = "  - name: {0}\n    url: {1}\n    interval: 1s\n"
    path.write_text(head + entry.format("first", web.url("/ok")))
    collector = Collector()
    sentinel = Sentinel(
        load_config(str(path)), store=store, clock=SystemClock(), on_event=collector
    )
    task = asyncio.create_task(sentinel.run(watch_config=True))
    while not collector.checks("first"):
        await asyncio.wait_for(collector.arrived.wait(), 10)
        collector.arrived.clear()
    path.write_text(
        head + entry.format("first", web.url("/ok")) + entry.format("second", web.url("/ok"))
    )
    while not collector.checks("second"):
        await asyncio.wait_for(collector.arrived.wait(), 10)
        collector.arrived.clear()
    sentinel.stop()
    await asyncio.wait_for(task, 10)
    assert [t.name for t in sentinel.config.targets] == ["first", "second"]


class _StuckProbe(Probe):
    """A TCP probe that never answers and outlives the probe set's own timeout."""

    kind = CheckKind.TCP

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def run(self, target: Target) -> Observation:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_check_past_its_deadline_is_recorded_as_timed_out(
    tmp_path: Path, store: HotStore
) -> None:
    clock = ManualClock()
    stuck = Target(
        name="stuck", kind=CheckKind.TCP, address="127.0.0.1:9", timeout=timedelta(seconds=1)
    )
    collector = Collector()
    probe = _StuckProbe()
    probes = ProbeSet({CheckKind.TCP: probe})
    sentinel = Sentinel(
        _config(tmp_path, stuck), store=store, clock=clock, probes=probes, on_event=collector
    )
    task = asyncio.create_task(sentinel.run())
    await asyncio.wait_for(probe.started.wait(), 10)
    # Past timeout (1 s) + the scheduler's grace (2 s) on the manual clock, then past the
    # batch interval, until the result arrives (the store write runs in a real thread).
    for _ in range(40):
        clock.advance(0.5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(collector.arrived.wait(), 0.1)
            break
    sentinel.stop()
    sentinel.stop()
    await asyncio.wait_for(task, 10)
    await probes.close()
    event = collector.checks("stuck")[0]
    assert event.result.health is Health.UNHEALTHY
    assert event.result.error == "check timed out after 3.0s"


async def test_new_notifiers_on_reload_keep_the_open_alert_without_repeating_it(
    tmp_path: Path, web: HttpSim, store: HotStore
) -> None:
    from nephos.config.types import NotifierConfig

    down = _http(web, "api", "/down", interval=0.2, alerts=(AlertRule(failure_threshold=1),))
    fast = {"failing_interval": timedelta(seconds=0.2)}
    collector = Collector()
    sentinel = Sentinel(
        _config(tmp_path, down, **fast), store=store, clock=SystemClock(), on_event=collector
    )
    task = await _run_until(sentinel, lambda: bool(collector.alerts()), collector.arrived)
    before = sentinel.alert_book
    notifiers = {"ops": NotifierConfig(name="ops", type="log")}
    reloaded = dataclasses.replace(_config(tmp_path, down, **fast), notifiers=notifiers)
    await sentinel.apply_config(reloaded)
    assert sentinel.alert_book is not before
    seen = len(collector.checks("api"))
    while len(collector.checks("api")) < seen + 3:
        await asyncio.wait_for(collector.arrived.wait(), 10)
        collector.arrived.clear()
    sentinel.stop()
    await asyncio.wait_for(task, 10)
    assert len(await store.alerts()) == 1
