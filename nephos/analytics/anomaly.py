"""The vocabulary of anomaly detection: series keys, kinds, verdicts, scores and settings.

Only frozen values and enums live here. The online detector is in ``anomaly_detector``, the
bank that holds one detector per series and turns verdicts into alerts in ``anomaly_bank``,
batch detection over the warehouse in ``anomaly_batch``, the CSV scorer in ``anomaly_csv``
and the evaluation against the literal 3-sigma rule in ``anomaly_eval``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from nephos.model import MetricPoint, Severity

__all__ = [
    "AnomalyKind",
    "AnomalyVerdict",
    "DetectorSettings",
    "EpisodePhase",
    "MetricFamily",
    "PointScore",
    "SeriesKey",
]


class AnomalyKind(enum.StrEnum):
    """What an anomaly looks like."""

    SPIKE = "spike"
    """A short excursion far from normal (CPU, network, disk I/O); ``direction`` says up or down."""
    SUSTAINED_RISE = "sustained_rise"
    """A steady climb that normal growth does not explain (a memory leak, a disk filling)."""
    LATENCY_DEGRADATION = "latency_degradation"
    """Response times above normal for several points in a row."""
    LEVEL_SHIFT = "level_shift"
    """A step to a new, stable level; the detector re-baselines on it."""
    FLATLINE = "flatline"
    """The same value over and over where the series normally moves (a stuck exporter)."""
    MISSING_DATA = "missing_data"
    """No point for many expected intervals."""


class EpisodePhase(enum.StrEnum):
    """Where in an anomaly episode a verdict was issued: one onset, then one end."""

    ONSET = "onset"
    END = "end"


class MetricFamily(enum.StrEnum):
    """The family of a metric, guessed from its name and unit; it picks the applicable kinds."""

    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"
    NETWORK = "network"
    LATENCY = "latency"
    OTHER = "other"

    @staticmethod
    def of(metric: str, unit: str = "") -> MetricFamily:
        """The family of a metric called ``metric`` measured in ``unit``."""
        name = metric.lower()
        u = unit.lower()
        words = (
            (MetricFamily.LATENCY, ("latency", "response_time", "duration", "rtt", "ttfb")),
            (MetricFamily.CPU, ("cpu",)),
            (MetricFamily.MEMORY, ("mem", "heap", "rss", "swap")),
            (MetricFamily.DISK, ("disk", "fs_", "filesystem", "volume", "inode", "iops")),
            (MetricFamily.NETWORK, ("net", "network", "bandwidth", "packets", "bytes_in")),
        )
        for family, needles in words:
            if any(n in name for n in needles):
                return family
        if u in ("ms", "s", "seconds", "milliseconds"):
            return MetricFamily.LATENCY
        return MetricFamily.OTHER


_PERCENT_UNITS = frozenset({"percent", "%", "pct"})
_ABSOLUTE_FLOORS = MappingProxyType(
    {"percent": 1.5, "%": 1.5, "pct": 1.5, "ms": 2.0, "milliseconds": 2.0, "s": 0.002}
)


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """One series: an instance's metric in a unit (``MetricPoint`` without time and value)."""

    instance: str
    metric: str
    unit: str = ""
    provider: str = "other"

    @staticmethod
    def of(point: MetricPoint) -> SeriesKey:
        """The series ``point`` belongs to."""
        return SeriesKey(point.instance, point.metric, point.unit, point.provider)

    @property
    def label(self) -> str:
        """``instance/metric``, as shown in tables and alert titles."""
        return f"{self.instance}/{self.metric}"

    @property
    def family(self) -> MetricFamily:
        """The metric family that decides which anomaly kinds apply."""
        return MetricFamily.of(self.metric, self.unit)

    @property
    def absolute_floor(self) -> float:
        """The smallest spread worth believing in this unit (1.5 points for percentages)."""
        return _ABSOLUTE_FLOORS.get(self.unit.lower(), 0.0)

    @property
    def is_percent(self) -> bool:
        """Whether values are percentages (bounded 0..100)."""
        return self.unit.lower() in _PERCENT_UNITS


@dataclass(frozen=True, slots=True)
class AnomalyVerdict:
    """The detector's word on one anomaly episode: issued once at onset and once at its end.

    ``baseline`` is the expected value (a median, seasonal once enough days are known) and
    ``spread`` the robust scale it was judged with (``MAD × 1.4826``, raised to its floors);
    ``deviation`` is the robust z-score ``(value - baseline) / spread``. ``window`` is the
    history behind the baseline. At ``END``, ``value`` and ``deviation`` are the episode's
    peak and ``ts`` the point that closed it.
    """

    phase: EpisodePhase
    kind: AnomalyKind
    ts: datetime
    started_at: datetime
    value: float
    baseline: float
    spread: float
    mad: float
    deviation: float
    confidence: float
    severity: Severity
    window: timedelta
    seasonal: bool = False
    direction: int = 1
    detail: str = ""
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def ended_at(self) -> datetime | None:
        """When the episode ended, for an ``END`` verdict."""
        return self.ts if self.phase is EpisodePhase.END else None


@dataclass(frozen=True, slots=True)
class PointScore:
    """What the detector made of one point: its score in [0, 1] and any verdict it caused."""

    ts: datetime
    value: float
    baseline: float
    spread: float
    deviation: float
    score: float
    in_episode: bool
    verdict: AnomalyVerdict | None = None


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Tuning of the online detector. The defaults suit one-minute to five-minute metrics."""

    bucket: timedelta = timedelta(minutes=15)
    """Width of the summary buckets; the seasonal profile has one slot per bucket of the day."""
    baseline_window: timedelta = timedelta(hours=24)
    """History behind the level, as in the original rule."""
    seasonal_days: int = 7
    """Days of bucket summaries kept for the time-of-day profile."""
    seasonal_min_days: int = 2
    """Days of history a time-of-day slot needs before the profile is used."""
    warmup: timedelta = timedelta(hours=24)
    """History needed before any verdict (points are still scored, with less confidence)."""
    z_open: float = 4.0
    """Robust z that opens an episode when held for ``confirm_points`` points."""
    z_spike: float = 7.0
    """Robust z that opens a spike episode on a single point."""
    z_close: float = 2.5
    """Robust z under which ``close_points`` points in a row end an episode."""
    confirm_points: int = 3
    close_points: int = 3
    z_critical: float = 12.0
    """Robust z from which an anomaly is critical rather than a warning."""
    relative_floor: float = 0.02
    """Smallest spread as a share of the baseline's magnitude."""
    min_points: int = 12
    """Points needed before anything is judged."""
    shift_after: timedelta = timedelta(minutes=60)
    """A deviation held this long at a stable new level is a level shift: re-baseline."""
    max_episode: timedelta = timedelta(hours=6)
    """A deviation held this long is the new normal whatever its shape: re-baseline."""
    gap_intervals: float = 5.0
    """Missing data: no point for this many expected intervals ..."""
    min_gap: timedelta = timedelta(minutes=10)
    """... and at least this long."""
    flat_points: int = 12
    flat_min: timedelta = timedelta(minutes=30)
    """A stuck value: the same value this many points and this long, in a series that moves."""
    trend_buckets: int = 16
    """Buckets (4 h at 15 min) in the slope test for a sustained rise."""
    trend_tau: float = 0.75
    """Kendall's tau the recent bucket medians need for a sustained rise."""
    trend_rise: float = 4.0
    """Rise over the trend window, in spreads, beyond the normal growth rate."""
