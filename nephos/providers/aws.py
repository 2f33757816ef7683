"""The AWS provider: EC2 instances with their status checks, and CloudWatch CPU and memory.

boto3 is imported inside the methods that need it and every call runs in a thread. Credentials
come from boto3's standard chain (profiles, environment, SSO); nephos never reads them.
Metric queries live in ``aws_metrics``; this module lists and normalises instances.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from nephos.clock import Clock
from nephos.errors import ProviderError
from nephos.model import Instance, InstanceState, MetricPoint
from nephos.providers.aws_errors import map_boto_error
from nephos.providers.aws_metrics import fetch_region_metrics
from nephos.providers.base import Provider
from nephos.providers.options import OptionReader

__all__ = ["AwsProvider", "health_signal", "normalise_instance"]

# providers.md §6.3; anything else is UNKNOWN.
_STATES = {
    "pending": InstanceState.PENDING,
    "running": InstanceState.RUNNING,
    "shutting-down": InstanceState.TERMINATING,
    "terminated": InstanceState.TERMINATED,
    "stopping": InstanceState.STOPPING,
    "stopped": InstanceState.STOPPED,
}
# The high byte of State.Code is internal to AWS (providers.md §2.1).
_STATE_CODES = {0: "pending", 16: "running", 32: "shutting-down", 48: "terminated",
                64: "stopping", 80: "stopped"}  # fmt: skip
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_TYPES_PER_CALL = 100  # DescribeInstanceTypes takes at most 100 names
T = TypeVar("T")


class AwsProvider(Provider):
    """EC2 across the configured regions and profiles.

    Options (cleaned by :meth:`validate_options`): ``regions`` (default: each profile's own
    region), ``profiles`` (default: the standard credential chain), ``endpoint_url`` (a
    stand-in such as a moto server), ``max_attempts`` (boto3 standard retries, default 3),
    ``page_size`` (DescribeInstances page size, 5 to 1000, default 1000; lower it when large
    pages time out).
    """

    name = "aws"
    supports_metrics = True

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``providers.aws``.

        Raises:
            ConfigError: an unknown key, a malformed region, or a bad value.
        """
        reader = OptionReader(
            options, {"regions", "profiles", "endpoint_url", "max_attempts", "page_size"}
        )
        regions = reader.texts("regions")
        for index, region in enumerate(regions):
            if not _REGION.fullmatch(region):
                raise reader.error(
                    f"regions[{index}]", f'"{region}" is not an AWS region (e.g. us-east-1)'
                )
        return {
            "regions": tuple(dict.fromkeys(regions)),
            "profiles": tuple(dict.fromkeys(reader.texts("profiles"))),
            "endpoint_url": reader.url("endpoint_url"),
            "max_attempts": reader.integer("max_attempts", 3, minimum=1, maximum=10),
            "page_size": reader.integer("page_size", 1000, minimum=5, maximum=1000),
        }

    def __init__(self, options: Mapping[str, Any], *, clock: Clock) -> None:
        super().__init__(options, clock=clock)
        self._regions: tuple[str, ...] = tuple(options.get("regions", ()))
        self._profiles: tuple[str | None, ...] = tuple(options.get("profiles", ())) or (None,)
        self._endpoint_url: str | None = options.get("endpoint_url")
        self._max_attempts = int(options.get("max_attempts", 3))
        self._page_size = int(options.get("page_size", 1000))
        # boto3 sessions are not thread-safe, clients are: create under a lock, share after.
        self._lock = threading.Lock()
        self._sessions: dict[str | None, Any] = {}
        self._clients: dict[tuple[str | None, str, str], Any] = {}
        self._type_info: dict[str, tuple[int | None, int | None]] = {}
        self._origin: dict[str, tuple[str | None, str]] = {}  # instance id -> (profile, region)

    # ------------------------------------------------------------------ clients

    def _session(self, profile: str | None) -> Any:
        import boto3

        session = self._sessions.get(profile)
        if session is None:
            session = boto3.session.Session(profile_name=profile)
            self._sessions[profile] = session
        return session

    def _client(self, profile: str | None, region: str, service: str) -> Any:
        from botocore.config import Config

        key = (profile, region, service)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                config = Config(
                    retries={"mode": "standard", "total_max_attempts": self._max_attempts},
                    connect_timeout=5,
                    read_timeout=30,
                )
                client = self._session(profile).client(
                    service, region_name=region, endpoint_url=self._endpoint_url, config=config
                )
                self._clients[key] = client
            return client

    def _targets(self) -> list[tuple[str | None, str]]:
        """Every (profile, region) pair to list.

        Raises:
            ProviderError: a profile is unknown, or no region is configured for it.
        """
        pairs: list[tuple[str | None, str]] = []
        for profile in self._profiles:
            regions = self._regions
            if not regions:
                own = _guarded(partial(self._own_region, profile), profile=profile, region=None)
                if not own:
                    raise ProviderError(
                        f"aws{_profile_note(profile)}: no region configured "
                        "(set providers.aws.regions)"
                    )
                regions = (own,)
            pairs.extend((profile, region) for region in regions)
        return pairs

    def _own_region(self, profile: str | None) -> str | None:
        """The region the profile (or the environment) sets, if any."""
        with self._lock:
            region = self._session(profile).region_name
        return str(region) if region else None

    # ------------------------------------------------------------------ listing

    async def list_instances(self) -> list[Instance]:
        """Every EC2 instance in the configured regions and profiles, with status checks.

        Raises:
            ProviderError: credentials are missing or refused, or an endpoint cannot be
                reached, in any region; the reason names the region and profile.
        """
        pairs = await asyncio.to_thread(self._targets)
        found = await asyncio.gather(
            *(
                asyncio.to_thread(_guarded, partial(self._list_region, p, r), profile=p, region=r)
                for p, r in pairs
            )
        )
        seen: set[tuple[str | None, str | None, str]] = set()
        origin: dict[str, tuple[str | None, str]] = {}
        out: list[Instance] = []
        for (profile, region), instances in zip(pairs, found, strict=True):
            for instance in instances:
                key = (instance.account, instance.region, instance.id)
                if key in seen:  # two profiles onto one account see the same machines
                    continue
                seen.add(key)
                origin[instance.id] = (profile, region)
                out.append(instance)
        self._origin = origin  # replaced, not merged: instances that are gone drop out
        return out

    def _list_region(self, profile: str | None, region: str) -> list[Instance]:
        ec2 = self._client(profile, region, "ec2")
        raw: list[tuple[dict[str, Any], str | None]] = []
        for page in ec2.get_paginator("describe_instances").paginate(
            PaginationConfig={"PageSize": self._page_size}
        ):
            for reservation in page.get("Reservations", []):
                owner = reservation.get("OwnerId")
                raw.extend((item, owner) for item in reservation.get("Instances", []))
        signals: dict[str, str | None] = {}
        for page in ec2.get_paginator("describe_instance_status").paginate(
            IncludeAllInstances=True, PaginationConfig={"PageSize": self._page_size}
        ):
            for status in page.get("InstanceStatuses", []):
                signals[status["InstanceId"]] = health_signal(status)
        self._load_types(ec2, {item.get("InstanceType", "") for item, _ in raw} - {""})
        now = self.clock.now()
        return [
            normalise_instance(
                item,
                region=region,
                account=owner,
                signal=signals.get(item.get("InstanceId", "")),
                type_info=self._type_info.get(item.get("InstanceType", ""), (None, None)),
                now=now,
            )
            for item, owner in raw
        ]

    def _load_types(self, ec2: Any, types: set[str]) -> None:
        """Fill the per-type cache of (vCPUs, MiB) for ``types`` not seen yet."""
        from botocore.exceptions import ClientError

        missing = sorted(t for t in types if t not in self._type_info)
        for start in range(0, len(missing), _TYPES_PER_CALL):
            chunk = missing[start : start + _TYPES_PER_CALL]
            try:
                answer = ec2.describe_instance_types(InstanceTypes=chunk)
            except ClientError:
                # Sizes are a nicety: without this permission (or for a type the region does
                # not know) instances are listed without memory rather than not at all.
                continue
            for item in answer.get("InstanceTypes", []):
                self._type_info[item["InstanceType"]] = (
                    item.get("VCpuInfo", {}).get("DefaultVCpus"),
                    item.get("MemoryInfo", {}).get("SizeInMiB"),
                )

    # ------------------------------------------------------------------ metrics

    async def fetch_metrics(
        self, instances: Sequence[Instance], *, start: datetime, end: datetime
    ) -> list[MetricPoint]:
        """CPU (``AWS/EC2 CPUUtilization``) and, where the CloudWatch agent publishes it,
        memory (``CWAgent mem_used_percent``) for ``instances``, as percent points.

        Raises:
            ProviderError: CloudWatch could not be reached or refused the credentials.
        """
        groups: dict[tuple[str | None, str], list[str]] = {}
        for instance in instances:
            if instance.provider != self.name or instance.state is InstanceState.TERMINATED:
                continue
            origin = self._origin.get(instance.id)
            if origin is None and instance.region:
                origin = (self._profiles[0], instance.region)
            if origin is not None:
                groups.setdefault(origin, []).append(instance.id)
        if not groups or end <= start:
            return []
        found = await asyncio.gather(
            *(
                asyncio.to_thread(
                    _guarded,
                    partial(self._region_metrics, profile, region, ids, start, end),
                    profile=profile,
                    region=region,
                )
                for (profile, region), ids in groups.items()
            )
        )
        return [point for points in found for point in points]

    def _region_metrics(
        self, profile: str | None, region: str, ids: list[str], start: datetime, end: datetime
    ) -> list[MetricPoint]:
        client = self._client(profile, region, "cloudwatch")
        return fetch_region_metrics(client, ids, start=start, end=end)

    async def close(self) -> None:
        """Close every boto3 client's connection pool."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()


def _guarded(work: Callable[[], T], *, profile: str | None, region: str | None) -> T:
    """Run ``work`` with botocore's errors mapped to ProviderError."""
    try:
        return work()
    except ProviderError:
        raise
    except Exception as exc:  # botocore raises many unrelated classes; the mapper sorts them
        raise map_boto_error(exc, region=region, profile=profile) from exc


def _profile_note(profile: str | None) -> str:
    return f" (profile {profile})" if profile else ""


def health_signal(status: Mapping[str, Any]) -> str | None:
    """EC2 status checks as one word: ``impaired`` when either check is, then
    ``initializing``, then ``insufficient-data``; ``ok`` when both are; None when neither
    applies (a stopped instance)."""
    words = {
        status.get("SystemStatus", {}).get("Status"),
        status.get("InstanceStatus", {}).get("Status"),
    }
    for word in ("impaired", "initializing", "insufficient-data"):
        if word in words:
            return word
    if words == {"ok"}:
        return "ok"
    return None


def _tags(item: Mapping[str, Any]) -> dict[str, str]:
    return {str(t.get("Key", "")): str(t.get("Value", "")) for t in item.get("Tags", []) or []}


def _state(item: Mapping[str, Any]) -> tuple[InstanceState, str]:
    state = item.get("State") or {}
    raw = state.get("Name")
    if not raw and isinstance(state.get("Code"), int):
        raw = _STATE_CODES.get(state["Code"] & 0xFF)
    raw = str(raw or "")
    return _STATES.get(raw, InstanceState.UNKNOWN), raw


def _reason(item: Mapping[str, Any]) -> str | None:
    """Why an instance is not running, e.g. ``Client.UserInitiatedShutdown``."""
    code = (item.get("StateReason") or {}).get("Code")
    return str(code) if code else None


def _ips(item: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    public = [item.get("PublicIpAddress"), item.get("Ipv6Address")]
    private = [item.get("PrivateIpAddress")]
    return tuple(ip for ip in public if ip), tuple(ip for ip in private if ip)


def _vcpus(item: Mapping[str, Any], default: int | None) -> int | None:
    cpu = item.get("CpuOptions") or {}
    cores, threads = cpu.get("CoreCount"), cpu.get("ThreadsPerCore")
    if isinstance(cores, int) and isinstance(threads, int):
        return cores * threads
    return default


def normalise_instance(
    item: Mapping[str, Any],
    *,
    region: str,
    account: str | None,
    signal: str | None,
    type_info: tuple[int | None, int | None],
    now: datetime,
) -> Instance:
    """One ``DescribeInstances`` item as an :class:`Instance` (providers.md §7).

    An unknown state name becomes ``InstanceState.UNKNOWN``; missing fields become None.
    """
    state, raw = _state(item)
    tags = _tags(item)
    instance_id = str(item.get("InstanceId", ""))
    public, private = _ips(item)
    default_vcpus, memory = type_info
    launched = item.get("LaunchTime")
    return Instance(
        provider="aws",
        id=instance_id,
        name=tags.get("Name") or instance_id,
        state=state,
        raw_state=raw,
        substate=None if state is InstanceState.RUNNING else _reason(item),
        account=account,
        region=region,
        zone=(item.get("Placement") or {}).get("AvailabilityZone"),
        public_ips=public,
        private_ips=private,
        size=item.get("InstanceType"),
        vcpus=_vcpus(item, default_vcpus),
        memory_mb=memory,
        tags=tags,
        created_at=launched if isinstance(launched, datetime) else None,
        health_signal=signal,
        updated_at=now,
    )
