"""Domain values shared by every part of nephos.

Frozen, slotted dataclasses and enums only: targets, check results, alerts, change-feed
events, instances and metric points, with their state vocabularies and their conversion to
and from plain JSON-able dicts. Nothing here does I/O; parsing of config files lives in
``nephos.config`` and parsing of wire frames in ``nephos.stream.protocol``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

__all__ = [
    "Alert",
    "AlertRule",
    "AlertSource",
    "AlertState",
    "CheckKind",
    "CheckResult",
    "ConditionResult",
    "DnsInfo",
    "DnsOptions",
    "Event",
    "EventKind",
    "Health",
    "HttpOptions",
    "Instance",
    "InstanceState",
    "LatencyThresholds",
    "MaintenanceWindow",
    "MetricPoint",
    "Severity",
    "Target",
    "TcpOptions",
    "TlsInfo",
    "TlsOptions",
    "from_dict",
    "to_dict",
]


class Health(enum.StrEnum):
    """The health of one check result, a target, a provider or the whole fleet."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """Badness for "worst first" sorting: unhealthy > degraded > unknown > healthy."""
        return _HEALTH_RANK[self]

    @property
    def exit_code(self) -> int:
        """The documented process exit code for this health: 0, 1 or 2."""
        return {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.UNHEALTHY: 2, Health.UNKNOWN: 0}[self]

    @staticmethod
    def worst(values: list[Health] | tuple[Health, ...]) -> Health:
        """The worst of ``values``; healthy when there are none."""
        return max(values, key=lambda h: h.rank, default=Health.HEALTHY)


_HEALTH_RANK = {Health.HEALTHY: 0, Health.UNKNOWN: 1, Health.DEGRADED: 2, Health.UNHEALTHY: 3}


class CheckKind(enum.StrEnum):
    """The kind of an active check."""

    HTTP = "http"
    TLS = "tls"
    DNS = "dns"
    TCP = "tcp"
    INSTANCE = "instance"


class AlertState(enum.StrEnum):
    """The lifecycle of an alert in the alert book."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertSource(enum.StrEnum):
    """What raised an alert."""

    SENTINEL = "sentinel"
    INSTANCE = "instance"
    CERTIFICATE = "certificate"
    ANOMALY = "anomaly"
    FORECAST = "forecast"
    REPORT = "report"  # ``nephos report --notify``: a report sent as a notification, never stored


class Severity(enum.StrEnum):
    """How loud an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class EventKind(enum.StrEnum):
    """The kind of a change-feed event (DESIGN.md, the live stream protocol)."""

    CHECK = "check"
    METRIC = "metric"
    ALERT = "alert"
    INSTANCE = "instance"


class InstanceState(enum.StrEnum):
    """The normalised state vocabulary of a cloud instance (reference/providers.md)."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SUSPENDED = "suspended"
    MAINTENANCE = "maintenance"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    ERROR = "error"
    UNKNOWN = "unknown"


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class LatencyThresholds:
    """Latency tiers: healthy below ``degraded``, degraded up to ``unhealthy``, unhealthy above."""

    degraded: timedelta = timedelta(seconds=1)
    unhealthy: timedelta = timedelta(seconds=3)

    def classify(self, latency: timedelta) -> Health:
        """The health that ``latency`` alone earns."""
        if latency > self.unhealthy:
            return Health.UNHEALTHY
        if latency >= self.degraded:
            return Health.DEGRADED
        return Health.HEALTHY


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """Client TLS settings for HTTPS and TLS checks."""

    verify: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    min_version: str | None = None  # "1.2" or "1.3"


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """Request settings of an HTTP/HTTPS check."""

    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    expected_status: tuple[int, ...] = ()  # empty: any 2xx/3xx unless conditions say otherwise
    follow_redirects: bool = True
    max_redirects: int = 10
    max_body_bytes: int = 1024 * 1024
    ip_family: str | None = None  # None, "ipv4" or "ipv6"
    proxy: str | None = None


@dataclass(frozen=True, slots=True)
class DnsOptions:
    """Query settings of a DNS check."""

    record_type: str = "A"
    resolvers: tuple[str, ...] = ()  # "ip" or "ip:port"; empty: the system resolver
    expected: tuple[str, ...] = ()  # the expected answer set, compared as a set
    expected_rcode: str = "NOERROR"


@dataclass(frozen=True, slots=True)
class TcpOptions:
    """Settings of a TCP check."""

    send: str | None = None
    expect: str | None = None  # a regular expression matched against what is read


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A recurring window in which checks run but notifications are muted."""

    start: str  # "HH:MM" local time in ``timezone``
    duration: timedelta
    weekdays: tuple[int, ...] = ()  # 0 = Monday; empty: every day
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class AlertRule:
    """How failures of a target become alerts and who hears of them."""

    notify: tuple[str, ...] = ()
    failure_threshold: int = 3
    success_threshold: int = 2
    send_on_resolved: bool = True
    reminder_interval: timedelta | None = None
    severity: Severity = Severity.CRITICAL
    on_degraded: bool = False  # also alert when the target is only degraded
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """One configured active check.

    ``address`` is a URL for http (``https://host/path``), ``host:port`` for tls and tcp, and a
    domain name for dns. ``conditions`` holds the source text; ``nephos.probes.conditions``
    parses it (the config loader already rejected any that do not parse).
    """

    name: str
    kind: CheckKind
    address: str
    interval: timedelta = timedelta(minutes=2)
    failing_interval: timedelta | None = None  # faster re-check while failing
    timeout: timedelta = timedelta(seconds=10)
    conditions: tuple[str, ...] = ()
    latency: LatencyThresholds = field(default_factory=LatencyThresholds)
    provider: str = "other"
    region: str | None = None
    group: str | None = None
    instance: str | None = None  # the instance this target runs on, for root-cause alerts
    http: HttpOptions = field(default_factory=HttpOptions)
    tls: TlsOptions = field(default_factory=TlsOptions)
    dns: DnsOptions = field(default_factory=DnsOptions)
    tcp: TcpOptions = field(default_factory=TcpOptions)
    alerts: tuple[AlertRule, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    runbook: str | None = None
    canary: bool = False  # a self-connectivity canary: when it fails, the sentinel is offline
    enabled: bool = True


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """The outcome of one condition on one observation, in words."""

    condition: str
    passed: bool
    actual: str | None = None  # the resolved left-hand value, as text
    description: str = ""  # e.g. "[STATUS] was 503, expected == 200"


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """What a TLS handshake showed about the certificate and the session."""

    leaf_not_after: datetime | None = None
    leaf_not_before: datetime | None = None
    chain_earliest_not_after: datetime | None = None
    subject: str | None = None
    issuer: str | None = None
    sans: tuple[str, ...] = ()
    hostname_match: bool | None = None
    chain_valid: bool | None = None
    chain_error: str | None = None
    version: str | None = None  # "TLSv1.3"
    cipher: str | None = None


@dataclass(frozen=True, slots=True)
class DnsInfo:
    """What a DNS query returned."""

    record_type: str
    rcode: str
    answers: tuple[str, ...] = ()
    resolver: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One run of one target's check, classified.

    ``latency_ms`` is the total time of the check. ``timings`` holds phase timings in ms
    (``dns``, ``connect``, ``tls``, ``ttfb``, ``total``) where the client exposes them.
    ``reason`` says in words why the result is not healthy, or is empty.
    """

    target: str
    kind: CheckKind
    ts: datetime
    health: Health
    latency_ms: float
    success: bool  # every condition passed and the check itself did not error
    provider: str = "other"
    region: str | None = None
    status_code: int | None = None
    ip: str | None = None
    error: str | None = None
    reason: str = ""
    conditions: tuple[ConditionResult, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    tls: TlsInfo | None = None
    dns: DnsInfo | None = None
    sentinel_offline: bool = False  # the sentinel itself had no connectivity
    flapping: bool = False
    instance: str | None = None  # the instance the target names (Target.instance)


# --------------------------------------------------------------------------- alerts


@dataclass(frozen=True, slots=True)
class Alert:
    """One entry of the alert book.

    ``id`` is short and readable (``al-7f3k2q``); ``dedup_key`` is stable per target and
    condition so that the same failure never opens two alerts. ``facts`` carries the evidence
    (observed value, thresholds, baseline) that the insights narrate.
    """

    id: str
    dedup_key: str
    target: str
    source: AlertSource
    state: AlertState
    severity: Severity
    title: str
    message: str
    started_at: datetime
    updated_at: datetime
    condition: str | None = None
    value: str | None = None
    provider: str = "other"
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    last_notified_at: datetime | None = None
    notify_count: int = 0
    flapping: bool = False
    suppressed_by: str | None = None  # the id of the root alert that explains this one
    facts: Mapping[str, Any] = field(default_factory=dict)
    version: int = 0  # optimistic concurrency for conditional writes


# --------------------------------------------------------------------------- inventory


@dataclass(frozen=True, slots=True)
class Instance:
    """A cloud or bare-metal machine, normalised across providers."""

    provider: str
    id: str
    name: str
    state: InstanceState
    raw_state: str = ""
    substate: str | None = None
    account: str | None = None
    region: str | None = None
    zone: str | None = None
    public_ips: tuple[str, ...] = ()
    private_ips: tuple[str, ...] = ()
    size: str | None = None
    vcpus: int | None = None
    memory_mb: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    health_signal: str | None = None  # the provider's own, e.g. EC2 status checks
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One value of one series; a series is instance + metric name + unit."""

    instance: str
    metric: str
    unit: str
    ts: datetime
    value: float
    provider: str = "other"


# --------------------------------------------------------------------------- change feed


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the hot store's change feed; ``seq`` is assigned at commit."""

    seq: int
    kind: EventKind
    ts: datetime
    data: Mapping[str, Any]


# --------------------------------------------------------------------------- JSON


def _encode(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def to_dict(value: Any) -> dict[str, Any]:
    """A dataclass as a JSON-able dict: enums as values, datetimes as RFC 3339 UTC,
    timedeltas as seconds."""
    encoded = _encode(value)
    assert isinstance(encoded, dict)
    return encoded


T = TypeVar("T")


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _decode(tp: Any, value: Any) -> Any:
    import types
    import typing

    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode(args[0], value) if len(args) == 1 else value
    if origin is tuple:
        item_types = typing.get_args(tp)
        inner = item_types[0] if item_types else Any
        return tuple(_decode(inner, v) for v in value)
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        return dict(value)
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return tp(value)
        if tp is datetime:
            return parse_time(value) if isinstance(value, str) else value
        if tp is timedelta:
            return timedelta(seconds=float(value))
        if dataclasses.is_dataclass(tp):
            return from_dict(tp, value)
        if tp is float:
            return float(value)
    return value


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """The inverse of :func:`to_dict` for the dataclasses of this module.

    Unknown keys are ignored so that newer writers do not break older readers.
    """
    hints = _field_types(cls)  # type: ignore[arg-type]
    kwargs = {k: _decode(hints[k], v) for k, v in data.items() if k in hints}
    return cls(**kwargs)


@functools.cache
def _field_types(cls: type[Any]) -> dict[str, Any]:
    """The resolved type of every field of a dataclass; resolving is slow, so once per class."""
    import typing

    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}
