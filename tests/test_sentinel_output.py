"""The live output's vocabulary: glyph and word per state, latency, one line, the summary."""

from __future__ import annotations

from datetime import UTC, datetime

from nephos.model import CheckKind, CheckResult, Health
from nephos.sentinel.events import CheckEvent
from nephos.sentinel.output import FleetTally, format_latency, one_line, state_label

TS = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _result(name: str, health: Health, offline: bool = False) -> CheckResult:
    return CheckResult(
        target=name,
        kind=CheckKind.HTTP,
        ts=TS,
        health=health,
        latency_ms=12.0,
        success=health is Health.HEALTHY,
        sentinel_offline=offline,
    )


def test_every_state_has_a_glyph_and_a_word() -> None:
    assert str(state_label(Health.HEALTHY)) == "● ok"
    assert str(state_label(Health.DEGRADED)) == "▲ degraded"
    assert str(state_label(Health.UNHEALTHY)) == "✕ down"
    assert str(state_label(Health.UNHEALTHY, offline=True)) == "○ offline"


def test_latency_reads_in_ms_below_a_second_and_in_seconds_above() -> None:
    assert format_latency(87.4) == "87 ms"
    assert format_latency(1420) == "1.42 s"


def test_text_from_a_monitored_system_stays_on_one_bounded_line() -> None:
    assert one_line("bad\nGateway\r\n  now") == "bad Gateway now"
    assert len(one_line("x" * 500, 40)) == 40


def test_the_summary_counts_targets_by_their_newest_state() -> None:
    tally = FleetTally()
    for event in (
        CheckEvent(_result("a", Health.UNHEALTHY)),
        CheckEvent(_result("a", Health.HEALTHY), Health.UNHEALTHY),
        CheckEvent(_result("b", Health.DEGRADED)),
        CheckEvent(_result("c", Health.UNHEALTHY, offline=True)),
    ):
        tally.add(event)
    assert tally.summary() == (
        "3 targets: 1 ● ok, 1 ▲ degraded, 1 ○ offline · 4 checks · 0 alerts open"
    )
