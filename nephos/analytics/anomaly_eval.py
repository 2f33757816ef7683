"""Evaluation of anomaly detectors on labelled series, against the literal 3-sigma rule.

A labelled series has an ``incident`` number per point (0 for normal). An incident is
detected when an alert onset falls inside its window (from its first to its last labelled
point). Precision counts alerts: those inside some incident window over all alerts. False
alarms are the alerts outside every window, per series-week. The literal rule alerts on every
point more than 3 standard deviations from the mean of the preceding 24 hours.
"""

from __future__ import annotations

import math
import pathlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from nephos.analytics.anomaly import DetectorSettings, EpisodePhase, SeriesKey
from nephos.analytics.anomaly_csv import read_points
from nephos.analytics.anomaly_detector import OnlineDetector

__all__ = [
    "DetectorReport",
    "LabelledSeries",
    "evaluate",
    "load_labelled_dir",
    "online_detector_alerts",
    "three_sigma_alerts",
    "three_sigma_onset_alerts",
]

AlertFn = Callable[["LabelledSeries"], list[datetime]]


@dataclass(frozen=True, slots=True)
class LabelledSeries:
    """One series of the evaluation set with its incident labels."""

    series: SeriesKey
    times: tuple[datetime, ...]
    values: tuple[float, ...]
    labels: tuple[int, ...]

    def incidents(self) -> list[tuple[datetime, datetime]]:
        """The incident windows, ``(first labelled point, last labelled point)``."""
        spans: dict[int, list[datetime]] = {}
        for ts, label in zip(self.times, self.labels, strict=True):
            if label:
                spans.setdefault(label, []).append(ts)
        return [(min(v), max(v)) for _, v in sorted(spans.items())]

    @property
    def weeks(self) -> float:
        """The length of the series in weeks."""
        return (self.times[-1] - self.times[0]) / timedelta(weeks=1)


@dataclass(frozen=True, slots=True)
class DetectorReport:
    """How one detector did over a set of series."""

    name: str
    alerts: int
    true_alerts: int
    incidents: int
    detected: int
    false_alarms: int
    series_weeks: float

    @property
    def precision(self) -> float:
        """Share of alerts that fell inside an incident window (1.0 with no alerts)."""
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> float:
        """Share of incidents with at least one alert onset inside their window."""
        return self.detected / self.incidents if self.incidents else 1.0

    @property
    def false_alarms_per_series_week(self) -> float:
        """Alerts outside every incident window, per series-week."""
        return self.false_alarms / self.series_weeks if self.series_weeks else math.nan


def load_labelled_dir(directory: pathlib.Path) -> list[LabelledSeries]:
    """Every ``<instance>__<metric>__<unit>.csv`` in ``directory``, sorted by name.

    Raises:
        UsageError: a file is not a valid ``timestamp,value,incident`` CSV.
    """
    out = []
    for path in sorted(directory.glob("*.csv")):
        instance, metric, unit = path.stem.split("__")
        rows = read_points(path, extra_columns=("incident",))
        out.append(
            LabelledSeries(
                SeriesKey(instance, metric, unit),
                tuple(r.ts for r in rows),
                tuple(r.value for r in rows),
                tuple(int(r.extra[0]) for r in rows),
            )
        )
    return out


def online_detector_alerts(
    settings: DetectorSettings | None = None,
) -> AlertFn:
    """An alert function running :class:`OnlineDetector`: one alert per episode onset."""

    def alerts(labelled: LabelledSeries) -> list[datetime]:
        detector = OnlineDetector(labelled.series, settings)
        onsets = []
        for ts, value in zip(labelled.times, labelled.values, strict=True):
            verdict = detector.update(ts, value)
            if verdict is not None and verdict.phase is EpisodePhase.ONSET:
                onsets.append(verdict.ts)
        return onsets

    return alerts


def three_sigma_alerts(labelled: LabelledSeries) -> list[datetime]:
    """The literal original rule: every point beyond 3 standard deviations of the last 24 h.

    The mean and standard deviation are over the points of the preceding 24 hours (not the
    point itself); nothing is judged before two points of history.
    """
    return _three_sigma(labelled, onsets_only=False)


def three_sigma_onset_alerts(labelled: LabelledSeries) -> list[datetime]:
    """The 3-sigma rule with one alert per run of flagged points (a kinder baseline)."""
    return _three_sigma(labelled, onsets_only=True)


def _three_sigma(labelled: LabelledSeries, *, onsets_only: bool) -> list[datetime]:
    window: deque[tuple[datetime, float]] = deque()
    total = total_sq = 0.0
    alerts = []
    previous = False
    day = timedelta(hours=24)
    for ts, value in zip(labelled.times, labelled.values, strict=True):
        while window and window[0][0] < ts - day:
            _, old = window.popleft()
            total -= old
            total_sq -= old * old
        n = len(window)
        if n >= 2:
            mean = total / n
            sd = math.sqrt(max(0.0, (total_sq - n * mean * mean) / (n - 1)))
            flagged = sd > 0 and abs(value - mean) > 3 * sd
            if flagged and not (onsets_only and previous):
                alerts.append(ts)
            previous = flagged
        window.append((ts, value))
        total += value
        total_sq += value * value
    return alerts


def evaluate(name: str, alert_fn: AlertFn, dataset: Sequence[LabelledSeries]) -> DetectorReport:
    """Run ``alert_fn`` over ``dataset`` and score its alerts against the labels."""
    alerts = true_alerts = incidents = detected = 0
    weeks = 0.0
    for labelled in dataset:
        windows = labelled.incidents()
        onsets = alert_fn(labelled)
        inside = [any(a <= t <= b for a, b in windows) for t in onsets]
        alerts += len(onsets)
        true_alerts += sum(inside)
        incidents += len(windows)
        detected += sum(any(a <= t <= b for t in onsets) for a, b in windows)
        weeks += labelled.weeks
    return DetectorReport(
        name, alerts, true_alerts, incidents, detected, alerts - true_alerts, weeks
    )
