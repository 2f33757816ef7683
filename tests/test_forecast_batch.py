"""Forecasts over the warehouse (DuckDB, and Snowflake on fakesnow): the SQL's linear fits pick
the candidates, the Python refit decides, and the answer is the in-memory path's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from nephos.analytics.forecast import (
    ForecastMethod,
    Thresholds,
    group_series,
    latency_points,
    run_forecasts,
)
from nephos.analytics.forecast_batch import LinearFit, linear_candidates, predict_batch
from nephos.analytics.forecast_eval import Family, make_series
from nephos.model import CheckKind, CheckResult, Event, EventKind, Health, MetricPoint, to_dict
from nephos.warehouse.base import Warehouse
from tests.warehouse_fixtures import duckdb_warehouse, fakesnow_warehouse

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output:UserWarning")

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
HORIZON = timedelta(hours=48)
THRESHOLDS = Thresholds(by_series={("api", "latency_ms"): 800.0})


def ramp(name: str, metric: str, *, start: float, per_hour: float) -> list[MetricPoint]:
    rng = np.random.default_rng(len(name))
    return [
        MetricPoint(
            name,
            metric,
            "percent",
            NOW - timedelta(minutes=m),
            start + per_hour * (72 - m / 60) + float(rng.normal(0, 0.2)),
            "gcp",
        )
        for m in range(72 * 60, -1, -5)
    ]


def latency_results() -> list[CheckResult]:
    """A target whose latency creeps from 300 ms up by 6 ms an hour (800 ms in about 11 h)."""
    rng = np.random.default_rng(5)
    return [
        CheckResult(
            target="api",
            kind=CheckKind.HTTP,
            ts=NOW - timedelta(minutes=m),
            health=Health.HEALTHY,
            latency_ms=300.0 + 6.0 * (72 - m / 60) + float(rng.normal(0, 5)),
            success=True,
            provider="aws",
        )
        for m in range(72 * 60, -1, -10)
    ]


def points() -> list[MetricPoint]:
    seasonal = make_series(Family.SEASONAL, np.random.default_rng(4), now=NOW, name="cache-1")
    return [
        *ramp("db-1", "disk_percent", start=60.0, per_hour=0.3),  # 90% in about 28 h
        *ramp("web-1", "mem_percent", start=50.0, per_hour=0.0),
        *ramp("old-1", "disk_percent", start=80.0, per_hour=-0.2),
        *ramp("db-1", "net_percent_of_link", start=60.0, per_hour=0.3),  # no threshold
        *seasonal.points,
    ]


@pytest.fixture(scope="module", params=["duckdb", "fakesnow"])
def warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """The same history in the real DuckDB backend and in the Snowflake backend on fakesnow."""
    opened = (
        duckdb_warehouse(tmp_path_factory.mktemp("forecast") / "wh.duckdb")
        if request.param == "duckdb"
        else fakesnow_warehouse()
    )
    with opened as wh:
        asyncio.run(wh.load_metrics(points()))
        events = [
            Event(seq=i + 1, kind=EventKind.CHECK, ts=r.ts, data=to_dict(r))
            for i, r in enumerate(latency_results())
        ]
        asyncio.run(wh.load_events(events))
        yield wh


async def test_the_warehouse_path_forecasts_what_crosses_and_nothing_else(
    warehouse: Warehouse,
) -> None:
    forecasts = await predict_batch(warehouse, horizon=HORIZON, now=NOW, thresholds=THRESHOLDS)
    assert sorted((f.resource, f.metric) for f in forecasts) == [
        ("api", "latency_ms"),
        ("cache-1", "disk_percent"),
        ("db-1", "disk_percent"),
    ]
    by_name = {f.resource: f for f in forecasts}
    assert by_name["db-1"].hours_to_threshold == pytest.approx(28.0, abs=1.0)
    assert by_name["db-1"].provider == "gcp" and by_name["db-1"].unit == "percent"
    assert by_name["api"].hours_to_threshold == pytest.approx(500.0 / 6.0 - 72.0, abs=1.5)
    assert by_name["api"].unit == "ms" and by_name["api"].threshold == 800.0
    assert by_name["cache-1"].method is ForecastMethod.SEASONAL
    hours = [f.hours_to_threshold for f in forecasts]
    assert hours == sorted(hours)


async def test_the_warehouse_path_agrees_with_the_in_memory_path(
    warehouse: Warehouse,
) -> None:
    batch = await predict_batch(warehouse, horizon=HORIZON, now=NOW, thresholds=THRESHOLDS)
    series = group_series([*points(), *latency_points(latency_results())])
    memory = run_forecasts(series, now=NOW, horizon=HORIZON, thresholds=THRESHOLDS)
    assert [(f.resource, f.metric, f.method) for f in batch] == [
        (f.resource, f.metric, f.method) for f in memory
    ]
    for b, m in zip(batch, memory, strict=True):
        assert b.hours_to_threshold == pytest.approx(m.hours_to_threshold, abs=0.01)
        assert b.latest_hours == pytest.approx(m.latest_hours, abs=0.01)
        assert b.current == pytest.approx(m.current)


async def test_a_window_without_data_forecasts_nothing(warehouse: Warehouse) -> None:
    later = NOW + timedelta(days=10)
    assert await predict_batch(warehouse, horizon=HORIZON, now=later, thresholds=THRESHOLDS) == []


async def test_the_linear_sql_returns_only_rising_series_with_their_slope(
    warehouse: Warehouse,
) -> None:
    rows = await warehouse.query(
        "forecast_linear",
        {"since": NOW - timedelta(days=3), "until": NOW, "min_points": 24},
    )
    fits = {(r["resource"], r["metric"]): LinearFit.from_row(r) for r in rows}
    assert ("old-1", "disk_percent") not in fits  # falling
    assert all(f.slope_per_hour > 0 for f in fits.values())
    db = fits[("db-1", "disk_percent")]
    assert db.slope_per_hour == pytest.approx(0.3, rel=0.02)
    assert db.level_at_until == pytest.approx(60.0 + 0.3 * 72, abs=0.3)
    assert db.points == 72 * 12 + 1
    assert db.r2 is not None and db.r2 > 0.99
    api = fits[("api", "latency_ms")]
    assert api.unit == "ms" and api.slope_per_hour == pytest.approx(6.0, rel=0.05)


def fit(resource: str, metric: str, *, level: float, slope: float, last: float) -> LinearFit:
    return LinearFit(resource, metric, "percent", "aws", 500, last, slope, level, 0.9)


def test_candidates_are_rising_lines_that_reach_their_threshold_within_three_horizons() -> None:
    fits = [
        fit("near", "disk_percent", level=80.0, slope=0.5, last=80.0),  # 20 h
        fit("far", "disk_percent", level=50.0, slope=0.2, last=50.0),  # 200 h
        fit("within3", "disk_percent", level=60.0, slope=0.25, last=60.0),  # 120 h
        fit("over", "disk_percent", level=92.0, slope=0.5, last=91.0),  # already there
        fit("nometric", "net_bytes", level=80.0, slope=0.5, last=80.0),
    ]
    chosen = linear_candidates(fits, thresholds=Thresholds(), horizon=HORIZON)
    assert [(f.resource, level) for f, level in chosen] == [("near", 90.0), ("within3", 90.0)]


async def test_the_in_warehouse_alert_sql_lists_straight_lines_crossing_within_the_horizon(
    warehouse: Warehouse,
) -> None:
    rows = await warehouse.query(
        "forecast_alerts",
        {
            "since": NOW - timedelta(days=3),
            "until": NOW,
            "horizon_hours": 48.0,
            "percent_threshold": 90.0,
            "latency_threshold_ms": 800.0,
            "min_r2": 0.6,
            "min_points": 24,
        },
    )
    found = {(r["resource"], r["metric"]): r for r in rows}
    assert {("api", "latency_ms"), ("db-1", "disk_percent")} <= set(found)
    assert ("db-1", "net_percent_of_link") not in found  # not a capacity metric
    assert ("old-1", "disk_percent") not in found and ("web-1", "mem_percent") not in found
    assert found[("db-1", "disk_percent")]["hours_to_threshold"] == pytest.approx(28.0, abs=1.0)
    assert found[("api", "latency_ms")]["threshold"] == 800.0
    hours = [r["hours_to_threshold"] for r in rows]
    assert hours == sorted(hours)
