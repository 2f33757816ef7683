"""Figures computed in Python from rows, where there is no warehouse to compute them in SQL:
the least-squares trend of a series, percentiles, and runs of failed checks. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from nephos.insights.facts import TrendFact
from nephos.model import CheckResult

__all__ = [
    "Period",
    "aware_utc",
    "failure_runs",
    "fit_trend",
    "naive_utc",
    "percentile",
    "trend_fact",
]


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open window of time, UTC."""

    since: datetime
    until: datetime

    @property
    def hours(self) -> float:
        """Its length in hours."""
        return (self.until - self.since).total_seconds() / 3600.0

    def binds(self) -> dict[str, datetime]:
        """``since`` and ``until`` as the warehouse keeps times (naive UTC)."""
        return {"since": naive_utc(self.since), "until": naive_utc(self.until)}


def naive_utc(when: datetime) -> datetime:
    """``when`` as the warehouse keeps times: naive UTC."""
    return when.astimezone(UTC).replace(tzinfo=None)


def aware_utc(when: Any) -> datetime:
    """A time read back from the warehouse (naive UTC) as an aware UTC datetime."""
    assert isinstance(when, datetime)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile of ``values``, or None when there are none."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else None


def fit_trend(
    resource: str,
    metric: str,
    unit: str,
    points: Sequence[tuple[datetime, float]],
    previous: Sequence[float],
    period: Period,
) -> TrendFact | None:
    """The least-squares trend of one series in ``period`` (None with fewer than 3 points).

    Args:
        resource: the instance or target.
        metric: the metric's name.
        unit: its unit.
        points: ``(ts, value)`` in the period.
        previous: the values of the period before, for the change.
        period: the window.
    """
    if len(points) < 3:
        return None
    hours = np.array([(ts - period.since).total_seconds() / 3600.0 for ts, _ in points])
    values = np.array([v for _, v in points], dtype=np.float64)
    if float(np.ptp(hours)) == 0.0:
        return None
    slope, intercept = np.polyfit(hours, values, 1)
    total = float(np.sum((values - values.mean()) ** 2))
    residual = float(np.sum((values - (slope * hours + intercept)) ** 2))
    r2 = 1.0 - residual / total if total > 0 else 0.0
    ordered = sorted(points)
    return trend_fact(
        resource, metric, unit, len(points), float(slope), r2, float(values.mean()),
        ordered[-1][1], float(values.min()), float(values.max()),
        float(np.mean(previous)) if previous else None, period,
    )  # fmt: skip


def trend_fact(
    resource: str,
    metric: str,
    unit: str,
    points: int,
    slope: float,
    r2: float | None,
    mean: float,
    last: float,
    low: float,
    high: float,
    previous_mean: float | None,
    period: Period,
) -> TrendFact:
    change = None
    if previous_mean is not None and abs(previous_mean) > 1e-9:
        change = round(100.0 * (mean - previous_mean) / abs(previous_mean), 1)
    return TrendFact(
        resource=resource,
        metric=metric,
        unit=unit,
        window_hours=round(period.hours, 2),
        points=points,
        slope_per_hour=round(slope, 4),
        r2=round(max(0.0, r2 or 0.0), 3),
        mean=round(mean, 3),
        last=round(last, 3),
        minimum=round(low, 3),
        maximum=round(high, 3),
        previous_mean=None if previous_mean is None else round(previous_mean, 3),
        change_pct=change,
    )


def failure_runs(
    results: list[CheckResult], min_failed: int
) -> list[tuple[str, str, datetime, datetime | None, int, str]]:
    out = []
    by_target: dict[str, list[CheckResult]] = defaultdict(list)
    for r in results:
        if not r.sentinel_offline:
            by_target[r.target].append(r)
    for target, rows in by_target.items():
        run: list[CheckResult] = []
        for item in [*rows, None]:
            if item is not None and not item.success:
                run.append(item)
                continue
            if len(run) >= min_failed:
                why = run[0].error or run[0].reason
                end = None if item is None else item.ts
                out.append((target, run[0].provider, run[0].ts, end, len(run), why))
            run = []
    return sorted(out, key=lambda x: (x[2], x[0]))
