"""The sentinel's analytics service on a ManualClock and a real SQLite store: anomaly alerts
from metric points and check latencies, and forecast alerts on their timer.

Notifications go to a webhook on a local HTTP server, so "notified" means a request arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from nephos.clock import ManualClock
from nephos.config.types import (
    AnalyticsConfig,
    Config,
    HotStoreConfig,
    HubConfig,
    NotifierConfig,
    StorageConfig,
)
from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    Health,
    MetricPoint,
)
from nephos.notify.dispatch import Dispatcher
from nephos.sentinel.analytics import FORECAST_STATE_KEY, SentinelAnalytics
from nephos.sim.http_server import HttpSim, Respond
from nephos.store.spool import SpoolingWriter
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.hub import serve_hub

STEP = timedelta(minutes=5)
DAY = timedelta(hours=26)  # a day of history and a bit: past the detector's warm-up


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock)
    await hot.open()
    yield hot
    await hot.close()


@pytest.fixture
async def hook() -> AsyncIterator[HttpSim]:
    sim = HttpSim()
    sim.add_route("/hook", Respond(200, body="ok"))
    async with sim:
        yield sim


def _config(tmp_path: Path, hook: HttpSim, **analytics: object) -> Config:
    ops = NotifierConfig(name="ops", type="webhook", options={"url": hook.url("/hook")})
    return Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        notifiers={"ops": ops},
        analytics=AnalyticsConfig(notify=("ops",), **analytics),  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def _running(
    config: Config,
    store: SqliteHotStore,
    clock: ManualClock,
    seen: list[Alert] | None = None,
) -> AsyncIterator[tuple[SentinelAnalytics, Dispatcher]]:
    dispatcher = Dispatcher(config.notifiers, clock=clock)
    service = SentinelAnalytics(
        lambda: config,
        store=store,
        clock=clock,
        dispatcher=lambda: dispatcher,
        on_alert=None if seen is None else seen.append,
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(dispatcher.close)
        await service.start(stack)
        yield service, dispatcher


def _cpu(ts: datetime, value: float) -> MetricPoint:
    return MetricPoint("vm-1", "cpu_utilization", "percent", ts, value, provider="aws")


async def _anomaly_alerts(store: SqliteHotStore) -> list[Alert]:
    return [a for a in await store.alerts(limit=100) if a.source is AlertSource.ANOMALY]


async def test_metric_points_raise_one_anomaly_alert_at_the_onset_and_resolve_it_at_the_end(
    tmp_path: Path, store: SqliteHotStore, clock: ManualClock, hook: HttpSim
) -> None:
    rng = random.Random(7)
    config = _config(tmp_path, hook, forecasts=False)
    start = clock.now() - DAY
    history = [_cpu(start + i * STEP, 20 + rng.uniform(-2, 2)) for i in range(DAY // STEP)]
    seen: list[Alert] = []
    async with _running(config, store, clock, seen) as (service, dispatcher):
        service.on_metrics(history)
        await service.settled()
        quiet = await _anomaly_alerts(store)
        for value in (95, 96, 94, 95, 97, 93):  # an incident: six points far above normal
            clock.advance(STEP)
            service.on_metrics([_cpu(clock.now(), value)])
            await service.settled()
        during = await _anomaly_alerts(store)
        for _ in range(4):  # back to normal
            clock.advance(STEP)
            service.on_metrics([_cpu(clock.now(), 20 + rng.uniform(-2, 2))])
            await service.settled()
        after = await _anomaly_alerts(store)
        await dispatcher.drain(10)
    assert quiet == []
    assert [(a.state, a.target, a.provider) for a in during] == [(AlertState.FIRING, "vm-1", "aws")]
    assert during[0].facts["observed"] == 95.0
    assert during[0].facts["notify"] == ["ops"]
    assert [(a.id, a.state) for a in after] == [(during[0].id, AlertState.RESOLVED)]
    assert hook.hits["/hook"] == 2  # firing, then resolved
    assert [a.state for a in seen] == [AlertState.FIRING, AlertState.RESOLVED]


async def test_check_latencies_in_the_change_feed_raise_a_latency_anomaly_for_their_target(
    tmp_path: Path, store: SqliteHotStore, clock: ManualClock, hook: HttpSim
) -> None:
    rng = random.Random(3)

    def check(ts: datetime, latency_ms: float) -> CheckResult:
        return CheckResult(
            target="api",
            kind=CheckKind.HTTP,
            ts=ts,
            health=Health.HEALTHY,
            latency_ms=latency_ms,
            success=True,
            provider="vultr",
        )

    start = clock.now() - DAY
    # History written before the start: the detectors are warmed on it, not alerted.
    await store.put_results(
        [check(start + i * STEP, 120 + rng.uniform(-10, 10)) for i in range(DAY // STEP)]
    )
    config = _config(tmp_path, hook, forecasts=False)
    async with _running(config, store, clock) as (service, _):
        for _ in range(4):
            clock.advance(STEP)
            await store.put_results([check(clock.now(), 900 + rng.uniform(-10, 10))])
            service.notify()  # as the sentinel's recorder does after each commit
            await service.settled()
        alerts = await _anomaly_alerts(store)
    assert [(a.target, a.state, a.facts["metric"], a.facts["kind"]) for a in alerts] == [
        ("api", AlertState.FIRING, "latency_ms", "latency_degradation")
    ]


def _disk(ts: datetime, value: float) -> MetricPoint:
    return MetricPoint("db-1", "disk_percent", "percent", ts, value, provider="aws")


async def _write_disk(
    store: SqliteHotStore, start: datetime, hours: float, level: float, per_hour: float
) -> float:
    """Write hourly-ish points (every 15 min) from ``start``; the last level written."""
    rng = random.Random(int(level * 10))
    points = []
    steps = int(hours * 4)
    for i in range(steps):
        level += per_hour / 4
        points.append(_disk(start + timedelta(minutes=15 * i), level + rng.uniform(-0.3, 0.3)))
    await store.put_metrics(points)
    return level


async def _forecast_alerts(store: SqliteHotStore) -> list[Alert]:
    return [a for a in await store.alerts(limit=100) if a.source is AlertSource.FORECAST]


async def test_a_filling_disk_raises_a_forecast_alert_on_the_12_hour_timer_and_it_resolves_when_the_fill_stops(  # noqa: E501
    tmp_path: Path, store: SqliteHotStore, clock: ManualClock, hook: HttpSim
) -> None:
    now = clock.now()
    level = await _write_disk(store, now - timedelta(days=3), 72, level=20.0, per_hour=0.6)
    # Forecasts last ran just now (before a restart, say): the next run is due in 12 hours.
    await store.set_state(FORECAST_STATE_KEY, {"at": now.isoformat()})
    config = _config(tmp_path, hook, anomalies=False)
    async with _running(config, store, clock) as (service, dispatcher):
        await asyncio.sleep(0)
        before = await _forecast_alerts(store)
        level = await _write_disk(store, now, 12, level=level, per_hour=0.6)
        clock.advance(timedelta(hours=12))
        await service.wait_forecasts(1)
        firing = await _forecast_alerts(store)
        await _write_disk(store, clock.now(), 12, level=level, per_hour=0.0)  # the fill stops
        clock.advance(timedelta(hours=12))
        await service.wait_forecasts(2)
        resolved = await _forecast_alerts(store)
        await dispatcher.drain(10)
    assert before == []
    assert [(a.target, a.state, a.facts["metric"]) for a in firing] == [
        ("db-1", AlertState.FIRING, "disk_percent")
    ]
    assert 0 < firing[0].facts["hours_to_threshold"] <= 48
    assert [(a.id, a.state) for a in resolved] == [(firing[0].id, AlertState.RESOLVED)]
    assert hook.hits["/hook"] == 2  # firing, then resolved


async def test_points_posted_to_a_hub_in_another_process_raise_one_anomaly_alert(
    tmp_path: Path, store: SqliteHotStore, clock: ManualClock, hook: HttpSim
) -> None:
    # The hub has its own connection to the store file, as `nephos hub` in another process.
    hub_store = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock)
    await hub_store.open()
    writer = SpoolingWriter(hub_store, tmp_path / "spool", max_bytes=1 << 20, clock=clock)
    rng = random.Random(11)
    start = clock.now() - DAY

    def body(points: list[tuple[datetime, float]]) -> str:
        return json.dumps(
            [
                {"instance": "edge-1", "metric": "net_in", "unit": "MB/s", "ts": ts.isoformat(),
                 "value": value}
                for ts, value in points
            ]
        )  # fmt: skip

    history = [(start + i * STEP, 50 + rng.uniform(-3, 3)) for i in range(DAY // STEP)]
    config = _config(tmp_path, hook, forecasts=False)
    try:
        async with (
            serve_hub(
                hub_store, HubConfig(listen="127.0.0.1:0"), clock=clock, writer=writer
            ) as hub,
            httpx.AsyncClient() as client,
        ):
            assert hub.ingest is not None
            accepted = await client.post(hub.ingest.url, content=body(history), timeout=30)
            async with _running(config, store, clock) as (service, _):
                for _ in range(4):
                    clock.advance(STEP)
                    incident = body([(clock.now(), 400 + rng.uniform(-3, 3))])
                    await client.post(hub.ingest.url, content=incident, timeout=30)
                    service.notify()  # stands in for the feed's one-second poll
                    await service.settled()
                alerts = await _anomaly_alerts(store)
    finally:
        await writer.close()
        await hub_store.close()
    assert accepted.status_code == 202
    assert [(a.target, a.state, a.facts["metric"]) for a in alerts] == [
        ("edge-1", AlertState.FIRING, "net_in")
    ]


async def test_an_anomaly_alert_left_open_by_a_restart_resolves_once_history_shows_it_ended(
    tmp_path: Path, store: SqliteHotStore, clock: ManualClock, hook: HttpSim
) -> None:
    rng = random.Random(5)
    config = _config(tmp_path, hook, forecasts=False)
    start = clock.now() - DAY
    await store.put_metrics(
        [_cpu(start + i * STEP, 20 + rng.uniform(-2, 2)) for i in range(DAY // STEP)]
    )
    async with _running(config, store, clock) as (service, _):
        for value in (95, 96, 94):
            clock.advance(STEP)
            await store.put_metrics([_cpu(clock.now(), value)])
            service.notify()
            await service.settled()
    [opened] = await _anomaly_alerts(store)
    # The sentinel is down while the incident ends.
    for _ in range(6):
        clock.advance(STEP)
        await store.put_metrics([_cpu(clock.now(), 20 + rng.uniform(-2, 2))])
    silent = dataclasses.replace(
        opened,
        id="al-silent",
        dedup_key="vm-9|anomaly|cpu_utilization",
        target="vm-9",
        facts={**opened.facts, "kind": "missing_data"},
        version=0,
    )
    await store.put_alert(silent)  # a series with no history at all: nothing says it ended
    async with _running(config, store, clock):
        pass
    after = {a.id: a.state for a in await _anomaly_alerts(store)}
    assert opened.state is AlertState.FIRING
    assert after == {opened.id: AlertState.RESOLVED, "al-silent": AlertState.FIRING}
