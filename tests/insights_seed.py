"""A seeded hot store and warehouse for the insights command tests, with a config naming both.

The warehouse gets the shared seed (tests/warehouse_seed.py: four days of metrics and checks
with an API outage ten hours before SEED_NOW); the hot store gets the same checks, metrics,
instances and alerts, plus a firing anomaly alert and a firing forecast alert.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckResult,
    EventKind,
    Instance,
    MetricPoint,
    Severity,
    from_dict,
)
from nephos.store.sqlite import SqliteHotStore
from nephos.warehouse.duckdb import DuckDBWarehouse
from tests.warehouse_seed import SEED_NOW, seed_events

__all__ = ["SEED_NOW", "UNTIL", "seed_sources", "write_config"]

UNTIL = "2026-11-20T12:00:00Z"


def _extra_alerts() -> list[Alert]:
    anomaly = Alert(
        id="al-anom01",
        dedup_key="vm-db-1|anomaly|mem_percent",
        target="vm-db-1",
        source=AlertSource.ANOMALY,
        state=AlertState.FIRING,
        severity=Severity.WARNING,
        title="vm-db-1 mem_percent: sustained rise",
        message="vm-db-1 mem_percent is 84 percent, expected about 70 percent",
        started_at=SEED_NOW - timedelta(hours=3),
        updated_at=SEED_NOW - timedelta(hours=3),
        condition="mem_percent anomaly (sustained_rise)",
        value="84",
        provider="vultr",
        facts={
            "kind": "sustained_rise", "metric": "mem_percent", "unit": "percent",
            "observed": 84.0, "baseline": {"median": 70.0, "mad": 1.5, "spread": 2.2},
            "deviation": 6.4, "direction": "up", "confidence": 0.88, "severity": "warning",
        },
    )  # fmt: skip
    forecast = Alert(
        id="al-fcst01",
        dedup_key="forecast:vm-db-1:disk_percent",
        target="vm-db-1",
        source=AlertSource.FORECAST,
        state=AlertState.FIRING,
        severity=Severity.WARNING,
        title="disk on vm-db-1 reaches 90% in about 20 hours",
        message="disk on vm-db-1 is at 85% and rising 0.26% per hour",
        started_at=SEED_NOW - timedelta(hours=2),
        updated_at=SEED_NOW - timedelta(hours=2),
        condition="disk_percent >= 90%",
        value="85%",
        provider="vultr",
        facts={
            "metric": "disk_percent", "resource": "vm-db-1", "unit": "percent",
            "threshold": 90.0, "current": 84.8, "hours_to_threshold": 19.6,
            "interval_hours": [17.9, 21.4], "method": "linear", "r2": 0.99,
            "slope_per_hour": 0.26, "points": 432,
        },
    )  # fmt: skip
    return [anomaly, forecast]


async def _seed(hot: Path, warehouse: Path | None) -> None:
    events = seed_events()
    store = SqliteHotStore(str(hot))
    await store.open()
    results = [from_dict(CheckResult, e.data) for e in events if e.kind is EventKind.CHECK]
    points = [from_dict(MetricPoint, e.data) for e in events if e.kind is EventKind.METRIC]
    await store.put_results(results)
    await store.put_metrics(points)
    await store.put_instances(
        [from_dict(Instance, e.data) for e in events if e.kind is EventKind.INSTANCE]
    )
    latest: dict[str, Alert] = {}
    for e in events:
        if e.kind is EventKind.ALERT:
            alert = from_dict(Alert, e.data)
            latest[alert.id] = alert
    for alert in [*latest.values(), *_extra_alerts()]:
        await store.put_alert(alert)
    await store.close()
    if warehouse is not None:
        wh = DuckDBWarehouse(warehouse)
        await wh.open()
        await wh.load_events(events)
        await wh.close()


def seed_sources(directory: Path, *, warehouse: bool = True) -> tuple[Path, Path]:
    """Seed ``directory/hot.db`` and (optionally) ``directory/wh.duckdb``; their paths."""
    hot, wh = directory / "hot.db", directory / "wh.duckdb"
    asyncio.run(_seed(hot, wh if warehouse else None))
    return hot, wh


def write_config(directory: Path, hot: Path, wh: Path, extra: str = "") -> Path:
    """A config naming the seeded store and warehouse, with a runbook for the api target."""
    path = directory / "nephos.yaml"
    path.write_text(
        f"""
storage:
  hot: {{backend: sqlite, path: "{hot}"}}
  warehouse: {{backend: duckdb, path: "{wh}"}}
targets:
  - name: api
    url: https://api.example.com/health
    provider: aws
    runbook: "Check the load balancer, then restart the api service."
{extra}
""",
        encoding="utf-8",
    )
    return path
