"""What normal looks like for one series: the learned baseline behind ``OnlineDetector``.

History is kept as 15-minute bucket summaries (median, count, and a few residual samples)
for 24 hours, and one offset per bucket slot of the day for ``seasonal_days`` days, so
memory is bounded whatever the sampling rate. From them come:

* the level: the median of the last 24 hours of bucket medians, less the time-of-day profile;
* the profile: per bucket slot of the day, the median offset from the level over the days
  seen (used once ``seasonal_min_days`` days have that slot);
* the spread, one per side: from the 10th, 50th and 90th percentiles of the last 24 hours of
  residuals (value minus expectation). Percentiles, not a MAD, because cloud metrics have
  heavy upper tails, and a daily hump not yet learned must widen the spread rather than fire.
  The median residual also corrects the baseline for steady growth. Each side is floored by
  the value's quantum, an absolute floor per unit and a share of the level, so idle quantised
  CPU, whose MAD collapses to zero, does not make jitter look enormous.

Raw values always feed the buckets: medians over a day shrug off a short incident, and a
recurring one (a nightly batch job) becomes part of the profile.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from nephos.analytics.anomaly import DetectorSettings, MetricFamily, SeriesKey
from nephos.analytics.anomaly_stats import (
    MAD_TO_SIGMA,
    mad,
    mann_kendall_tau,
    median,
    theil_sen_slope,
)

__all__ = ["Expectation", "SeriesBaseline"]

_RECENT = 64
_BUCKET_CAP = 512  # values kept per open bucket; beyond it every other one is dropped
_SAMPLES = 8  # residuals kept per bucket for the spread percentiles
_P90_Z = 1.2816  # the 90th percentile of a standard normal


@dataclass(slots=True)
class _Bucket:
    index: int
    median: float
    residuals: tuple[float, ...] = field(default=())


def _quantile(ordered: list[float], q: float) -> float:
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Expectation:
    """The expected value at one time and the spread to judge a point by."""

    baseline: float
    spread: float
    seasonal: bool


class SeriesBaseline:
    """Learns the normal level, time-of-day profile and spread of one series."""

    def __init__(self, series: SeriesKey, settings: DetectorSettings) -> None:
        """Create an empty baseline for ``series``."""
        self.series = series
        self.settings = settings
        self._family = series.family
        self._bucket_s = settings.bucket.total_seconds()
        self._window_s = settings.baseline_window.total_seconds()
        self._slots = max(1, round(86400 / self._bucket_s))
        self._buckets: deque[_Bucket] = deque(maxlen=math.ceil(self._window_s / self._bucket_s))
        # Per slot of the day, the offsets from the level seen on the last days.
        self._slot_offsets: dict[int, deque[float]] = {}
        self._open_index: int | None = None
        self._open_values: list[float] = []
        self._open_residuals: list[float] = []
        self.recent: deque[tuple[float, float]] = deque(maxlen=_RECENT)
        """The last points, ``(epoch seconds, value)``."""
        self.quantum = math.inf
        """The smallest non-zero step between consecutive values seen."""
        self._last_value = math.nan
        self.level = math.nan
        """The 24-hour level without the time-of-day profile (NaN until 4 buckets are in)."""
        self._bias = 0.0
        self._upper = math.nan
        self._lower = math.nan
        self._offsets: dict[int, tuple[float, float]] = {}
        self.trend_alarm = False
        """Set at a bucket close when the slope test finds a rise beyond normal growth."""

    # ---------------------------------------------------------------- learning

    def add(self, t: float, value: float) -> None:
        """Learn from one point (after it has been judged)."""
        if not math.isnan(self.level):
            self._open_residuals.append(value - self.level - self.offset_at(t))
        if not math.isnan(self._last_value) and value != self._last_value:
            self.quantum = min(self.quantum, abs(value - self._last_value))
        self._last_value = value
        self.recent.append((t, value))
        index = int(t // self._bucket_s)
        if self._open_index is not None and index != self._open_index:
            self._close_bucket()
        self._open_index = index
        self._open_values.append(value)
        if len(self._open_values) > _BUCKET_CAP:
            self._open_values = self._open_values[::2]
        if len(self._open_residuals) > _BUCKET_CAP:
            self._open_residuals = self._open_residuals[::2]

    def _close_bucket(self) -> None:
        values, self._open_values = self._open_values, []
        resid, self._open_residuals = self._open_residuals, []
        if values and self._open_index is not None:
            level = self.level if not math.isnan(self.level) else median(values)
            stride = max(1, math.ceil(len(resid) / _SAMPLES))
            sample = tuple(resid[::stride])
            bucket = _Bucket(self._open_index, median(values), sample)
            self._buckets.append(bucket)
            slot = bucket.index % self._slots
            days = self._slot_offsets.setdefault(slot, deque(maxlen=self.settings.seasonal_days))
            days.append(bucket.median - level)
            if len(days) >= self.settings.seasonal_min_days:
                self._offsets[slot] = (median(days), MAD_TO_SIGMA * mad(days))
        self._refresh()

    def _refresh(self) -> None:
        """Recompute the level, spreads, profile and slope test from the bucket summaries."""
        now_index = self._open_index if self._open_index is not None else 0
        span = self._window_s / self._bucket_s
        window = [b for b in self._buckets if b.index > now_index - span]
        if len(window) < 4:
            self.level = math.nan
            return
        self.level = median([b.median - self.offset(b.index)[0] for b in window])
        pooled = sorted(r for b in window for r in b.residuals)
        if len(pooled) >= 20:
            mid = _quantile(pooled, 0.5)
            self._bias = mid
            self._upper = (_quantile(pooled, 0.9) - mid) / _P90_Z
            self._lower = (mid - _quantile(pooled, 0.1)) / _P90_Z
        self.trend_alarm = self._trend_test(window)

    def _trend_test(self, window: list[_Bucket]) -> bool:
        s = self.settings
        if self._family not in (MetricFamily.MEMORY, MetricFamily.DISK):
            return False
        recent = window[-s.trend_buckets :]
        older = window[: -s.trend_buckets][-48:]
        if len(recent) < s.trend_buckets * 0.75 or len(older) < s.trend_buckets:
            return False
        ys = [b.median - self.offset(b.index)[0] for b in recent]
        if mann_kendall_tau(ys) < s.trend_tau:
            return False
        slope = theil_sen_slope([float(b.index) for b in recent], ys)
        normal = theil_sen_slope(
            [float(b.index) for b in older], [b.median - self.offset(b.index)[0] for b in older]
        )
        rise = (slope - max(0.0, normal)) * len(recent)
        noise = max(self._upper if not math.isnan(self._upper) else 0.0, self.quantum_or_zero)
        return rise >= max(s.trend_rise * noise, self.series.absolute_floor)

    # ---------------------------------------------------------------- reading

    @property
    def history(self) -> int:
        """Closed buckets held."""
        return len(self._buckets)

    def rising(self, n: int, tau: float) -> bool:
        """Whether the last ``n`` bucket medians rise with Kendall's tau at least ``tau``."""
        ys = [b.median - self.offset(b.index)[0] for b in list(self._buckets)[-n:]]
        return len(ys) >= n // 2 and mann_kendall_tau(ys) >= tau and ys[-1] > ys[0]

    def offset(self, index: int) -> tuple[float, float]:
        """The time-of-day offset of bucket ``index`` and its spread over days (0, 0 unknown)."""
        return self._offsets.get(index % self._slots, (0.0, 0.0))

    def offset_at(self, t: float) -> float:
        """The time-of-day offset at time ``t``."""
        return self.offset(int(t // self._bucket_s))[0]

    @property
    def quantum_or_zero(self) -> float:
        """The value's quantum, or 0 before two distinct values were seen."""
        return self.quantum if math.isfinite(self.quantum) else 0.0

    def floor(self, level: float) -> float:
        """The smallest believable spread around ``level``."""
        rel = self.settings.relative_floor * abs(level)
        return max(self.quantum_or_zero, self.series.absolute_floor, rel, 1e-9)

    def spread(self, level: float, side: int = 1) -> float:
        """The floored spread around ``level`` above it (``side`` 1) or below it (-1)."""
        noise = self._upper if side >= 0 else self._lower
        if math.isnan(noise):
            noise = MAD_TO_SIGMA * mad([v for _, v in self.recent]) if self.recent else 0.0
        return max(noise, self.floor(level))

    def raw_mad(self) -> float:
        """The MAD of the recent points, unscaled and unfloored."""
        return mad([v for _, v in self.recent]) if self.recent else math.nan

    def expect(self, t: float, value: float, level: float | None = None) -> Expectation | None:
        """What the value at time ``t`` should be, and the spread on ``value``'s side of it.

        None before any point.

        Args:
            t: epoch seconds.
            value: the observed value (it picks the upper or the lower spread).
            level: a level to use instead of the learned one (after a level shift).
        """
        if not self.recent:
            return None
        if math.isnan(self.level) and level is None:
            warm = median([v for _, v in self.recent])
            return Expectation(warm, self.spread(warm), False)
        index = int(t // self._bucket_s)
        centre = self.level + self._bias if level is None else level
        best: Expectation | None = None
        # The slot's own profile, and its neighbours' when learned: a daily job that starts a
        # few minutes off the bucket grid, or drifts from day to day, is still expected.
        for candidate in (index, index - 1, index + 1):
            if candidate != index and (candidate % self._slots) not in self._offsets:
                continue
            offset, offset_spread = self.offset(candidate)
            base = centre + offset
            side = 1 if value >= base else -1
            spread = max(self.spread(base, side), offset_spread)
            seasonal = (candidate % self._slots) in self._offsets
            found = Expectation(base, spread, seasonal)
            if (
                best is None
                or abs(value - base) / spread < abs(value - best.baseline) / best.spread
            ):
                best = found
        return best
