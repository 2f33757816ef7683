"""The ETL against a real SQLite hot store and the real DuckDB warehouse: batching by size and
age, checkpoints after commits only, idempotent reloads, outages with back-off, lag."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from nephos.clock import ManualClock
from nephos.errors import UsageError, WarehouseError
from nephos.store.sqlite import SqliteHotStore
from nephos.warehouse.base import Warehouse
from nephos.warehouse.etl import Etl
from nephos.warehouse.etl_lag import read_lag
from tests.etl_support import (
    FlakyWarehouse,
    RecordingClock,
    checkpoint_of,
    commit_mix,
    duckdb_warehouse,
    warehouse_counts,
)


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock)
    await hot.open()
    yield hot
    await hot.close()


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    """The real DuckDB backend, unopened: the ETL opens it."""
    wh = duckdb_warehouse(tmp_path / "wh.duckdb")
    yield wh
    await wh.close()


async def running(etl: Etl) -> asyncio.Task[None]:
    task = asyncio.create_task(etl.run())
    await asyncio.sleep(0)
    return task


async def stopped(etl: Etl, task: asyncio.Task[None]) -> None:
    etl.stop()
    await asyncio.wait_for(task, 30)


async def test_run_once_loads_every_event_exactly_once_and_checkpoints_the_last_seq(
    store: SqliteHotStore, warehouse: Warehouse, clock: ManualClock
) -> None:
    last = await commit_mix(store, clock, results=120, metrics=80)
    etl = Etl(store, warehouse, clock=clock, batch_size=50)

    report = await etl.run_once()

    assert (report.events, report.loaded, report.batches, report.missing) == (200, 200, 4, 0)
    assert report.lag.events == 0 and report.lag.checkpoint == last
    assert await checkpoint_of(warehouse) == last
    counts = await warehouse_counts(warehouse)
    assert counts["events"] == counts["distinct"] == 200
    assert (counts["results"], counts["metrics"]) == (120, 80)


async def test_a_full_batch_loads_at_once_without_waiting_for_its_age(
    store: SqliteHotStore, warehouse: Warehouse, clock: ManualClock
) -> None:
    etl = Etl(store, warehouse, clock=clock, batch_size=10, max_batch_age=60, poll_interval=60)
    task = await running(etl)
    await etl.wait_checkpoint(0)
    last = await commit_mix(store, clock, results=10, metrics=0)
    etl.notify()  # the clock never moves: only the size can make this batch due

    await asyncio.wait_for(etl.wait_checkpoint(last), 30)

    assert (await warehouse_counts(warehouse))["events"] == 10
    await stopped(etl, task)


async def test_a_partial_batch_waits_for_its_age_then_loads(
    store: SqliteHotStore, warehouse: Warehouse, clock: ManualClock
) -> None:
    etl = Etl(store, warehouse, clock=clock, batch_size=100, max_batch_age=0.5, poll_interval=60)
    task = await running(etl)
    await etl.wait_checkpoint(0)
    last = await commit_mix(store, clock, results=3, metrics=0)
    etl.notify()
    await asyncio.wait_for(etl.wait_read(last), 30)
    clock.advance(0.4)
    await asyncio.sleep(0)

    assert etl.checkpoint == 0 and etl.pending == 3

    clock.advance(0.1)
    await asyncio.wait_for(etl.wait_checkpoint(last), 30)
    assert etl.pending == 0
    assert (await warehouse_counts(warehouse))["events"] == 3
    await stopped(etl, task)


async def test_stop_loads_the_pending_partial_batch_before_returning(
    store: SqliteHotStore, warehouse: Warehouse, clock: ManualClock
) -> None:
    etl = Etl(store, warehouse, clock=clock, batch_size=100, max_batch_age=60, poll_interval=60)
    task = await running(etl)
    await etl.wait_checkpoint(0)
    last = await commit_mix(store, clock, results=4, metrics=2)
    etl.notify()
    await asyncio.wait_for(etl.wait_read(last), 30)

    await stopped(etl, task)

    assert etl.checkpoint == last
    assert await checkpoint_of(warehouse) == last


async def test_the_checkpoint_is_written_only_after_its_load_commits(
    store: SqliteHotStore, warehouse: Warehouse, clock: ManualClock
) -> None:
    await commit_mix(store, clock, results=30, metrics=0)
    flaky = FlakyWarehouse(warehouse, fail_loads=1)
    etl = Etl(store, flaky, clock=clock, batch_size=10)

    with pytest.raises(WarehouseError):
        await etl.run_once()
    assert await checkpoint_of(warehouse) == 0
    assert flaky.calls == []

    await etl.run_once()

    assert flaky.calls == [
        ("load", 10),
        ("checkpoint", 10),
        ("load", 20),
        ("checkpoint", 20),
        ("load", 30),
        ("checkpoint", 30),
    ]


async def test_a_load_whose_checkpoint_failed_is_loaded_again_without_duplicates(
    store: SqliteHotStore, warehouse: Warehouse, clock: ManualClock
) -> None:
    last = await commit_mix(store, clock, results=15, metrics=5)
    flaky = FlakyWarehouse(warehouse, fail_checkpoints=1)
    etl = Etl(store, flaky, clock=clock, batch_size=100)
    with pytest.raises(WarehouseError):
        await etl.run_once()
    assert (await warehouse_counts(warehouse))["events"] == 20
    assert await checkpoint_of(warehouse) == 0

    report = await Etl(store, flaky, clock=clock, batch_size=100).run_once()

    assert (report.events, report.loaded) == (20, 0)
    counts = await warehouse_counts(warehouse)
    assert counts["events"] == counts["distinct"] == 20
    assert (counts["results"], counts["metrics"]) == (15, 5)
    assert await checkpoint_of(warehouse) == last


async def test_reloading_from_checkpoint_zero_adds_nothing(
    store: SqliteHotStore, warehouse: Warehouse, clock: ManualClock
) -> None:
    await commit_mix(store, clock, results=40, metrics=60)
    await Etl(store, warehouse, clock=clock, batch_size=30).run_once()
    await warehouse.open()
    await warehouse.set_checkpoint("etl", 0)

    report = await Etl(store, warehouse, clock=clock, batch_size=30).run_once()

    assert (report.events, report.loaded) == (100, 0)
    counts = await warehouse_counts(warehouse)
    assert counts["events"] == counts["distinct"] == 100
    assert (counts["results"], counts["metrics"]) == (40, 60)


async def test_an_outage_backs_off_exponentially_then_catches_up_exactly_once(
    store: SqliteHotStore,
    warehouse: Warehouse,
    clock: RecordingClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="nephos.warehouse.etl")
    registry = CollectorRegistry()
    flaky = FlakyWarehouse(warehouse, fail_loads=4)
    etl = Etl(
        store,
        flaky,
        clock=clock,
        batch_size=25,
        max_batch_age=0,
        poll_interval=60,
        backoff_initial=1,
        backoff_max=4,
        registry=registry,
    )
    await commit_mix(store, clock, results=20, metrics=0)
    task = await running(etl)

    for delay in (1, 2, 4, 4):  # doubling, capped at backoff_max
        await asyncio.wait_for(clock.asked(delay), 30)
        assert registry.get_sample_value("nephos_etl_warehouse_up", {"consumer": "etl"}) == 0
        await commit_mix(store, clock, results=5, metrics=5)  # the feed keeps growing
        clock.advance(delay)
    last = await store.latest_seq()
    etl.notify()
    await asyncio.wait_for(etl.wait_checkpoint(last), 30)
    await stopped(etl, task)

    counts = await warehouse_counts(warehouse)
    assert counts["events"] == counts["distinct"] == last == 60
    assert (counts["min"], counts["max"]) == (1, 60)
    assert flaky.attempts >= 5 and flaky.opens >= 5  # reopened after every failure
    outage_lines = [r.getMessage() for r in caplog.records if "warehouse" in r.getMessage()]
    assert len(outage_lines) == 2  # once when it went, once when it came back
    assert "unreachable" in outage_lines[0] and "reachable again" in outage_lines[1]
    assert registry.get_sample_value("nephos_etl_warehouse_up", {"consumer": "etl"}) == 1
    assert registry.get_sample_value("nephos_etl_load_failures_total", {"consumer": "etl"}) == 4


async def test_a_warehouse_locked_by_another_process_is_retried_until_it_is_free(
    store: SqliteHotStore, tmp_path: Path, clock: RecordingClock
) -> None:
    path = tmp_path / "locked.duckdb"
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
        "sys.stdin.read()",
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
    last = await commit_mix(store, clock, results=8, metrics=0)
    warehouse = duckdb_warehouse(path)
    etl = Etl(store, warehouse, clock=clock, poll_interval=60, backoff_initial=1, max_batch_age=0)
    task = await running(etl)
    try:
        await asyncio.wait_for(clock.asked(1), 30)
        assert etl.checkpoint is None  # not even the checkpoint could be read
    finally:
        holder.stdin.close()
        await asyncio.wait_for(holder.wait(), 30)

    clock.advance(1)
    await asyncio.wait_for(etl.wait_checkpoint(last), 30)
    await stopped(etl, task)

    assert (await warehouse_counts(warehouse))["events"] == 8
    await warehouse.close()


async def test_lag_counts_unloaded_events_and_the_age_of_the_oldest(
    store: SqliteHotStore, warehouse: Warehouse, clock: ManualClock
) -> None:
    registry = CollectorRegistry()
    start = clock.now()
    await commit_mix(store, clock, results=5, metrics=0)
    clock.advance(timedelta(seconds=30))
    last = await commit_mix(store, clock, results=5, metrics=0)
    etl = Etl(store, warehouse, clock=clock, registry=registry)
    assert await read_lag(store, clock.now()) is None  # no ETL has run against this store

    before = await etl.lag()

    assert (before.checkpoint, before.latest_seq, before.events) == (0, last, 10)
    assert before.seconds == 30.0 and before.oldest_unloaded == start
    assert registry.get_sample_value("nephos_etl_lag_events", {"consumer": "etl"}) == 10
    assert registry.get_sample_value("nephos_etl_lag_seconds", {"consumer": "etl"}) == 30.0

    after = (await etl.run_once()).lag

    assert (after.events, after.seconds, after.oldest_unloaded) == (0, 0.0, None)
    assert registry.get_sample_value("nephos_etl_lag_events", {"consumer": "etl"}) == 0
    assert registry.get_sample_value("nephos_etl_checkpoint_seq", {"consumer": "etl"}) == last
    seen_by_status = await read_lag(store, clock.now())
    assert seen_by_status is not None and seen_by_status.checkpoint == last


async def test_bad_batch_settings_are_usage_errors(
    store: SqliteHotStore, warehouse: Warehouse, clock: ManualClock
) -> None:
    with pytest.raises(UsageError):
        Etl(store, warehouse, clock=clock, batch_size=0)
    with pytest.raises(UsageError):
        Etl(store, warehouse, clock=clock, backoff_initial=10, backoff_max=1)


async def test_two_etls_share_a_registry_with_a_series_each(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> None:
    registry = CollectorRegistry()
    await commit_mix(store, clock, results=4, metrics=0)
    first = duckdb_warehouse(tmp_path / "a.duckdb")
    second = duckdb_warehouse(tmp_path / "b.duckdb")
    try:
        await Etl(store, first, clock=clock, name="a", registry=registry).run_once()
        await commit_mix(store, clock, results=2, metrics=0)
        await Etl(store, second, clock=clock, name="b", registry=registry).lag()
        await Etl(store, first, clock=clock, name="a", registry=registry).run_once()
    finally:
        await first.close()
        await second.close()

    assert registry.get_sample_value("nephos_etl_lag_events", {"consumer": "a"}) == 0
    assert registry.get_sample_value("nephos_etl_lag_events", {"consumer": "b"}) == 6
    assert registry.get_sample_value("nephos_etl_batches_total", {"consumer": "a"}) == 2


async def test_a_hot_store_behind_the_checkpoint_is_reported_and_nothing_is_overwritten(
    store: SqliteHotStore,
    warehouse: Warehouse,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await commit_mix(store, clock, results=20, metrics=0)
    await Etl(store, warehouse, clock=clock).run_once()
    await warehouse.set_checkpoint("etl", 500)  # as if this hot store replaced a busier one

    report = await Etl(store, warehouse, clock=clock).run_once()

    assert (report.events, report.lag.checkpoint) == (0, 500)
    assert any(
        r.levelno == logging.ERROR and "hot store was replaced" in r.getMessage()
        for r in caplog.records
    )
    assert (await warehouse_counts(warehouse))["events"] == 20


async def test_a_locked_hot_store_backs_off_and_logs_once_then_recovers(
    tmp_path: Path,
    warehouse: Warehouse,
    clock: RecordingClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="nephos.warehouse.etl")
    store = SqliteHotStore(str(tmp_path / "locked.db"), clock=clock, busy_timeout=0.05)
    await store.open()
    last = await commit_mix(store, clock, results=5, metrics=0)
    other_writer = sqlite3.connect(str(tmp_path / "locked.db"), isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")  # holds the write lock: the mirror cannot be written
    etl = Etl(store, warehouse, clock=clock, poll_interval=60, backoff_initial=3, max_batch_age=0)
    task = await running(etl)
    try:
        for delay in (3, 6):  # the feed can be read, the checkpoint mirror not written
            await asyncio.wait_for(clock.asked(delay), 30)
            clock.advance(delay)
        await asyncio.wait_for(clock.asked(12), 30)
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()
    clock.advance(12)
    await asyncio.wait_for(etl.wait_checkpoint(last), 30)
    await stopped(etl, task)
    await store.close()

    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "hot store unreachable" in lines[0] and "hot store reachable again" in lines[1]
    assert (await warehouse_counts(warehouse))["events"] == 5
