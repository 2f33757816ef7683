"""Warehouse load throughput: DuckDB load_events in 5,000-event batches, idempotent reloads,
and the bulk metrics path (1,000,000 points). Prints its figures; docs/benchmarks.md has them.

    .venv/bin/python bench/warehouse_load.py [--points 1000000] [--batches 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nephos.model import CheckKind, CheckResult, Event, EventKind, Health, MetricPoint, to_dict
from nephos.warehouse.duckdb import DuckDBWarehouse

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def batch(first_seq: int, size: int) -> list[Event]:
    """A realistic mix: nine metric points to one check result."""
    events: list[Event] = []
    for n in range(size):
        seq = first_seq + n
        ts = T0 + timedelta(seconds=seq)
        if n % 10 == 0:
            entity = to_dict(CheckResult(f"t{n % 50}", CheckKind.HTTP, ts, Health.HEALTHY, 12.5,
                                         True, status_code=200))  # fmt: skip
            events.append(Event(seq, EventKind.CHECK, ts, entity))
        else:
            point = MetricPoint(f"vm-{n % 230}", "cpu_percent", "percent", ts, float(n % 100))
            events.append(Event(seq, EventKind.METRIC, ts, to_dict(point)))
    return events


async def main(points: int, batches: int, size: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        wh = DuckDBWarehouse(Path(folder) / "bench.duckdb")
        await wh.open()
        try:
            await wh.load_events(batch(10_000_000, size))  # warm-up: imports, first pages
            loads, reloads = [], []
            for b in range(batches):
                events = batch(1 + b * size, size)
                start = time.perf_counter()
                assert await wh.load_events(events) == size
                loads.append(time.perf_counter() - start)
                start = time.perf_counter()
                assert await wh.load_events(events) == 0
                reloads.append(time.perf_counter() - start)
            print(f"load_events, {size:,} new events per batch, {batches} batches:")
            median = statistics.median(loads)
            print(f"  median {median * 1000:.0f} ms, max {max(loads) * 1000:.0f} ms"
                  f" ({size / median:,.0f} events/s)")  # fmt: skip
            print(f"  reload of a loaded batch: median {statistics.median(reloads) * 1000:.0f} ms")
            series = [
                MetricPoint(f"vm-{n % 230}", "cpu_percent", "percent",
                            T0 + timedelta(minutes=n // 230), float(n % 100))
                for n in range(points)
            ]  # fmt: skip
            start = time.perf_counter()
            await wh.load_metrics(series)
            took = time.perf_counter() - start
            print(f"load_metrics, {points:,} points: {took:.2f} s ({points / took:,.0f} points/s)")
        finally:
            await wh.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=5_000)
    args = parser.parse_args()
    asyncio.run(main(args.points, args.batches, args.batch_size))
