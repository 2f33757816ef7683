"""The self-connectivity guard: canaries and "everything fails at once" mark results offline."""

from __future__ import annotations

from datetime import timedelta

from nephos.clock import ManualClock
from nephos.model import CheckKind, CheckResult, Health, Target
from nephos.sentinel.guard import ConnectivityGuard


def _result(clock: ManualClock, name: str, ok: bool) -> CheckResult:
    return CheckResult(
        target=name,
        kind=CheckKind.HTTP,
        ts=clock.now(),
        health=Health.HEALTHY if ok else Health.UNHEALTHY,
        latency_ms=5.0,
        success=ok,
        error=None if ok else "connection refused",
        reason="" if ok else "connection refused",
    )


def test_a_failing_canary_marks_failing_results_offline_until_it_recovers() -> None:
    clock = ManualClock()
    targets = [
        Target(name="gw", kind=CheckKind.TCP, address="10.0.0.1:53", canary=True),
        Target(name="api", kind=CheckKind.HTTP, address="http://api/"),
    ]
    guard = ConnectivityGuard.for_targets(targets, clock=clock, all_fail=False)
    assert not guard.judge(_result(clock, "api", False)).sentinel_offline
    canary = guard.judge(_result(clock, "gw", False))
    assert canary.sentinel_offline
    marked = guard.judge(_result(clock, "api", False))
    assert marked.sentinel_offline
    assert marked.reason.startswith("sentinel offline: canary 'gw' is failing")
    assert marked.reason.endswith("; connection refused")
    assert not guard.judge(_result(clock, "api", True)).sentinel_offline
    guard.judge(_result(clock, "gw", True))
    assert not guard.judge(_result(clock, "api", False)).sentinel_offline


def test_every_recent_target_failing_at_once_means_offline() -> None:
    clock = ManualClock()
    guard = ConnectivityGuard(clock=clock, all_fail=True, window=timedelta(seconds=60))
    for name in ("a", "b", "c"):
        guard.judge(_result(clock, name, True))
    clock.advance(10)
    assert not guard.judge(_result(clock, "a", False)).sentinel_offline
    assert not guard.judge(_result(clock, "b", False)).sentinel_offline
    last = guard.judge(_result(clock, "c", False))
    assert last.sentinel_offline
    assert last.reason.startswith("sentinel offline: all 3 targets checked in the last minute")
    assert guard.judge(_result(clock, "a", False)).sentinel_offline


def test_fewer_than_three_recent_targets_never_count_as_offline() -> None:
    clock = ManualClock()
    guard = ConnectivityGuard(clock=clock, all_fail=True)
    assert not guard.judge(_result(clock, "a", False)).sentinel_offline
    assert not guard.judge(_result(clock, "b", False)).sentinel_offline


def test_results_older_than_the_window_do_not_keep_the_sentinel_offline() -> None:
    clock = ManualClock()
    guard = ConnectivityGuard(clock=clock, all_fail=True, window=timedelta(seconds=30))
    for name in ("a", "b", "c"):
        guard.judge(_result(clock, name, False))
    assert guard.offline_reason is not None
    clock.advance(31)
    assert guard.offline_reason is None
    for name in ("d", "e"):
        guard.judge(_result(clock, name, True))
    assert not guard.judge(_result(clock, "a", False)).sentinel_offline


def test_the_all_fail_rule_can_be_switched_off() -> None:
    clock = ManualClock()
    guard = ConnectivityGuard(clock=clock, all_fail=False)
    results = [guard.judge(_result(clock, name, False)) for name in "abcdef"]
    assert not any(r.sentinel_offline for r in results)


def test_a_reload_that_removes_the_canary_clears_its_failure() -> None:
    clock = ManualClock()
    gw = Target(name="gw", kind=CheckKind.TCP, address="10.0.0.1:53", canary=True)
    api = Target(name="api", kind=CheckKind.HTTP, address="http://api/")
    guard = ConnectivityGuard.for_targets([gw, api], clock=clock, all_fail=False)
    guard.judge(_result(clock, "gw", False))
    guard.configure([api], all_fail=False)
    assert guard.offline_reason is None
