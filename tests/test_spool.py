"""The spool and the spooling writer, through real store outages (another connection's lock)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from nephos.clock import ManualClock
from nephos.config.types import HotStoreConfig
from nephos.model import AlertState, EventKind, to_dict
from nephos.store.spool import Spool, SpoolFull, SpoolingWriter, spool_dir_for
from nephos.store.sqlite import SqliteHotStore
from tests.test_store_contract import T0, alert, point, result


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteHotStore]:
    s = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock, busy_timeout=0.02)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def writer(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[SpoolingWriter]:
    w = SpoolingWriter(store, tmp_path / "spool", max_bytes=1024 * 1024, clock=clock)
    await w.start()
    try:
        yield w
    finally:
        await w.close()


@contextmanager
def outage(store: SqliteHotStore) -> Iterator[None]:
    """Another process holds the database's write lock: every write gets 'database is locked'."""
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


async def feed(store: SqliteHotStore) -> list[tuple[str, dict[str, object]]]:
    return [(e.kind.value, dict(e.data)) for e in await store.changes(0, limit=100_000)]


async def test_results_written_during_an_outage_are_stored_exactly_once_in_order(
    store: SqliteHotStore, writer: SpoolingWriter
) -> None:
    before = [result("api", 0)]
    assert await writer.write_results(before) is True
    during = [[result(f"t{b}", b * 10 + i) for i in range(5)] for b in range(6)]
    with outage(store):
        for batch in during:
            assert await writer.write_results(batch) is False
        assert writer.pending() == 30
    await writer.flush()

    assert writer.pending() == 0
    expected = [to_dict(r) for r in before + [r for batch in during for r in batch]]
    assert await feed(store) == [("check", d) for d in expected]
    assert len(await store.results(limit=1000)) == 31


async def test_every_kind_keeps_its_acceptance_order_through_an_outage(
    store: SqliteHotStore, writer: SpoolingWriter
) -> None:
    with outage(store):
        await writer.write_results([result("api", 1)])
        await writer.write_metrics([point(1, 0.5), point(2, 0.7)])
        await writer.write_alert(alert())
        await writer.write_results([result("api", 2)])
    await writer.flush()

    kinds = [kind for kind, _ in await feed(store)]
    assert kinds == ["check", "metric", "metric", "alert", "check"]
    stored = await store.get_alert("al-1")
    assert stored is not None and stored.version == 1 and stored.state is AlertState.FIRING


async def test_writes_after_recovery_queue_behind_the_spooled_ones(
    store: SqliteHotStore, writer: SpoolingWriter
) -> None:
    with outage(store):
        await writer.write_results([result("old", 1)])
    # The store is back, but older items are still spooled: this one must wait its turn.
    assert await writer.write_results([result("new", 2)]) is False
    await writer.flush()
    assert [d["target"] for _, d in await feed(store)] == ["old", "new"]
    assert await writer.write_results([result("direct", 3)]) is True


async def test_the_background_retry_replays_once_the_store_recovers(
    store: SqliteHotStore, writer: SpoolingWriter, clock: ManualClock
) -> None:
    with outage(store):
        await writer.write_results([result("api", s) for s in range(3)])
    for _ in range(500):  # let the retry task wake on the clock (its backoff is 0.5 s .. 30 s)
        if writer.pending() == 0:
            break
        clock.advance(timedelta(seconds=30))
        await asyncio.sleep(0.01)
    await asyncio.wait_for(writer.wait_drained(), 5)
    assert [d["ts"] for _, d in await feed(store)] == [
        to_dict(result("api", s))["ts"] for s in range(3)
    ]


async def test_flush_during_an_outage_raises_and_keeps_everything(
    store: SqliteHotStore, writer: SpoolingWriter
) -> None:
    with outage(store):
        await writer.write_results([result("api", 1)])
        with pytest.raises(Exception, match="locked"):
            await writer.flush()
        assert writer.pending() == 1
    await writer.flush()
    assert len(await feed(store)) == 1


async def test_a_new_writer_replays_what_a_crashed_one_left_in_the_spool(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> None:
    first = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 20, clock=clock)
    with outage(store):
        await first.write_results([result("api", s) for s in range(4)])
        await first.write_metrics([point(9, 1.0)])
    await first.close()  # the process dies here, the spool stays on disk

    second = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 20, clock=clock)
    assert second.pending() == 5
    await second.start()

    assert second.pending() == 0
    assert [k for k, _ in await feed(store)] == ["check"] * 4 + ["metric"]
    await second.close()


async def test_a_batch_committed_just_before_a_crash_is_not_written_twice(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> None:
    committed = [result("api", s) for s in range(3)]
    not_committed = [result("api", s) for s in range(3, 5)]
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    spool.append("check", [to_dict(r) for r in committed])
    spool.mark_in_doubt(3)  # the replay marked the batch, wrote it, and died before advancing
    spool.append("check", [to_dict(r) for r in not_committed])
    await store.put_results(committed)

    w = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 20, clock=clock)
    await w.start()

    got = [d["ts"] for _, d in await feed(store)]
    assert got == [to_dict(r)["ts"] for r in committed + not_committed]
    await w.close()


async def test_an_in_doubt_batch_is_written_except_what_the_store_already_holds(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> None:
    items = [point(s, float(s)) for s in range(3)]
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    spool.append("metric", [to_dict(p) for p in items], in_doubt=True)
    await store.put_metrics(items[:1])  # only the first point made it

    w = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 20, clock=clock)
    await w.start()

    assert [p.value for p in await store.metrics()] == [0.0, 1.0, 2.0]
    await w.close()


async def test_an_in_doubt_alert_already_stored_is_not_stored_again(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> None:
    a = alert()
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    spool.append("alert", [to_dict(a)], in_doubt=True)
    await store.put_alert(a)

    w = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 20, clock=clock)
    await w.start()

    assert (await store.get_alert(a.id)).version == 1  # type: ignore[union-attr]
    assert len(await feed(store)) == 1
    await w.close()


async def test_the_spool_refuses_writes_beyond_its_byte_cap_and_counts_them(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> None:
    cap = 4000
    w = SpoolingWriter(store, tmp_path / "spool", max_bytes=cap, clock=clock)
    accepted = 0
    with outage(store):
        with pytest.raises(SpoolFull, match="refused"):
            for s in range(100):
                await w.write_results([result("api", s)])
                accepted += 1
        assert w.refused == 1
        assert w.spool.bytes_used <= cap
        with pytest.raises(SpoolFull):
            await w.write_results([result("api", 1000 + s) for s in range(3)])
        assert w.refused == 4
    await w.flush()
    assert 0 < accepted < 100
    assert len(await feed(store)) == accepted
    await w.close()


async def test_spent_segments_are_deleted_after_replay(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> None:
    w = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 20, clock=clock, batch_size=7)
    w.spool.segment_bytes = 2000  # several segments
    with outage(store):
        for s in range(40):
            await w.write_results([result("api", s)])
    assert len(list((tmp_path / "spool").glob("seg-*.jsonl"))) > 3
    await w.flush()
    assert list((tmp_path / "spool").glob("seg-*.jsonl")) == []
    assert [d["ts"] for _, d in await feed(store)] == [
        to_dict(result("api", s))["ts"] for s in range(40)
    ]
    await w.close()


def test_a_torn_last_record_is_cut_when_the_spool_reopens(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append("check", [to_dict(result("api", s)) for s in range(2)])
    segment = next(tmp_path.glob("seg-*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b'{"n":3,"k":"check","d":{"tar')  # the crash came mid-write

    reopened = Spool(tmp_path, max_bytes=1 << 20)

    assert reopened.pending() == 2
    assert [r.serial for r in reopened.peek(10)] == [1, 2]
    reopened.append("check", [to_dict(result("api", 9))])
    assert [r.serial for r in reopened.peek(10)] == [1, 2, 3]


def test_peek_returns_one_kind_at_a_time_and_advance_moves_past_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(EventKind.CHECK.value, [to_dict(result("a", 1)), to_dict(result("b", 2))])
    spool.append(EventKind.METRIC.value, [to_dict(point(1, 1.0))])
    head = spool.peek(10)
    assert [(r.serial, r.kind) for r in head] == [(1, "check"), (2, "check")]
    spool.advance(2)
    assert [(r.serial, r.kind) for r in spool.peek(10)] == [(3, "metric")]
    spool.advance(3)
    assert spool.pending() == 0 and spool.peek(10) == []
    assert Spool(tmp_path, max_bytes=1 << 20).pending() == 0


async def test_a_damaged_record_is_set_aside_and_the_rest_still_replays(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    spool.append("check", [to_dict(result("api", 1))])
    segment = next((tmp_path / "spool").glob("seg-*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b"#### bit rot ####\n")
    spool.append("check", [to_dict(result("api", 2))])

    w = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 20, clock=clock)
    await w.start()

    assert w.pending() == 0
    assert [d["ts"] for _, d in await feed(store)] == [
        to_dict(result("api", s))["ts"] for s in (1, 2)
    ]
    assert b"bit rot" in (tmp_path / "spool" / "rejected.jsonl").read_bytes()
    await w.close()


def test_the_spool_directory_defaults_to_beside_the_store_file(tmp_path: Path) -> None:
    beside = HotStoreConfig(path=str(tmp_path / "hot.db"))
    assert spool_dir_for(beside) == tmp_path / "hot.db.spool"
    chosen = HotStoreConfig(path=str(tmp_path / "hot.db"), spool_dir=str(tmp_path / "sp"))
    assert spool_dir_for(chosen) == tmp_path / "sp"


async def test_from_config_uses_the_configured_spool_and_cap(
    store: SqliteHotStore, tmp_path: Path
) -> None:
    cfg = HotStoreConfig(path=store.path, spool_max_bytes=12345)
    w = SpoolingWriter.from_config(store, cfg)
    assert w.spool.directory == Path(store.path + ".spool")
    assert w.spool.max_bytes == 12345


async def test_concurrent_writers_during_outage_and_replay_lose_and_repeat_nothing(
    store: SqliteHotStore, tmp_path: Path, clock: ManualClock
) -> None:
    w = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 20, clock=clock, batch_size=4)
    with outage(store):
        await asyncio.gather(*(w.write_results([result(f"out{n}", n)]) for n in range(30)))
    await asyncio.gather(
        w.flush(), *(w.write_results([result(f"after{n}", 100 + n)]) for n in range(30))
    )
    await w.flush()

    targets = [str(d["target"]) for _, d in await feed(store)]
    assert sorted(targets) == sorted(
        [f"out{n}" for n in range(30)] + [f"after{n}" for n in range(30)]
    )
    assert all(t.startswith("out") for t in targets[:30])  # accepted first, stored first
    await w.close()
