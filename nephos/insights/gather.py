"""Building the facts objects: the hot store for what is happening now, the warehouse (through
``history.py``) for what happened over the period. An alert's facts: ``gather_alert.py``.

:func:`open_sources` opens what the config names and notes, in words, whatever is missing (no
hot store yet, no warehouse file, a warehouse that cannot be reached), so that the commands
degrade to what they can say instead of failing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from nephos.analytics.health import HealthReport, health_scores
from nephos.clock import Clock
from nephos.config.types import Config
from nephos.errors import NephosError
from nephos.insights.facts import (
    AlertFact,
    AnomalyFact,
    ForecastFact,
    ProviderHealth,
    ReportFacts,
    StateChange,
    SummaryFacts,
    TrendFact,
    TrendFacts,
)
from nephos.insights.history import History
from nephos.insights.series import Period
from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    Health,
    Severity,
    parse_time,
)
from nephos.store.base import HotStore
from nephos.warehouse.base import Warehouse

__all__ = [
    "Sources",
    "alert_fact",
    "open_sources",
    "report_facts",
    "runbooks_of",
    "summary_facts",
    "trend_facts",
]

_OPEN = [AlertState.FIRING, AlertState.ACKNOWLEDGED]
MAX_ALERTS = 50
"""The most alerts a summary's facts list (the worst); the counts cover every one."""
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(slots=True)
class Sources:
    """The open hot store and warehouse (either may be None) and what is missing, in words."""

    config: Config
    store: HotStore | None
    warehouse: Warehouse | None
    missing: list[str] = field(default_factory=list)

    @property
    def history(self) -> History:
        """History from the warehouse, or from the hot store without one."""
        return History(self.store, self.warehouse)


@contextlib.asynccontextmanager
async def open_sources(
    config: Config, *, clock: Clock, warehouse: bool = True
) -> AsyncIterator[Sources]:
    """Open the configured hot store and warehouse, and close them on exit.

    Args:
        config: the validated configuration.
        clock: the clock the backends use.
        warehouse: also open the warehouse (history).

    Raises:
        StoreError: the hot store exists but cannot be opened.
    """
    from nephos.store import open_hot_store

    sources = Sources(config, None, None)
    hot = config.storage.hot
    if hot.backend == "sqlite" and not _exists(hot.path):
        sources.missing.append(f"no hot store at {hot.path} yet (`nephos sentinel run` creates it)")
    else:
        sources.store = open_hot_store(hot, clock=clock)
        await sources.store.open()
    try:
        if warehouse:
            sources.warehouse = await _open_warehouse(config, clock, sources.missing)
        yield sources
    finally:
        if sources.warehouse is not None:
            await sources.warehouse.close()
        if sources.store is not None:
            await sources.store.close()


async def _open_warehouse(config: Config, clock: Clock, missing: list[str]) -> Warehouse | None:
    from nephos.warehouse import open_warehouse

    cfg = config.storage.warehouse
    if cfg.backend == "duckdb" and not _exists(cfg.path):
        missing.append(
            f"no warehouse at {cfg.path} yet, so history comes from the hot store only "
            "(`nephos etl run` fills the warehouse)"
        )
        return None
    wh = open_warehouse(cfg, clock=clock)
    try:
        await wh.open()
        rows = await wh.execute("SELECT COUNT(*) FROM results")
    except NephosError as exc:
        missing.append(f"the warehouse could not be read ({exc}); history comes from the hot store")
        with contextlib.suppress(NephosError):
            await wh.close()
        return None
    if not rows or not rows[0][0]:
        missing.append("the warehouse holds no check results yet; history comes from the hot store")
        await wh.close()
        return None
    return wh


def _exists(path: str) -> bool:
    # A stat of a local file: too quick to be worth a thread.
    return Path(path).expanduser().exists()


def runbooks_of(config: Config) -> dict[str, str]:
    """Each configured target's runbook, by target name."""
    return {t.name: t.runbook for t in config.targets if t.runbook}


def alert_fact(alert: Alert, now: datetime, runbooks: Mapping[str, str]) -> AlertFact:
    """An alert as facts: its evidence, how long it has been open, its target's runbook."""
    end = alert.resolved_at or now
    return AlertFact(
        id=alert.id,
        source=alert.source.value,
        severity=alert.severity.value,
        state=alert.state.value,
        target=alert.target,
        provider=alert.provider,
        title=alert.title,
        message=alert.message,
        started_at=alert.started_at,
        minutes_open=round(max(0.0, (end - alert.started_at).total_seconds() / 60.0), 1),
        condition=alert.condition,
        value=alert.value,
        flapping=alert.flapping,
        suppressed_by=alert.suppressed_by,
        resolved_at=alert.resolved_at,
        evidence=dict(alert.facts),
        runbook=runbooks.get(alert.target),
    )


def _rank(a: AlertFact) -> tuple[int, datetime, str]:
    return (_SEVERITY_RANK.get(a.severity, 3), a.started_at, a.id)


def _providers(report: HealthReport, firing: list[Alert]) -> tuple[ProviderHealth, ...]:
    out = []
    for name, score in report.providers.items():
        c = score.counts
        out.append(
            ProviderHealth(
                name=name,
                score=None if score.score is None else round(score.score, 1),
                health=score.health.value,
                targets=c.targets_healthy + c.targets_degraded + c.targets_unhealthy,
                targets_unhealthy=c.targets_unhealthy,
                targets_degraded=c.targets_degraded,
                instances=c.instances_ok + c.instances_partial + c.instances_down,
                instances_down=c.instances_down,
                firing_alerts=sum(1 for a in firing if a.provider == name),
            )
        )
    return tuple(out)


def _forecast_from_alert(alert: Alert, now: datetime) -> ForecastFact | None:
    """The forecast an alert carries, its times counted from ``now`` rather than from when it
    was made; None once its crossing time has passed (the alert still tells it)."""
    ev = alert.facts
    try:
        low, high = ev["interval_hours"]
        hours = float(ev["hours_to_threshold"])
        if "crosses_at" in ev:
            elapsed = hours - (parse_time(str(ev["crosses_at"])) - now).total_seconds() / 3600.0
            hours, low, high = hours - elapsed, float(low) - elapsed, float(high) - elapsed
            if hours <= 0:
                return None
        return ForecastFact(
            resource=str(ev.get("resource", alert.target)),
            metric=str(ev["metric"]),
            unit=str(ev.get("unit", "")),
            threshold=float(ev["threshold"]),
            current=float(ev["current"]),
            hours_to_threshold=round(hours, 1),
            earliest_hours=round(max(0.0, float(low)), 1),
            latest_hours=round(float(high), 1),
            r2=float(ev.get("r2", 0.0)),
            method=str(ev.get("method", "linear")),
            alert_id=alert.id,
        )
    except (KeyError, TypeError, ValueError):
        return None  # an alert written by an older nephos: told as an alert, not a forecast


def _anomaly_from_alert(alert: Alert) -> AnomalyFact | None:
    ev = alert.facts
    baseline = ev.get("baseline")
    try:
        return AnomalyFact(
            resource=alert.target,
            metric=str(ev["metric"]),
            unit=str(ev.get("unit", "")),
            kind=str(ev.get("kind", "spike")),
            started_at=alert.started_at,
            observed=float(ev["observed"]),
            baseline=float(baseline["median"]) if isinstance(baseline, Mapping) else 0.0,
            deviation=float(ev.get("deviation", 0.0)),
            confidence=float(ev.get("confidence", 0.0)),
            severity=alert.severity.value,
            alert_id=alert.id,
        )
    except (KeyError, TypeError, ValueError):
        return None


async def _forecasts(src: Sources, now: datetime) -> list[ForecastFact]:
    """Forecasts made now: over the warehouse, or over the hot store's recent points."""
    from nephos.analytics.forecast import Thresholds
    from nephos.analytics.forecast_batch import predict_batch, predict_from_store

    thresholds = Thresholds.from_config(src.config)
    if src.warehouse is not None:
        made = await predict_batch(src.warehouse, now=now, thresholds=thresholds)
    elif src.store is not None:
        made = await predict_from_store(src.store, now=now, thresholds=thresholds)
    else:
        return []
    return [
        ForecastFact(f.resource, f.metric, f.unit, f.threshold, round(f.current, 3),
                     round(f.hours_to_threshold, 1), round(f.earliest_hours, 1),
                     round(f.latest_hours, 1), round(f.r2, 3), f.method.value)
        for f in made
    ]  # fmt: skip


async def summary_facts(
    src: Sources,
    *,
    now: datetime,
    period: timedelta = timedelta(hours=24),
    results: list[CheckResult] | None = None,
    history: bool = True,
) -> SummaryFacts:
    """The facts of ``nephos summary`` (and of the report's summary).

    Args:
        src: the open sources.
        now: the end of the period; alerts are taken as they stood then.
        period: how far back findings, anomalies and trends look.
        results: each target's result as of ``now`` (default: the hot store's newest).
        history: also read trends, forecasts and state changes (``--quick`` skips them).

    Raises:
        StoreError, WarehouseError: a source failed while being read.
    """
    window = Period(now - period, now)
    runbooks = runbooks_of(src.config)
    store = src.store
    if results is None:
        results = await store.latest_results() if store else []
    instances = await store.instances() if store else []
    recent = await store.alerts(limit=5000) if store else []
    open_then = [_as_of(a, now) for a in recent if _open_at(a, now)]
    firing = [a for a in open_then if a.state is AlertState.FIRING]
    report = health_scores(results, instances, firing)
    alerts = sorted((alert_fact(a, now, runbooks) for a in open_then), key=_rank)
    anomalies = [
        x for a in recent
        if a.source is AlertSource.ANOMALY and window.since <= a.started_at <= now
        for x in [_anomaly_from_alert(a)] if x is not None
    ]  # fmt: skip
    forecasts = [
        x for a in open_then if a.source is AlertSource.FORECAST
        for x in [_forecast_from_alert(a, now)] if x is not None
    ]  # fmt: skip
    trends: list[TrendFact] = []
    changes: list[StateChange] = []
    total = 0
    if history and (src.store is not None or src.warehouse is not None):
        seen = {(f.resource, f.metric) for f in forecasts}
        forecasts += [f for f in await _forecasts(src, now) if (f.resource, f.metric) not in seen]
        trends = await src.history.trends(window)
        changes, total = await src.history.state_changes(window, limit=20)
    c = report.overall.counts
    return SummaryFacts(
        as_of=now,
        period_hours=window.hours,
        score=None if report.overall.score is None else round(report.overall.score, 1),
        health=report.overall.health.value,
        targets=c.targets_healthy + c.targets_degraded + c.targets_unhealthy,
        targets_unhealthy=c.targets_unhealthy,
        targets_degraded=c.targets_degraded,
        instances=c.instances_ok + c.instances_partial + c.instances_down,
        instances_down=c.instances_down,
        providers=_providers(report, firing),
        alerts=tuple(alerts[:MAX_ALERTS]),
        open_alerts=len(open_then),
        firing_alerts=len(firing),
        critical_alerts=sum(1 for a in firing if a.severity is Severity.CRITICAL),
        anomalies=tuple(sorted(anomalies, key=lambda x: (-abs(x.deviation), x.resource))[:10]),
        trends=tuple(
            sorted(trends, key=lambda t: (-abs(t.change_pct or 0.0), t.resource, t.metric))[:10]
        ),
        forecasts=tuple(sorted(forecasts, key=lambda f: (f.hours_to_threshold, f.resource))[:10]),
        state_changes=tuple(changes[-10:]),
        state_change_count=total,
        missing=tuple(src.missing),
    )


def _open_at(alert: Alert, now: datetime) -> bool:
    if alert.started_at > now:
        return False
    if alert.resolved_at is not None:
        return alert.resolved_at > now
    return alert.state is not AlertState.RESOLVED


def _as_of(alert: Alert, now: datetime) -> Alert:
    """``alert`` in the state it was in at ``now`` (a report of a past period)."""
    if alert.state is not AlertState.RESOLVED:
        return alert
    acked = alert.acknowledged_at is not None and alert.acknowledged_at <= now
    state = AlertState.ACKNOWLEDGED if acked else AlertState.FIRING
    return replace(alert, state=state, resolved_at=None)


async def trend_facts(
    src: Sources,
    metric: str,
    *,
    now: datetime,
    window: timedelta,
    instance: str | None = None,
    buckets: int = 48,
) -> TrendFacts:
    """The facts of ``nephos trend METRIC``.

    Raises:
        StoreError, WarehouseError: a source failed while being read.
    """
    period = Period(now - window, now)
    series = await src.history.trends(period, metric=metric, resource=instance or "")
    chart: list[tuple[datetime, float]] = []
    chart_resource = None
    if series:
        steepest = (
            instance or max(series, key=lambda t: (abs(t.slope_per_hour), t.resource)).resource
        )
        chart_resource = steepest
        step = timedelta(seconds=max(60.0, window.total_seconds() / buckets))
        chart = await src.history.buckets(period, steepest, metric, bucket=step)
    return TrendFacts(
        as_of=now,
        metric=metric,
        instance=instance,
        window_hours=round(period.hours, 2),
        series=tuple(sorted(series, key=lambda t: (-abs(t.slope_per_hour), t.resource))[:20]),
        chart=tuple((ts, round(v, 3)) for ts, v in chart),
        chart_resource=chart_resource,
        missing=tuple(src.missing),
    )


async def report_facts(src: Sources, *, since: datetime, until: datetime) -> ReportFacts:
    """The facts of ``nephos report`` for the period ``[since, until]``: the same facts for the
    same period and the same data, whenever it runs.

    Raises:
        StoreError, WarehouseError: a source failed while being read.
    """
    period = Period(since, until)
    history = src.history
    availability = await history.availability(period)
    results = [_result_of(a.target, a.provider, a.last_health, until) for a in availability]
    summary = await summary_facts(src, now=until, period=until - since, results=results)
    incidents = await history.incidents(period)
    hourly, p95 = await history.fleet_hourly(period)
    fleet = await history.fleet_latency(period)
    return ReportFacts(
        summary=summary,
        since=since,
        until=until,
        availability=tuple(availability),
        incidents=tuple(incidents),
        hourly_availability=tuple((t, round(v, 3)) for t, v in hourly),
        hourly_p95_ms=tuple((t, round(v, 1)) for t, v in p95),
        fleet_availability_pct=_round(fleet["availability_pct"], 3),
        fleet_p50_ms=_round(fleet["p50_ms"], 1),
        fleet_p95_ms=_round(fleet["p95_ms"], 1),
    )


def _round(value: Any, places: int) -> float | None:
    return None if value is None else round(float(value), places)


def _result_of(target: str, provider: str, health: str, at: datetime) -> CheckResult:
    """A stand-in for a target's last result in the period, for the health score."""
    state = Health(health) if health in Health._value2member_map_ else Health.UNKNOWN
    return CheckResult(
        target=target,
        kind=CheckKind.HTTP,
        ts=at,
        health=state,
        latency_ms=0.0,
        success=state is Health.HEALTHY,
        provider=provider,
    )
