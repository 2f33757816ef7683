"""EC2 Query API answers in EC2's real XML shapes, built from simulated instances.

Element names are the ``locationName`` of each member in botocore's EC2 model
(``instanceState``, ``ipAddress``, ``tagSet``...), so that botocore's own ``ec2`` parser reads
them as it reads the real service. Plain functions of data, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from nephos.model import InstanceState
from nephos.sim.cloud_fleet import CloudInstance

__all__ = [
    "EC2_XMLNS",
    "error_xml",
    "instance_status_xml",
    "instance_type_xml",
    "instance_xml",
    "region_of",
    "response_xml",
    "state_of",
    "zone_of",
]

EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"

# InstanceState -> (EC2 state name, State.Code); the rest have no EC2 spelling of their own.
_STATES = {
    InstanceState.PENDING: ("pending", 0),
    InstanceState.RUNNING: ("running", 16),
    InstanceState.TERMINATING: ("shutting-down", 32),
    InstanceState.TERMINATED: ("terminated", 48),
    InstanceState.STOPPING: ("stopping", 64),
    InstanceState.STOPPED: ("stopped", 80),
}
_CODES = {name: code for name, code in _STATES.values()}


def region_of(instance: CloudInstance) -> str:
    """The AWS region: ``region`` as given, or an availability zone without its letter."""
    region = instance.region
    return region if region[-1:].isdigit() else region[:-1]


def zone_of(instance: CloudInstance) -> str:
    """The availability zone: ``region`` when it is one, else the region's zone ``a``."""
    region = instance.region
    return region + "a" if region[-1:].isdigit() else region


def state_of(instance: CloudInstance) -> tuple[str, int]:
    """The EC2 state name and code; ``raw["ec2_state"]`` overrides the name (a made-up state
    gets code 0, as the provider must cope with anything)."""
    name = instance.raw.get("ec2_state")
    if name:
        return name, _CODES.get(name, 0)
    return _STATES.get(instance.state, ("pending", 0))


def _text(tag: str, value: object) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _cpu_options(vcpus: int) -> tuple[int, int]:
    """(cores, threads per core): two threads a core, as on most current types."""
    return (vcpus // 2, 2) if vcpus >= 2 and vcpus % 2 == 0 else (max(1, vcpus), 1)


def instance_xml(instance: CloudInstance) -> str:
    """One ``instancesSet`` item, with the fields a DescribeInstances item has."""
    name, code = state_of(instance)
    cores, threads = _cpu_options(instance.vcpus)
    parts = [
        _text("instanceId", instance.id),
        _text("imageId", "ami-0nephos0sim0000"),
        f"<instanceState>{_text('code', code)}{_text('name', name)}</instanceState>",
        _text("privateDnsName", f"ip-{(instance.private_ip or '').replace('.', '-')}.internal"),
        _text("instanceType", instance.size),
        _text("launchTime", _time(instance.created_at)),
        f"<placement>{_text('availabilityZone', zone_of(instance))}"
        f"{_text('tenancy', 'default')}</placement>",
        f"<monitoring>{_text('state', 'disabled')}</monitoring>",
    ]
    if instance.private_ip:
        parts.append(_text("privateIpAddress", instance.private_ip))
    if instance.public_ip:
        parts.append(_text("ipAddress", instance.public_ip))
    reason = instance.raw.get("reason")
    if reason is None and instance.state is InstanceState.STOPPED:
        reason = "Client.UserInitiatedShutdown"
    if reason:
        parts.append(
            f"<stateReason>{_text('code', reason)}{_text('message', reason)}</stateReason>"
        )
    parts.append(_text("architecture", "x86_64"))
    parts.append(_text("rootDeviceType", "ebs"))
    if instance.tags:
        tags = "".join(
            f"<item>{_text('key', k)}{_text('value', v)}</item>" for k, v in instance.tags.items()
        )
        parts.append(f"<tagSet>{tags}</tagSet>")
    parts.append(_text("virtualizationType", "hvm"))
    parts.append(
        f"<cpuOptions>{_text('coreCount', cores)}{_text('threadsPerCore', threads)}</cpuOptions>"
    )
    return "<item>" + "".join(parts) + "</item>"


def _checks(instance: CloudInstance) -> tuple[str, str]:
    """(system, instance) status checks: ``raw["system_status"]``/``raw["instance_status"]``
    override; a running instance is ``ok``, a pending one ``initializing``, others have none."""
    if instance.state is InstanceState.RUNNING:
        default = "ok"
    elif instance.state is InstanceState.PENDING:
        default = "initializing"
    else:
        default = "not-applicable"
    return (
        instance.raw.get("system_status", default),
        instance.raw.get("instance_status", default),
    )


def instance_status_xml(instance: CloudInstance) -> str:
    """One ``instanceStatusSet`` item (DescribeInstanceStatus)."""
    name, code = state_of(instance)
    system, own = _checks(instance)

    def summary(tag: str, status: str) -> str:
        detail = "passed" if status == "ok" else status
        return (
            f"<{tag}>{_text('status', status)}<details><item>{_text('name', 'reachability')}"
            f"{_text('status', detail)}</item></details></{tag}>"
        )

    return (
        f"<item>{_text('instanceId', instance.id)}"
        f"{_text('availabilityZone', zone_of(instance))}"
        f"<instanceState>{_text('code', code)}{_text('name', name)}</instanceState>"
        f"{summary('systemStatus', system)}{summary('instanceStatus', own)}</item>"
    )


def instance_type_xml(name: str, vcpus: int, memory_mb: int) -> str:
    """One ``instanceTypeSet`` item (DescribeInstanceTypes)."""
    cores, threads = _cpu_options(vcpus)
    return (
        f"<item>{_text('instanceType', name)}"
        f"<vCpuInfo>{_text('defaultVCpus', vcpus)}{_text('defaultCores', cores)}"
        f"{_text('defaultThreadsPerCore', threads)}</vCpuInfo>"
        f"<memoryInfo>{_text('sizeInMiB', memory_mb)}</memoryInfo></item>"
    )


def response_xml(action: str, request_id: str, body: Iterable[str]) -> str:
    """``<{action}Response>`` with its request id around the pieces of ``body``."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{EC2_XMLNS}">'
        f"{_text('requestId', request_id)}{''.join(body)}</{action}Response>"
    )


def error_xml(code: str, message: str, request_id: str) -> str:
    """EC2's error document: ``<Response><Errors><Error>...``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"{_text('Code', code)}{_text('Message', message)}</Error></Errors>"
        f"{_text('RequestID', request_id)}</Response>"
    )
