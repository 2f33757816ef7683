"""Fixed facts for the insights tests: a degraded fleet with a down API, a memory anomaly, a
disk forecast, and the alerts behind them; and a healthy fleet. Pure values, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from nephos.insights.facts import (
    AlertFact,
    AlertFacts,
    AnomalyFact,
    ForecastFact,
    ProviderHealth,
    StateChange,
    SummaryFacts,
    TrendFact,
    TrendFacts,
)

__all__ = [
    "NOW",
    "anomaly_alert",
    "api_alert",
    "api_alert_facts",
    "degraded_summary",
    "disk_forecast_alert",
    "healthy_summary",
    "latency_trend",
    "trend_facts",
]

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def api_alert(**changes: object) -> AlertFact:
    alert = AlertFact(
        id="al-7f3k2q",
        source="sentinel",
        severity="critical",
        state="firing",
        target="api",
        provider="aws",
        title="api is down",
        message="api failed 3 checks in a row: [STATUS] was 503, expected == 200",
        started_at=NOW - timedelta(minutes=42),
        minutes_open=42.0,
        condition="[STATUS] == 200",
        value="503",
        evidence={"failures": 3, "threshold": 3, "last_status": 503},
        runbook="Restart the api service: systemctl restart api; then check the database pool.",
    )
    return replace(alert, **changes)  # type: ignore[arg-type]


def anomaly_alert() -> AlertFact:
    return AlertFact(
        id="al-m3mq8x",
        source="anomaly",
        severity="warning",
        state="firing",
        target="vm-db-1",
        provider="vultr",
        title="vm-db-1 mem_percent: sustained rise",
        message="vm-db-1 mem_percent is 91.5 percent, expected about 62 percent",
        started_at=NOW - timedelta(minutes=95),
        minutes_open=95.0,
        condition="mem_percent anomaly (sustained_rise)",
        value="91.5",
        evidence={
            "kind": "sustained_rise",
            "metric": "mem_percent",
            "unit": "percent",
            "observed": 91.5,
            "baseline": {"method": "median", "median": 62.0, "mad": 2.1, "spread": 3.1},
            "deviation": 9.52,
            "direction": "up",
            "confidence": 0.93,
            "severity": "warning",
        },
    )


def disk_forecast_alert() -> AlertFact:
    return AlertFact(
        id="al-d15kxx",
        source="forecast",
        severity="warning",
        state="firing",
        target="vm-db-1",
        provider="vultr",
        title="disk on vm-db-1 reaches 90% in about 42 hours",
        message="disk on vm-db-1 is at 81.2% and rising 0.21% per hour",
        started_at=NOW - timedelta(hours=3),
        minutes_open=180.0,
        condition="disk_percent >= 90%",
        value="81.2%",
        evidence={
            "metric": "disk_percent",
            "resource": "vm-db-1",
            "unit": "percent",
            "threshold": 90.0,
            "current": 81.2,
            "hours_to_threshold": 41.9,
            "interval_hours": [37.5, 47.2],
            "method": "linear",
            "r2": 0.97,
            "slope_per_hour": 0.21,
            "points": 432,
        },
    )


def latency_trend() -> TrendFact:
    return TrendFact(
        resource="api",
        metric="latency_ms",
        unit="ms",
        window_hours=24.0,
        points=720,
        slope_per_hour=12.5,
        r2=0.82,
        mean=480.0,
        last=610.0,
        minimum=310.0,
        maximum=655.0,
        previous_mean=355.0,
        change_pct=35.2,
    )


def degraded_summary() -> SummaryFacts:
    return SummaryFacts(
        as_of=NOW,
        period_hours=24.0,
        score=72.5,
        health="degraded",
        targets=14,
        targets_unhealthy=2,
        targets_degraded=1,
        instances=6,
        instances_down=0,
        providers=(
            ProviderHealth("aws", 61.0, "degraded", 8, 2, 1, 3, 0, 1),
            ProviderHealth("vultr", 88.0, "degraded", 6, 0, 0, 3, 0, 2),
        ),
        alerts=(api_alert(), anomaly_alert(), disk_forecast_alert()),
        anomalies=(
            AnomalyFact(
                "vm-web-1",
                "cpu_percent",
                "percent",
                "spike",
                NOW - timedelta(hours=5),
                97.0,
                30.0,
                8.2,
                0.91,
                "critical",
            ),
        ),
        trends=(latency_trend(),),
        forecasts=(
            ForecastFact(
                "vm-db-1",
                "disk_percent",
                "percent",
                90.0,
                81.2,
                41.9,
                37.5,
                47.2,
                0.97,
                "linear",
                "al-d15kxx",
            ),
        ),
        state_changes=(
            StateChange("api", NOW - timedelta(minutes=44), "healthy", "unhealthy", "HTTP 503"),
        ),
        state_change_count=3,
    )


def healthy_summary() -> SummaryFacts:
    return SummaryFacts(
        as_of=NOW,
        period_hours=24.0,
        score=100.0,
        health="healthy",
        targets=12,
        targets_unhealthy=0,
        targets_degraded=0,
        instances=4,
        instances_down=0,
        providers=(ProviderHealth("aws", 100.0, "healthy", 12, 0, 0, 4, 0, 0),),
    )


def api_alert_facts() -> AlertFacts:
    return AlertFacts(
        as_of=NOW,
        alert=api_alert(),
        target_kind="http",
        target_address="https://api.example.com/health",
        recent_checks=20,
        recent_failures=6,
        consecutive_failures=6,
        last_status_code=503,
        last_reason="[STATUS] was 503, expected == 200",
        latency_p50_ms=120.0,
        latency_last_ms=35.0,
        instance_state="running",
    )


def trend_facts() -> TrendFacts:
    return TrendFacts(
        as_of=NOW,
        metric="latency_ms",
        instance="api",
        window_hours=24.0,
        series=(latency_trend(),),
        chart=tuple((NOW - timedelta(hours=24 - h), 300.0 + 13.0 * h) for h in range(24)),
        chart_resource="api",
    )
