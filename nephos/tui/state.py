"""The headless view-model of ``nephos watch``: the fleet as the stream has told it so far.

:class:`FleetState` reduces snapshots and events (already parsed into domain values) into one
row per target, the instances with a short history of their CPU, memory and disk, the open
alerts, per-provider totals and the fleet tally, and remembers what changed since the screen
was last drawn. It imports no Textual or Rich, so it is tested on its
own; filtering and sorting of rows live in ``nephos.tui.query``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nephos.model import (
    Alert,
    AlertState,
    CheckKind,
    CheckResult,
    Health,
    Instance,
    InstanceState,
    MetricPoint,
)

__all__ = [
    "PROVIDER_ORDER",
    "SERIES_METRICS",
    "Changes",
    "FleetState",
    "FleetTotals",
    "ProviderTotals",
    "TargetRow",
    "provider_order",
]

PROVIDER_ORDER = ("aws", "vultr", "gcp", "azure")
"""Providers in the order their cards are shown; any other provider follows, then "other"."""

SERIES_METRICS = ("cpu_percent", "mem_percent", "disk_percent")
"""The metrics whose recent values are kept per instance (others keep their latest point)."""

_OPEN = (AlertState.FIRING, AlertState.ACKNOWLEDGED)

InstanceKey = tuple[str, str]
"""(provider, instance id)."""


def provider_order(provider: str) -> tuple[int, str]:
    """A sort key placing the known clouds first, other names next and "other" last."""
    if provider in PROVIDER_ORDER:
        return (PROVIDER_ORDER.index(provider), provider)
    return (len(PROVIDER_ORDER) + (provider == "other"), provider)


@dataclass(slots=True)
class TargetRow:
    """What the table knows about one target: its latest result and a little history."""

    name: str
    latest: CheckResult
    history: deque[CheckResult]
    """The most recent results, oldest first, for the sparkline and the detail screen."""
    alerting: bool = False
    """An open alert names this target."""
    alert_flapping: bool = False
    """An open alert of this target is marked flapping."""

    @property
    def provider(self) -> str:
        """The provider of the latest result."""
        return self.latest.provider

    @property
    def region(self) -> str | None:
        """The region of the latest result."""
        return self.latest.region

    @property
    def kind(self) -> CheckKind:
        """The check kind of the latest result."""
        return self.latest.kind

    @property
    def health(self) -> Health:
        """The health of the latest result."""
        return self.latest.health

    @property
    def flapping(self) -> bool:
        """The sentinel or an open alert says this target flaps."""
        return self.latest.flapping or self.alert_flapping

    @property
    def latencies(self) -> list[float]:
        """Latency in ms of the remembered results, oldest first."""
        return [r.latency_ms for r in self.history]

    def age(self, now: datetime) -> timedelta:
        """How long ago the latest result was taken (never negative)."""
        return max(timedelta(0), now - self.latest.ts)


@dataclass(frozen=True, slots=True)
class ProviderTotals:
    """The card of one provider: how many of its targets are healthy, and the worst state."""

    provider: str
    total: int
    counts: Mapping[Health, int]
    instances: int = 0
    """Instances of this provider in the inventory."""
    running: int = 0
    """Of those, the ones running."""

    @property
    def healthy(self) -> int:
        """Targets whose latest result is healthy."""
        return self.counts.get(Health.HEALTHY, 0)

    @property
    def health_pct(self) -> float:
        """Healthy targets as a percentage of all; 100 when there are none."""
        return 100.0 * self.healthy / self.total if self.total else 100.0

    @property
    def worst(self) -> Health:
        """The worst state among the provider's targets."""
        return Health.worst([h for h, n in self.counts.items() if n])


@dataclass(frozen=True, slots=True)
class FleetTotals:
    """The header's tally: targets per state, open alerts and instances."""

    targets: int
    counts: Mapping[Health, int]
    firing: int
    acknowledged: int
    instances: int


@dataclass(slots=True)
class Changes:
    """What changed since the screen was last drawn."""

    targets: set[str] = field(default_factory=set)
    """Names of targets whose row changed (or appeared)."""
    alerts: bool = False
    """The set or the state of open alerts changed."""
    instances: bool = False
    """An instance appeared or changed its state (the provider cards count them)."""
    instance_keys: set[InstanceKey] = field(default_factory=set)
    """(provider, id) of instances whose row changed: the instance or one of its metrics."""
    reset: bool = False
    """A snapshot replaced everything: redraw from scratch."""

    def __bool__(self) -> bool:
        return (
            self.reset
            or self.alerts
            or self.instances
            or bool(self.targets)
            or bool(self.instance_keys)
        )


class FleetState:
    """Rows, alerts and totals reduced from the stream; records in, view-model out.

    Args:
        history: results remembered per target.
        max_closed_alerts: resolved alerts kept (for the detail screen), oldest dropped first.
    """

    def __init__(self, *, history: int = 60, max_closed_alerts: int = 500) -> None:
        self._history = history
        self._max_closed = max_closed_alerts
        self.rows: dict[str, TargetRow] = {}
        """One row per target, keyed by target name."""
        self.alerts: dict[str, Alert] = {}
        """Every alert seen, by id (open ones and the most recent resolved ones)."""
        self.instances: dict[tuple[str, str], Instance] = {}
        """Instances by (provider, id)."""
        self.metrics: dict[tuple[str, str], MetricPoint] = {}
        """The latest point of each (instance, metric) series."""
        self.series: dict[tuple[str, str, str], deque[MetricPoint]] = {}
        """Recent points of the :data:`SERIES_METRICS`, oldest first, by (provider, instance,
        metric); kept across a resync, as target histories are."""
        self.seq = 0
        """The newest seq applied."""
        self.applied = 0
        """How many records have been applied in all; pause counts what it buffers with it."""
        self._changes = Changes()
        # Rows per provider and health, kept as results arrive: the header and the cards read
        # them every frame, and counting thousands of rows ten times a second would show.
        self._tally: dict[str, Counter[Health]] = {}
        self._machines: dict[str, Counter[bool]] = {}  # per provider: running or not
        # A metric names its instance by id (providers) or by name (the agent's host name).
        self._refs: dict[tuple[str, str], InstanceKey] = {}

    # ---- reducing

    def apply_snapshot(
        self,
        seq: int,
        *,
        results: Iterable[CheckResult] = (),
        alerts: Iterable[Alert] = (),
        instances: Iterable[Instance] = (),
    ) -> None:
        """Replace the whole state with a snapshot's (a resync after lag as well)."""
        old_rows = self.rows
        self.rows = {}
        self._tally = {}
        self.alerts = {}
        self.instances = {}
        self._machines = {}
        self._refs = {}
        for result in results:
            previous = old_rows.get(result.target)
            self._put_result(result, previous.history if previous else None)
        for alert in alerts:
            self.alerts[alert.id] = alert
        for instance in instances:
            self._put_instance(instance)
        self._mark_alerting(set(self.rows))
        self.seq = seq
        self.applied += 1
        self._changes = Changes(reset=True)

    def apply(self, record: CheckResult | Alert | Instance | MetricPoint, seq: int = 0) -> None:
        """Apply one event's record; ``seq`` (when given) advances :attr:`seq`."""
        if isinstance(record, CheckResult):
            row = self.rows.get(record.target)
            self._put_result(record, row.history if row else None)
            self._changes.targets.add(record.target)
            if row is None:  # a new row learns of alerts that arrived before its first result
                self._mark_alerting({record.target})
        elif isinstance(record, Alert):
            self._put_alert(record)
        elif isinstance(record, Instance):
            self._put_instance(record)
            self._changes.instances = True
            self._changes.instance_keys.add((record.provider, record.id))
        else:
            self._put_metric(record)
        self.seq = max(self.seq, seq)
        self.applied += 1

    def _put_result(self, result: CheckResult, history: deque[CheckResult] | None) -> None:
        if history is None:
            history = deque(maxlen=self._history)
        if history and result.ts < history[-1].ts:
            return  # an older result arriving late (a replay overlap) must not win
        history.append(result)
        row = self.rows.get(result.target)
        if row is None:
            self.rows[result.target] = TargetRow(result.target, result, history)
        else:
            self._tally[row.provider][row.health] -= 1
            row.latest = result
        self._tally.setdefault(result.provider, Counter())[result.health] += 1

    def _put_instance(self, instance: Instance) -> None:
        key = (instance.provider, instance.id)
        previous = self.instances.get(key)
        if previous is not None:
            self._machines[previous.provider][previous.state is InstanceState.RUNNING] -= 1
        self.instances[key] = instance
        running = instance.state is InstanceState.RUNNING
        self._machines.setdefault(instance.provider, Counter())[running] += 1
        self._refs[(instance.provider, instance.name)] = key
        self._refs[key] = key  # an id wins over another instance's name

    def _put_metric(self, point: MetricPoint) -> None:
        self.metrics[(point.instance, point.metric)] = point
        if point.metric not in SERIES_METRICS:
            return
        ring = self.series.setdefault(
            (point.provider, point.instance, point.metric), deque(maxlen=self._history)
        )
        if ring and point.ts < ring[-1].ts:
            return  # a late point (a replay overlap) must not reorder the series
        ring.append(point)
        key = self._refs.get((point.provider, point.instance))
        if key is not None:
            self._changes.instance_keys.add(key)

    def _put_alert(self, alert: Alert) -> None:
        previous = self.alerts.get(alert.id)
        if previous is not None and alert.version < previous.version:
            return
        self.alerts[alert.id] = alert
        self._changes.alerts = True
        self._mark_alerting({alert.target})
        if alert.state not in _OPEN:
            self._trim_closed()

    def _mark_alerting(self, targets: set[str]) -> None:
        """Recompute the alert flags of ``targets`` from the open alerts."""
        open_by_target: dict[str, list[Alert]] = {}
        for alert in self.alerts.values():
            if alert.state in _OPEN and alert.target in targets:
                open_by_target.setdefault(alert.target, []).append(alert)
        for name in targets:
            row = self.rows.get(name)
            if row is None:
                continue
            mine = open_by_target.get(name, [])
            alerting, flapping = bool(mine), any(a.flapping for a in mine)
            if (alerting, flapping) != (row.alerting, row.alert_flapping):
                row.alerting, row.alert_flapping = alerting, flapping
                self._changes.targets.add(name)

    def _trim_closed(self) -> None:
        closed = [a for a in self.alerts.values() if a.state not in _OPEN]
        if len(closed) <= self._max_closed:
            return
        closed.sort(key=lambda a: a.updated_at)
        for alert in closed[: len(closed) - self._max_closed]:
            del self.alerts[alert.id]

    def take_changes(self) -> Changes:
        """What changed since the last call, and start counting afresh."""
        changes, self._changes = self._changes, Changes()
        return changes

    # ---- reading

    def open_alerts(self) -> list[Alert]:
        """Firing and acknowledged alerts, newest first (firing before acknowledged)."""
        found = [a for a in self.alerts.values() if a.state in _OPEN]
        found.sort(key=lambda a: (a.state is AlertState.FIRING, a.started_at, a.id), reverse=True)
        return found

    def alerts_for(self, target: str) -> list[Alert]:
        """Every remembered alert of ``target``, newest first."""
        found = [a for a in self.alerts.values() if a.target == target]
        found.sort(key=lambda a: (a.started_at, a.id), reverse=True)
        return found

    def providers(self) -> list[ProviderTotals]:
        """The totals of each provider seen (by its targets or its instances), in card order."""
        found = []
        for name in sorted(set(self._tally) | set(self._machines), key=provider_order):
            counts = {h: n for h, n in self._tally.get(name, Counter()).items() if n > 0}
            machines = self._machines.get(name, Counter())
            if counts or machines.total():
                found.append(
                    ProviderTotals(
                        name,
                        sum(counts.values()),
                        counts,
                        instances=machines.total(),
                        running=machines[True],
                    )
                )
        return found

    def totals(self) -> FleetTotals:
        """The fleet tally for the header."""
        counts: Counter[Health] = Counter()
        for tally in self._tally.values():
            counts.update(tally)
        states = Counter(a.state for a in self.alerts.values())
        return FleetTotals(
            targets=len(self.rows),
            counts={h: n for h, n in counts.items() if n > 0},
            firing=states[AlertState.FIRING],
            acknowledged=states[AlertState.ACKNOWLEDGED],
            instances=len(self.instances),
        )

    def instance_points(self, instance: Instance, metric: str) -> list[MetricPoint]:
        """Recent points of ``metric`` for ``instance`` (by id, else by name), oldest first."""
        for ref in (instance.id, instance.name):
            ring = self.series.get((instance.provider, ref, metric))
            if ring:
                return list(ring)
        return []

    def instance_values(self, instance: Instance, metric: str) -> list[float]:
        """The values of :meth:`instance_points`."""
        return [p.value for p in self.instance_points(instance, metric)]

    def instance_of(self, row: TargetRow) -> Instance | None:
        """The instance the target of ``row`` names, preferring one of the target's provider."""
        ref = row.latest.instance
        if not ref:
            return None
        found = [i for i in self.instances.values() if ref in (i.id, i.name)]
        found.sort(key=lambda i: (i.provider != row.provider, i.state is InstanceState.TERMINATED))
        return found[0] if found else None

    def targets_on(self, instance: Instance) -> list[TargetRow]:
        """The target rows that name ``instance`` (by id or name), by name."""
        refs = (instance.id, instance.name)
        found = [r for r in self.rows.values() if r.latest.instance in refs]
        found.sort(key=lambda r: r.name)
        return found

    def is_stale(self, row: TargetRow, now: datetime, threshold: timedelta) -> bool:
        """Whether ``row``'s latest result is older than ``threshold`` at ``now``."""
        return row.age(now) > threshold
