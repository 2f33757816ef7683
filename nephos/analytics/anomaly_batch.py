"""Batch anomaly detection over the warehouse: ``detect_batch`` and the ``Anomaly`` it returns.

The work is one statement, ``snowflake/analytics/anomalies.sql`` (Snowflake dialect; DuckDB
runs it transpiled): per series and quarter hour of the day, a median baseline and a spread
per side from the 10th and 90th percentiles over the history (kept within three times the
series' typical tails, so an incident in the history cannot hide itself), floored as the
online detector floors it; points beyond ``z_open`` are flagged and consecutive flagged
points collapse into one row per episode (gaps and islands). Python only names the kind,
the confidence and the severity.

How it relates to the online detector (``anomaly_detector``): the same robust z-score, the
same floors, the same onset rule (``confirm_points`` beyond ``z_open`` or one beyond
``z_spike``), one row per episode. It differs where a single pass of SQL must: the baseline
is per quarter hour of the day over the whole history rather than a causal 24-hour level
plus a 15-minute profile, so a level shift inside the history blurs it (the online detector
adapts within an hour), missing data and flatlines are not looked for, and the kind is
guessed from the metric family and the episode's length rather than from slope tests. Use the online
detector for alerting as points arrive; use this for "what happened in the last day".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nephos.analytics.anomaly import AnomalyKind, DetectorSettings, MetricFamily, SeriesKey
from nephos.analytics.anomaly_stats import confidence_from_z
from nephos.clock import Clock, SystemClock
from nephos.model import Severity
from nephos.warehouse.base import Warehouse

__all__ = ["Anomaly", "detect_batch"]

_STATEMENT = "anomalies"


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One anomaly episode found in the warehouse."""

    series: SeriesKey
    kind: AnomalyKind
    started_at: datetime
    last_flagged_at: datetime
    points: int
    direction: int
    onset_value: float
    peak_value: float
    baseline: float
    spread: float
    deviation: float
    confidence: float
    severity: Severity
    history_points: int
    """Points behind the baseline of the episode's quarter hour of the day."""


def _aware(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got {type(value).__name__}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _kind(series: SeriesKey, direction: int, held: timedelta, s: DetectorSettings) -> AnomalyKind:
    family = series.family
    if family is MetricFamily.LATENCY and direction > 0:
        return AnomalyKind.LATENCY_DEGRADATION
    if held >= s.shift_after:
        growing = family in (MetricFamily.MEMORY, MetricFamily.DISK) and direction > 0
        return AnomalyKind.SUSTAINED_RISE if growing else AnomalyKind.LEVEL_SHIFT
    return AnomalyKind.SPIKE


def _anomaly(row: dict[str, Any], s: DetectorSettings) -> Anomaly:
    series = SeriesKey(
        str(row["resource"]),
        str(row["metric"]),
        str(row["unit"] or ""),
        str(row["provider"] or "other"),
    )
    started, last = _aware(row["started_at"]), _aware(row["last_flagged_at"])
    direction = int(row["direction"])
    z = float(row["peak_z"])
    history = int(row["history_points"])
    # As online: full confidence once a baseline window (24 h) of history stands behind it.
    held = float(row["history_seconds"]) / s.baseline_window.total_seconds()
    support = 0.5 + 0.5 * min(1.0, max(0.0, held))
    return Anomaly(
        series=series,
        kind=_kind(series, direction, last - started, s),
        started_at=started,
        last_flagged_at=last,
        points=int(row["points"]),
        direction=direction,
        onset_value=float(row["onset_value"]),
        peak_value=float(row["peak_value"]),
        baseline=float(row["baseline"]),
        spread=float(row["spread"]),
        deviation=z,
        confidence=confidence_from_z(z, midpoint=s.z_open, steepness=1.2, support=support),
        severity=Severity.CRITICAL if abs(z) >= s.z_critical else Severity.WARNING,
        history_points=history,
    )


async def detect_batch(
    warehouse: Warehouse,
    since: datetime,
    *,
    until: datetime | None = None,
    history: timedelta = timedelta(days=7),
    settings: DetectorSettings | None = None,
    min_points: int = 6,
    clock: Clock | None = None,
) -> list[Anomaly]:
    """Anomaly episodes that started in ``[since, until]``, oldest first.

    Args:
        warehouse: an opened warehouse.
        since: the start of the detection window.
        until: its end; now by default.
        history: how far before ``until`` the baselines look (at least back to ``since``).
        settings: thresholds shared with the online detector.
        min_points: points a quarter-hour-of-day baseline needs before that slot is judged.
        clock: the source of "now".

    Raises:
        WarehouseError: the statement failed.
    """
    s = settings or DetectorSettings()
    end = until or (clock or SystemClock()).now()
    start = min(since, end - history)
    rows = await warehouse.query(
        _STATEMENT,
        {
            "since": since,
            "until": end,
            "history_start": start,
            "z_open": s.z_open,
            "z_spike": s.z_spike,
            "confirm_points": s.confirm_points,
            "join_gap_seconds": int(s.bucket.total_seconds()),
            "min_points": min_points,
        },
    )
    return [_anomaly(row, s) for row in rows]
