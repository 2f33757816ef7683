"""JSON shapes of the simulated Vultr, GCP and Azure APIs, built from :class:`CloudInstance`.

Each builder answers one object the way the real API spells it (reference/providers.md §1, §3,
§4): Vultr's 2023 OpenAPI instance, a Compute Engine instance and zone warning, a Monitoring
time series, an ARM VM model, its status-only instance view, and an Azure Monitor answer. The
paging and routing live in :mod:`nephos.sim.clouds`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nephos.model import InstanceState
from nephos.sim.cloud_fleet import CloudInstance

__all__ = [
    "GCP_CPU",
    "GOOGLE_COMPUTE",
    "azure_metrics_body",
    "azure_model",
    "azure_nic",
    "azure_public_ip",
    "azure_view",
    "azure_vm_size",
    "forbidden",
    "gcp_cpu_series",
    "gcp_instance",
    "gcp_machine_type",
    "gcp_warning",
    "not_found",
    "rfc3339",
    "unauthorized",
    "vultr_instance",
]

GCP_CPU = "compute.googleapis.com/instance/cpu/utilization"
GOOGLE_COMPUTE = "https://www.googleapis.com/compute/v1"

# How each normalised state looks in each API when an instance gives no raw fields.
_VULTR_RAW = {
    InstanceState.RUNNING: ("active", "running", "ok"),
    InstanceState.STOPPED: ("active", "stopped", "ok"),
    InstanceState.PENDING: ("pending", "stopped", "none"),
    InstanceState.SUSPENDED: ("suspended", "stopped", "none"),
    InstanceState.MAINTENANCE: ("resizing", "running", "ok"),
}
_GCP_RAW = {
    InstanceState.RUNNING: "RUNNING",
    InstanceState.STOPPED: "TERMINATED",
    InstanceState.PENDING: "PROVISIONING",
    InstanceState.STOPPING: "STOPPING",
    InstanceState.SUSPENDED: "SUSPENDED",
    InstanceState.MAINTENANCE: "REPAIRING",
    InstanceState.TERMINATING: "DEPROVISIONING",
}
_AZURE_RAW = {  # (PowerState, ProvisioningState)
    InstanceState.RUNNING: ("running", "succeeded"),
    InstanceState.STOPPED: ("deallocated", "succeeded"),
    InstanceState.STOPPING: ("deallocating", "succeeded"),
    InstanceState.PENDING: ("starting", "succeeded"),
    InstanceState.MAINTENANCE: ("", "updating"),
    InstanceState.TERMINATING: ("", "deleting"),
    InstanceState.ERROR: ("running", "failed"),
}


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unauthorized(provider: str) -> Any:
    if provider == "vultr":
        return {"error": "Invalid API token.", "status": 401}
    if provider == "gcp":
        message = "Request had invalid authentication credentials."
        return {"error": {"code": 401, "message": message, "status": "UNAUTHENTICATED"}}
    return {"error": {"code": "InvalidAuthenticationToken", "message": "The token is invalid."}}


def forbidden(provider: str, path: str) -> Any:
    """The provider's answer to a caller whose role lacks the permission for ``path``."""
    if provider == "vultr":
        return {"error": "Unauthorized IP address.", "status": 403}
    if provider == "gcp":
        message = f"Required permission missing for '{path}'"
        errors = [{"message": message, "domain": "global", "reason": "forbidden"}]
        return {"error": {"code": 403, "message": message, "errors": errors}}
    message = f"The client does not have authorization to perform a read over scope '{path}'."
    return {"error": {"code": "AuthorizationFailed", "message": message}}


def not_found(provider: str) -> Any:
    if provider == "vultr":
        return {"error": "Not found.", "status": 404}
    if provider == "gcp":
        return {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}}
    return {"error": {"code": "ResourceNotFound", "message": "The resource was not found."}}


def vultr_instance(i: CloudInstance) -> dict[str, Any]:
    status, power, server = _VULTR_RAW.get(i.state, ("active", "running", "ok"))
    status = i.raw.get("status", status)
    main_ip = i.public_ip or "0.0.0.0"  # noqa: S104 - what Vultr reports before an IP is assigned
    return {
        "id": i.id,
        "os": "Debian 12 x64 (bookworm)",
        "ram": i.memory_mb,
        "disk": 25,
        "main_ip": "0.0.0.0" if status == "pending" else main_ip,  # noqa: S104
        "vcpu_count": i.vcpus,
        "region": i.region,
        "plan": i.size,
        "date_created": i.created_at.astimezone(UTC).isoformat(),
        "status": status,
        "allowed_bandwidth": 2000,
        "netmask_v4": "255.255.254.0",
        "gateway_v4": "192.0.2.1",
        "power_status": i.raw.get("power_status", power),
        "server_status": i.raw.get("server_status", server),
        "v6_networks": [],
        "hostname": i.name,
        "label": i.name,
        "internal_ip": i.private_ip or "",
        "kvm": f"https://my.vultr.com/subs/vps/novnc/api.php?data={i.id}",
        "os_id": 2136,
        "app_id": 0,
        "image_id": "",
        "firewall_group_id": "",
        "features": ["ipv6"],
        "tags": [f"{k}={v}" if v else k for k, v in i.tags.items()],
        "user_scheme": "root",
    }


def gcp_warning(scope: str) -> dict[str, Any]:
    message = f"There are no results for scope '{scope}' on this page."
    data = [{"key": "scope", "value": scope}]
    return {"warning": {"code": "NO_RESULTS_ON_PAGE", "message": message, "data": data}}


def gcp_instance(i: CloudInstance, project: str) -> dict[str, Any]:
    zone_url = f"{GOOGLE_COMPUTE}/projects/{project}/zones/{i.region}"
    access = [
        {"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT", "name": "External NAT"}
        | {"natIP": i.public_ip, "networkTier": "PREMIUM"}
    ]
    nic = {
        "kind": "compute#networkInterface",
        "network": f"{GOOGLE_COMPUTE}/projects/{project}/global/networks/default",
        "networkIP": i.private_ip or "10.128.0.2",
        "name": "nic0",
        "accessConfigs": access if i.public_ip else [],
    }
    return {
        "kind": "compute#instance",
        "id": i.id,
        "creationTimestamp": i.created_at.astimezone(UTC).isoformat(timespec="milliseconds"),
        "name": i.name,
        "tags": {"fingerprint": "42WmSpB8rSM="},
        "machineType": f"{zone_url}/machineTypes/{i.size}",
        "status": i.raw.get("status", _GCP_RAW.get(i.state, "RUNNING")),
        "zone": zone_url,
        "networkInterfaces": [nic],
        "labels": dict(i.tags),
        "selfLink": f"{zone_url}/instances/{i.name}",
        "cpuPlatform": "Intel Broadwell",
    }


def gcp_cpu_series(
    i: CloudInstance, project: str, start: datetime, end: datetime
) -> dict[str, Any]:
    points: list[dict[str, Any]] = []
    at = end
    while at > start and len(points) < 288:  # newest first, as Monitoring answers
        value = i.metric("cpu_percent", at) / 100.0
        stamp = rfc3339(at)
        points.append(
            {"interval": {"startTime": stamp, "endTime": stamp}, "value": {"doubleValue": value}}
        )
        at -= timedelta(minutes=5)
    return {
        "metric": {"labels": {"instance_name": i.name}, "type": GCP_CPU},
        "resource": {
            "type": "gce_instance",
            "labels": {"project_id": project, "instance_id": i.id, "zone": i.region},
        },
        "metricKind": "GAUGE",
        "valueType": "DOUBLE",
        "points": points,
    }


def azure_model(i: CloudInstance, arm_id: str) -> dict[str, Any]:
    nic = arm_id.replace(
        "Microsoft.Compute/virtualMachines/", "Microsoft.Network/networkInterfaces/"
    )
    body: dict[str, Any] = {
        "name": i.name,
        "id": arm_id,
        "type": "Microsoft.Compute/virtualMachines",
        "location": i.region,
        "tags": dict(i.tags),
        "properties": {
            "vmId": i.id,
            "hardwareProfile": {"vmSize": i.size},
            "osProfile": {"computerName": i.name, "adminUsername": "azureuser"},
            "networkProfile": {"networkInterfaces": [{"id": f"{nic}-nic"}]},
            "provisioningState": "Succeeded",
            "timeCreated": i.created_at.astimezone(UTC).isoformat(),
        },
    }
    if "zone" in i.raw:
        body["zones"] = [i.raw["zone"]]
    return body


def azure_view(i: CloudInstance, arm_id: str) -> dict[str, Any]:
    power, provisioning = _AZURE_RAW.get(i.state, ("unknown", "succeeded"))
    power = i.raw.get("power", power)
    provisioning = i.raw.get("provisioning", provisioning)
    statuses = [{"code": f"ProvisioningState/{provisioning}", "level": "Info"}]
    if power:
        statuses.append({"code": f"PowerState/{power}", "level": "Info"})
    view: dict[str, Any] = {"name": i.name, "id": arm_id, "location": i.region, "properties": {}}
    view["type"] = "Microsoft.Compute/virtualMachines"
    if i.raw.get("view") != "none":
        view["properties"]["instanceView"] = {"statuses": statuses}
    return view


def azure_metrics_body(
    i: CloudInstance, arm_id: str, names: list[str], start: datetime, end: datetime
) -> dict[str, Any]:
    value = []
    running = i.state is InstanceState.RUNNING
    for name in names:
        data: list[dict[str, Any]] = []
        at = start
        while at < end and len(data) < 288:
            stamp: dict[str, Any] = {"timeStamp": rfc3339(at)}
            if running and name == "Percentage CPU":
                stamp["average"] = i.metric("cpu_percent", at)
            elif running and name == "Available Memory Percentage":
                stamp["average"] = 100.0 - i.metric("mem_percent", at)
            data.append(stamp)  # a stopped VM: time stamps without averages
            at += timedelta(minutes=5)
        value.append(
            {
                "id": f"{arm_id}/providers/Microsoft.Insights/metrics/{name}",
                "type": "Microsoft.Insights/metrics",
                "name": {"value": name, "localizedValue": name},
                "unit": "Percent",
                "timeseries": [{"metadatavalues": [], "data": data}],
                "errorCode": "Success",
            }
        )
    timespan = f"{rfc3339(start)}/{rfc3339(end)}"
    return {
        "cost": 0,
        "timespan": timespan,
        "interval": "PT5M",
        "value": value,
        "namespace": "Microsoft.Compute/virtualMachines",
        "resourceregion": i.region,
    }


def gcp_machine_type(i: CloudInstance, project: str) -> dict[str, Any]:
    """A ``machineTypes.get`` answer whose shape is the one ``i`` runs on."""
    zone_url = f"{GOOGLE_COMPUTE}/projects/{project}/zones/{i.region}"
    return {
        "kind": "compute#machineType",
        "id": str(abs(hash(i.size)) % 10**12),
        "name": i.size,
        "description": f"{i.vcpus} vCPUs, {i.memory_mb / 1024:g} GB RAM",
        "guestCpus": i.vcpus,
        "memoryMb": i.memory_mb,
        "maximumPersistentDisks": 128,
        "zone": i.region,
        "selfLink": f"{zone_url}/machineTypes/{i.size}",
        "isSharedCpu": False,
    }


def azure_nic(i: CloudInstance, vm_id: str) -> dict[str, Any]:
    """The network interface of VM ``vm_id``, with its private address and public IP link."""
    nic_id = _network_id(vm_id, "networkInterfaces", f"{i.name}-nic")
    config: dict[str, Any] = {
        "privateIPAddress": i.private_ip or "10.0.0.4",
        "privateIPAllocationMethod": "Dynamic",
        "primary": True,
    }
    if i.public_ip:
        config["publicIPAddress"] = {"id": _network_id(vm_id, "publicIPAddresses", f"{i.name}-ip")}
    return {
        "name": f"{i.name}-nic",
        "id": nic_id,
        "type": "Microsoft.Network/networkInterfaces",
        "location": i.region,
        "properties": {
            "provisioningState": "Succeeded",
            "ipConfigurations": [
                {"name": "ipconfig1", "id": f"{nic_id}/ipConfigurations/ipconfig1"}
                | {"properties": config}
            ],
            "primary": True,
            "virtualMachine": {"id": vm_id},
        },
    }


def azure_public_ip(i: CloudInstance, vm_id: str) -> dict[str, Any]:
    """The public IP address resource attached to ``i``'s network interface."""
    return {
        "name": f"{i.name}-ip",
        "id": _network_id(vm_id, "publicIPAddresses", f"{i.name}-ip"),
        "type": "Microsoft.Network/publicIPAddresses",
        "location": i.region,
        "properties": {
            "ipAddress": i.public_ip,
            "publicIPAllocationMethod": "Static",
            "publicIPAddressVersion": "IPv4",
        },
    }


def azure_vm_size(i: CloudInstance) -> dict[str, Any]:
    """One entry of a location's ``vmSizes`` list: the size ``i`` runs on."""
    return {
        "name": i.size,
        "numberOfCores": i.vcpus,
        "memoryInMB": i.memory_mb,
        "maxDataDiskCount": 4,
        "osDiskSizeInMB": 1047552,
        "resourceDiskSizeInMB": 8192,
    }


def _network_id(vm_id: str, kind: str, name: str) -> str:
    group = vm_id.split("/providers/", 1)[0]
    return f"{group}/providers/Microsoft.Network/{kind}/{name}"
