"""The sentinel's Prometheus metrics: per-target series, counters, and forgetting a target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nephos.model import CheckKind, CheckResult, Health, TlsInfo
from nephos.sentinel.metrics import SentinelMetrics

TS = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _result(name: str, kind: CheckKind, **kw: object) -> CheckResult:
    fields: dict[str, object] = {
        "health": Health.HEALTHY,
        "latency_ms": 250.0,
        "success": True,
        **kw,
    }
    return CheckResult(target=name, kind=kind, ts=TS, **fields)  # type: ignore[arg-type]


def _value(metrics: SentinelMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)  # type: ignore[no-any-return]


def test_a_result_sets_its_targets_series_and_the_counters() -> None:
    metrics = SentinelMetrics()
    expiry = TS + timedelta(days=4)
    metrics.observe(
        _result("api", CheckKind.HTTP, status_code=200, tls=TlsInfo(leaf_not_after=expiry))
    )
    labels = {"target": "api", "kind": "http", "provider": "other"}
    assert _value(metrics, "nephos_target_success", **labels) == 1.0
    assert _value(metrics, "nephos_target_duration_seconds", **labels) == 0.25
    assert _value(metrics, "nephos_target_status_code", **labels) == 200.0
    assert _value(metrics, "nephos_target_health", **labels) == 0.0
    assert (
        _value(metrics, "nephos_target_certificate_expiry_timestamp_seconds", **labels)
        == expiry.timestamp()
    )
    assert _value(metrics, "nephos_sentinel_checks_total", result="healthy") == 1.0


def test_a_check_without_http_has_no_status_series_and_a_lost_answer_reads_zero() -> None:
    metrics = SentinelMetrics()
    metrics.observe(_result("port", CheckKind.TCP))
    tcp = {"target": "port", "kind": "tcp", "provider": "other"}
    assert _value(metrics, "nephos_target_status_code", **tcp) is None
    metrics.observe(_result("api", CheckKind.HTTP, status_code=200))
    metrics.observe(
        _result("api", CheckKind.HTTP, health=Health.UNHEALTHY, success=False, error="refused")
    )
    http = {"target": "api", "kind": "http", "provider": "other"}
    assert _value(metrics, "nephos_target_status_code", **http) == 0.0
    assert _value(metrics, "nephos_target_health", **http) == 2.0
    assert _value(metrics, "nephos_sentinel_check_errors_total") == 1.0


def test_a_forgotten_target_leaves_no_series_behind() -> None:
    metrics = SentinelMetrics()
    metrics.observe(_result("gone", CheckKind.HTTP, status_code=200))
    metrics.forget("gone")
    assert "gone" not in metrics.exposition().decode()
