"""Health scores from hand-built results, instances and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nephos.analytics.health import health_from_store, health_scores, health_word, instance_value
from nephos.clock import ManualClock
from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    Health,
    Instance,
    InstanceState,
    Severity,
)
from nephos.store.sqlite import SqliteHotStore

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def result(
    target: str,
    health: Health,
    provider: str = "aws",
    *,
    ago: float = 0.0,
    offline: bool = False,
) -> CheckResult:
    return CheckResult(
        target=target,
        kind=CheckKind.HTTP,
        ts=NOW - timedelta(minutes=ago),
        health=health,
        latency_ms=100.0,
        success=health is Health.HEALTHY,
        provider=provider,
        sentinel_offline=offline,
    )


def instance(
    name: str, state: InstanceState, provider: str = "aws", signal: str | None = None
) -> Instance:
    return Instance(provider=provider, id=name, name=name, state=state, health_signal=signal)


def alert(
    severity: Severity,
    provider: str = "aws",
    *,
    state: AlertState = AlertState.FIRING,
    suppressed_by: str | None = None,
) -> Alert:
    return Alert(
        id=f"al-{severity.value[:4]}{state.value[:2]}",
        dedup_key=f"k-{severity.value}",
        target="api",
        source=AlertSource.SENTINEL,
        state=state,
        severity=severity,
        title="t",
        message="m",
        started_at=NOW,
        updated_at=NOW,
        provider=provider,
        suppressed_by=suppressed_by,
    )


def test_all_healthy_targets_and_running_instances_score_100() -> None:
    report = health_scores(
        [result("api", Health.HEALTHY), result("web", Health.HEALTHY)],
        [instance("i-1", InstanceState.RUNNING, signal="ok")],
        [],
    )
    assert report.overall.score == 100.0
    assert report.overall.health is Health.HEALTHY
    assert report.overall.counts.targets_healthy == 2
    assert report.overall.counts.instances_ok == 1


def test_degraded_counts_half_and_unhealthy_nothing() -> None:
    report = health_scores(
        [
            result("a", Health.HEALTHY),
            result("b", Health.DEGRADED),
            result("c", Health.UNHEALTHY),
            result("d", Health.HEALTHY),
        ],
        [],
        [],
    )
    assert report.overall.score == pytest.approx(100.0 * 2.5 / 4)
    assert report.overall.health is Health.DEGRADED


def test_unknown_and_offline_results_are_left_out_but_counted() -> None:
    report = health_scores(
        [
            result("a", Health.HEALTHY),
            result("b", Health.UNKNOWN),
            result("c", Health.UNHEALTHY, offline=True),
        ],
        [],
        [],
    )
    assert report.overall.score == 100.0
    assert report.overall.counts.targets_excluded == 2


def test_only_the_newest_result_of_a_target_counts() -> None:
    report = health_scores(
        [result("api", Health.UNHEALTHY, ago=5), result("api", Health.HEALTHY, ago=1)], [], []
    )
    assert report.overall.score == 100.0
    assert report.overall.counts.targets_healthy == 1
    assert report.overall.counts.targets_unhealthy == 0


@pytest.mark.parametrize(
    ("state", "signal", "value"),
    [
        (InstanceState.RUNNING, "ok", 1.0),
        (InstanceState.RUNNING, None, 1.0),
        (InstanceState.RUNNING, "impaired", 0.5),
        (InstanceState.PENDING, None, 0.5),
        (InstanceState.MAINTENANCE, None, 0.5),
        (InstanceState.STOPPED, None, 0.0),
        (InstanceState.ERROR, None, 0.0),
        (InstanceState.TERMINATED, None, None),
        (InstanceState.UNKNOWN, None, None),
    ],
)
def test_instance_states_score_as_documented(
    state: InstanceState, signal: str | None, value: float | None
) -> None:
    assert instance_value(instance("i-1", state, signal=signal)) == value


def test_terminated_instances_are_left_out() -> None:
    report = health_scores(
        [],
        [
            instance("i-1", InstanceState.RUNNING),
            instance("i-2", InstanceState.STOPPED),
            instance("i-3", InstanceState.TERMINATED),
        ],
        [],
    )
    assert report.overall.score == 50.0
    assert report.overall.counts.instances_excluded == 1
    assert report.overall.counts.instances_down == 1


def test_firing_alerts_take_points_off_by_severity() -> None:
    healthy = [result(f"t{i}", Health.HEALTHY) for i in range(4)]
    report = health_scores(healthy, [], [alert(Severity.CRITICAL), alert(Severity.WARNING)])
    assert report.overall.penalty == 20.0
    assert report.overall.score == 80.0
    assert report.overall.health is Health.DEGRADED
    assert report.overall.counts.alerts_critical == 1
    assert report.overall.counts.alerts_warning == 1


def test_resolved_acknowledged_and_suppressed_alerts_cost_nothing() -> None:
    alerts = [
        alert(Severity.CRITICAL, state=AlertState.RESOLVED),
        alert(Severity.CRITICAL, state=AlertState.ACKNOWLEDGED),
        alert(Severity.CRITICAL, suppressed_by="al-root22"),
    ]
    report = health_scores([result("api", Health.HEALTHY)], [], alerts)
    assert report.overall.score == 100.0
    assert report.overall.penalty == 0.0


def test_the_score_never_goes_below_zero() -> None:
    report = health_scores(
        [result("api", Health.DEGRADED)], [], [alert(Severity.CRITICAL) for _ in range(5)]
    )
    assert report.overall.score == 0.0
    assert report.overall.health is Health.UNHEALTHY


def test_each_provider_is_scored_on_its_own_and_overall_on_everything() -> None:
    report = health_scores(
        [result("api", Health.HEALTHY, "aws"), result("shop", Health.UNHEALTHY, "vultr")],
        [
            instance("i-1", InstanceState.RUNNING, "aws"),
            instance("v-1", InstanceState.RUNNING, "vultr"),
        ],
        [alert(Severity.WARNING, "vultr")],
    )
    assert list(report.providers) == ["aws", "vultr"]
    assert report.providers["aws"].score == 100.0
    assert report.providers["vultr"].score == 45.0
    assert report.providers["vultr"].health is Health.UNHEALTHY
    assert report.overall.score == pytest.approx(75.0 - 5.0)
    assert report.overall.counts.targets_unhealthy == 1


def test_nothing_measured_scores_unknown() -> None:
    report = health_scores([], [], [])
    assert report.overall.score is None
    assert report.overall.health is Health.UNKNOWN
    assert report.providers == {}


def test_a_provider_with_only_a_firing_alert_loses_points_from_100() -> None:
    report = health_scores([], [], [alert(Severity.WARNING, "gcp")])
    assert report.providers["gcp"].score == 95.0


@pytest.mark.parametrize(
    ("score", "word"),
    [(100.0, Health.HEALTHY), (90.0, Health.HEALTHY), (89.9, Health.DEGRADED),
     (60.0, Health.DEGRADED), (59.0, Health.UNHEALTHY), (None, Health.UNKNOWN)],
)  # fmt: skip
def test_scores_read_as_health_words(score: float | None, word: Health) -> None:
    assert health_word(score) is word


def test_the_report_serialises_to_json_shaped_dicts() -> None:
    report = health_scores([result("api", Health.DEGRADED)], [], [alert(Severity.INFO)])
    data = report.to_dict()
    assert data["overall"] == {
        "score": 49.0,
        "health": "unhealthy",
        "penalty": 1.0,
        "counts": {
            "targets_healthy": 0,
            "targets_degraded": 1,
            "targets_unhealthy": 0,
            "targets_excluded": 0,
            "instances_ok": 0,
            "instances_partial": 0,
            "instances_down": 0,
            "instances_excluded": 0,
            "alerts_critical": 0,
            "alerts_warning": 0,
            "alerts_info": 1,
        },
    }
    assert data["providers"]["aws"]["score"] == 49.0


async def test_health_from_a_real_store_counts_newest_results_inventory_and_firing_alerts(
    tmp_path: Path,
) -> None:
    store = SqliteHotStore(str(tmp_path / "hot.db"), clock=ManualClock(NOW))
    await store.open()
    try:
        await store.put_results(
            [
                result("api", Health.UNHEALTHY, ago=10),
                result("api", Health.HEALTHY, ago=1),
                result("shop", Health.DEGRADED, "vultr"),
            ]
        )
        await store.put_instances(
            [
                instance("i-1", InstanceState.RUNNING),
                instance("v-1", InstanceState.STOPPED, "vultr"),
            ]
        )
        await store.put_alert(alert(Severity.WARNING, "vultr"))
        await store.put_alert(alert(Severity.CRITICAL, state=AlertState.RESOLVED))
        report = await health_from_store(store)
    finally:
        await store.close()
    assert report.providers["aws"].score == 100.0
    assert report.providers["vultr"].score == pytest.approx(25.0 - 5.0)
    assert report.overall.counts.targets_healthy == 1
    assert report.overall.counts.alerts_warning == 1 and report.overall.counts.alerts_critical == 0
