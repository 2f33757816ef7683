"""Hot-store retention with an ETL: expired events that the warehouse has not received are
kept, loudly; loaded ones go; an ETL that never ran protects everything; without protection
the ETL reports the events it lost."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from nephos.clock import ManualClock
from nephos.store.sqlite import SqliteHotStore
from nephos.warehouse.base import Warehouse
from nephos.warehouse.etl import Etl
from nephos.warehouse.etl_retention import purge_hot_store, retention_checkpoint
from tests.etl_support import commit_mix, duckdb_warehouse, warehouse_counts

WEEK = timedelta(days=7)


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
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    wh = duckdb_warehouse(tmp_path / "wh.duckdb")
    yield wh
    await wh.close()


async def feed_seqs(store: SqliteHotStore) -> list[int]:
    return [e.seq for e in await store.changes(0, limit=10_000)]


async def test_expired_events_not_yet_loaded_are_kept_with_a_warning_naming_the_count(
    store: SqliteHotStore,
    warehouse: Warehouse,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await commit_mix(store, clock, results=10, metrics=0)
    await Etl(store, warehouse, clock=clock).run_once()  # seqs 1..10 reach the warehouse
    clock.advance(timedelta(hours=1))
    await commit_mix(store, clock, results=6, metrics=4)  # seqs 11..20 do not
    clock.advance(WEEK + timedelta(days=1))
    caplog.set_level(logging.WARNING, logger="nephos.warehouse.etl_retention")

    checkpoint = await retention_checkpoint(store)
    report = await purge_hot_store(
        store, retention=WEEK, clock=clock, warehouse_checkpoint=checkpoint
    )

    assert checkpoint == 10
    assert (report.kept_unloaded, report.checkpoint) == (10, 10)
    assert await feed_seqs(store) == list(range(11, 21))
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "kept 10 events" in warning and "checkpoint seq 10" in warning

    caplog.clear()
    await Etl(store, warehouse, clock=clock).run_once()
    report = await purge_hot_store(
        store, retention=WEEK, clock=clock, warehouse_checkpoint=await retention_checkpoint(store)
    )

    assert report.kept_unloaded == 0 and await feed_seqs(store) == []
    assert not [r for r in caplog.records if r.name == "nephos.warehouse.etl_retention"]
    counts = await warehouse_counts(warehouse)
    assert counts["events"] == counts["distinct"] == 20


async def test_an_etl_that_never_checkpointed_protects_every_event(
    store: SqliteHotStore, clock: ManualClock
) -> None:
    await commit_mix(store, clock, results=3, metrics=2)
    clock.advance(WEEK * 2)

    report = await purge_hot_store(
        store, retention=WEEK, clock=clock, warehouse_checkpoint=await retention_checkpoint(store)
    )

    assert report.kept_unloaded == 5 and report.checkpoint == 0
    assert await feed_seqs(store) == [1, 2, 3, 4, 5]


async def test_the_kept_count_covers_only_events_past_retention(
    store: SqliteHotStore, clock: ManualClock
) -> None:
    start = clock.now()
    for _ in range(5):  # seqs 1..25, one batch of five a day
        await commit_mix(store, clock, results=5, metrics=0)
        clock.advance(timedelta(days=1))
    clock.set(start + WEEK + timedelta(days=2, hours=12))  # days 0, 1 and 2 have expired

    report = await purge_hot_store(store, retention=WEEK, clock=clock, warehouse_checkpoint=0)

    assert report.kept_unloaded == 15
    assert report.oldest_unloaded == start
    assert len(await feed_seqs(store)) == 25


async def test_without_an_etl_retention_purges_and_the_etl_then_reports_what_it_missed(
    store: SqliteHotStore,
    warehouse: Warehouse,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await commit_mix(store, clock, results=8, metrics=0)
    clock.advance(WEEK * 2)
    await commit_mix(store, clock, results=2, metrics=0)

    report = await purge_hot_store(store, retention=WEEK, clock=clock, warehouse_checkpoint=None)
    etl_report = await Etl(store, warehouse, clock=clock).run_once()

    assert (report.deleted, report.checkpoint) == (8 + 8, None)  # 8 results and their 8 events
    assert (etl_report.events, etl_report.missing) == (2, 8)
    assert any("8 events between seq 0 and 10" in r.getMessage() for r in caplog.records)
