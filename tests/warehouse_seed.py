"""Seeded, realistic warehouse data for the contract and parity tests: events of every kind.

Four days of 10-minute metrics ending at SEED_NOW, named as the providers name them (daily
traffic with a spike, idle quantised CPU with a burst in the last quarter hour, a memory leak,
a filling disk, a latency level shift, a series that goes silent), check
results every 30 minutes for three targets with an outage, instances and alerts. Fixed seed:
the same events every run.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    Event,
    EventKind,
    Health,
    Instance,
    InstanceState,
    MetricPoint,
    Severity,
    TlsInfo,
    to_dict,
)

__all__ = ["SEED_NOW", "seed_events", "standard_params"]

SEED_NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_STEP = timedelta(minutes=10)
_POINTS = 4 * 24 * 6  # four days of 10-minute points


def _series(rng: random.Random) -> list[MetricPoint]:
    start = SEED_NOW - _POINTS * _STEP
    points: list[MetricPoint] = []
    for i in range(_POINTS + 1):
        ts = start + i * _STEP
        hour = ts.hour + ts.minute / 60
        day = 30 + 20 * math.sin((hour - 9) / 24 * 2 * math.pi) + rng.gauss(0, 2)
        if SEED_NOW - ts == timedelta(hours=2):
            day = 97.0  # a spike
        points.append(MetricPoint("vm-web-1", "cpu_percent", "percent", ts, round(day, 3), "aws"))
        idle = float(rng.choice((0, 0, 0, 1, 1, 2)))
        if SEED_NOW - ts <= timedelta(minutes=10):  # a burst in the last quarter hour
            idle = 45.0
        points.append(MetricPoint("vm-web-2", "cpu_percent", "percent", ts, idle, "aws"))
        leak = 40 + 45 * i / _POINTS + rng.gauss(0, 0.5)
        points.append(MetricPoint("vm-db-1", "mem_percent", "percent", ts, round(leak, 3), "vultr"))
        disk = 55 + 30 * i / _POINTS + rng.gauss(0, 0.3)
        points.append(
            MetricPoint("vm-db-1", "disk_percent", "percent", ts, round(disk, 3), "vultr")
        )
        shifted = SEED_NOW - ts <= timedelta(hours=6)
        latency = (300 if shifted else 120) + rng.gauss(0, 8)
        points.append(MetricPoint("vm-api-1", "latency_ms", "ms", ts, round(latency, 2), "gcp"))
        if SEED_NOW - ts > timedelta(hours=3):  # then the series goes silent
            net = 5e6 + rng.gauss(0, 2e5)
            points.append(
                MetricPoint("vm-batch-1", "bandwidth_in_bytes", "bytes", ts, round(net), "azure")
            )
    return points


def _results(rng: random.Random) -> list[CheckResult]:
    out: list[CheckResult] = []
    start = SEED_NOW - timedelta(days=4)
    targets = (("api", "aws", "us-east-1"), ("web", "gcp", None), ("db", "vultr", "ewr"))
    not_after = SEED_NOW + timedelta(days=9)
    for i in range(4 * 48):
        ts = start + timedelta(minutes=30 * (i + 1))
        for name, provider, region in targets:
            down = name == "api" and timedelta(hours=10) <= SEED_NOW - ts <= timedelta(hours=12)
            latency = rng.uniform(40, 400) if not down else 10_000.0
            health = Health.UNHEALTHY if down else Health.HEALTHY
            if not down and latency > 350:
                health = Health.DEGRADED
            out.append(
                CheckResult(
                    target=name,
                    kind=CheckKind.HTTP,
                    ts=ts,
                    health=health,
                    latency_ms=round(latency, 3),
                    success=not down,
                    provider=provider,
                    region=region,
                    status_code=None if down else 200,
                    error="timed out" if down else None,
                    reason="the check timed out after 10s" if down else "",
                    tls=TlsInfo(leaf_not_after=not_after) if name == "web" else None,
                )
            )
    return out


def _instances() -> list[Instance]:
    made = SEED_NOW - timedelta(days=30)
    return [
        Instance("aws", "i-0web1", "vm-web-1", InstanceState.RUNNING, "running", region="us-east-1",
                 zone="us-east-1a", size="t3.large", vcpus=2, memory_mb=8192,
                 tags={"team": "web"}, created_at=made, public_ips=("203.0.113.5",)),
        Instance("aws", "i-0web2", "vm-web-2", InstanceState.RUNNING, "running", region="us-east-1",
                 size="t3.small", vcpus=2, memory_mb=2048, created_at=made),
        Instance("vultr", "v-db1", "vm-db-1", InstanceState.RUNNING, "active", substate="ok",
                 region="ewr", vcpus=4, memory_mb=16384, tags={"role": "db"}),
        Instance("gcp", "g-api1", "vm-api-1", InstanceState.RUNNING, "RUNNING",
                 region="us-central1", zone="us-central1-b", size="e2-standard-2"),
        Instance("azure", "a-batch1", "vm-batch-1", InstanceState.STOPPED,
                 "PowerState/deallocated", region="eastus", health_signal="unavailable"),
    ]  # fmt: skip


def _alerts() -> list[tuple[datetime, Alert]]:
    opened = SEED_NOW - timedelta(hours=12)
    base = Alert(
        id="al-api001",
        dedup_key="api:[STATUS] == 200",
        target="api",
        source=AlertSource.SENTINEL,
        state=AlertState.FIRING,
        severity=Severity.CRITICAL,
        title="api is down",
        message="the check timed out after 10s",
        started_at=opened,
        updated_at=opened,
        condition="[STATUS] == 200",
        value="timeout",
        provider="aws",
        facts={"failures": 3, "threshold": 3},
        version=1,
    )
    acked = SEED_NOW - timedelta(hours=11)
    resolved = SEED_NOW - timedelta(hours=10)
    cert = Alert(
        id="al-cert01",
        dedup_key="web:certificate",
        target="web",
        source=AlertSource.CERTIFICATE,
        state=AlertState.FIRING,
        severity=Severity.WARNING,
        title="web certificate expires in 9 days",
        message="the leaf certificate expires on 2026-11-29",
        started_at=SEED_NOW - timedelta(hours=1),
        updated_at=SEED_NOW - timedelta(hours=1),
        facts={"days_left": 9},
        version=1,
    )
    return [
        (opened, base),
        (acked, _replace(base, state=AlertState.ACKNOWLEDGED, updated_at=acked,
                         acknowledged_at=acked, version=2)),
        (resolved, _replace(base, state=AlertState.RESOLVED, updated_at=resolved,
                            resolved_at=resolved, version=3)),
        (cert.started_at, cert),
    ]  # fmt: skip


def _replace(alert: Alert, **changes: Any) -> Alert:
    import dataclasses

    return dataclasses.replace(alert, **changes)


def seed_events() -> list[Event]:
    """Every seeded entity as a change-feed event, in time order, seqs from 1."""
    rng = random.Random(20261120)
    stamped: list[tuple[datetime, EventKind, dict[str, Any]]] = []
    stamped += [(p.ts, EventKind.METRIC, to_dict(p)) for p in _series(rng)]
    stamped += [(r.ts, EventKind.CHECK, to_dict(r)) for r in _results(rng)]
    first = SEED_NOW - timedelta(days=4)
    stamped += [(first, EventKind.INSTANCE, to_dict(i)) for i in _instances()]
    stamped += [(ts, EventKind.ALERT, to_dict(a)) for ts, a in _alerts()]
    stamped.sort(key=lambda item: item[0])
    return [
        Event(seq=n, kind=kind, ts=ts, data=data)
        for n, (ts, kind, data) in enumerate(stamped, start=1)
    ]


def standard_params() -> dict[str, Any]:
    """Values for the binds that analytics statements share (the seed's clock)."""
    return {
        "now": SEED_NOW,
        "until": SEED_NOW,
        "since": SEED_NOW - timedelta(hours=24),
    }
