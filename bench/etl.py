"""ETL throughput and lag: hot-store commit to warehouse load, SQLite into DuckDB.

Two scenarios, each for a bounded time:

- **steady**: a writer commits check results and metric points (40/60) into the SQLite hot
  store at a fixed rate (5,000 events/s by default) while the ETL tails the feed into DuckDB.
  For every event it records (load committed in the warehouse) - (event committed in the hot
  store); the store stamps each event with its commit time, and both sides read the wall
  clock. In ``process`` mode the writer is another process and the ETL polls (``nephos etl
  run`` beside ``nephos sentinel run``); in ``notify`` mode they share a process and the
  writer calls ``etl.notify()`` after each commit (the ETL built into the sentinel).
- **catch-up**: a backlog is committed first, then ``run_once`` drains it: the load rate.

Every event is checked to be in the warehouse exactly once at the end.

    .venv/bin/python bench/etl.py                  # 20 s per steady mode, 200,000-event backlog
    .venv/bin/python bench/etl.py --quick          # 5 s, 50,000
    .venv/bin/python bench/etl.py --rate 10000 --modes process

Goal (issue 5): p99 hot store to warehouse under 2 s at 5,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nephos.clock import SystemClock
from nephos.model import CheckKind, CheckResult, Event, Health, MetricPoint
from nephos.store.sqlite import SqliteHotStore
from nephos.warehouse.base import Warehouse
from nephos.warehouse.duckdb import DuckDBWarehouse
from nephos.warehouse.etl import Etl

TICK = 0.01  # the writer commits whatever is due every 10 ms, like a sentinel batch


def results(n: int, now: datetime) -> list[CheckResult]:
    return [
        CheckResult(
            target=f"target-{i % 500}",
            kind=CheckKind.HTTP,
            ts=now,
            health=Health.HEALTHY,
            latency_ms=40.0 + i % 17,
            success=True,
            provider="aws",
            region="us-east-1",
            status_code=200,
        )
        for i in range(n)
    ]


def metrics(n: int, now: datetime) -> list[MetricPoint]:
    return [
        MetricPoint(
            instance=f"i-{i % 300:04d}",
            metric=("cpu", "memory", "disk")[i % 3],
            unit="percent",
            ts=now - timedelta(milliseconds=i),
            value=float(i % 100),
            provider="aws",
        )
        for i in range(n)
    ]


async def commit(store: SqliteHotStore, n: int) -> None:
    """Commit ``n`` events: 40% check results, 60% metric points."""
    now = datetime.now(UTC)
    checks = n * 2 // 5
    if checks:
        await store.put_results(results(checks, now))
    if n - checks:
        await store.put_metrics(metrics(n - checks, now))


async def write_at(store: SqliteHotStore, rate: float, seconds: float, etl: Etl | None) -> int:
    """Commit at ``rate`` events/s for ``seconds``; notify ``etl`` after each commit."""
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(rate * elapsed) - sent
        if due > 0:
            await commit(store, due)
            sent += due
            if etl is not None:
                etl.notify()
        await asyncio.sleep(TICK)
    return sent


def writer_process(path: str, rate: float, seconds: float, out: Any) -> None:
    async def main() -> int:
        store = SqliteHotStore(path)
        await store.open()
        try:
            return await write_at(store, rate, seconds, None)
        finally:
            await store.close()

    out.put(asyncio.run(main()))


class TimedWarehouse(Warehouse):
    """The real DuckDB backend; notes, per event, load commit time minus hot-store commit time."""

    name = "timed"

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self.lags: list[float] = []
        self.batches: list[int] = []
        self.load_seconds: list[float] = []

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def load_events(self, events: Sequence[Event]) -> int:
        started = time.monotonic()
        new = await self.inner.load_events(events)
        self.load_seconds.append(time.monotonic() - started)
        now = datetime.now(UTC)
        self.lags.extend((now - e.ts).total_seconds() for e in events)
        self.batches.append(len(events))
        return new

    async def load_metrics(self, points: Sequence[MetricPoint]) -> int:
        return await self.inner.load_metrics(points)

    async def get_checkpoint(self, name: str) -> int:
        return await self.inner.get_checkpoint(name)

    async def set_checkpoint(self, name: str, seq: int) -> None:
        await self.inner.set_checkpoint(name, seq)

    async def query(
        self, statement: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return await self.inner.query(statement, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self.inner.execute(sql, params)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


async def exactly_once(warehouse: Warehouse, expected: int) -> str:
    rows = await warehouse.execute("SELECT COUNT(*), COUNT(DISTINCT seq), MAX(seq) FROM events")
    count, distinct, top = rows[0]
    ok = count == distinct == top == expected
    return f"{count:,} rows, {distinct:,} distinct seqs" + ("" if ok else "  MISMATCH")


async def steady(folder: Path, mode: str, rate: float, seconds: float) -> None:
    store = SqliteHotStore(str(folder / f"{mode}.db"))
    await store.open()
    warehouse = TimedWarehouse(DuckDBWarehouse(folder / f"{mode}.duckdb"))
    etl = Etl(store, warehouse, clock=SystemClock())
    runner = asyncio.create_task(etl.run())
    started = time.monotonic()
    if mode == "notify":
        sent = await write_at(store, rate, seconds, etl)
    else:
        queue: Any = mp.get_context("spawn").Queue()
        proc = mp.get_context("spawn").Process(
            target=writer_process, args=(str(folder / f"{mode}.db"), rate, seconds, queue)
        )
        proc.start()
        sent = await asyncio.get_running_loop().run_in_executor(None, queue.get)
        proc.join()
    await asyncio.wait_for(etl.wait_checkpoint(await store.latest_seq()), 60)
    elapsed = time.monotonic() - started
    etl.stop()
    await runner
    lags, loads, batches = warehouse.lags, warehouse.load_seconds, warehouse.batches
    print(
        f"steady/{mode:<7} {sent:>9,} events in {elapsed:5.1f} s: "
        f"{len(lags) / elapsed:8,.0f} loaded/s; {len(batches)} batches "
        f"(mean {statistics.mean(batches):,.0f} events, load p50 {ms(pct(loads, 0.5))}, "
        f"max {ms(max(loads))}); commit->warehouse p50 {ms(pct(lags, 0.5))}, "
        f"p99 {ms(pct(lags, 0.99))}, max {ms(max(lags))}; "
        f"{await exactly_once(warehouse, sent)}",
        flush=True,
    )
    await warehouse.close()
    await store.close()


async def catch_up(folder: Path, backlog: int) -> None:
    store = SqliteHotStore(str(folder / "backlog.db"))
    await store.open()
    for start in range(0, backlog, 10_000):
        await commit(store, min(10_000, backlog - start))
    warehouse = DuckDBWarehouse(folder / "backlog.duckdb")
    etl = Etl(store, warehouse, clock=SystemClock())
    started = time.monotonic()
    report = await etl.run_once()
    elapsed = time.monotonic() - started
    print(
        f"catch-up       {report.events:>9,} events in {elapsed:5.1f} s: "
        f"{report.events / elapsed:8,.0f} loaded/s in {report.batches} batches; "
        f"{await exactly_once(warehouse, backlog)}",
        flush=True,
    )
    await warehouse.close()
    await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s committed")
    parser.add_argument("--seconds", type=float, default=20.0, help="per steady mode")
    parser.add_argument("--backlog", type=int, default=200_000, help="events for catch-up")
    parser.add_argument("--modes", default="process,notify", help="steady modes to run")
    parser.add_argument("--quick", action="store_true", help="5 s and a 50,000-event backlog")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.backlog = 5.0, 50_000
    with tempfile.TemporaryDirectory(prefix="nephos-etl-bench-") as tmp:
        folder = Path(tmp)
        for mode in args.modes.split(","):
            await steady(folder, mode.strip(), args.rate, args.seconds)
        if args.backlog:
            await catch_up(folder, args.backlog)


if __name__ == "__main__":
    asyncio.run(main())
