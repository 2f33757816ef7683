"""Health scores from 0 to 100, per provider and for the whole fleet, with the counts behind them.

A score is the mean of what is measured (each target's newest result and each instance's
state, scored 1, 0.5 or 0) times 100, less a penalty for every firing alert by severity.
What says nothing about the fleet is left out: unknown results, results taken while the
sentinel itself was offline, terminated instances, alerts already explained by a root alert.
Pure: ``nephos status``, the TUI and the insights call :func:`health_scores` on what they read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from nephos.model import (
    Alert,
    AlertState,
    CheckResult,
    Health,
    Instance,
    InstanceState,
    Severity,
)
from nephos.store.base import HotStore

__all__ = [
    "ALERT_PENALTY",
    "HealthCounts",
    "HealthReport",
    "HealthScore",
    "health_from_store",
    "health_scores",
    "health_word",
    "instance_value",
]

ALERT_PENALTY: Mapping[Severity, float] = {
    Severity.CRITICAL: 15.0,
    Severity.WARNING: 5.0,
    Severity.INFO: 1.0,
}
"""Points taken off the score per firing alert."""

HEALTHY_FROM = 90.0
DEGRADED_FROM = 60.0

_RESULT_VALUE = {Health.HEALTHY: 1.0, Health.DEGRADED: 0.5, Health.UNHEALTHY: 0.0}
_INSTANCE_VALUE: Mapping[InstanceState, float | None] = {
    InstanceState.RUNNING: 1.0,
    InstanceState.PENDING: 0.5,
    InstanceState.MAINTENANCE: 0.5,
    InstanceState.STOPPING: 0.5,
    InstanceState.STOPPED: 0.0,
    InstanceState.SUSPENDED: 0.0,
    InstanceState.ERROR: 0.0,
    InstanceState.TERMINATING: None,
    InstanceState.TERMINATED: None,
    InstanceState.UNKNOWN: None,
}


def instance_value(instance: Instance) -> float | None:
    """An instance's contribution: 1 running and ok, 0.5 on its way or impaired, 0 down.

    Returns:
        None for an instance that says nothing about health (terminated, terminating, unknown).
    """
    value = _INSTANCE_VALUE[instance.state]
    if value == 1.0 and (instance.health_signal or "").lower() == "impaired":
        return 0.5  # running, but the provider's own status checks fail
    return value


def health_word(score: float | None) -> Health:
    """The health a score reads as: healthy from 90, degraded from 60, unhealthy below."""
    if score is None:
        return Health.UNKNOWN
    if score >= HEALTHY_FROM:
        return Health.HEALTHY
    if score >= DEGRADED_FROM:
        return Health.DEGRADED
    return Health.UNHEALTHY


@dataclass(frozen=True, slots=True)
class HealthCounts:
    """What a score was computed from."""

    targets_healthy: int = 0
    targets_degraded: int = 0
    targets_unhealthy: int = 0
    targets_excluded: int = 0
    """Unknown, or checked while the sentinel was offline."""
    instances_ok: int = 0
    instances_partial: int = 0
    """Pending, in maintenance, stopping, or running with failing status checks."""
    instances_down: int = 0
    """Stopped, suspended or in error."""
    instances_excluded: int = 0
    """Terminated, terminating or of unknown state."""
    alerts_critical: int = 0
    alerts_warning: int = 0
    alerts_info: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counts by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class HealthScore:
    """One score, the word it reads as, and its evidence."""

    score: float | None
    """0 to 100; None when nothing was measured and no alert fires."""
    health: Health
    counts: HealthCounts
    penalty: float = 0.0
    """Points taken off for firing alerts."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "score": None if self.score is None else round(self.score, 1),
            "health": self.health.value,
            "penalty": round(self.penalty, 1),
            "counts": self.counts.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The fleet's score and each provider's, providers by name."""

    overall: HealthScore
    providers: Mapping[str, HealthScore] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "overall": self.overall.to_dict(),
            "providers": {name: score.to_dict() for name, score in self.providers.items()},
        }


@dataclass
class _Tally:
    values: list[float] = field(default_factory=list)
    penalty: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def score(self) -> HealthScore:
        counts = HealthCounts(**self.counts)
        if not self.values and not self.penalty:
            return HealthScore(None, Health.UNKNOWN, counts)
        base = 100.0 * sum(self.values) / len(self.values) if self.values else 100.0
        score = min(100.0, max(0.0, base - self.penalty))
        return HealthScore(score, health_word(score), counts, self.penalty)


def health_scores(
    results: Iterable[CheckResult], instances: Iterable[Instance], alerts: Iterable[Alert]
) -> HealthReport:
    """Scores for every provider that has results, instances or firing alerts, and overall.

    Args:
        results: target results; only the newest per target counts.
        instances: the inventory.
        alerts: alerts in any state; only firing ones not suppressed by a root alert count.
    """
    tallies: dict[str, _Tally] = {}
    overall = _Tally()

    def tally(provider: str) -> _Tally:
        return tallies.setdefault(provider, _Tally())

    newest: dict[str, CheckResult] = {}
    for result in results:
        kept = newest.get(result.target)
        if kept is None or result.ts >= kept.ts:
            newest[result.target] = result
    for result in newest.values():
        value = None if result.sentinel_offline else _RESULT_VALUE.get(result.health)
        name = "targets_excluded" if value is None else f"targets_{result.health.value}"
        for t in (tally(result.provider), overall):
            t.count(name)
            if value is not None:
                t.values.append(value)
    for instance in instances:
        value = instance_value(instance)
        name = {None: "instances_excluded", 1.0: "instances_ok", 0.5: "instances_partial"}.get(
            value, "instances_down"
        )
        for t in (tally(instance.provider), overall):
            t.count(name)
            if value is not None:
                t.values.append(value)
    for alert in alerts:
        if alert.state is not AlertState.FIRING or alert.suppressed_by:
            continue
        for t in (tally(alert.provider), overall):
            t.count(f"alerts_{alert.severity.value}")
            t.penalty += ALERT_PENALTY[alert.severity]
    return HealthReport(
        overall=overall.score(),
        providers={name: tallies[name].score() for name in sorted(tallies)},
    )


async def health_from_store(store: HotStore) -> HealthReport:
    """:func:`health_scores` over the hot store's newest results, inventory and firing alerts.

    Args:
        store: an open hot store.

    Raises:
        StoreError: the store could not be read.
    """
    results = await store.latest_results()
    instances = await store.instances()
    alerts = await store.alerts(states=[AlertState.FIRING])
    return health_scores(results, instances, alerts)
