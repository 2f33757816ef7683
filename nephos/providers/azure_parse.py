"""Parsing of Azure Resource Manager answers into nephos values; no I/O.

VM models and their status-only instance views become :class:`Instance`; network interfaces
and public IP addresses become the addresses of each VM; ``vmSizes`` lists become vCPUs and
memory per size; Azure Monitor answers become :class:`MetricPoint`. Every join is on the
lower-cased ARM id, because ARM echoes whatever casing a resource was created with.
The calls that fetch these answers live in :mod:`nephos.providers.azure`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from nephos.model import Instance, InstanceState, MetricPoint, parse_time

__all__ = [
    "METRICS",
    "Addresses",
    "SizeShape",
    "addresses_by_vm",
    "azure_state",
    "instance_from_arm",
    "metric_points",
    "status_codes",
    "vm_sizes",
]

Addresses = tuple[tuple[str, ...], tuple[str, ...]]
"""(public IPs, private IPs) of one VM."""

SizeShape = tuple[int | None, int | None]
"""(vCPUs, memory in MB) of one VM size."""

METRICS = {"Percentage CPU": "cpu_percent", "Available Memory Percentage": "mem_percent"}
"""Azure Monitor metric names and the nephos metric each becomes."""

_POWER: dict[str, tuple[InstanceState, str | None]] = {
    "starting": (InstanceState.PENDING, None),
    "running": (InstanceState.RUNNING, None),
    "stopping": (InstanceState.STOPPING, None),
    "deallocating": (InstanceState.STOPPING, "deallocating"),
    "stopped": (InstanceState.STOPPED, "stopped"),  # still billed
    "deallocated": (InstanceState.STOPPED, "deallocated"),  # not billed
}
_PROVISIONING: dict[str, tuple[InstanceState, str | None]] = {
    "creating": (InstanceState.PENDING, None),
    "updating": (InstanceState.MAINTENANCE, "updating"),
    "deleting": (InstanceState.TERMINATING, None),
}


def azure_state(power: str | None, provisioning: str | None) -> tuple[InstanceState, str | None]:
    """The normalised state and substate from ``PowerState/*`` and ``ProvisioningState/*``.

    A failed provisioning is ERROR whatever the power state says; otherwise the power state
    wins when present; without one, ``creating``, ``updating`` and ``deleting`` still say
    something. Everything else (including ``PowerState/unknown``) is UNKNOWN.
    """
    prov = (provisioning or "").lower()
    if prov.split("/", 1)[0] == "failed":
        return InstanceState.ERROR, prov.partition("/")[2] or None
    if power:
        return _POWER.get(power.lower(), (InstanceState.UNKNOWN, None))
    return _PROVISIONING.get(prov, (InstanceState.UNKNOWN, None))


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one: wire data may omit anything."""
    return value if isinstance(value, dict) else {}


def _key(value: Any) -> str:
    return str(value or "").lower()


def status_codes(view: Mapping[str, Any]) -> list[str] | None:
    """The ``code`` of every instance-view status, or None when the view has none."""
    statuses = _mapping(_mapping(view.get("properties")).get("instanceView")).get("statuses")
    if not isinstance(statuses, list):
        return None
    return [str(s["code"]) for s in statuses if isinstance(s, dict) and s.get("code")]


def addresses_by_vm(
    nics: Iterable[Mapping[str, Any]], public_ips: Iterable[Mapping[str, Any]]
) -> dict[str, Addresses]:
    """Each VM's public and private addresses, keyed by lower-cased VM id.

    A NIC names its VM (``properties.virtualMachine.id``) and, per IP configuration, its
    private address and the id of a public IP resource, whose address comes from
    ``public_ips``. A public IP without an address (dynamic, not yet assigned) is skipped.
    """
    address_of = {
        _key(ip.get("id")): str(_mapping(ip.get("properties")).get("ipAddress") or "")
        for ip in public_ips
    }
    found: dict[str, tuple[list[str], list[str]]] = {}
    for nic in nics:
        properties = _mapping(nic.get("properties"))
        vm = _key(_mapping(properties.get("virtualMachine")).get("id"))
        if not vm:
            continue  # a NIC that is not attached to a VM
        public, private = found.setdefault(vm, ([], []))
        for config in properties.get("ipConfigurations") or []:
            settings = _mapping(_mapping(config).get("properties"))
            if settings.get("privateIPAddress"):
                private.append(str(settings["privateIPAddress"]))
            address = address_of.get(_key(_mapping(settings.get("publicIPAddress")).get("id")))
            if address:
                public.append(address)
    return {vm: (tuple(public), tuple(private)) for vm, (public, private) in found.items()}


def vm_sizes(body: Any) -> dict[str, SizeShape]:
    """A location's ``vmSizes`` answer as ``{lower-cased size name: (vCPUs, memory MB)}``."""
    shapes: dict[str, SizeShape] = {}
    for size in _mapping(body).get("value") or []:
        size = _mapping(size)
        cores, memory = size.get("numberOfCores"), size.get("memoryInMB")
        shapes[_key(size.get("name"))] = (
            cores if isinstance(cores, int) else None,
            memory if isinstance(memory, int) else None,
        )
    return shapes


def instance_from_arm(
    vm: Mapping[str, Any],
    codes: list[str] | None,
    *,
    addresses: Addresses,
    shape: SizeShape,
    subscription: str,
    now: datetime,
) -> Instance:
    """One VM model, its instance-view status codes, addresses and size as an Instance."""
    properties = _mapping(vm.get("properties"))
    power = provisioning = None
    for code in codes or []:
        kind, _, value = code.partition("/")
        if kind == "PowerState":
            power = value
        elif kind == "ProvisioningState":
            provisioning = value
    if provisioning is None and properties.get("provisioningState"):
        provisioning = str(properties["provisioningState"])
    state, substate = azure_state(power, provisioning)
    raw = [f"PowerState/{power}"] if power else []
    raw += [f"ProvisioningState/{provisioning}"] if provisioning else []
    size = _mapping(properties.get("hardwareProfile")).get("vmSize")
    zones = vm.get("zones")
    tags = vm.get("tags")
    created = properties.get("timeCreated")
    try:
        created_at = parse_time(created) if isinstance(created, str) else None
    except ValueError:
        created_at = None
    return Instance(
        provider="azure",
        id=str(vm.get("id") or ""),
        name=str(vm.get("name") or vm.get("id") or ""),
        state=state,
        raw_state=",".join(raw),
        substate=substate,
        account=subscription,
        region=str(vm.get("location") or "") or None,
        zone=str(zones[0]) if isinstance(zones, list) and zones else None,
        public_ips=addresses[0],
        private_ips=addresses[1],
        size=str(size) if size else None,
        vcpus=shape[0],
        memory_mb=shape[1],
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        created_at=created_at,
        updated_at=now,
    )


def metric_points(instance_id: str, body: Any) -> list[MetricPoint]:
    """An Azure Monitor answer as ``cpu_percent`` and ``mem_percent`` points.

    ``mem_percent`` is 100 - ``Available Memory Percentage``. Intervals without an average
    (a stopped VM, a metric that lags) give no point.
    """
    points: list[MetricPoint] = []
    for metric in _mapping(body).get("value") or []:
        name = _mapping(_mapping(metric).get("name")).get("value")
        ours = METRICS.get(name) if isinstance(name, str) else None
        if ours is None:
            continue
        for series in metric.get("timeseries") or []:
            for datum in _mapping(series).get("data") or []:
                average = _mapping(datum).get("average")
                if not isinstance(average, int | float) or "timeStamp" not in datum:
                    continue
                value = 100.0 - average if ours == "mem_percent" else float(average)
                ts = parse_time(str(datum["timeStamp"]))
                points.append(MetricPoint(instance_id, ours, "percent", ts, value, "azure"))
    return points
