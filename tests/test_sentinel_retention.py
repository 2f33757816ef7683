"""Hot-store retention in the sentinel, on a ManualClock and a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nephos.clock import ManualClock
from nephos.config.types import Config, HotStoreConfig, StorageConfig
from nephos.model import CheckKind, CheckResult, Health, Target
from nephos.sentinel.runner import Sentinel
from nephos.sentinel.services import PURGE_EVERY, keep_retention, purge_once
from nephos.store.sqlite import SqliteHotStore
from nephos.warehouse.etl_lag import mirror_key

RETENTION = timedelta(hours=2)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock)
    await hot.open()
    yield hot
    await hot.close()


def _result(target: str, ts: datetime) -> CheckResult:
    return CheckResult(
        target=target,
        kind=CheckKind.HTTP,
        ts=ts,
        health=Health.HEALTHY,
        latency_ms=5.0,
        success=True,
    )


async def _stored(store: SqliteHotStore) -> set[str]:
    return {r.target for r in await store.results(limit=100)}


async def _until(predicate: object, store: SqliteHotStore) -> None:
    # The purge runs on the store's thread: yield to the loop until it has landed.
    for _ in range(500):
        if await predicate(store):  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("the purge did not happen")


async def test_retention_purges_at_start_and_then_every_hour(
    store: SqliteHotStore, clock: ManualClock
) -> None:
    now = clock.now()
    await store.put_results(
        [_result("ancient", now - timedelta(hours=3)), _result("aging", now - timedelta(hours=1.5))]
    )
    task = asyncio.create_task(keep_retention(store, RETENTION, clock=clock))
    try:
        await _until(lambda s: _gone(s, "ancient"), store)
        kept_at_start = await _stored(store)
        clock.advance(PURGE_EVERY)  # "aging" is now 2.5 h old
        await _until(lambda s: _gone(s, "aging"), store)
    finally:
        task.cancel()
    assert kept_at_start == {"aging"}
    assert await _stored(store) == set()


async def _gone(store: SqliteHotStore, target: str) -> bool:
    return target not in await _stored(store)


async def test_events_the_etl_has_not_loaded_survive_the_purge(
    store: SqliteHotStore, clock: ManualClock
) -> None:
    (loaded,) = await store.put_results([_result("loaded", clock.now())])
    (unloaded,) = await store.put_results([_result("unloaded", clock.now())])
    await store.set_state(mirror_key("etl"), {"seq": loaded, "at": clock.now().isoformat()})
    clock.advance(RETENTION * 2)
    report = await purge_once(store, RETENTION, clock=clock)
    kept = [e.seq for e in await store.changes(0)]
    assert kept == [unloaded]
    assert report.checkpoint == loaded and report.kept_unloaded == 1


async def test_without_an_etl_every_expired_event_goes(
    store: SqliteHotStore, clock: ManualClock
) -> None:
    await store.put_results([_result("a", clock.now()), _result("b", clock.now())])
    clock.advance(RETENTION * 2)
    report = await purge_once(store, RETENTION, clock=clock)
    assert await store.changes(0) == []
    assert report.checkpoint is None and report.deleted >= 4  # two results, two events


async def test_a_running_sentinel_purges_its_store_on_the_clock(
    tmp_path: Path, store: SqliteHotStore, clock: ManualClock
) -> None:
    await store.put_results([_result("old", clock.now() - timedelta(days=8))])
    never_due = Target(
        name="api", kind=CheckKind.HTTP, address="http://127.0.0.1:9/", interval=timedelta(days=9)
    )
    config = Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        targets=(never_due,),
    )
    sentinel = Sentinel(config, store=store, clock=clock)
    running = asyncio.create_task(sentinel.run())
    try:
        await asyncio.wait_for(sentinel.serving.wait(), 10)
        await _until(lambda s: _gone(s, "old"), store)
    finally:
        sentinel.stop()
        await asyncio.wait_for(running, 10)
    assert "old" not in await _stored(store)
