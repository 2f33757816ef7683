"""The facts the narrators phrase: frozen values computed by code and SQL, never by a model.

Each command builds one facts object (:class:`SummaryFacts`, :class:`AlertFacts`,
:class:`TrendFacts`, :class:`ReportFacts`); ``nephos.insights.gather`` fills them from the hot
store and the warehouse. Their JSON form (:func:`facts_dict`) is what a model sees and what the
grounding check compares numbers against. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nephos.model import to_dict

__all__ = [
    "AlertFact",
    "AlertFacts",
    "AnomalyFact",
    "ForecastFact",
    "Incident",
    "ProviderHealth",
    "ReportFacts",
    "StateChange",
    "SummaryFacts",
    "TargetAvailability",
    "TrendFact",
    "TrendFacts",
    "facts_dict",
]


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """One provider's health score and the counts behind it."""

    name: str
    score: float | None
    health: str
    targets: int = 0
    targets_unhealthy: int = 0
    targets_degraded: int = 0
    instances: int = 0
    instances_down: int = 0
    firing_alerts: int = 0


@dataclass(frozen=True, slots=True)
class AlertFact:
    """One alert with its evidence; ``message``, ``title`` and ``evidence`` are untrusted text."""

    id: str
    source: str
    severity: str
    state: str
    target: str
    provider: str
    title: str
    message: str
    started_at: datetime
    minutes_open: float
    condition: str | None = None
    value: str | None = None
    flapping: bool = False
    suppressed_by: str | None = None
    resolved_at: datetime | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    runbook: str | None = None


@dataclass(frozen=True, slots=True)
class AnomalyFact:
    """One anomaly episode (from the alert book or the warehouse)."""

    resource: str
    metric: str
    unit: str
    kind: str
    started_at: datetime
    observed: float
    baseline: float
    deviation: float
    confidence: float
    severity: str
    alert_id: str | None = None


@dataclass(frozen=True, slots=True)
class TrendFact:
    """One series over a window: its least-squares slope, fit and change on the period before."""

    resource: str
    metric: str
    unit: str
    window_hours: float
    points: int
    slope_per_hour: float
    r2: float
    mean: float
    last: float
    minimum: float
    maximum: float
    previous_mean: float | None = None
    change_pct: float | None = None
    """Change of the mean against the previous window of the same length, in percent."""


@dataclass(frozen=True, slots=True)
class ForecastFact:
    """A series on course to cross its threshold."""

    resource: str
    metric: str
    unit: str
    threshold: float
    current: float
    hours_to_threshold: float
    earliest_hours: float
    latest_hours: float
    r2: float
    method: str
    alert_id: str | None = None


@dataclass(frozen=True, slots=True)
class StateChange:
    """A target whose health changed between two consecutive checks."""

    target: str
    at: datetime
    previous: str
    current: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TargetAvailability:
    """A target's checks over a period: availability (SLA %) and latency percentiles."""

    target: str
    provider: str
    checks: int
    failures: int
    availability_pct: float
    p50_ms: float | None
    p95_ms: float | None
    last_health: str


@dataclass(frozen=True, slots=True)
class Incident:
    """A run of failed checks of one target; ``ended_at`` is None while it goes on."""

    target: str
    provider: str
    started_at: datetime
    ended_at: datetime | None
    minutes: float
    failed_checks: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SummaryFacts:
    """Everything ``nephos summary`` says, as numbers and names."""

    as_of: datetime
    period_hours: float
    score: float | None
    """The fleet's health score, 0 to 100; None when nothing was measured."""
    health: str
    targets: int
    targets_unhealthy: int
    targets_degraded: int
    instances: int
    instances_down: int
    providers: tuple[ProviderHealth, ...] = ()
    alerts: tuple[AlertFact, ...] = ()
    """Firing and acknowledged alerts, the worst first (at most 50: see the counts)."""
    open_alerts: int = 0
    """Every firing or acknowledged alert, counted (0: count ``alerts``)."""
    firing_alerts: int = 0
    critical_alerts: int = 0
    """Firing critical alerts."""
    anomalies: tuple[AnomalyFact, ...] = ()
    trends: tuple[TrendFact, ...] = ()
    forecasts: tuple[ForecastFact, ...] = ()
    state_changes: tuple[StateChange, ...] = ()
    state_change_count: int = 0
    missing: tuple[str, ...] = ()
    """What could not be read, in words (a warehouse not there yet, no results)."""


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """Everything ``nephos explain-alert`` says about one alert."""

    as_of: datetime
    alert: AlertFact
    target_kind: str | None = None
    target_address: str | None = None
    recent_checks: int = 0
    recent_failures: int = 0
    consecutive_failures: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    last_reason: str | None = None
    latency_p50_ms: float | None = None
    latency_last_ms: float | None = None
    instance_state: str | None = None
    related: tuple[AlertFact, ...] = ()
    """Other open alerts on the same target or provider."""
    state_changes: tuple[StateChange, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TrendFacts:
    """One metric's trend, on one instance or across every instance that reports it."""

    as_of: datetime
    metric: str
    instance: str | None
    window_hours: float
    series: tuple[TrendFact, ...] = ()
    chart: tuple[tuple[datetime, float], ...] = ()
    """The plotted series (the steepest, or the named instance's), bucketed, oldest first."""
    chart_resource: str | None = None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """The summary's facts plus the period's availability, incidents and chart series."""

    summary: SummaryFacts
    since: datetime
    until: datetime
    availability: tuple[TargetAvailability, ...] = ()
    incidents: tuple[Incident, ...] = ()
    hourly_availability: tuple[tuple[datetime, float], ...] = ()
    """The fleet's availability in percent per hour of the period, oldest first."""
    hourly_p95_ms: tuple[tuple[datetime, float], ...] = ()
    """The fleet's p95 check latency per hour of the period, oldest first."""
    fleet_availability_pct: float | None = None
    fleet_p50_ms: float | None = None
    fleet_p95_ms: float | None = None


def facts_dict(facts: Any) -> dict[str, Any]:
    """A facts object as JSON-able data: datetimes as RFC 3339 UTC, floats rounded to 4 places.

    Args:
        facts: any dataclass of this module.
    """
    rounded: dict[str, Any] = _rounded(to_dict(facts))
    return rounded


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
