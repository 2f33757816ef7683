"""History facts from either source: the warehouse's SQL (``snowflake/analytics``) when there is
one, else the same figures computed in Python from the hot store's recent rows.

Availability, latency percentiles, incidents, state changes, trends and chart buckets. Each
function takes a :class:`History` and a period; the warehouse answers for any period, the hot
store only for what its retention keeps (the caller says so in the facts' ``missing``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np

from nephos.insights.facts import Incident, StateChange, TargetAvailability, TrendFact
from nephos.insights.series import (
    Period,
    aware_utc,
    failure_runs,
    fit_trend,
    naive_utc,
    percentile,
    trend_fact,
)
from nephos.model import CheckResult, MetricPoint
from nephos.store.base import HotStore
from nephos.warehouse.base import Warehouse

__all__ = ["STORE_LIMIT", "History", "Period"]

STORE_LIMIT = 200_000
"""Most rows read from the hot store for one figure when there is no warehouse."""
LATENCY = "latency_ms"


class History:
    """Reads history from ``warehouse`` when given, else from ``store``.

    Args:
        store: the hot store (recent rows), or None when there is none yet.
        warehouse: an open warehouse, or None.
    """

    def __init__(self, store: HotStore | None, warehouse: Warehouse | None) -> None:
        self.store = store
        self.warehouse = warehouse

    async def _results(self, period: Period) -> list[CheckResult]:
        if self.store is None:
            return []
        rows = await self.store.results(since=period.since, limit=STORE_LIMIT)
        return sorted((r for r in rows if r.ts <= period.until), key=lambda r: (r.target, r.ts))

    async def availability(self, period: Period) -> list[TargetAvailability]:
        """Availability and latency percentiles per target, by name.

        Raises:
            WarehouseError, StoreError: the source could not be read.
        """
        if self.warehouse is not None:
            rows = await self.warehouse.query("availability", period.binds())
            return [
                TargetAvailability(
                    target=str(r["target"]),
                    provider=str(r["provider"] or "other"),
                    checks=int(r["checks"]),
                    failures=int(r["failures"]),
                    availability_pct=float(r["availability_pct"]),
                    p50_ms=None if r["p50_latency_ms"] is None else float(r["p50_latency_ms"]),
                    p95_ms=None if r["p95_latency_ms"] is None else float(r["p95_latency_ms"]),
                    last_health=str(r["last_health"]),
                )
                for r in rows
            ]
        by_target: dict[str, list[CheckResult]] = defaultdict(list)
        for result in await self._results(period):
            by_target[result.target].append(result)
        out = []
        for target in sorted(by_target):
            rows_ = by_target[target]
            latencies = [r.latency_ms for r in rows_]
            ok = sum(1 for r in rows_ if r.success)
            out.append(
                TargetAvailability(
                    target=target,
                    provider=rows_[-1].provider,
                    checks=len(rows_),
                    failures=len(rows_) - ok,
                    availability_pct=round(100.0 * ok / len(rows_), 3),
                    p50_ms=percentile(latencies, 50),
                    p95_ms=percentile(latencies, 95),
                    last_health=rows_[-1].health.value,
                )
            )
        return out

    async def incidents(self, period: Period, *, min_failed: int = 2) -> list[Incident]:
        """Runs of at least ``min_failed`` failed checks per target, oldest first.

        Raises:
            WarehouseError, StoreError: the source could not be read.
        """
        if self.warehouse is not None:
            rows = await self.warehouse.query(
                "incidents", {**period.binds(), "min_failed_checks": min_failed}
            )
            runs = [
                (str(r["target"]), str(r["provider"] or "other"), aware_utc(r["started_at"]),
                 None if r["ended_at"] is None else aware_utc(r["ended_at"]),
                 int(r["failed_checks"]), str(r["reason"] or ""))
                for r in rows
            ]  # fmt: skip
        else:
            runs = failure_runs(await self._results(period), min_failed)
        return [
            Incident(
                target=t,
                provider=p,
                started_at=start,
                ended_at=end,
                minutes=round(((end or period.until) - start).total_seconds() / 60.0, 1),
                failed_checks=n,
                reason=why,
            )
            for t, p, start, end, n, why in runs
        ]

    async def state_changes(
        self, period: Period, *, limit: int = 50
    ) -> tuple[list[StateChange], int]:
        """The newest ``limit`` health changes, oldest first, and how many there were in all.

        Raises:
            WarehouseError, StoreError: the source could not be read.
        """
        if self.warehouse is not None:
            rows = await self.warehouse.query(
                "state_changes", {**period.binds(), "max_rows": limit}
            )
            changes = [
                StateChange(str(r["target"]), aware_utc(r["ts"]), str(r["previous_health"]),
                            str(r["health"]), str(r["why"] or ""))
                for r in rows
            ]  # fmt: skip
            total = int(rows[0]["total_changes"]) if rows else 0
            return sorted(changes, key=lambda c: (c.at, c.target)), total
        found = []
        previous: dict[str, CheckResult] = {}
        for result in await self._results(period):
            if result.sentinel_offline:
                continue
            before = previous.get(result.target)
            if before is not None and before.health is not result.health:
                why = result.error or result.reason
                found.append(
                    StateChange(
                        result.target, result.ts, before.health.value, result.health.value, why
                    )
                )
            previous[result.target] = result
        found.sort(key=lambda c: (c.at, c.target))
        return found[-limit:], len(found)

    async def trends(
        self, period: Period, *, metric: str = "", resource: str = ""
    ) -> list[TrendFact]:
        """Every series' trend in ``period`` against the period before it.

        Raises:
            WarehouseError, StoreError: the source could not be read.
        """
        before = period.since - (period.until - period.since)
        if self.warehouse is not None:
            binds = {**period.binds(), "previous_since": naive_utc(before), "metric": metric,
                     "resource": resource, "min_points": 3}  # fmt: skip
            rows = await self.warehouse.query("metric_trends", binds)
            return [
                trend_fact(str(r["resource"]), str(r["metric"]), str(r["unit"] or ""),
                       int(r["points"]), float(r["slope_per_hour"] or 0.0), r["r2"],
                       float(r["mean_value"]),
                       float(r["last_value"]), float(r["min_value"]), float(r["max_value"]),
                       None if r["previous_mean"] is None else float(r["previous_mean"]), period)
                for r in rows
            ]  # fmt: skip
        series = await self._series(Period(before, period.until), metric, resource)
        out = []
        for (res, name, unit), points in sorted(series.items()):
            now_points = [(ts, v) for ts, v in points if ts >= period.since]
            earlier = [v for ts, v in points if ts < period.since]
            fact = fit_trend(res, name, unit, now_points, earlier, period)
            if fact is not None:
                out.append(fact)
        return out

    async def _series(
        self, period: Period, metric: str, resource: str
    ) -> dict[tuple[str, str, str], list[tuple[datetime, float]]]:
        out: dict[tuple[str, str, str], list[tuple[datetime, float]]] = defaultdict(list)
        if self.store is None:
            return out
        if metric != LATENCY:
            points: Iterable[MetricPoint] = await self.store.metrics(
                resource or None, metric or None, since=period.since, limit=STORE_LIMIT
            )
            for p in points:
                if p.ts <= period.until:
                    out[(p.instance, p.metric, p.unit)].append((p.ts, p.value))
        if metric in ("", LATENCY):
            for r in await self._results(period):
                if (
                    (not resource or r.target == resource)
                    and not r.error
                    and not r.sentinel_offline
                ):
                    out[(r.target, LATENCY, "ms")].append((r.ts, r.latency_ms))
        return out

    async def buckets(
        self, period: Period, resource: str, metric: str, *, bucket: timedelta
    ) -> list[tuple[datetime, float]]:
        """One series as the mean of each bucket, oldest first, for charts.

        Raises:
            WarehouseError, StoreError: the source could not be read.
        """
        seconds = max(1, int(bucket.total_seconds()))
        if self.warehouse is not None:
            rows = await self.warehouse.query(
                "metric_buckets",
                {
                    **period.binds(),
                    "resource": resource,
                    "metric": metric,
                    "bucket_seconds": seconds,
                },
            )
            return [
                (
                    period.since + timedelta(seconds=seconds * int(r["bucket"])),
                    float(r["mean_value"]),
                )
                for r in rows
            ]
        series = await self._series(period, metric, resource)
        sums: dict[int, list[float]] = defaultdict(list)
        for points in series.values():
            for ts, value in points:
                if ts >= period.since:
                    sums[int((ts - period.since).total_seconds() // seconds)].append(value)
        return [
            (period.since + timedelta(seconds=seconds * i), float(np.mean(sums[i])))
            for i in sorted(sums)
        ]

    async def fleet_hourly(
        self, period: Period, *, bucket: timedelta = timedelta(hours=1)
    ) -> tuple[list[tuple[datetime, float]], list[tuple[datetime, float]]]:
        """The fleet's availability (%) and p95 latency (ms) per bucket, oldest first.

        Raises:
            WarehouseError, StoreError: the source could not be read.
        """
        seconds = max(1, int(bucket.total_seconds()))
        if self.warehouse is not None:
            rows = await self.warehouse.query(
                "availability_hourly", {**period.binds(), "bucket_seconds": seconds}
            )
            starts = [period.since + timedelta(seconds=seconds * int(r["bucket"])) for r in rows]
            return (
                [(s, float(r["availability_pct"])) for s, r in zip(starts, rows, strict=True)],
                [(s, float(r["p95_latency_ms"] or 0.0)) for s, r in zip(starts, rows, strict=True)],
            )
        groups: dict[int, list[CheckResult]] = defaultdict(list)
        for result in await self._results(period):
            groups[int((result.ts - period.since).total_seconds() // seconds)].append(result)
        avail, p95 = [], []
        for i in sorted(groups):
            start = period.since + timedelta(seconds=seconds * i)
            rows_ = groups[i]
            avail.append((start, round(100.0 * sum(r.success for r in rows_) / len(rows_), 3)))
            p95.append((start, percentile([r.latency_ms for r in rows_], 95) or 0.0))
        return avail, p95

    async def fleet_latency(self, period: Period) -> dict[str, float | None]:
        """The fleet's availability and p50/p95 latency over the period.

        Raises:
            WarehouseError, StoreError: the source could not be read.
        """
        if self.warehouse is not None:
            rows = await self.warehouse.query("latency_percentiles", period.binds())
            row = rows[0] if rows else {}
            return {
                "availability_pct": row.get("availability_pct"),
                "p50_ms": row.get("p50_latency_ms"),
                "p95_ms": row.get("p95_latency_ms"),
            }
        results = await self._results(period)
        latencies = [r.latency_ms for r in results]
        return {
            "availability_pct": round(100.0 * sum(r.success for r in results) / len(results), 3)
            if results
            else None,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
        }
