"""Batch anomaly detection (snowflake/analytics/anomalies.sql) on DuckDB, and on fakesnow."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nephos.analytics.anomaly import AnomalyKind
from nephos.analytics.anomaly_batch import Anomaly, detect_batch
from nephos.model import MetricPoint, Severity
from nephos.warehouse.base import Warehouse
from tests.warehouse_fixtures import duckdb_warehouse, fakesnow_warehouse

START = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = 4
END = START + timedelta(days=DAYS)
SPIKE = START + timedelta(days=3, hours=10)  # 30 minutes of CPU at 95 %
DEGRADED = START + timedelta(days=3, hours=15)  # 45 minutes of latency at 3.5x


def metric_points() -> list[MetricPoint]:
    rng = random.Random(42)
    points = []
    for i in range(DAYS * 288):
        ts = START + timedelta(minutes=5 * i)
        hour = ts.hour + ts.minute / 60
        cpu = 20 + 15 * math.exp(-(((hour - 14) / 3) ** 2)) + rng.gauss(0, 1.5)
        if SPIKE <= ts < SPIKE + timedelta(minutes=30):
            cpu = 95 + rng.gauss(0, 1)
        idle = float(rng.choice([0] * 90 + [1] * 8 + [3, 4]))
        latency = 120 * math.exp(rng.gauss(0, 0.1)) * (5 if i % 97 == 0 else 1)
        if DEGRADED <= ts < DEGRADED + timedelta(minutes=45):
            latency *= 3.5
        nightly = 66.0 if 2 + 5 / 60 <= hour < 2 + 35 / 60 else 12.0  # off the 15-minute grid
        points += [
            MetricPoint("batch-1", "cpu_utilization", "percent", ts, nightly + rng.gauss(0, 1)),
            MetricPoint("app-1", "cpu_utilization", "percent", ts, round(cpu, 2), "aws"),
            MetricPoint("idle-1", "cpu_utilization", "percent", ts, idle, "vultr"),
            MetricPoint("api-1", "response_time", "ms", ts, round(latency, 1), "gcp"),
        ]
    return points


def detect(warehouse: Warehouse, since: datetime) -> list[Anomaly]:
    return asyncio.run(detect_batch(warehouse, since, until=END, history=timedelta(days=DAYS)))


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    with duckdb_warehouse(tmp_path_factory.mktemp("wh") / "wh.duckdb") as wh:
        asyncio.run(wh.load_metrics(metric_points()))
        yield wh


def test_the_injected_incidents_come_back_as_one_row_per_episode(duck: Warehouse) -> None:
    found = detect(duck, START + timedelta(days=3))
    assert [(a.series.label, a.kind, a.started_at) for a in found] == [
        ("app-1/cpu_utilization", AnomalyKind.SPIKE, SPIKE),
        ("api-1/response_time", AnomalyKind.LATENCY_DEGRADATION, DEGRADED),
    ]
    spike, latency = found
    assert spike.points == 6 and spike.direction == 1
    assert spike.last_flagged_at == SPIKE + timedelta(minutes=25)
    assert spike.severity is Severity.CRITICAL and 0.9 <= spike.confidence <= 1.0
    assert spike.series.provider == "aws" and spike.series.unit == "percent"
    assert latency.points == 9
    assert 100 < latency.baseline < 140


def test_idle_cpu_lone_slow_requests_and_a_nightly_job_raise_nothing(duck: Warehouse) -> None:
    found = detect(duck, START + timedelta(days=1))
    assert {a.series.instance for a in found} == {"app-1", "api-1"}
    assert len(found) == 2


def test_nothing_started_before_since_is_reported(duck: Warehouse) -> None:
    assert detect(duck, SPIKE + timedelta(hours=1)) == detect(duck, DEGRADED - timedelta(hours=1))
    assert [a.started_at for a in detect(duck, SPIKE + timedelta(hours=1))] == [DEGRADED]


def test_fakesnow_finds_the_same_episodes(tmp_path: Path, duck: Warehouse) -> None:
    with fakesnow_warehouse() as snow:
        asyncio.run(snow.load_metrics(metric_points()))
        on_snow = detect(snow, START + timedelta(days=3))
    on_duck = detect(duck, START + timedelta(days=3))
    assert [(a.series, a.started_at, a.points) for a in on_snow] == [
        (a.series, a.started_at, a.points) for a in on_duck
    ]
    for s, d in zip(on_snow, on_duck, strict=True):
        assert s.deviation == pytest.approx(d.deviation)
