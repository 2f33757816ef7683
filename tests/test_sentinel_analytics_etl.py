"""The ETL built into ``Sentinel.run``: a real SQLite store, a real DuckDB warehouse, real HTTP
targets and a ManualClock (so every load happened because the sentinel woke the ETL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from nephos.clock import ManualClock
from nephos.config.types import (
    AnalyticsConfig,
    Config,
    EtlConfig,
    HotStoreConfig,
    SentinelConfig,
    StorageConfig,
    WarehouseConfig,
)
from nephos.model import AlertSource, AlertState, CheckKind, MetricPoint, Target
from nephos.notify.dispatch import Dispatcher
from nephos.sentinel.analytics import FORECAST_STATE_KEY, SentinelAnalytics
from nephos.sentinel.events import CheckEvent, SentinelEvent
from nephos.sentinel.runner import Sentinel
from nephos.sentinel.services import purge_once
from nephos.sim.http_server import HttpSim, Respond
from nephos.store.sqlite import SqliteHotStore
from nephos.warehouse.duckdb import DuckDBWarehouse
from nephos.warehouse.etl_lag import read_mirrored_checkpoint

INTERVAL = timedelta(seconds=10)


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


def _target(web: HttpSim, name: str, path: str) -> Target:
    return Target(
        name=name,
        kind=CheckKind.HTTP,
        address=web.url(path),
        interval=INTERVAL,
        timeout=timedelta(seconds=2),
    )


class Checks:
    """Counts the sentinel's stored checks and lets a test wait for the next ones."""

    def __init__(self) -> None:
        self.count = 0
        self._arrived = asyncio.Event()

    def __call__(self, event: SentinelEvent) -> None:
        if isinstance(event, CheckEvent):
            self.count += 1
            self._arrived.set()

    async def reach(self, count: int, clock: ManualClock) -> None:
        """Move the clock on a second at a time until ``count`` checks were stored."""
        for _ in range(100):
            if self.count >= count:
                return
            self._arrived.clear()
            clock.advance(1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.1)
        raise AssertionError(f"{self.count} checks stored, not {count}")


async def test_the_etl_runs_inside_the_sentinel_and_the_warehouse_gets_every_event_once(
    tmp_path: Path, web: HttpSim, store: SqliteHotStore, clock: ManualClock
) -> None:
    warehouse_path = tmp_path / "warehouse.duckdb"
    config = Config(
        storage=StorageConfig(
            hot=HotStoreConfig(path=str(tmp_path / "hot.db")),
            warehouse=WarehouseConfig(path=str(warehouse_path)),
        ),
        sentinel=SentinelConfig(interval=INTERVAL, failing_interval=None),
        targets=(_target(web, "api", "/ok"), _target(web, "db", "/down")),
        # No batch age: a batch loads as soon as it is read (the ManualClock never ages it).
        etl=EtlConfig(enabled=True, max_batch_age=timedelta(0)),
        analytics=AnalyticsConfig(forecasts=False),
    )
    checks = Checks()
    sentinel = Sentinel(config, store=store, clock=clock, on_event=checks, batch_size=1)
    task = asyncio.create_task(sentinel.run())
    try:
        await asyncio.wait_for(sentinel.serving.wait(), 10)
        etl = sentinel.analytics.etl
        assert etl is not None
        for round_ in (1, 2, 3):
            await checks.reach(2 * round_, clock)
            seq = await store.latest_seq()
            await asyncio.wait_for(etl.wait_checkpoint(seq), 10)
        exposition = generate_latest(sentinel.metrics.registry).decode()
        mirrored = await read_mirrored_checkpoint(store)
    finally:
        sentinel.stop()
        await asyncio.wait_for(task, 30)
    assert 'nephos_etl_lag_events{consumer="etl"} 0.0' in exposition
    assert "nephos_anomaly_series " in exposition  # the analytics' gauges are there too
    assert mirrored is not None
    warehouse = DuckDBWarehouse(str(warehouse_path))
    await warehouse.open()
    try:
        ((count, distinct, low, high),) = await warehouse.execute(
            "SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM events"
        )
        results = (await warehouse.execute("SELECT COUNT(*) FROM results"))[0][0]
        checkpoint = await warehouse.get_checkpoint("etl")
    finally:
        await warehouse.close()
    assert (count, distinct, low, high) == (checkpoint, checkpoint, 1, checkpoint)
    assert checkpoint >= mirrored[0]
    assert results >= 6  # three rounds of two targets


async def test_forecasts_read_the_warehouse_when_the_hot_store_keeps_less_than_their_window(
    tmp_path: Path, store: SqliteHotStore, clock: ManualClock
) -> None:
    config = Config(
        storage=StorageConfig(
            hot=HotStoreConfig(path=str(tmp_path / "hot.db"), retention=timedelta(hours=1)),
            warehouse=WarehouseConfig(path=str(tmp_path / "warehouse.duckdb")),
        ),
        etl=EtlConfig(enabled=True, max_batch_age=timedelta(0)),
        analytics=AnalyticsConfig(anomalies=False, forecast_interval=timedelta(days=30)),
    )
    start = clock.now() - timedelta(days=3)
    # Three days of a disk filling at 0.6 points an hour, every 15 minutes.
    await store.put_metrics(
        [
            MetricPoint(
                "db-1", "disk_percent", "percent", start + timedelta(minutes=15 * i), 20 + 0.15 * i
            )
            for i in range(288)
        ]
    )
    await store.set_state(FORECAST_STATE_KEY, {"at": clock.now().isoformat()})
    dispatcher = Dispatcher({}, clock=clock)
    service = SentinelAnalytics(
        lambda: config, store=store, clock=clock, dispatcher=lambda: dispatcher
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(dispatcher.close)
        await service.start(stack)
        assert service.etl is not None
        await asyncio.wait_for(service.etl.wait_checkpoint(await store.latest_seq()), 10)
        await purge_once(store, timedelta(hours=1), clock=clock, etl=True)
        left_in_hot_store = len(await store.metrics(limit=1000))
        written = await service.forecast_once()
    assert left_in_hot_store < 24  # too few for a forecast of its own
    assert [(a.source, a.target, a.state) for a in written] == [
        (AlertSource.FORECAST, "db-1", AlertState.FIRING)
    ]
