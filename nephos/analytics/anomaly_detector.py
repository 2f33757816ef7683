"""The online, causal anomaly detector of one series: ``OnlineDetector``.

It starts from the product's original rule (a point more than 3 standard deviations from a
24-hour rolling baseline) and fixes what that rule gets wrong on cloud metrics. The baseline
(``anomaly_baseline``) is robust, knows the time of day, and has floors on its spread. On top
of it this module keeps the episode state:

* an episode opens on one point beyond ``z_spike``, on ``confirm_points`` in a row beyond
  ``z_open``, or when the slope test sees a memory or disk series climb faster than normal;
  it closes after ``close_points`` in a row back under ``z_close``. One verdict at onset, one
  at the end, whatever happens in between;
* a deviation that holds at a stable new level for ``shift_after`` is a level shift: the new
  level and the one before the episode both count as normal for a day (or until the 24-hour
  baseline catches up), the episode ends, and neither staying nor going back raises an alert;
* a gap of ``gap_intervals`` expected intervals is missing data, and one value repeated for
  ``flat_points`` points in a series that usually moves is a flatline.

No verdict is issued before ``warmup`` of history; scores are, discounted by how little
history supports them. Every verdict and score for a point uses only that point and earlier
ones. Memory is bounded (see ``anomaly_baseline``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from nephos.analytics.anomaly import (
    AnomalyKind,
    AnomalyVerdict,
    DetectorSettings,
    EpisodePhase,
    MetricFamily,
    PointScore,
    SeriesKey,
)
from nephos.analytics.anomaly_baseline import Expectation, SeriesBaseline
from nephos.analytics.anomaly_stats import (
    MAD_TO_SIGMA,
    confidence_from_z,
    mad,
    mann_kendall_tau,
    median,
)
from nephos.model import Severity

__all__ = ["OnlineDetector"]


@dataclass(slots=True)
class _Episode:
    kind: AnomalyKind
    started: float
    direction: int
    baseline: float
    spread: float
    raw_mad: float
    peak_z: float
    peak_value: float
    confidence: float
    seasonal: bool
    quiet: int = 0
    highest: float = -math.inf
    values: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=64))


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class OnlineDetector:
    """Judges the points of one series as they arrive, in time order."""

    def __init__(self, series: SeriesKey, settings: DetectorSettings | None = None) -> None:
        """Create a detector with no history.

        Args:
            series: the series it watches; its unit and name pick floors and kinds.
            settings: tuning; the defaults suit one-minute to five-minute data.
        """
        self.series = series
        self.settings = settings or DetectorSettings()
        self.baseline = SeriesBaseline(series, self.settings)
        self._family = series.family
        self._steps: deque[float] = deque(maxlen=15)
        self._n = 0
        self._first: float | None = None
        self._last: float | None = None
        self._last_value = math.nan
        self._equal_share = 0.0
        self._run = 0
        self._run_start = 0.0
        self._share_at_run = 0.0
        self._pending = 0
        self._pending_sign = 0
        self._episode: _Episode | None = None
        # Other levels that count as normal for a while after a re-baseline: the new level, and
        # the one from before the episode (until the 24-hour baseline has caught up).
        self._normals: list[tuple[float, float]] = []  # (level, until)

    @property
    def in_episode(self) -> bool:
        """Whether an anomaly episode is open."""
        return self._episode is not None

    def update(self, ts: datetime, value: float) -> AnomalyVerdict | None:
        """Feed one point; the onset or end verdict it causes, if any.

        Points at or before the previous timestamp, and non-finite values, are ignored.
        """
        return self.step(ts, value).verdict

    def check_silence(self, now: datetime) -> AnomalyVerdict | None:
        """Open a missing-data episode when the series has been silent too long.

        The sentinel calls this on its own schedule; the episode ends at the next point.
        """
        if self._last is None or self._episode is not None or len(self._steps) < 3:
            return None
        t = now.timestamp()
        if t - self._last < self._gap_threshold():
            return None
        return self._open_special(AnomalyKind.MISSING_DATA, t, self._last, self._gap_z(t))

    def step(self, ts: datetime, value: float) -> PointScore:
        """Feed one point and return its score in [0, 1], with the verdict it caused, if any."""
        t = ts.timestamp()
        value = float(value)
        if (self._last is not None and t <= self._last) or not math.isfinite(value):
            return PointScore(ts, value, math.nan, math.nan, 0.0, 0.0, self.in_episode)
        expected = self._expect(t, value)
        warm = expected is not None and self._n >= self.settings.min_points
        z = 0.0
        if expected is not None and warm:
            z = (value - expected.baseline) / expected.spread
        score = self._confidence(z) if warm else 0.0
        verdict = None
        if expected is not None:
            verdict = self._judge(t, value, z, expected, warm)
        if verdict is not None and verdict.phase is EpisodePhase.ONSET:
            score = max(score, verdict.confidence)
        self._learn(t, value)
        base = expected.baseline if expected is not None else math.nan
        spread = expected.spread if expected is not None else math.nan
        return PointScore(ts, value, base, spread, z, score, self.in_episode, verdict)

    # ------------------------------------------------------------------ judging

    def _expect(self, t: float, value: float) -> Expectation | None:
        """The learned expectation, or a re-baselined one when the value is nearer to it."""
        main = self.baseline.expect(t, value)
        if not self._normals or main is None:
            return main
        # Forget levels the 24-hour baseline has caught up with, or that have expired.
        self._normals = [
            (level, until)
            for level, until in self._normals
            if t <= until and abs(level - self.baseline.level) >= main.spread
        ]
        best = main
        for level, _ in self._normals:
            other = self.baseline.expect(t, value, level=level)
            if other is not None and (
                abs(value - other.baseline) / other.spread
                < abs(value - best.baseline) / best.spread
            ):
                best = other
        return best

    def _judge(
        self, t: float, value: float, z: float, exp: Expectation, warm: bool
    ) -> AnomalyVerdict | None:
        s = self.settings
        ep = self._episode
        if ep is not None and ep.kind is AnomalyKind.MISSING_DATA:
            return self._close(t)
        if ep is not None and ep.kind is AnomalyKind.FLATLINE:
            return self._close(t) if value != self._last_value else None
        if not warm or self._last is None or self._first is None:
            return None
        if t - self._first < s.warmup.total_seconds():
            return None
        if len(self._steps) >= 3 and t - self._last > self._gap_threshold():
            if ep is not None:  # end what was open first, so its alert resolves
                return self._close(t, extra=(("ended_by_gap_seconds", t - self._last),))
            return self._open_special(AnomalyKind.MISSING_DATA, t, self._last, self._gap_z(t))
        if ep is not None:
            return self._follow(ep, t, value, z)
        if self._is_stuck(t, value):
            return self._open_special(AnomalyKind.FLATLINE, t, self._run_start, s.z_open)
        sign = (z > 0) - (z < 0)
        if abs(z) >= s.z_open:
            self._pending = self._pending + 1 if sign == self._pending_sign else 1
            self._pending_sign = sign
        else:
            self._pending = 0
        spike = self._family is not MetricFamily.LATENCY and abs(z) >= s.z_spike
        # The slope test fires at a bucket close; it only counts while the value is above normal.
        trend = self.baseline.trend_alarm and z >= 1.0
        if not (spike or self._pending >= s.confirm_points or trend):
            return None
        kind = self._kind_at_onset(sign, trend)
        self._pending = 0
        self.baseline.trend_alarm = False
        # A climb caught by the slope test may still sit at a small z; the test itself (tau and
        # a rise of several spreads beyond normal growth) is the evidence, so it is not weak.
        conf = self._confidence(z) if not trend else max(self._confidence(z), 0.75)
        raw = self.baseline.raw_mad()
        ep = _Episode(
            kind, t, sign or 1, exp.baseline, exp.spread, raw, z, value, conf, exp.seasonal
        )
        ep.values.append((t, value))
        self._episode = ep
        return self._verdict(EpisodePhase.ONSET, ep, t, value, z)

    def _is_stuck(self, t: float, value: float) -> bool:
        # A long run of one value is only suspicious in a series that usually moves.
        s = self.settings
        return (
            value == self._last_value
            and self._run + 1 >= s.flat_points
            and t - self._run_start >= s.flat_min.total_seconds()
            and self._share_at_run < 0.5
        )

    def _kind_at_onset(self, sign: int, trend: bool) -> AnomalyKind:
        if self._family is MetricFamily.LATENCY and sign > 0:
            return AnomalyKind.LATENCY_DEGRADATION
        growing = self._family in (MetricFamily.MEMORY, MetricFamily.DISK)
        if growing and sign > 0 and (trend or self.baseline.rising(8, 0.6)):
            return AnomalyKind.SUSTAINED_RISE
        return AnomalyKind.SPIKE

    def _follow(self, ep: _Episode, t: float, value: float, z: float) -> AnomalyVerdict | None:
        s = self.settings
        ep.values.append((t, value))
        if z * ep.direction > ep.peak_z * ep.direction:  # the peak in the episode's direction
            ep.peak_z, ep.peak_value = z, value
        ep.highest = max(ep.highest, value)
        # Back near the level from before the episode is a recovery too, even when the
        # 24-hour baseline has meanwhile followed the incident (a leak that ran for hours).
        back = abs(value - ep.baseline) < s.z_close * ep.spread
        calm = abs(z) < s.z_close or back
        if ep.kind is AnomalyKind.SUSTAINED_RISE:
            # A climb is over when the value comes down, not when the baseline catches up.
            calm = value - ep.baseline < 0.25 * (ep.highest - ep.baseline)
        ep.quiet = ep.quiet + 1 if calm else 0
        if ep.quiet >= s.close_points:
            if back and abs(z) >= s.z_close:
                return self._shift_to(self._level_before(ep), t)
            return self._close(t)
        held = t - ep.started
        if ep.kind is not AnomalyKind.SUSTAINED_RISE and held >= s.shift_after.total_seconds():
            since = t - s.shift_after.total_seconds()
            recent = [v - self.baseline.offset_at(u) for (u, v) in ep.values if u >= since]
            new_level = median(recent)
            spread = max(MAD_TO_SIGMA * mad(recent), self.baseline.floor(new_level))
            stable = abs(mann_kendall_tau(recent[-16:])) < 0.6
            if len(recent) >= 5 and stable and abs(new_level - ep.baseline) >= 3 * spread:
                ep.kind = AnomalyKind.LEVEL_SHIFT
                return self._shift_to(new_level, t, self._level_before(ep))
        rising = (
            ep.kind is AnomalyKind.SUSTAINED_RISE
            and mann_kendall_tau([v for _, v in ep.values][-48:]) >= 0.3
        )
        if held >= s.max_episode.total_seconds() and not rising and not calm:
            since = t - s.shift_after.total_seconds()
            recent = [v - self.baseline.offset_at(u) for (u, v) in ep.values if u >= since]
            return self._shift_to(median(recent or [value]), t, self._level_before(ep))
        return None

    def _level_before(self, ep: _Episode) -> float:
        """The episode's baseline without its time-of-day offset."""
        return ep.baseline - self.baseline.offset_at(ep.started)

    def _shift_to(self, level: float, t: float, previous: float | None = None) -> AnomalyVerdict:
        until = t + self.settings.baseline_window.total_seconds()
        levels = [level] if previous is None else [level, previous]
        self._normals = [(x, until) for x in levels]
        return self._close(t, extra=(("rebaselined_to", level),))

    def _open_special(self, kind: AnomalyKind, t: float, since: float, z: float) -> AnomalyVerdict:
        conf = self._confidence(z)
        level = self.baseline.level
        base = level if not math.isnan(level) else self._last_value
        ep = _Episode(kind, since, 0, base, math.nan, math.nan, 0.0, self._last_value, conf, False)
        self._episode = ep
        self._pending = 0
        return self._verdict(EpisodePhase.ONSET, ep, t, self._last_value, 0.0)

    def _close(self, t: float, extra: tuple[tuple[str, float], ...] = ()) -> AnomalyVerdict:
        ep = self._episode
        assert ep is not None
        self._episode = None
        self._pending = 0
        self.baseline.trend_alarm = False  # raised before the end; the next bucket re-tests
        if ep.kind is AnomalyKind.SUSTAINED_RISE:
            # The baseline follows a long climb, so its peak is told against where it began.
            rise = (ep.highest - ep.baseline) / ep.spread
            return self._verdict(EpisodePhase.END, ep, t, ep.highest, rise, extra)
        return self._verdict(EpisodePhase.END, ep, t, ep.peak_value, ep.peak_z, extra)

    def _verdict(
        self,
        phase: EpisodePhase,
        ep: _Episode,
        t: float,
        value: float,
        z: float,
        extra: tuple[tuple[str, float], ...] = (),
    ) -> AnomalyVerdict:
        s = self.settings
        if ep.kind in (AnomalyKind.MISSING_DATA, AnomalyKind.FLATLINE):
            severity = Severity.WARNING
        else:
            severity = Severity.CRITICAL if abs(z) >= s.z_critical else Severity.WARNING
        detail = ""
        if ep.kind is AnomalyKind.MISSING_DATA:
            detail = f"no data since {_dt(ep.started).isoformat()}"
        elif ep.kind is AnomalyKind.FLATLINE:
            detail = f"value stuck at {ep.peak_value:g} since {_dt(ep.started).isoformat()}"
        window_s = s.baseline_window.total_seconds()
        history = 0.0 if self._first is None else min(t - self._first, window_s)
        return AnomalyVerdict(
            phase=phase,
            kind=ep.kind,
            ts=_dt(t),
            started_at=_dt(ep.started),
            value=value,
            baseline=ep.baseline,
            spread=ep.spread,
            mad=ep.raw_mad,
            deviation=z,
            confidence=ep.confidence,
            severity=severity,
            window=timedelta(seconds=history),
            seasonal=ep.seasonal,
            direction=ep.direction,
            detail=detail,
            extra=extra,
        )

    # ------------------------------------------------------------------ learning

    def _learn(self, t: float, value: float) -> None:
        if self._last is not None:
            self._steps.append(t - self._last)
            equal = value == self._last_value
            self._equal_share += (float(equal) - self._equal_share) / min(self._n + 1, 200)
            if equal:
                self._run += 1
            else:
                self._run, self._run_start, self._share_at_run = 1, t, self._equal_share
        else:
            self._first, self._run, self._run_start = t, 1, t
        self._n += 1
        self._last, self._last_value = t, value
        self.baseline.add(t, value)

    def _gap_threshold(self) -> float:
        s = self.settings
        expected = median(list(self._steps)) if self._steps else math.inf
        return max(s.gap_intervals * expected, s.min_gap.total_seconds())

    def _gap_z(self, t: float) -> float:
        assert self._last is not None
        return self.settings.z_open * (t - self._last) / self._gap_threshold()

    def _confidence(self, z: float) -> float:
        history = 0.0 if self._first is None or self._last is None else self._last - self._first
        support = 0.5 + 0.5 * min(1.0, history / self.settings.baseline_window.total_seconds())
        return confidence_from_z(z, midpoint=self.settings.z_open, steepness=1.2, support=support)
