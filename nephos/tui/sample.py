"""A deterministic sample fleet for the TUI's tests, snapshots and load benchmark.

Like the stream's MockTransport it ships in the package, so that tests, ``bench/tui_load.py``
and a developer's screenshots draw the same fleet. Everything derives from ``now`` and a seed;
nothing reads the real clock. No Textual here.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    Health,
    Instance,
    InstanceState,
    MetricPoint,
    Severity,
)
from nephos.stream.protocol import Snapshot

__all__ = [
    "sample_alert",
    "sample_instance",
    "sample_instances",
    "sample_metric",
    "sample_result",
    "sample_snapshot",
]

_PROVIDERS = (
    ("aws", ("us-east-1", "eu-west-1")),
    ("vultr", ("ams", "nrt")),
    ("gcp", ("us-central1",)),
    ("azure", ("westeurope",)),
    ("other", (None,)),
)
_REASONS = {
    Health.HEALTHY: "",
    Health.DEGRADED: "[RESPONSE_TIME] was 1240, expected < 1000",
    Health.UNHEALTHY: "[STATUS] was 503, expected == 200",
    Health.UNKNOWN: "",
}


def sample_result(
    target: str,
    ts: datetime,
    *,
    health: Health = Health.HEALTHY,
    latency_ms: float = 42.0,
    provider: str = "aws",
    region: str | None = "us-east-1",
    flapping: bool = False,
    instance: str | None = None,
) -> CheckResult:
    """One HTTP check result with the reason its health implies."""
    return CheckResult(
        target=target,
        kind=CheckKind.HTTP,
        ts=ts,
        health=health,
        latency_ms=latency_ms,
        success=health is Health.HEALTHY,
        provider=provider,
        region=region,
        status_code=503 if health is Health.UNHEALTHY else 200,
        reason=_REASONS[health],
        flapping=flapping,
        instance=instance,
    )


_SIZES = {"aws": "t3.medium", "vultr": "vc2-2c-4gb", "gcp": "e2-standard-2", "azure": "B2s"}
_SIGNALS = {"aws": "ok", "vultr": "ok", "gcp": None, "azure": "PowerState/running"}


def sample_instance(
    name: str,
    *,
    provider: str = "aws",
    instance_id: str | None = None,
    state: InstanceState = InstanceState.RUNNING,
    region: str | None = "us-east-1",
    tags: dict[str, str] | None = None,
) -> Instance:
    """One instance with its provider's usual size and health signal."""
    return Instance(
        provider=provider,
        id=instance_id or f"i-{name}",
        name=name,
        state=state,
        raw_state=state.value,
        region=region,
        size=_SIZES.get(provider),
        vcpus=2,
        memory_mb=4096,
        tags=tags or {},
        health_signal=_SIGNALS.get(provider) if state is InstanceState.RUNNING else None,
    )


def sample_metric(instance: Instance, metric: str, ts: datetime, value: float) -> MetricPoint:
    """One percentage point of ``metric`` for ``instance`` (named by its id)."""
    return MetricPoint(instance.id, metric, "percent", ts, value, instance.provider)


def sample_instances(count: int) -> tuple[Instance, ...]:
    """``count`` instances over the clouds; every 23rd stopped, every 31st in maintenance."""
    found = []
    for i in range(count):
        provider, regions = _PROVIDERS[i % 4]  # the four clouds
        state = InstanceState.RUNNING
        if i % 23 == 22:
            state = InstanceState.STOPPED
        elif i % 31 == 30:
            state = InstanceState.MAINTENANCE
        found.append(
            sample_instance(
                f"{provider}-vm-{i:04d}",
                provider=provider,
                instance_id=f"{provider[:2]}-{i:06d}",
                state=state,
                region=regions[i % len(regions)],
            )
        )
    return tuple(found)


def sample_alert(
    alert_id: str,
    target: str,
    started_at: datetime,
    *,
    severity: Severity = Severity.CRITICAL,
    state: AlertState = AlertState.FIRING,
    provider: str = "aws",
    title: str | None = None,
) -> Alert:
    """A sentinel alert on ``target`` with a few recorded facts."""
    return Alert(
        id=alert_id,
        dedup_key=f"{target}:status",
        target=target,
        source=AlertSource.SENTINEL,
        state=state,
        severity=severity,
        title=title or f"{target} is down",
        message=f"{target} failed 3 checks in a row",
        started_at=started_at,
        updated_at=started_at,
        condition="[STATUS] == 200",
        value="503",
        provider=provider,
        facts={"failures": 3, "threshold": 3, "last_status": 503},
    )


def sample_snapshot(
    count: int, now: datetime, *, seed: int = 7, seq: int = 0, instances: int = 0
) -> Snapshot:
    """A snapshot of ``count`` targets spread over the providers, a few of them unwell, and
    ``instances`` instances (:func:`sample_instances`).

    Every fifteenth target is degraded and every fortieth down; each down target has a firing
    alert. Result times lie within the last two minutes of ``now``.
    """
    rng = random.Random(seed)
    results = []
    alerts = []
    for i in range(count):
        provider, regions = _PROVIDERS[i % len(_PROVIDERS)]
        health = Health.HEALTHY
        if i % 40 == 39:
            health = Health.UNHEALTHY
        elif i % 15 == 14:
            health = Health.DEGRADED
        name = f"{provider}-svc-{i:04d}"
        ts = now - timedelta(seconds=rng.randint(1, 120))
        results.append(
            sample_result(
                name,
                ts,
                health=health,
                latency_ms=round(rng.uniform(20, 400), 1) * (4 if health is Health.DEGRADED else 1),
                provider=provider,
                region=regions[i % len(regions)],
                flapping=i % 97 == 96,
            )
        )
        if health is Health.UNHEALTHY:
            alerts.append(sample_alert(f"al-{i:05d}", name, ts, provider=provider))
    return Snapshot(
        seq=seq,
        ts=now,
        results=tuple(results),
        alerts=tuple(alerts),
        instances=sample_instances(instances),
    )
