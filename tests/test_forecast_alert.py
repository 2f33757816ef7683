"""Forecasts become proactive alerts with the numbers behind them."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest

from nephos.analytics.forecast import Forecast, ForecastMethod
from nephos.analytics.forecast_alert import (
    forecast_severity,
    forecast_to_alert,
    format_hours,
    format_interval,
    format_level,
    reconcile_forecast_alerts,
)
from nephos.clock import ManualClock
from nephos.model import Alert as AlertModel
from nephos.model import AlertSource, AlertState, Severity, from_dict, to_dict

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def forecast(hours: float = 42.0, **changes: object) -> Forecast:
    values: dict[str, object] = {
        "resource": "db-1",
        "metric": "disk_percent",
        "unit": "percent",
        "provider": "aws",
        "threshold": 90.0,
        "current": 77.4,
        "slope_per_hour": 0.3,
        "hours_to_threshold": hours,
        "earliest_hours": hours - 4.0,
        "latest_hours": hours + 5.0,
        "crosses_at": NOW + timedelta(hours=hours),
        "method": ForecastMethod.SEASONAL,
        "r2": 0.962,
        "residual_std": 0.81,
        "points": 864,
        "fitted_from": NOW - timedelta(days=3),
        "made_at": NOW,
    }
    values.update(changes)
    return Forecast(**values)  # type: ignore[arg-type]


def test_a_forecast_becomes_a_firing_forecast_alert_with_its_facts() -> None:
    alert = forecast_to_alert(forecast(), clock=ManualClock(NOW), rng=random.Random(1))
    assert alert.source is AlertSource.FORECAST
    assert alert.state is AlertState.FIRING
    assert alert.id.startswith("al-")
    assert alert.target == "db-1" and alert.provider == "aws"
    assert alert.started_at == NOW == alert.updated_at
    assert alert.title == "disk on db-1 reaches 90% in about 42 hours"
    facts = alert.facts
    assert facts["metric"] == "disk_percent" and facts["resource"] == "db-1"
    assert facts["hours_to_threshold"] == 42.0
    assert facts["interval_hours"] == [38.0, 47.0]
    assert facts["method"] == "seasonal"
    assert facts["r2"] == 0.962
    assert facts["current"] == 77.4
    assert facts["slope_per_hour"] == 0.3
    assert facts["threshold"] == 90.0


def test_the_alert_text_states_only_numbers_from_its_facts() -> None:
    alert = forecast_to_alert(forecast(), clock=ManualClock(NOW), rng=random.Random(1))
    assert "77.4%" in alert.message and "0.3%" in alert.message
    assert "in 38–47 hours" in alert.message
    assert alert.condition == "disk_percent >= 90%" and alert.value == "77.4%"


def test_a_forecast_alert_survives_the_json_round_trip() -> None:
    alert = forecast_to_alert(forecast(), clock=ManualClock(NOW), rng=random.Random(1))
    assert from_dict(AlertModel, to_dict(alert)) == alert


def test_successive_forecasts_of_one_series_share_a_dedup_key() -> None:
    clock = ManualClock(NOW)
    first = forecast_to_alert(forecast(40.0), clock=clock, rng=random.Random(1))
    second = forecast_to_alert(forecast(30.0), clock=clock, rng=random.Random(2))
    other = forecast_to_alert(forecast(30.0, resource="db-2"), clock=clock, rng=random.Random(3))
    assert first.dedup_key == second.dedup_key != other.dedup_key
    assert first.id != second.id


@pytest.mark.parametrize(
    ("hours", "severity"),
    [(3.0, Severity.CRITICAL), (12.0, Severity.CRITICAL), (30.0, Severity.WARNING),
     (48.0, Severity.WARNING), (70.0, Severity.INFO)],
)  # fmt: skip
def test_severity_follows_the_hours_to_threshold(hours: float, severity: Severity) -> None:
    assert forecast_severity(forecast(hours)) is severity


def test_latency_forecasts_read_in_milliseconds() -> None:
    latency = forecast(
        5.5, resource="api", metric="latency_ms", unit="ms", threshold=3000.0, current=1250.0
    )
    alert = forecast_to_alert(latency, clock=ManualClock(NOW), rng=random.Random(1))
    assert alert.title == "latency on api reaches 3000 ms in about 6 hours"


@pytest.mark.parametrize(
    ("hours", "words"),
    [(0.25, "15 minutes"), (1.0, "1 hour"), (41.6, "42 hours"), (84.0, "3.5 days")],
)
def test_hours_read_as_words(hours: float, words: str) -> None:
    assert format_hours(hours) == words


@pytest.mark.parametrize(
    ("earliest", "latest", "words"),
    [(0.5, 0.75, "30–45 minutes"), (11.72, 12.3, "11.7–12.3 hours"), (38.2, 47.0, "38–47 hours"),
     (60.0, 120.0, "2.5–5.0 days")],
)  # fmt: skip
def test_intervals_read_as_precisely_as_their_width(
    earliest: float, latest: float, words: str
) -> None:
    assert format_interval(earliest, latest) == words


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(90.0, "percent", "90%"), (0.0125, "percent", "0.013%"), (2500.0, "ms", "2500 ms")],
)
def test_levels_read_with_their_unit(value: float, unit: str, text: str) -> None:
    assert format_level(value, unit) == text


def test_reconciling_opens_new_refreshes_open_and_resolves_gone_forecast_alerts() -> None:
    clock = ManualClock(NOW)
    staying = forecast_to_alert(forecast(40.0), clock=clock, rng=random.Random(1))
    gone = forecast_to_alert(forecast(30.0, resource="db-2"), clock=clock, rng=random.Random(2))
    other = dataclasses.replace(staying, id="al-other2", source=AlertSource.SENTINEL)
    clock.advance(timedelta(hours=12))
    writes = reconcile_forecast_alerts(
        [forecast(28.0), forecast(20.0, resource="db-3")],
        [staying, gone, other],
        clock=clock,
        rng=random.Random(3),
    )
    by_key = {w.dedup_key: w for w in writes}
    assert len(writes) == 3 and other not in writes
    refreshed = by_key[staying.dedup_key]
    assert refreshed.id == staying.id and refreshed.started_at == NOW
    assert refreshed.facts["hours_to_threshold"] == 28.0 and refreshed.updated_at == clock.now()
    assert refreshed.state is AlertState.FIRING
    new = by_key["forecast:db-3:disk_percent"]
    assert new.id not in (staying.id, gone.id) and new.source is AlertSource.FORECAST
    resolved = by_key[gone.dedup_key]
    assert resolved.state is AlertState.RESOLVED and resolved.resolved_at == clock.now()
