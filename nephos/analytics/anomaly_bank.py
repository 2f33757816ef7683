"""One online detector per series, and anomaly verdicts as alerts (source ``anomaly``).

:class:`DetectorBank` is pure: no store, no clock, no I/O. The sentinel wires it like this::

    bank = DetectorBank()                          # one per sentinel, kept in memory
    for point in new_points:                       # after store.put_metrics() committed
        verdict = bank.observe(point)
        if verdict is None:
            continue
        series = SeriesKey.of(point)
        if verdict.phase is EpisodePhase.ONSET:    # open it through the alert book, which
            alert = anomaly_to_alert(verdict, series, clock=clock, rng=rng)  # dedups and notifies
        else:                                      # resolve the open alert with this dedup key
            done = resolve_anomaly_alert(open_alert, verdict, clock=clock)
    for series, verdict in bank.check_silence(clock.now()):  # once per sentinel interval
        ...                                        # a missing-data onset, as above

Detectors start empty after a restart; ``DetectorBank.warm(points)`` replays recent history
(from the hot store or the warehouse) without raising verdicts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from nephos.analytics.anomaly import (
    AnomalyKind,
    AnomalyVerdict,
    DetectorSettings,
    EpisodePhase,
    SeriesKey,
)
from nephos.analytics.anomaly_detector import OnlineDetector
from nephos.clock import Clock
from nephos.model import Alert, AlertSource, AlertState, MetricPoint
from nephos.sentinel.ids import new_alert_id

__all__ = [
    "DetectorBank",
    "anomaly_dedup_key",
    "anomaly_facts",
    "anomaly_to_alert",
    "resolve_anomaly_alert",
]

_TITLES = {
    AnomalyKind.SPIKE: "spike",
    AnomalyKind.SUSTAINED_RISE: "sustained rise",
    AnomalyKind.LATENCY_DEGRADATION: "response time degraded",
    AnomalyKind.LEVEL_SHIFT: "level shift",
    AnomalyKind.FLATLINE: "value stuck",
    AnomalyKind.MISSING_DATA: "no data",
}


class DetectorBank:
    """Holds an :class:`OnlineDetector` per series, created on the series' first point."""

    def __init__(self, settings: DetectorSettings | None = None, *, max_series: int = 100_000):
        """Create an empty bank.

        Args:
            settings: tuning shared by every detector.
            max_series: a bound on memory; beyond it the least recently fed series is dropped.
        """
        self.settings = settings or DetectorSettings()
        self.max_series = max_series
        self._detectors: dict[SeriesKey, OnlineDetector] = {}

    def __len__(self) -> int:
        return len(self._detectors)

    def detector(self, series: SeriesKey) -> OnlineDetector:
        """The detector of ``series``, created when missing."""
        found = self._detectors.pop(series, None)
        if found is None:
            found = OnlineDetector(series, self.settings)
            if len(self._detectors) >= self.max_series:
                del self._detectors[next(iter(self._detectors))]
        self._detectors[series] = found  # re-inserted: dict order is least recently fed first
        return found

    def observe(self, point: MetricPoint) -> AnomalyVerdict | None:
        """Feed one point to its series' detector; the verdict it caused, if any."""
        return self.detector(SeriesKey.of(point)).update(point.ts, point.value)

    def warm(self, points: Iterable[MetricPoint]) -> int:
        """Replay history (oldest first) to rebuild baselines; verdicts are dropped.

        Returns the number of points replayed.
        """
        n = 0
        for point in points:
            self.observe(point)
            n += 1
        return n

    def check_silence(self, now: datetime) -> list[tuple[SeriesKey, AnomalyVerdict]]:
        """Missing-data onsets for every series silent too long at ``now``."""
        out = []
        for series, detector in self._detectors.items():
            verdict = detector.check_silence(now)
            if verdict is not None:
                out.append((series, verdict))
        return out


def anomaly_dedup_key(series: SeriesKey) -> str:
    """The dedup key of the anomaly alert of ``series``: one open anomaly alert per series."""
    return f"{series.instance}|anomaly|{series.metric}"


def _number(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 6)


def anomaly_facts(verdict: AnomalyVerdict, series: SeriesKey) -> dict[str, Any]:
    """The evidence of ``verdict`` as JSON-able facts for the alert and the narrators."""
    facts: dict[str, Any] = {
        "kind": verdict.kind.value,
        "phase": verdict.phase.value,
        "metric": series.metric,
        "unit": series.unit,
        "observed": _number(verdict.value),
        "baseline": {
            "method": "median" + (" by time of day" if verdict.seasonal else ""),
            "median": _number(verdict.baseline),
            "mad": _number(verdict.mad),
            "spread": _number(verdict.spread),
        },
        "deviation": _number(round(verdict.deviation, 2)),
        "direction": "up" if verdict.direction >= 0 else "down",
        "window_seconds": verdict.window.total_seconds(),
        "confidence": round(verdict.confidence, 3),
        "severity": verdict.severity.value,
        "started_at": verdict.started_at.isoformat().replace("+00:00", "Z"),
    }
    if verdict.detail:
        facts["detail"] = verdict.detail
    facts.update({k: _number(v) if isinstance(v, float) else v for k, v in verdict.extra})
    return facts


def _message(verdict: AnomalyVerdict, series: SeriesKey) -> str:
    unit = f" {series.unit}" if series.unit else ""
    if verdict.kind in (AnomalyKind.MISSING_DATA, AnomalyKind.FLATLINE):
        return f"{series.label}: {verdict.detail}"
    return (
        f"{series.label} is {verdict.value:.4g}{unit}, expected about {verdict.baseline:.4g}{unit} "
        f"(robust z {verdict.deviation:+.1f}, confidence {verdict.confidence:.0%})"
    )


def anomaly_to_alert(
    verdict: AnomalyVerdict, series: SeriesKey, *, clock: Clock, rng: random.Random
) -> Alert:
    """A firing alert (source ``anomaly``) for an onset verdict, carrying its evidence.

    Args:
        verdict: the onset verdict (an end verdict gives a resolved alert).
        series: the series it is about.
        clock: stamps ``updated_at``.
        rng: draws the alert id.
    """
    now = clock.now()
    ended = verdict.phase is EpisodePhase.END
    return Alert(
        id=new_alert_id(rng),
        dedup_key=anomaly_dedup_key(series),
        target=series.instance,
        source=AlertSource.ANOMALY,
        state=AlertState.RESOLVED if ended else AlertState.FIRING,
        severity=verdict.severity,
        title=f"{series.label}: {_TITLES[verdict.kind]}",
        message=_message(verdict, series),
        started_at=verdict.started_at,
        updated_at=now,
        condition=f"{series.metric} anomaly ({verdict.kind.value})",
        value=f"{verdict.value:.6g}",
        provider=series.provider,
        resolved_at=verdict.ts if ended else None,
        facts=anomaly_facts(verdict, series),
    )


def resolve_anomaly_alert(alert: Alert, verdict: AnomalyVerdict, *, clock: Clock) -> Alert:
    """``alert`` resolved by an end verdict, with the episode's peak and final kind in facts."""
    facts = dict(alert.facts)
    facts["end"] = anomaly_facts(verdict, SeriesKey(alert.target, str(facts.get("metric", ""))))
    return replace(
        alert,
        state=AlertState.RESOLVED,
        resolved_at=verdict.ts,
        updated_at=clock.now(),
        facts=facts,
    )
