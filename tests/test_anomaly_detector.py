"""The online anomaly detector: each failure of the literal 3-sigma rule, and each kind."""

from __future__ import annotations

import copy
import itertools
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from nephos.analytics.anomaly import (
    AnomalyKind,
    AnomalyVerdict,
    DetectorSettings,
    EpisodePhase,
    SeriesKey,
)
from nephos.analytics.anomaly_detector import OnlineDetector
from nephos.analytics.anomaly_eval import LabelledSeries, three_sigma_alerts
from nephos.analytics.anomaly_stats import confidence_from_z

START = datetime(2026, 1, 5, tzinfo=UTC)
CPU = SeriesKey("vm-1", "cpu_utilization", "percent")
MEM = SeriesKey("vm-1", "mem_used_percent", "percent")
LATENCY = SeriesKey("api", "response_time", "ms")

Points = list[tuple[datetime, float]]


def series(days: float, step_minutes: float, value: object) -> Points:
    """Points every ``step_minutes`` for ``days``; ``value(i, hour_of_day)`` gives each value."""
    n = int(days * 24 * 60 / step_minutes)
    out = []
    for i in range(n):
        ts = START + timedelta(minutes=i * step_minutes)
        out.append((ts, value(i, ts.hour + ts.minute / 60)))  # type: ignore[operator]
    return out


def run(key: SeriesKey, points: Points) -> list[AnomalyVerdict]:
    detector = OnlineDetector(key)
    return [v for ts, x in points if (v := detector.update(ts, x)) is not None]


def onsets(verdicts: list[AnomalyVerdict]) -> list[AnomalyVerdict]:
    return [v for v in verdicts if v.phase is EpisodePhase.ONSET]


def three_sigma(key: SeriesKey, points: Points) -> int:
    labelled = LabelledSeries(
        key, tuple(t for t, _ in points), tuple(v for _, v in points), (0,) * len(points)
    )
    return len(three_sigma_alerts(labelled))


def test_idle_quantised_cpu_raises_nothing_where_3_sigma_fires() -> None:
    rng = random.Random(1)
    ticks = [0] * 90 + [1] * 8 + [3, 4]  # an idle VM: mostly 0 %, now and then a tick

    points = series(4, 1, lambda i, h: float(rng.choice(ticks)))
    assert run(CPU, points) == []
    assert three_sigma(CPU, points) > 20  # the original rule drowns in this series


def test_a_daily_batch_peak_is_learned_and_stops_alerting() -> None:
    rng = random.Random(2)

    def cpu(i: int, hour: float) -> float:
        return (70.0 if 2 <= hour < 2.5 else 10.0) + rng.gauss(0, 1.0)

    verdicts = run(CPU, series(6, 5, cpu))
    late = [v for v in onsets(verdicts) if v.ts >= START + timedelta(days=3)]
    assert late == []


@pytest.mark.parametrize("start_minute", [5, 10, 20])
def test_a_daily_job_off_the_bucket_grid_is_learned_too(start_minute: int) -> None:
    rng = random.Random(start_minute)
    begin = 2 + start_minute / 60

    def cpu(i: int, hour: float) -> float:
        return (66.0 if begin <= hour < begin + 0.5 else 12.0) + rng.gauss(0, 1.0)

    verdicts = run(CPU, series(6, 5, cpu))
    assert [v for v in onsets(verdicts) if v.ts >= START + timedelta(days=3)] == []


def test_a_level_shift_fires_once_then_adapts() -> None:
    rng = random.Random(3)
    shift_at = 2 * 24 * 60

    def mem(i: int, hour: float) -> float:
        return (46.0 if i >= shift_at else 30.0) + rng.gauss(0, 0.4)

    verdicts = run(MEM, series(4, 1, mem))
    assert len(onsets(verdicts)) == 1
    assert onsets(verdicts)[0].ts == START + timedelta(minutes=shift_at)
    ends = [v for v in verdicts if v.phase is EpisodePhase.END]
    assert [e.kind for e in ends] == [AnomalyKind.LEVEL_SHIFT]
    assert ends[0].ts - onsets(verdicts)[0].ts <= timedelta(hours=1, minutes=5)


def test_an_incident_yields_one_alert_and_one_end() -> None:
    rng = random.Random(4)
    incident = range(2 * 288 + 100, 2 * 288 + 106)  # 30 minutes of five-minute points

    def cpu(i: int, hour: float) -> float:
        return 92.0 + rng.gauss(0, 2) if i in incident else 20.0 + rng.gauss(0, 2)

    verdicts = run(CPU, series(3, 5, cpu))
    assert [v.phase for v in verdicts] == [EpisodePhase.ONSET, EpisodePhase.END]
    onset = verdicts[0]
    assert onset.kind is AnomalyKind.SPIKE
    assert onset.ts == START + timedelta(minutes=5 * incident.start)
    assert onset.deviation > 10 and 0.9 <= onset.confidence <= 1.0


def test_a_memory_leak_is_a_sustained_rise_alerted_once() -> None:
    rng = random.Random(5)
    leak_at = 2 * 288

    def mem(i: int, hour: float) -> float:
        leak = max(0, i - leak_at) * 1.2 / 12  # 1.2 points per hour
        return 40.0 + leak + rng.gauss(0, 0.3)

    verdicts = run(MEM, series(3.5, 5, mem))
    assert len(onsets(verdicts)) == 1
    first = onsets(verdicts)[0]
    assert first.kind is AnomalyKind.SUSTAINED_RISE
    assert first.ts - (START + timedelta(minutes=5 * leak_at)) < timedelta(hours=6)


def test_a_leak_ends_when_memory_comes_down_with_no_alert_for_the_drop() -> None:
    rng = random.Random(14)
    leak_at, restart = 2 * 288, 2 * 288 + 12 * 30  # 30 hours of leaking, then a restart

    def mem(i: int, hour: float) -> float:
        leak = (i - leak_at) * 1.2 / 12 if leak_at <= i < restart else 0.0
        return 40.0 + leak + rng.gauss(0, 0.3)

    verdicts = run(MEM, series(5, 5, mem))
    assert [(v.phase, v.kind) for v in verdicts] == [
        (EpisodePhase.ONSET, AnomalyKind.SUSTAINED_RISE),
        (EpisodePhase.END, AnomalyKind.SUSTAINED_RISE),
    ]
    end = verdicts[1]
    assert end.ts - (START + timedelta(minutes=5 * restart)) <= timedelta(minutes=15)
    assert end.value > 70 and end.deviation > 15  # the top of the climb, against its start


def test_latency_ignores_lone_slow_requests_but_not_a_degradation() -> None:
    rng = random.Random(6)
    bad = range(2 * 288 + 50, 2 * 288 + 59)

    def latency(i: int, hour: float) -> float:
        v = 120.0 * math.exp(rng.gauss(0, 0.1))
        if i % 97 == 0:
            v *= 5  # a lone slow request
        return v * 3.5 if i in bad else v

    verdicts = onsets(run(LATENCY, series(3, 5, latency)))
    assert [v.kind for v in verdicts] == [AnomalyKind.LATENCY_DEGRADATION]
    assert verdicts[0].ts in [START + timedelta(minutes=5 * i) for i in bad]


def test_a_stuck_value_is_a_flatline_and_ends_when_it_moves() -> None:
    rng = random.Random(7)
    stuck = range(2 * 288, 2 * 288 + 30)

    def cpu(i: int, hour: float) -> float:
        return 33.3 if i in stuck else round(30 + rng.gauss(0, 3), 1)

    verdicts = run(CPU, series(3, 5, cpu))
    assert [(v.phase, v.kind) for v in verdicts] == [
        (EpisodePhase.ONSET, AnomalyKind.FLATLINE),
        (EpisodePhase.END, AnomalyKind.FLATLINE),
    ]
    assert verdicts[1].ts == START + timedelta(minutes=5 * stuck.stop)


def test_a_gap_is_missing_data_when_the_points_resume() -> None:
    rng = random.Random(8)
    points = [
        p
        for i, p in enumerate(series(3, 5, lambda i, h: 30 + rng.gauss(0, 2)))
        if not (600 <= i < 630)
    ]
    verdicts = run(CPU, points)
    assert [(v.phase, v.kind) for v in verdicts] == [
        (EpisodePhase.ONSET, AnomalyKind.MISSING_DATA),
        (EpisodePhase.END, AnomalyKind.MISSING_DATA),
    ]
    assert verdicts[0].started_at == START + timedelta(minutes=5 * 599)


def test_a_gap_during_an_episode_ends_it_so_no_alert_is_left_open() -> None:
    rng = random.Random(13)
    points = series(3, 5, lambda i, h: 95.0 if i >= 700 else 30 + rng.gauss(0, 2))
    points = points[:710] + [(t + timedelta(hours=3), v) for t, v in points[710:760]]
    verdicts = run(CPU, points)
    assert [v.phase for v in verdicts][:2] == [EpisodePhase.ONSET, EpisodePhase.END]
    assert verdicts[1].ts == points[710][0]
    assert all(a.phase != b.phase for a, b in itertools.pairwise(verdicts))


def test_check_silence_opens_missing_data_and_the_next_point_ends_it() -> None:
    rng = random.Random(9)
    detector = OnlineDetector(CPU)
    points = series(1.5, 5, lambda i, h: 30 + rng.gauss(0, 2))
    for ts, x in points:
        detector.update(ts, x)
    last = points[-1][0]
    assert detector.check_silence(last + timedelta(minutes=15)) is None
    opened = detector.check_silence(last + timedelta(hours=1))
    assert opened is not None and opened.kind is AnomalyKind.MISSING_DATA
    assert detector.check_silence(last + timedelta(hours=2)) is None  # already open
    closed = detector.update(last + timedelta(hours=2), 30.0)
    assert closed is not None and closed.phase is EpisodePhase.END


def test_irregular_timestamps_raise_no_false_alarm_and_still_catch_a_spike() -> None:
    rng = random.Random(10)
    points: Points = []
    ts = START
    while ts < START + timedelta(days=3):
        points.append((ts, 25 + rng.gauss(0, 2)))
        ts += timedelta(seconds=rng.uniform(20, 400))
    spike_at = len(points) - 50
    points[spike_at] = (points[spike_at][0], 97.0)
    verdicts = onsets(run(CPU, points))
    assert [v.ts for v in verdicts] == [points[spike_at][0]]


@pytest.mark.parametrize("support", [0.5, 0.8, 1.0])
def test_confidence_is_within_0_and_1_and_monotone_in_the_deviation(support: float) -> None:
    scores = [
        confidence_from_z(z / 4, midpoint=4, steepness=1.2, support=support) for z in range(0, 200)
    ]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores)


def test_a_point_further_from_normal_scores_at_least_as_high() -> None:
    rng = random.Random(11)
    detector = OnlineDetector(CPU)
    for ts, x in series(2, 5, lambda i, h: 40 + rng.gauss(0, 2)):
        detector.update(ts, x)
    at = START + timedelta(days=2)
    scores = [copy.deepcopy(detector).step(at, 40 + d).score for d in range(0, 60, 2)]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores)
    assert scores[0] < 0.1 < 0.9 < scores[-1]


def test_appending_future_points_never_changes_past_scores() -> None:
    rng = random.Random(12)
    points = series(2.5, 5, lambda i, h: 30 + 10 * math.sin(h / 24 * 2 * math.pi) + rng.gauss(0, 2))
    points[500] = (points[500][0], 99.0)

    def scores(upto: int) -> list[float]:
        detector = OnlineDetector(CPU)
        return [detector.step(ts, x).score for ts, x in points[:upto]]

    full = scores(len(points))
    for cut in (100, 501, 650):
        assert scores(cut) == full[:cut]


def test_points_out_of_order_or_not_finite_are_ignored() -> None:
    detector = OnlineDetector(CPU, DetectorSettings(min_points=2))
    detector.update(START, 1.0)
    before = copy.deepcopy(detector.baseline.recent)
    assert detector.step(START, 50.0).score == 0.0
    assert detector.step(START + timedelta(minutes=1), math.nan).score == 0.0
    assert detector.baseline.recent == before
