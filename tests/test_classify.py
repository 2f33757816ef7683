"""Classification of observations into check results: errors, conditions, implicit rules, tiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nephos.errors import ConditionSyntaxError
from nephos.model import (
    CheckKind,
    DnsInfo,
    Health,
    HttpOptions,
    LatencyThresholds,
    Target,
    TlsInfo,
)
from nephos.probes.base import Observation
from nephos.probes.classify import classify, compile_conditions, implicit_conditions

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def http_target(*conditions: str, **changes: object) -> Target:
    values: dict[str, object] = {
        "name": "api",
        "kind": CheckKind.HTTP,
        "address": "https://api.example.com/health",
        "conditions": conditions,
        "provider": "aws",
        "region": "us-east-1",
    }
    values.update(changes)
    return Target(**values)  # type: ignore[arg-type]


def observed(ms: float = 120, **changes: object) -> Observation:
    values: dict[str, object] = {
        "response_time": timedelta(milliseconds=ms),
        "connected": True,
        "status": 200,
        "body": b'{"status": "UP"}',
        "ip": "192.0.2.10",
        "timings": {"dns": 2.0, "connect": 5.0, "ttfb": 80.0},
    }
    values.update(changes)
    return Observation(**values)  # type: ignore[arg-type]


def run(target: Target, obs: Observation):  # type: ignore[no-untyped-def]
    return classify(target, obs, compile_conditions(target), now=NOW)


# --------------------------------------------------------------------------- latency tiers


@pytest.mark.parametrize(
    ("ms", "health", "reason"),
    [
        (999, Health.HEALTHY, ""),
        (1000, Health.DEGRADED, "response took 1 s (degraded from 1 s)"),
        (1420, Health.DEGRADED, "response took 1.42 s (degraded from 1 s)"),
        (3000, Health.DEGRADED, "response took 3 s (degraded from 1 s)"),
        (3001, Health.UNHEALTHY, "response took 3.001 s (unhealthy above 3 s)"),
    ],
)
def test_latency_tiers_with_default_thresholds(ms: float, health: Health, reason: str) -> None:
    result = run(http_target("[STATUS] == 200"), observed(ms))
    assert result.health is health
    assert result.reason == reason
    assert result.success is True  # slowness alone fails no condition


@pytest.mark.parametrize(
    ("ms", "health", "reason"),
    [
        (249, Health.HEALTHY, ""),
        (250, Health.DEGRADED, "response took 250 ms (degraded from 250 ms)"),
        (800, Health.DEGRADED, "response took 800 ms (degraded from 250 ms)"),
        (801, Health.UNHEALTHY, "response took 801 ms (unhealthy above 800 ms)"),
    ],
)
def test_latency_tiers_with_custom_thresholds(ms: float, health: Health, reason: str) -> None:
    latency = LatencyThresholds(
        degraded=timedelta(milliseconds=250), unhealthy=timedelta(milliseconds=800)
    )
    result = run(http_target(latency=latency), observed(ms))
    assert result.health is health
    assert result.reason == reason


# --------------------------------------------------------------------------- conditions and errors


def test_a_failed_condition_makes_the_result_unhealthy_and_is_named_in_words() -> None:
    target = http_target("[STATUS] == 200", "[BODY].status == UP")
    result = run(target, observed(status=503, body=b'{"status": "DOWN"}'))
    assert result.health is Health.UNHEALTHY
    assert result.success is False
    assert result.reason == (
        '[STATUS] was 503, expected == 200; [BODY].status was "DOWN", expected == UP'
    )
    assert [c.passed for c in result.conditions] == [False, False]


def test_a_failed_condition_outranks_a_fast_response() -> None:
    result = run(http_target("[BODY].status == UP"), observed(5, body=b"not json"))
    assert result.health is Health.UNHEALTHY
    assert result.reason == "[BODY].status is missing (the body is not JSON)"


def test_many_failed_conditions_are_summarised() -> None:
    target = http_target(*(f"[BODY].k{i} == 1" for i in range(5)))
    result = run(target, observed())
    assert result.reason.endswith("; and 2 more")
    assert result.reason.count("is missing") == 3


def test_an_error_makes_the_result_unhealthy_with_the_error_as_reason() -> None:
    obs = observed(status=None, body=b"", connected=False, error="connection refused")
    result = run(http_target("[STATUS] == 200"), obs)
    assert result.health is Health.UNHEALTHY
    assert result.success is False
    assert result.reason == "connection refused"
    assert result.error == "connection refused"
    assert result.conditions[0].description == "[STATUS] is missing (no HTTP response)"


def test_an_error_fails_the_check_even_when_every_condition_passes() -> None:
    obs = observed(status=None, connected=False, error="connection refused")
    result = run(http_target("[CONNECTED] == false"), obs)
    assert result.conditions[0].passed is True
    assert result.success is False
    assert result.health is Health.UNHEALTHY


# --------------------------------------------------------------------------- implicit status rules


def test_expected_status_is_checked_when_no_condition_reads_status() -> None:
    target = http_target(http=HttpOptions(expected_status=(200, 204)))
    result = run(target, observed(status=302))
    assert result.health is Health.UNHEALTHY
    assert result.reason == "[STATUS] was 302, expected == any(200, 204)"
    assert run(target, observed(status=204)).success is True


def test_a_single_expected_status_reads_as_an_equality() -> None:
    target = http_target(http=HttpOptions(expected_status=(201,)))
    assert run(target, observed(status=200)).reason == "[STATUS] was 200, expected == 201"


def test_a_status_condition_replaces_the_expected_status() -> None:
    target = http_target("[STATUS] == 503", http=HttpOptions(expected_status=(200,)))
    result = run(target, observed(status=503))
    assert result.success is True
    assert [c.condition for c in result.conditions] == ["[STATUS] == 503"]


def test_without_status_rules_an_http_error_status_is_unhealthy() -> None:
    result = run(http_target(), observed(status=500))
    assert result.health is Health.UNHEALTHY
    assert result.success is False
    assert result.reason == (
        "[STATUS] was 500, expected < 400 (4xx and 5xx fail when no condition checks [STATUS])"
    )


def test_without_status_rules_a_redirect_status_is_healthy() -> None:
    assert run(http_target(), observed(status=301)).health is Health.HEALTHY


def test_a_function_of_status_also_counts_as_reading_status() -> None:
    result = run(http_target("has([STATUS]) == true"), observed(status=500))
    assert result.success is True


# --------------------------------------------------------------------------- other kinds


def test_only_http_targets_have_an_implicit_status_rule() -> None:
    for kind, address in ((CheckKind.TLS, "h:443"), (CheckKind.DNS, "h"), (CheckKind.TCP, "h:25")):
        target = Target(name="t", kind=kind, address=address)
        assert implicit_conditions(target, ()) == ()


def test_a_dns_error_from_the_probe_makes_the_result_unhealthy() -> None:
    target = Target(name="dns", kind=CheckKind.DNS, address="example.com")
    obs = Observation(
        response_time=timedelta(milliseconds=9),
        dns=DnsInfo(record_type="A", rcode="NXDOMAIN"),
        error="rcode NXDOMAIN, expected NOERROR",
    )
    result = run(target, obs)
    assert result.health is Health.UNHEALTHY
    assert result.reason == "rcode NXDOMAIN, expected NOERROR"
    assert result.conditions == ()


# --------------------------------------------------------------------------- copied fields


def test_the_result_carries_the_observation_and_target_details() -> None:
    tls = TlsInfo(leaf_not_after=NOW + timedelta(days=40), version="TLSv1.3")
    dns = DnsInfo(record_type="A", rcode="NOERROR", answers=("192.0.2.10",))
    result = run(http_target(), observed(1234.5, tls=tls, dns=dns))
    assert result.target == "api"
    assert result.kind is CheckKind.HTTP
    assert result.ts == NOW
    assert result.provider == "aws"
    assert result.region == "us-east-1"
    assert result.status_code == 200
    assert result.ip == "192.0.2.10"
    assert result.latency_ms == pytest.approx(1234.5)
    assert result.timings == {"dns": 2.0, "connect": 5.0, "ttfb": 80.0, "total": 1234.5}
    assert result.tls is tls
    assert result.dns is dns
    assert result.error is None


def test_certificate_conditions_are_dated_by_the_injected_now() -> None:
    tls = TlsInfo(leaf_not_after=NOW + timedelta(days=10))
    target = http_target("[CERTIFICATE_EXPIRATION] > 7d")
    later = NOW + timedelta(days=4)
    assert classify(target, observed(tls=tls), compile_conditions(target), now=NOW).success
    assert not classify(target, observed(tls=tls), compile_conditions(target), now=later).success


def test_compiled_conditions_are_reused_for_the_same_texts() -> None:
    first = compile_conditions(http_target("[STATUS] == 200"))
    second = compile_conditions(http_target("[STATUS] == 200", name="other"))
    assert first is second


def test_compile_conditions_raises_for_a_malformed_condition() -> None:
    with pytest.raises(ConditionSyntaxError):
        compile_conditions(http_target("[STAUTS] == 200"))
