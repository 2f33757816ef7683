"""Forecasts: close to the true crossing on clean fills, silent where the data say nothing."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from nephos.analytics.forecast import (
    ForecastMethod,
    ForecastSettings,
    Thresholds,
    forecast_series,
    group_series,
    latency_points,
    run_forecasts,
)
from nephos.analytics.forecast_eval import Family, evaluate, make_series
from nephos.config.loader import parse_config
from nephos.model import CheckKind, CheckResult, Health, MetricPoint

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def series(
    values_at: list[tuple[float, float]], *, name: str = "vm-1", metric: str = "disk_percent"
) -> list[MetricPoint]:
    """Points at (hours before NOW, value)."""
    return [
        MetricPoint(name, metric, "percent", NOW - timedelta(hours=h), v, provider="aws")
        for h, v in values_at
    ]


def line(
    *, start: float, per_hour: float, hours: float = 72.0, step: float = 0.25, noise: float = 0.2
) -> list[tuple[float, float]]:
    """A fill sampled every ``step`` hours over the last ``hours``, with a little noise."""
    rng = np.random.default_rng(3)
    ages = np.arange(hours, -1e-9, -step)
    return [(a, start + per_hour * (hours - a) + rng.normal(0, noise)) for a in ages]


def test_a_clean_linear_fill_is_forecast_within_an_hour_of_the_true_crossing() -> None:
    # 60% three days ago, +0.3 per hour: 81.6% now, 90% in 28 hours.
    forecast = forecast_series(series(line(start=60.0, per_hour=0.3)), now=NOW, threshold=90.0)
    assert forecast is not None
    assert forecast.method is ForecastMethod.LINEAR
    assert forecast.hours_to_threshold == pytest.approx(28.0, abs=1.0)
    assert forecast.earliest_hours <= forecast.hours_to_threshold <= forecast.latest_hours
    assert forecast.slope_per_hour == pytest.approx(0.3, rel=0.05)
    assert forecast.r2 > 0.95
    assert forecast.crosses_at == NOW + timedelta(hours=forecast.hours_to_threshold)
    assert (forecast.resource, forecast.metric, forecast.provider) == (
        "vm-1",
        "disk_percent",
        "aws",
    )


@pytest.mark.parametrize("family", [Family.LINEAR, Family.SEASONAL, Family.STEP])
def test_clean_fill_families_are_forecast_within_a_small_error(family: Family) -> None:
    [row] = evaluate([family], per_family=12, seed=11)
    assert row.forecasts == row.series
    assert row.median_abs_error_hours is not None and row.median_abs_error_hours < 1.0


def test_noisy_fills_are_forecast_within_a_fifth_of_the_time_to_threshold() -> None:
    [row] = evaluate([Family.NOISY], per_family=12, seed=5)
    assert row.forecasts >= row.series * 0.75
    assert row.median_relative_error is not None and row.median_relative_error < 0.2


@pytest.mark.parametrize("family", [Family.FLAT, Family.NOISE, Family.WANDER, Family.CYCLE])
def test_series_that_do_not_cross_get_no_forecast(family: Family) -> None:
    [row] = evaluate([family], per_family=15, seed=2)
    assert row.forecasts == 0


def test_a_daily_cycle_on_a_fill_is_fitted_with_the_seasonal_method() -> None:
    rng = np.random.default_rng(4)
    made = make_series(Family.SEASONAL, rng, now=NOW)
    forecast = forecast_series(made.points, now=NOW, threshold=90.0)
    assert forecast is not None and made.true_hours is not None
    assert forecast.method is ForecastMethod.SEASONAL
    assert abs(forecast.hours_to_threshold - made.true_hours) < 1.0


def test_a_falling_series_gets_no_forecast() -> None:
    points = series(line(start=85.0, per_hour=-0.2))
    assert forecast_series(points, now=NOW, threshold=90.0) is None


def test_a_flat_series_gets_no_forecast() -> None:
    points = series(line(start=70.0, per_hour=0.0, noise=1.0))
    assert forecast_series(points, now=NOW, threshold=90.0) is None


def test_too_few_points_get_no_forecast() -> None:
    points = series(line(start=60.0, per_hour=0.3, step=6.0))  # 13 points over 3 days
    assert forecast_series(points, now=NOW, threshold=90.0) is None


def test_too_short_a_span_gets_no_forecast() -> None:
    points = series(line(start=80.0, per_hour=1.0, hours=6.0, step=0.05))
    assert forecast_series(points, now=NOW, threshold=90.0) is None


def test_a_series_already_over_its_threshold_gets_no_forecast() -> None:
    points = series(line(start=80.0, per_hour=0.2))  # 94.4% now
    assert forecast_series(points, now=NOW, threshold=90.0) is None


def test_a_crossing_beyond_the_horizon_is_not_reported() -> None:
    points = series(line(start=60.0, per_hour=0.1))  # 67.2% now: 90% in 228 hours
    assert forecast_series(points, now=NOW, threshold=90.0) is None
    long = ForecastSettings(horizon=timedelta(days=12))
    forecast = forecast_series(points, now=NOW, threshold=90.0, settings=long)
    assert forecast is not None
    assert forecast.hours_to_threshold == pytest.approx(228.0, rel=0.05)


def test_a_trend_too_weak_for_its_noise_gets_no_forecast() -> None:
    # A slope of 0.02 per hour under noise of 8: the interval runs out to "never".
    points = series(line(start=70.0, per_hour=0.02, step=1.0, noise=8.0))
    assert forecast_series(points, now=NOW, threshold=72.0) is None


def test_after_a_clean_up_only_the_refill_is_fitted() -> None:
    # Filled to 88%, cleaned down to 40% 20 hours ago, refilling at 1.2 per hour since.
    before = [(a, 70.0 + 0.35 * (72 - a)) for a in np.arange(72.0, 20.0, -0.25)]
    after = [(a, 40.0 + 1.2 * (20 - a)) for a in np.arange(20.0, -1e-9, -0.25)]
    forecast = forecast_series(series(before + after), now=NOW, threshold=90.0)
    assert forecast is not None
    assert forecast.fitted_from >= NOW - timedelta(hours=20.5)
    assert forecast.hours_to_threshold == pytest.approx(26.0 / 1.2, abs=1.0)


def test_a_fill_that_started_mid_window_is_forecast_from_its_own_slope() -> None:
    flat = [(a, 50.0) for a in np.arange(72.0, 24.0, -0.25)]
    fill = [(a, 50.0 + 1.0 * (24 - a)) for a in np.arange(24.0, -1e-9, -0.25)]
    forecast = forecast_series(series(flat + fill), now=NOW, threshold=90.0)
    assert forecast is not None
    assert forecast.hours_to_threshold == pytest.approx(16.0, abs=1.0)


def test_points_after_now_and_before_the_window_are_ignored() -> None:
    points = series(line(start=60.0, per_hour=0.3))
    future = series([(-5.0, 10.0), (-6.0, 10.0)])
    ancient = series([(200.0, 99.0), (150.0, 99.0)])
    plain = forecast_series(points, now=NOW, threshold=90.0)
    mixed = forecast_series(points + future + ancient, now=NOW, threshold=90.0)
    assert plain is not None and mixed is not None
    assert mixed.hours_to_threshold == pytest.approx(plain.hours_to_threshold)


def test_run_forecasts_skips_metrics_without_threshold_and_lists_the_soonest_first() -> None:
    points = (
        series(line(start=60.0, per_hour=0.3), name="slow")
        + series(line(start=70.0, per_hour=0.25), name="fast")
        + series(line(start=60.0, per_hour=0.3), name="other", metric="net_bytes")
    )
    forecasts = run_forecasts(
        group_series(points), now=NOW, horizon=timedelta(hours=48), thresholds=Thresholds()
    )
    assert [f.resource for f in forecasts] == ["fast", "slow"]
    assert forecasts[0].hours_to_threshold < forecasts[1].hours_to_threshold


def test_run_forecasts_reports_only_crossings_within_the_horizon() -> None:
    points = group_series(series(line(start=60.0, per_hour=0.3)))  # crosses in 28 h
    short = run_forecasts(points, now=NOW, horizon=timedelta(hours=24), thresholds=Thresholds())
    assert short == []
    longer = run_forecasts(points, now=NOW, horizon=timedelta(hours=30), thresholds=Thresholds())
    assert len(longer) == 1


def test_thresholds_from_config_use_each_targets_unhealthy_latency() -> None:
    config = parse_config(
        "sentinel: {latency: {degraded: 500ms, unhealthy: 2s}}\n"
        "targets:\n"
        "  - {name: api, url: 'https://api.example.com/health', latency: {unhealthy: 800ms}}\n"
        "  - {name: web, url: 'https://www.example.com/'}\n"
    )
    thresholds = Thresholds.from_config(config, by_metric={"disk_percent": 85.0})
    assert thresholds.threshold_for("api", "latency_ms") == pytest.approx(800.0)
    assert thresholds.threshold_for("web", "latency_ms") == pytest.approx(2000.0)
    assert thresholds.threshold_for("vm-1", "disk_percent") == 85.0
    assert thresholds.threshold_for("vm-1", "mem_percent") == 90.0
    assert thresholds.threshold_for("vm-1", "net_bytes") is None


def test_latency_points_leave_out_failed_and_offline_checks() -> None:
    def result(ms: float, **extra: object) -> CheckResult:
        return CheckResult("api", CheckKind.HTTP, NOW, Health.HEALTHY, ms, True, **extra)  # type: ignore[arg-type]

    points = latency_points(
        [result(120.0), result(10_000.0, error="timed out"), result(90.0, sentinel_offline=True)]
    )
    assert [(p.instance, p.metric, p.value) for p in points] == [("api", "latency_ms", 120.0)]


def test_run_forecasts_matches_each_of_many_fills_to_its_own_crossing() -> None:
    rng = np.random.default_rng(1)
    made = {f"vm-{i}": make_series(Family.LINEAR, rng, now=NOW, name=f"vm-{i}") for i in range(10)}
    grouped = group_series(p for s in made.values() for p in s.points)
    forecasts = run_forecasts(
        grouped, now=NOW, horizon=timedelta(hours=48), thresholds=Thresholds()
    )
    assert sorted(f.resource for f in forecasts) == sorted(made)
    assert all(math.isfinite(f.hours_to_threshold) and f.r2 > 0.9 for f in forecasts)
    errors = [abs(f.hours_to_threshold - (made[f.resource].true_hours or 0.0)) for f in forecasts]
    assert statistics.median(errors) < 1.0


def test_a_clean_up_on_a_series_with_a_daily_cycle_refits_the_cycle_after_it() -> None:
    hours = np.arange(-72.0, 1e-9, 5 / 60)
    rng = np.random.default_rng(0)
    level = np.where(hours < -45, 85.0 + 0.3 * (hours + 45), 50.0 + 0.5 * (hours + 45))
    values = level + 5 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.5, hours.size)
    points = series([(-h, v) for h, v in zip(hours, values, strict=True)])
    forecast = forecast_series(points, now=NOW, threshold=90.0)
    assert forecast is not None
    assert forecast.method is ForecastMethod.SEASONAL
    assert forecast.fitted_from >= NOW - timedelta(hours=45.5)
    future = np.arange(0.0, 48.0, 0.01)
    signal = 50.0 + 0.5 * (future + 45) + 5 * np.sin(2 * np.pi * future / 24)
    true_hours = float(future[np.argmax(signal >= 90.0)])
    assert forecast.hours_to_threshold == pytest.approx(true_hours, abs=1.0)
