"""Parsing of Compute Engine and Cloud Monitoring answers into nephos values; no I/O.

Instances of an ``aggregatedList`` page become :class:`Instance`, ``machineTypes.get``
answers become (vCPUs, memory), CPU time series become :class:`MetricPoint` in percent, and
a 403 is told apart as a quota (worth retrying) or a refusal. The calls live in
:mod:`nephos.providers.gcp`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from nephos.model import Instance, InstanceState, MetricPoint, parse_time

__all__ = [
    "SizeShape",
    "cpu_points",
    "custom_shape",
    "gcp_state",
    "instance_from_api",
    "last_segment",
    "machine_type_shape",
    "rate_limited",
]

SizeShape = tuple[int | None, int | None]
"""(vCPUs, memory in MB) of one machine type."""

_RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_CUSTOM_TYPE = re.compile(r"(?:^|-)custom-(\d+)-(\d+)(?:-ext)?$")
_STATES: dict[str, tuple[InstanceState, str | None]] = {
    "PENDING": (InstanceState.PENDING, None),
    "PROVISIONING": (InstanceState.PENDING, None),
    "STAGING": (InstanceState.PENDING, None),
    "RUNNING": (InstanceState.RUNNING, None),
    "STOPPING": (InstanceState.STOPPING, None),
    "PENDING_STOP": (InstanceState.STOPPING, None),
    "STOPPED": (InstanceState.STOPPED, None),
    # A VM that a user stopped shows TERMINATED: it still exists and can be started again.
    "TERMINATED": (InstanceState.STOPPED, None),
    "SUSPENDING": (InstanceState.SUSPENDED, "suspending"),
    "SUSPENDED": (InstanceState.SUSPENDED, None),
    "REPAIRING": (InstanceState.MAINTENANCE, None),
    "DEPROVISIONING": (InstanceState.TERMINATING, None),
}


def gcp_state(status: str) -> tuple[InstanceState, str | None]:
    """The normalised state and substate of a Compute Engine ``status``; unmapped is UNKNOWN."""
    return _STATES.get(status, (InstanceState.UNKNOWN, None))


def rate_limited(response: httpx.Response) -> bool:
    """Whether a 403 is Compute's per-minute quota (worth retrying) rather than a refusal."""
    if response.status_code != 403:
        return False
    try:
        errors = response.json()["error"]["errors"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("reason") in _RATE_LIMIT_REASONS for e in errors
    )


def last_segment(url: Any) -> str:
    """The last path segment of a resource URL (``.../zones/us-east1-b`` -> ``us-east1-b``)."""
    return url.rsplit("/", 1)[-1] if isinstance(url, str) else ""


def custom_shape(machine_type: str) -> SizeShape:
    """vCPUs and memory of a custom machine type, which spell them in their name."""
    match = _CUSTOM_TYPE.search(machine_type)
    return (int(match[1]), int(match[2])) if match else (None, None)


def instance_from_api(
    item: Mapping[str, Any], project: str, shape: SizeShape, now: datetime
) -> Instance:
    """One instance of an ``aggregatedList`` answer; ``shape`` is its machine type's size."""
    status = str(item.get("status") or "")
    state, substate = gcp_state(status)
    zone = last_segment(item.get("zone"))
    size = last_segment(item.get("machineType"))
    vcpus, memory_mb = shape
    private: list[str] = []
    public: list[str] = []
    for nic in item.get("networkInterfaces") or []:
        if not isinstance(nic, dict):
            continue
        if nic.get("networkIP"):
            private.append(str(nic["networkIP"]))
        public.extend(
            str(c["natIP"])
            for c in nic.get("accessConfigs") or []
            if isinstance(c, dict) and c.get("natIP")
        )
    labels = item.get("labels")
    created = item.get("creationTimestamp")
    try:
        created_at = parse_time(created) if isinstance(created, str) else None
    except ValueError:
        created_at = None
    return Instance(
        provider="gcp",
        id=str(item.get("id") or ""),
        name=str(item.get("name") or item.get("id") or ""),
        state=state,
        raw_state=status,
        substate=substate,
        account=project,
        region=zone.rsplit("-", 1)[0] if "-" in zone else zone or None,
        zone=zone or None,
        public_ips=tuple(public),
        private_ips=tuple(private),
        size=size or None,
        vcpus=vcpus,
        memory_mb=memory_mb,
        tags={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        created_at=created_at,
        updated_at=now,
    )


def machine_type_shape(body: Any) -> SizeShape:
    """A ``machineTypes.get`` answer as (``guestCpus``, ``memoryMb``)."""
    body = body if isinstance(body, dict) else {}
    cpus, memory = body.get("guestCpus"), body.get("memoryMb")
    return (cpus if isinstance(cpus, int) else None, memory if isinstance(memory, int) else None)


def cpu_points(series: Any, wanted: set[str]) -> list[MetricPoint]:
    """One CPU utilisation series as ``cpu_percent`` points, when its instance is wanted.

    Monitoring answers a fraction (0-1); the points hold percent.
    """
    if not isinstance(series, dict):
        return []
    instance_id = str(((series.get("resource") or {}).get("labels") or {}).get("instance_id", ""))
    if instance_id not in wanted:
        return []
    points: list[MetricPoint] = []
    for point in series.get("points") or []:
        try:
            ts = parse_time(point["interval"]["endTime"])
            value = float(point["value"]["doubleValue"])
        except (KeyError, TypeError, ValueError):
            continue  # a point without a time or a double: skip it, keep the series
        points.append(MetricPoint(instance_id, "cpu_percent", "percent", ts, value * 100, "gcp"))
    return points
