"""Shared pieces of the ETL tests: event writers, warehouse counts and a fault injector.

:class:`FlakyWarehouse` wraps a real warehouse backend and raises WarehouseError for a
chosen number of calls, the way an unreachable Snowflake or a locked DuckDB file would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from nephos.clock import ManualClock
from nephos.errors import WarehouseError
from nephos.model import CheckKind, CheckResult, Event, Health, MetricPoint
from nephos.store.base import HotStore
from nephos.warehouse.base import Warehouse
from nephos.warehouse.duckdb import DuckDBWarehouse


def duckdb_warehouse(path: Path) -> Warehouse:
    """The real DuckDB backend on ``path``, unopened."""
    return DuckDBWarehouse(path)


async def commit_mix(store: HotStore, clock: ManualClock, results: int, metrics: int) -> int:
    """Commit ``results`` check results and ``metrics`` metric points; the last seq."""
    now = clock.now()
    seqs: list[int] = []
    if results:
        seqs += await store.put_results(
            [
                CheckResult(
                    target=f"t{i % 7}",
                    kind=CheckKind.HTTP,
                    ts=now,
                    health=Health.HEALTHY,
                    latency_ms=10.0 + i,
                    success=True,
                    status_code=200,
                )
                for i in range(results)
            ]
        )
    if metrics:
        seqs += await store.put_metrics(
            [
                MetricPoint(
                    instance=f"i-{i % 5}",
                    metric="cpu",
                    unit="percent",
                    ts=now - timedelta(seconds=i),
                    value=float(i % 100),
                )
                for i in range(metrics)
            ]
        )
    return max(seqs) if seqs else await store.latest_seq()


async def warehouse_counts(warehouse: Warehouse) -> dict[str, int]:
    """Rows per history table, and distinct seqs of the events table (opens it if needed)."""
    await warehouse.open()
    counts: dict[str, int] = {}
    for table in ("events", "results", "metrics"):
        rows = await warehouse.execute(f"SELECT COUNT(*) FROM {table}")
        counts[table] = int(rows[0][0])
    rows = await warehouse.execute("SELECT COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM events")
    counts["distinct"] = int(rows[0][0])
    counts["min"] = int(rows[0][1] or 0)
    counts["max"] = int(rows[0][2] or 0)
    return counts


async def checkpoint_of(warehouse: Warehouse, name: str = "etl") -> int:
    """The stored checkpoint (opens the warehouse if needed: the ETL closes it on failure)."""
    await warehouse.open()
    return await warehouse.get_checkpoint(name)


class RecordingClock(ManualClock):
    """A ManualClock that remembers how long each sleeper asked to sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self._seen = 0
        self._asked = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._asked.set()
        await super().sleep(seconds)

    async def asked(self, seconds: float) -> None:
        """Wait until some sleeper asks for exactly ``seconds`` (after the last one found)."""
        while seconds not in self.sleeps[self._seen :]:
            self._asked.clear()
            await self._asked.wait()
        self._seen += self.sleeps[self._seen :].index(seconds) + 1


class FlakyWarehouse(Warehouse):
    """A real warehouse behind a fault injector: the first ``fail_loads`` loads and the first
    ``fail_checkpoints`` checkpoint writes raise WarehouseError without reaching it.

    ``calls`` records ("load", last seq) and ("checkpoint", seq) in the order they reached the
    real backend.
    """

    name = "flaky"

    def __init__(self, inner: Warehouse, *, fail_loads: int = 0, fail_checkpoints: int = 0) -> None:
        self.inner = inner
        self.fail_loads = fail_loads
        self.fail_checkpoints = fail_checkpoints
        self.attempts = 0
        self.calls: list[tuple[str, int]] = []
        self.opens = 0

    async def open(self) -> None:
        self.opens += 1
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def load_events(self, events: Sequence[Event]) -> int:
        self.attempts += 1
        if self.fail_loads > 0:
            self.fail_loads -= 1
            raise WarehouseError("warehouse unreachable (injected)")
        new = await self.inner.load_events(events)
        self.calls.append(("load", events[-1].seq))
        return new

    async def load_metrics(self, points: Sequence[MetricPoint]) -> int:
        return await self.inner.load_metrics(points)

    async def get_checkpoint(self, name: str) -> int:
        return await self.inner.get_checkpoint(name)

    async def set_checkpoint(self, name: str, seq: int) -> None:
        if self.fail_checkpoints > 0:
            self.fail_checkpoints -= 1
            raise WarehouseError("warehouse unreachable (injected)")
        await self.inner.set_checkpoint(name, seq)
        self.calls.append(("checkpoint", seq))

    async def query(
        self, statement: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return await self.inner.query(statement, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self.inner.execute(sql, params)
