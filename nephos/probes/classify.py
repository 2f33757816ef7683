"""Classification: one Observation, a target's conditions and its latency tiers make a CheckResult.

Probes report what they saw without judging; this module judges. The order of judgement is:
the check errored (unhealthy), a condition failed (unhealthy), otherwise the latency tier.
Besides the configured conditions, an HTTP target's status is checked against its
``expected_status`` (or must be below 400) unless a configured condition reads ``[STATUS]``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime, timedelta

from nephos.model import CheckKind, CheckResult, ConditionResult, Health, Target
from nephos.probes.base import Observation
from nephos.probes.condition_values import ObservedValues
from nephos.probes.conditions import Condition, Placeholder, parse_condition

__all__ = ["classify", "compile_conditions", "implicit_conditions"]

_MAX_REASONS = 3  # failed conditions named in a reason; the rest are counted
_STATUS_NOTE = "4xx and 5xx fail when no condition checks [STATUS]"


def compile_conditions(target: Target) -> tuple[Condition, ...]:
    """The parsed conditions of ``target``, cached by their text.

    Raises:
        ConditionSyntaxError: a condition does not parse (the config loader rejects these
            first, so the sentinel does not meet it).
    """
    return _compile(tuple(target.conditions))


# Targets hold mappings and are not hashable; their condition texts are, and thousands of
# checks a minute share a few distinct sets of them.
@functools.lru_cache(maxsize=4096)
def _compile(texts: tuple[str, ...]) -> tuple[Condition, ...]:
    return tuple(parse_condition(text) for text in texts)


def implicit_conditions(target: Target, conditions: Sequence[Condition]) -> tuple[Condition, ...]:
    """The conditions that ``target``'s options imply, beyond the configured ``conditions``.

    For HTTP, unless a configured condition reads ``[STATUS]``: ``[STATUS] == any(...)``
    with the target's ``expected_status``, or ``[STATUS] < 400`` when it has none. The DNS
    rcode and answers and the TCP ``expect`` regex are judged by their probes, which know how
    to normalise records, and arrive here as ``Observation.error``.
    """
    if target.kind is not CheckKind.HTTP or any(
        c.placeholder is Placeholder.STATUS for c in conditions
    ):
        return ()
    return _status_rule(tuple(target.http.expected_status))


@functools.lru_cache(maxsize=256)
def _status_rule(expected: tuple[int, ...]) -> tuple[Condition, ...]:
    if not expected:
        return (parse_condition("[STATUS] < 400"),)
    if len(expected) == 1:
        return (parse_condition(f"[STATUS] == {expected[0]}"),)
    return (parse_condition(f"[STATUS] == any({', '.join(map(str, expected))})"),)


def classify(
    target: Target, obs: Observation, conditions: Sequence[Condition], *, now: datetime
) -> CheckResult:
    """Judge one observation of ``target``.

    An error makes the result unhealthy with the error as its reason; so does any failed
    condition, configured or implied by the target (see :func:`implicit_conditions`), and the
    reason names the failures in words. Otherwise the health is the latency tier of
    ``obs.response_time``. ``success`` is true when there was no error and every condition
    passed. Never raises.
    """
    observed = ObservedValues(obs, now)  # the body is decoded and parsed once for all
    results = tuple(c.evaluate_in(observed) for c in conditions)
    results += _implicit_results(target, observed, conditions)
    failed = [r for r in results if not r.passed]
    if obs.error:
        health, reason = Health.UNHEALTHY, obs.error
    elif failed:
        health, reason = Health.UNHEALTHY, _failure_reason(failed)
    else:
        health = target.latency.classify(obs.response_time)
        reason = _latency_reason(health, obs.response_time, target)
    latency_ms = obs.response_time.total_seconds() * 1000
    timings = dict(obs.timings)
    timings.setdefault("total", latency_ms)
    return CheckResult(
        target=target.name,
        kind=target.kind,
        ts=now,
        health=health,
        latency_ms=latency_ms,
        success=not obs.error and not failed,
        provider=target.provider,
        region=target.region,
        instance=target.instance,
        status_code=obs.status,
        ip=obs.ip,
        error=obs.error,
        reason=reason,
        conditions=results,
        timings=timings,
        tls=obs.tls,
        dns=obs.dns,
    )


def _implicit_results(
    target: Target, observed: ObservedValues, conditions: Sequence[Condition]
) -> tuple[ConditionResult, ...]:
    implicit = implicit_conditions(target, conditions)
    return tuple(_explain_status_rule(c.evaluate_in(observed)) for c in implicit)


def _explain_status_rule(result: ConditionResult) -> ConditionResult:
    if result.condition == "[STATUS] < 400" and not result.passed:
        return dataclasses.replace(result, description=f"{result.description} ({_STATUS_NOTE})")
    return result


def _failure_reason(failed: list[ConditionResult]) -> str:
    named = "; ".join(r.description or f"{r.condition} failed" for r in failed[:_MAX_REASONS])
    more = len(failed) - _MAX_REASONS
    return named + (f"; and {more} more" if more > 0 else "")


def _latency_reason(health: Health, took: timedelta, target: Target) -> str:
    if health is Health.DEGRADED:
        return (
            f"response took {_duration(took)} (degraded from {_duration(target.latency.degraded)})"
        )
    if health is Health.UNHEALTHY:
        limit = _duration(target.latency.unhealthy)
        return f"response took {_duration(took)} (unhealthy above {limit})"
    return ""


def _duration(value: timedelta) -> str:
    """``850 ms``, ``1 s``, ``1.42 s``, ``3.001 s``."""
    ms = value.total_seconds() * 1000
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + " s"
