"""Instance health in the sentinel: real provider adapters on the loopback cloud simulator,
a real SQLite store, the real alert book; a manual clock where time matters."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from nephos.clock import ManualClock, SystemClock
from nephos.config.types import Config, HotStoreConfig, SentinelConfig, StorageConfig
from nephos.model import (
    AlertRule,
    AlertSource,
    AlertState,
    CheckKind,
    EventKind,
    Instance,
    InstanceState,
    MaintenanceWindow,
    MetricPoint,
    Severity,
    Target,
)
from nephos.notify.dispatch import Dispatcher
from nephos.providers import provider_class
from nephos.providers.inventory import provider_health
from nephos.sentinel.alerts import AlertBook
from nephos.sentinel.instances import read_provider_statuses
from nephos.sentinel.runner import Sentinel
from nephos.sim.clouds import CloudFleet, CloudInstance, CloudSim, Fault
from nephos.sim.http_server import HttpSim
from nephos.store import open_hot_store
from nephos.store.base import HotStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _fleet() -> CloudFleet:
    return CloudFleet(
        [
            CloudInstance("vultr", "v-web", "web-1", "ewr"),
            CloudInstance("vultr", "v-cache", "cache-1", "fra"),
            CloudInstance(
                "gcp",
                "9001",
                "search-1",
                "europe-west1-b",
                metrics={"cpu_percent": lambda at: 91.5},
            ),
            CloudInstance(
                "azure",
                "az-1",
                "reports-1",
                "westeurope",
                metrics={"cpu_percent": lambda at: 30.0, "mem_percent": lambda at: 80.0},
            ),
        ]
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def fleet() -> CloudFleet:
    return _fleet()


@pytest.fixture
async def sim(fleet: CloudFleet, clock: ManualClock) -> AsyncIterator[CloudSim]:
    async with CloudSim(fleet, clock=clock) as running:
        yield running


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[HotStore]:
    hot = open_hot_store(HotStoreConfig(path=str(tmp_path / "hot.db")))
    await hot.open()
    yield hot
    await hot.close()


def _providers(sim: CloudSim, **intervals: timedelta) -> dict[str, dict[str, Any]]:
    """The providers section as the config loader leaves it: cleaned by each class."""
    out = {}
    for name, options in sim.provider_options().items():
        cleaned = provider_class(name).validate_options(options)
        if name in intervals:
            cleaned["interval"] = intervals[name]
        out[name] = cleaned
    return out


def _config(tmp_path: Path, sim: CloudSim, *targets: Target, **sentinel: Any) -> Config:
    return Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        sentinel=SentinelConfig(**sentinel),
        providers=_providers(sim),
        targets=targets,
    )


async def _instance_events(store: HotStore) -> int:
    return sum(1 for e in await store.changes(0, 10_000) if e.kind is EventKind.INSTANCE)


async def _open_instance_alert(store: HotStore) -> Any:
    alerts = await store.alerts(states=[AlertState.FIRING, AlertState.ACKNOWLEDGED])
    return next((a for a in alerts if a.source is AlertSource.INSTANCE), None)


async def test_every_provider_is_polled_and_only_changed_instances_become_events(
    tmp_path: Path, sim: CloudSim, fleet: CloudFleet, store: HotStore, clock: ManualClock
) -> None:
    sentinel = Sentinel(_config(tmp_path, sim), store=store, clock=clock)
    await sentinel.start()
    try:
        statuses = await sentinel.instances.poll_all()
        assert {s.provider: s.available for s in statuses} == {
            "vultr": True,
            "gcp": True,
            "azure": True,
        }
        stored = {(i.provider, i.name) for i in await store.instances()}
        assert stored == {
            ("vultr", "web-1"),
            ("vultr", "cache-1"),
            ("gcp", "search-1"),
            ("azure", "reports-1"),
        }
        assert await _instance_events(store) == 4

        clock.advance(30)
        await sentinel.instances.poll_all()
        assert await _instance_events(store) == 4  # nothing changed: the feed stays quiet

        fleet.set_state("vultr", "v-cache", InstanceState.STOPPED)
        clock.advance(30)
        await sentinel.instances.poll_all()
        assert await _instance_events(store) == 5
        cache = next(i for i in await store.instances() if i.name == "cache-1")
        assert cache.state is InstanceState.STOPPED
    finally:
        await sentinel.close()


async def test_a_failing_provider_is_unavailable_with_its_reason_and_the_others_carry_on(
    tmp_path: Path,
    sim: CloudSim,
    store: HotStore,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {"error": {"code": "AuthorizationFailed", "message": "no access"}}
    sim.fail("azure", Fault(403, body=body), times=100)
    sentinel = Sentinel(_config(tmp_path, sim), store=store, clock=clock)
    await sentinel.start()
    try:
        with caplog.at_level(logging.WARNING, logger="nephos.sentinel.instances"):
            await sentinel.instances.poll_all()
            clock.advance(60)
            await sentinel.instances.poll_all()
        azure = sentinel.instances.statuses["azure"]
        assert not azure.available
        assert azure.reason is not None and "403" in azure.reason
        assert sentinel.instances.statuses["vultr"].available
        assert {i.provider for i in await store.instances()} == {"vultr", "gcp"}
        outages = [r for r in caplog.records if "azure unavailable" in r.getMessage()]
        assert len(outages) == 1  # once per outage, not once per poll

        stored = {s.provider: s for s in await read_provider_statuses(store)}
        assert not stored["azure"].available and stored["azure"].reason == azure.reason
        assert stored["gcp"].available and stored["gcp"].instances == 1
    finally:
        await sentinel.close()


async def test_running_to_stopped_opens_an_instance_alert_and_running_again_resolves_it(
    tmp_path: Path, sim: CloudSim, fleet: CloudFleet, store: HotStore, clock: ManualClock
) -> None:
    seen: list[Any] = []
    sentinel = Sentinel(
        _config(tmp_path, sim), store=store, clock=clock, on_event=lambda e: seen.append(e)
    )
    await sentinel.start()
    try:
        await sentinel.instances.poll_all()
        assert await _open_instance_alert(store) is None

        fleet.set_state("vultr", "v-web", InstanceState.STOPPED)
        clock.advance(30)
        await sentinel.instances.poll_all()
        alert = await _open_instance_alert(store)
        assert alert is not None
        assert alert.dedup_key == "instance|vultr|v-web"
        assert alert.message == "instance web-1 (vultr, ewr) is stopped (was running)"
        assert alert.facts["cause"] == "instance web-1 (vultr, ewr) being stopped"
        assert [e.alert.id for e in seen] == [alert.id]  # the observer hears of it

        clock.advance(30)
        await sentinel.instances.poll_all()  # still stopped: the same alert, no second one
        assert len(await store.alerts()) == 1

        fleet.set_state("vultr", "v-web", InstanceState.RUNNING)
        clock.advance(30)
        await sentinel.instances.poll_all()
        resolved = await store.get_alert(alert.id)
        assert resolved is not None and resolved.state is AlertState.RESOLVED
        assert resolved.message == "instance web-1 (vultr, ewr) is running again"
    finally:
        await sentinel.close()


async def test_a_terminated_instance_leaves_the_totals_and_closes_its_alert_quietly(
    tmp_path: Path, sim: CloudSim, fleet: CloudFleet, store: HotStore, clock: ManualClock
) -> None:
    sentinel = Sentinel(_config(tmp_path, sim), store=store, clock=clock)
    await sentinel.start()
    try:
        await sentinel.instances.poll_all()
        fleet.set_state("vultr", "v-web", InstanceState.STOPPED)
        clock.advance(30)
        await sentinel.instances.poll_all()
        alert = await _open_instance_alert(store)
        assert alert is not None and alert.notify_count == 1

        fleet.remove("vultr", "v-web")  # Vultr deletes outright: the list just drops it
        clock.advance(30)
        await sentinel.instances.poll_all()
        closed = await store.get_alert(alert.id)
        assert closed is not None and closed.state is AlertState.RESOLVED
        assert closed.notify_count == 1  # no "resolved" message for a removed machine
        assert closed.message == "instance web-1 (vultr, ewr) was terminated"
        web_1 = next(i for i in await store.instances() if i.name == "web-1")
        assert web_1.state is InstanceState.TERMINATED
        totals = provider_health(await store.instances())
        assert totals["vultr"].total == 1 and totals["vultr"].healthy == 1
    finally:
        await sentinel.close()


async def test_provider_metrics_are_stored_and_handed_to_the_metrics_hook_once(
    tmp_path: Path, sim: CloudSim, store: HotStore, clock: ManualClock
) -> None:
    handed: list[MetricPoint] = []
    sentinel = Sentinel(_config(tmp_path, sim), store=store, clock=clock)
    sentinel.instances.on_metrics = handed.extend
    await sentinel.start()
    try:
        await sentinel.instances.poll_all()
        await sentinel.instances.poll_all()  # the same window again: nothing new
        stored = await store.metrics(limit=10_000)
        series = {(p.provider, p.instance, p.metric) for p in stored}
        assert ("gcp", "9001", "cpu_percent") in series
        assert {m for p, _, m in series if p == "azure"} == {"cpu_percent", "mem_percent"}
        gcp_cpu = [p.value for p in stored if p.provider == "gcp"]
        assert gcp_cpu and all(v == pytest.approx(91.5) for v in gcp_cpu)
        assert sorted(map(repr, handed)) == sorted(map(repr, stored))
        assert len(stored) == len({(p.provider, p.instance, p.metric, p.ts) for p in stored})
    finally:
        await sentinel.close()


async def test_each_provider_keeps_its_own_poll_interval(
    tmp_path: Path, sim: CloudSim, store: HotStore, clock: ManualClock
) -> None:
    config = Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        sentinel=SentinelConfig(interval=timedelta(minutes=2)),
        providers=_providers(sim, vultr=timedelta(seconds=20)),
    )
    sentinel = Sentinel(config, store=store, clock=clock)
    assert sentinel.instances.interval("vultr") == 20.0
    assert sentinel.instances.interval("gcp") == 120.0
    await sentinel.close()


# ---------------------------------------------------------------------------- root cause


@pytest.fixture
async def shop(fleet: CloudFleet) -> AsyncIterator[HttpSim]:
    """The website on web-1: it answers 502 while its instance is not running."""

    async def handler(request: web.Request) -> web.StreamResponse:
        up = fleet.get("vultr", "v-web").state is InstanceState.RUNNING
        return web.json_response({"up": up}, status=200 if up else 502)

    server = HttpSim()
    server.add_route("/", handler)
    async with server:
        yield server


async def test_a_target_on_a_stopped_instance_is_suppressed_by_it_and_released_on_recovery(
    tmp_path: Path, sim: CloudSim, fleet: CloudFleet, store: HotStore, shop: HttpSim
) -> None:
    site = Target(
        name="shop-web",
        kind=CheckKind.HTTP,
        address=shop.url("/"),
        provider="vultr",
        instance="web-1",
        conditions=("[STATUS] == 200",),
        alerts=(AlertRule(failure_threshold=1, success_threshold=1),),
    )
    config = _config(tmp_path, sim, site, offline_when_all_fail=False)

    async def one_round() -> None:
        # A fresh sentinel each round, as after a restart: the state lives in the store.
        await Sentinel(config, store=store, clock=SystemClock()).run_once()

    await one_round()
    fleet.set_state("vultr", "v-web", InstanceState.STOPPED)
    await one_round()

    root = await _open_instance_alert(store)
    assert root is not None
    open_alerts = await store.alerts(states=[AlertState.FIRING])
    site_alert = next(a for a in open_alerts if a.target == "shop-web")
    assert site_alert.suppressed_by == root.id
    assert site_alert.notify_count == 0
    assert "caused by instance web-1 (vultr, ewr) being stopped" in site_alert.message
    assert site_alert.facts["caused_by"] == {
        "alert": root.id,
        "cause": "instance web-1 (vultr, ewr) being stopped",
    }
    latest = {r.target: r for r in await store.latest_results()}["shop-web"]
    assert latest.reason.endswith("; caused by instance web-1 (vultr, ewr) being stopped")

    # The instance is back, but the site still fails on its own (a 404 now): the
    # suppression is lifted and its alert speaks for itself.
    fleet.set_state("vultr", "v-web", InstanceState.RUNNING)
    broken = dataclasses.replace(site, address=shop.url("/missing"))
    await Sentinel(
        dataclasses.replace(config, targets=(broken,)), store=store, clock=SystemClock()
    ).run_once()
    released = await store.get_alert(site_alert.id)
    assert released is not None and released.state is AlertState.FIRING
    assert released.suppressed_by is None
    assert "caused_by" not in released.facts
    assert released.notify_count == 1  # announced late, now that it is its own failure
    resolved_root = await store.get_alert(root.id)
    assert resolved_root is not None and resolved_root.state is AlertState.RESOLVED


async def test_while_running_the_sentinel_polls_providers_in_the_background(
    tmp_path: Path, sim: CloudSim, store: HotStore
) -> None:
    arrived = asyncio.Event()
    config = Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        providers=_providers(sim),
    )
    sentinel = Sentinel(config, store=store, clock=SystemClock())
    sentinel.instances.on_metrics = lambda points: arrived.set()
    task = asyncio.create_task(sentinel.run())
    try:
        await asyncio.wait_for(arrived.wait(), 10)
    finally:
        sentinel.stop()
        await asyncio.wait_for(task, 10)
    assert {i.provider for i in await store.instances()} == {"vultr", "gcp", "azure"}


# ---------------------------------------------------------------------------- the alert book


def _machine(state: InstanceState, signal: str | None = None) -> Instance:
    return Instance(
        provider="aws",
        id="i-0abc",
        name="db-1",
        state=state,
        region="us-east-1",
        health_signal=signal,
    )


def _book(store: HotStore, clock: ManualClock, **settings: Any) -> AlertBook:
    dispatcher = Dispatcher({}, clock=clock)
    return AlertBook(store, dispatcher, clock=clock, settings=SentinelConfig(**settings))


async def test_an_impaired_health_signal_opens_an_alert_even_on_first_sight(
    store: HotStore, clock: ManualClock
) -> None:
    book = _book(store, clock)
    alert = await book.observe_instance(_machine(InstanceState.RUNNING, "impaired"), None)
    assert alert is not None
    assert alert.title == "instance db-1 is impaired (health signal impaired)"
    restated = await book.observe_instance(_machine(InstanceState.STOPPED), None)
    assert restated is not None and restated.id == alert.id  # the same outage, new words
    assert restated.title == "instance db-1 is stopped"
    assert restated.notify_count == 1  # a new word for the same outage, not a new page


async def test_an_instance_first_seen_stopped_is_not_news(
    store: HotStore, clock: ManualClock
) -> None:
    book = _book(store, clock)
    assert await book.observe_instance(_machine(InstanceState.STOPPED), None) is None
    assert (
        await book.observe_instance(_machine(InstanceState.ERROR), _machine(InstanceState.STOPPED))
        is None
    )  # still down: a change of words needs an alert to change
    failed = await book.observe_instance(_machine(InstanceState.ERROR), None)
    assert failed is not None and failed.severity is Severity.CRITICAL


async def test_an_instance_alert_survives_a_restart_and_is_muted_in_maintenance(
    store: HotStore, clock: ManualClock
) -> None:
    window = MaintenanceWindow(start="08:30", duration=timedelta(hours=1))
    first = _book(store, clock, maintenance=(window,))
    running, stopped = _machine(InstanceState.RUNNING), _machine(InstanceState.STOPPED)
    opened = await first.observe_instance(stopped, running)
    assert opened is not None and opened.notify_count == 0
    assert opened.facts["muted"][0]["reason"] == "maintenance"

    clock.advance(timedelta(hours=2))
    restarted = _book(store, clock)
    await restarted.load()
    assert restarted.instance_alert(stopped) == opened
    assert await restarted.observe_instance(stopped, None) is None  # no second alert
    resolved = await restarted.observe_instance(running, stopped)
    assert resolved is not None and resolved.state is AlertState.RESOLVED
    assert resolved.notify_count == 0  # never announced, so no recovery message either
