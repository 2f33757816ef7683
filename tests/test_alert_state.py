"""Per-target alert state written once per batch: a real SQLite store and a ManualClock."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from nephos.clock import ManualClock, SystemClock
from nephos.config.types import Config, HotStoreConfig, SentinelConfig, StorageConfig
from nephos.errors import StoreUnavailable
from nephos.model import AlertRule, CheckKind, CheckResult, Health, Target
from nephos.notify.dispatch import Dispatcher
from nephos.sentinel.alert_state import state_key
from nephos.sentinel.alerts import AlertBook
from nephos.sentinel.runner import Sentinel
from nephos.sim.http_server import HttpSim, Respond
from nephos.store.sqlite import SqliteHotStore

RULE = AlertRule(failure_threshold=3)
TARGETS = [
    Target(name=f"t{i}", kind=CheckKind.HTTP, address=f"http://t{i}.test/", alerts=(RULE,))
    for i in range(3)
]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock)
    await hot.open()
    yield hot
    await hot.close()


def _book(store: SqliteHotStore, clock: ManualClock) -> AlertBook:
    return AlertBook(
        store,
        Dispatcher({}, clock=clock),
        clock=clock,
        settings=SentinelConfig(),
        rng=random.Random(1),
        batch_state=True,
    )


def _result(target: Target, clock: ManualClock, health: Health) -> CheckResult:
    return CheckResult(
        target=target.name,
        kind=target.kind,
        ts=clock.now(),
        health=health,
        latency_ms=3.0,
        success=health is Health.HEALTHY,
    )


async def _round(book: AlertBook, clock: ManualClock, health: Health) -> list[str]:
    opened = []
    for target in TARGETS:
        opened += [a.target for a in await book.observe(target, _result(target, clock, health))]
    clock.advance(timedelta(seconds=30))
    return opened


async def test_changed_state_waits_for_the_flush_and_is_then_stored_for_every_target(
    store: SqliteHotStore, clock: ManualClock
) -> None:
    book = _book(store, clock)
    await _round(book, clock, Health.UNHEALTHY)
    before = await store.get_states([state_key(t.name) for t in TARGETS])
    await book.flush_state()
    after = await store.get_states([state_key(t.name) for t in TARGETS])
    assert before == {}
    assert sorted(after) == sorted(state_key(t.name) for t in TARGETS)
    assert all(value["counters"] == {"0": [1, 0]} for value in after.values())


async def test_a_restart_between_batches_neither_forgets_nor_repeats_the_count(
    store: SqliteHotStore, clock: ManualClock
) -> None:
    first = _book(store, clock)
    assert await _round(first, clock, Health.UNHEALTHY) == []
    assert await _round(first, clock, Health.UNHEALTHY) == []
    await first.flush_state()
    restarted = _book(store, clock)
    await restarted.prefetch(t.name for t in TARGETS)
    assert await _round(restarted, clock, Health.UNHEALTHY) == ["t0", "t1", "t2"]


async def test_a_steady_state_queues_nothing_to_write(
    store: SqliteHotStore, clock: ManualClock
) -> None:
    book = _book(store, clock)
    window = SentinelConfig().flap_window
    for _ in range(window + 2):  # the flap history fills, the success count caps
        await _round(book, clock, Health.HEALTHY)
    await book.flush_state()
    await _round(book, clock, Health.HEALTHY)
    assert book.pending_state == 0


async def test_state_that_could_not_be_written_is_kept_for_the_next_flush(
    tmp_path: Path, clock: ManualClock
) -> None:
    store = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock)
    await store.open()
    book = _book(store, clock)
    await _round(book, clock, Health.UNHEALTHY)
    await store.close()
    with pytest.raises(StoreUnavailable):
        await book.flush_state()
    await store.open()
    try:
        await book.flush_state()
        stored = await store.get_states([state_key(t.name) for t in TARGETS])
    finally:
        await store.close()
    assert len(stored) == len(TARGETS)


async def test_sentinel_rounds_across_restarts_open_the_alert_at_the_threshold(
    tmp_path: Path,
) -> None:
    down = Respond(503, body="no")
    async with HttpSim() as web:
        web.add_route("/down", down)
        target = Target(
            name="api",
            kind=CheckKind.HTTP,
            address=web.url("/down"),
            timeout=timedelta(seconds=2),
            alerts=(RULE,),
        )
        hot = HotStoreConfig(path=str(tmp_path / "hot.db"))
        config = Config(storage=StorageConfig(hot=hot), targets=(target,))
        opened_per_run = []
        for _ in range(3):  # each run is a fresh process's sentinel over the same store
            store = SqliteHotStore(hot.path)
            await store.open()
            try:
                await Sentinel(config, store=store, clock=SystemClock()).run_once()
                opened_per_run.append(len(await store.alerts()))
            finally:
                await store.close()
    assert opened_per_run == [0, 0, 1]
