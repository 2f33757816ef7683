"""Anomaly verdicts become alerts (source ``anomaly``) carrying their evidence; the bank."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from nephos.analytics.anomaly import AnomalyKind, EpisodePhase, SeriesKey
from nephos.analytics.anomaly_bank import (
    DetectorBank,
    anomaly_dedup_key,
    anomaly_to_alert,
    resolve_anomaly_alert,
)
from nephos.clock import ManualClock
from nephos.model import Alert, AlertSource, AlertState, MetricPoint, Severity, from_dict, to_dict

START = datetime(2026, 1, 5, tzinfo=UTC)


def feed(bank: DetectorBank, instance: str, spike_at: int | None, n: int = 2 * 288 + 40) -> list:
    rng = random.Random(sum(map(ord, instance)))
    verdicts = []
    for i in range(n):
        value = (
            95.0 if spike_at is not None and spike_at <= i < spike_at + 4 else 20 + rng.gauss(0, 2)
        )
        point = MetricPoint(
            instance, "cpu_utilization", "percent", START + timedelta(minutes=5 * i), value, "aws"
        )
        verdict = bank.observe(point)
        if verdict is not None:
            verdicts.append(verdict)
    return verdicts


def test_the_bank_keeps_one_detector_per_series() -> None:
    bank = DetectorBank()
    quiet = feed(bank, "vm-quiet", None)
    loud = feed(bank, "vm-loud", 2 * 288 + 10)
    assert quiet == []
    assert [v.phase for v in loud] == [EpisodePhase.ONSET, EpisodePhase.END]
    assert len(bank) == 2


def test_an_onset_becomes_a_firing_anomaly_alert_with_its_evidence() -> None:
    bank = DetectorBank()
    onset = feed(bank, "vm-1", 2 * 288 + 10)[0]
    series = SeriesKey("vm-1", "cpu_utilization", "percent", "aws")
    clock = ManualClock(START + timedelta(days=3))
    alert = anomaly_to_alert(onset, series, clock=clock, rng=random.Random(1))
    assert alert.source is AlertSource.ANOMALY
    assert alert.state is AlertState.FIRING
    assert alert.dedup_key == anomaly_dedup_key(series)
    assert alert.target == "vm-1" and alert.provider == "aws"
    assert alert.severity is Severity.CRITICAL  # 75 points above a 2-point spread
    assert alert.started_at == onset.ts and alert.updated_at == clock.now()
    facts = alert.facts
    assert facts["kind"] == AnomalyKind.SPIKE.value
    assert facts["observed"] == 95.0
    assert 18 < facts["baseline"]["median"] < 22
    assert facts["baseline"]["spread"] >= 1.5  # the percent floor
    assert facts["deviation"] > 12
    assert 0.0 <= facts["confidence"] <= 1.0
    assert facts["window_seconds"] == 24 * 3600
    assert "expected about" in alert.message
    # Facts survive the store's JSON round trip.
    assert from_dict(Alert, to_dict(alert)).facts == to_dict(alert)["facts"]


def test_an_end_verdict_resolves_the_alert() -> None:
    bank = DetectorBank()
    onset, end = feed(bank, "vm-1", 2 * 288 + 10)
    series = SeriesKey("vm-1", "cpu_utilization", "percent", "aws")
    clock = ManualClock(START + timedelta(days=3))
    alert = anomaly_to_alert(onset, series, clock=clock, rng=random.Random(1))
    done = resolve_anomaly_alert(alert, end, clock=clock)
    assert done.state is AlertState.RESOLVED
    assert done.resolved_at == end.ts
    assert done.facts["end"]["phase"] == "end"
    assert done.id == alert.id


def test_check_silence_reports_each_silent_series_once() -> None:
    bank = DetectorBank()
    feed(bank, "vm-1", None, n=300)
    feed(bank, "vm-2", None, n=300)
    later = START + timedelta(minutes=5 * 300 + 60)
    found = bank.check_silence(later)
    assert sorted(s.instance for s, _ in found) == ["vm-1", "vm-2"]
    assert all(v.kind is AnomalyKind.MISSING_DATA for _, v in found)
    assert bank.check_silence(later + timedelta(minutes=5)) == []


def test_the_bank_forgets_the_least_recently_fed_series_beyond_its_bound() -> None:
    bank = DetectorBank(max_series=2)
    for name in ("a", "b", "a", "c"):
        bank.observe(MetricPoint(name, "cpu", "percent", START, 1.0))
    assert len(bank) == 2
    assert {s.instance for s, _ in bank.check_silence(START)} == set()  # no history yet


def test_warm_replays_history_without_verdicts() -> None:
    bank = DetectorBank()
    points = [
        MetricPoint(
            "vm-1",
            "cpu",
            "percent",
            START + timedelta(minutes=5 * i),
            95.0 if i == 400 else 20.0 + (i % 3),
        )
        for i in range(500)
    ]
    assert bank.warm(points) == 500
    assert bank.detector(SeriesKey("vm-1", "cpu", "percent")).baseline.history > 0
