"""The validated configuration as frozen dataclasses: what the rest of nephos reads.

The loader (``loader.py``) turns YAML into these; nothing outside ``nephos.config`` sees YAML
or raw dicts, except the per-backend ``options`` mappings that each backend validates itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nephos.model import AlertRule, LatencyThresholds, MaintenanceWindow, Target

__all__ = [
    "AnalyticsConfig",
    "Config",
    "EtlConfig",
    "HotStoreConfig",
    "HubConfig",
    "NotifierConfig",
    "SentinelConfig",
    "StorageConfig",
    "WarehouseConfig",
]


@dataclass(frozen=True, slots=True)
class HotStoreConfig:
    backend: str = "sqlite"
    path: str = "~/.local/share/nephos/hot.db"
    retention: timedelta = timedelta(days=7)
    spool_dir: str | None = None  # default: beside the store file, "<path>.spool"
    spool_max_bytes: int = 256 * 1024 * 1024
    options: Mapping[str, Any] = field(
        default_factory=dict
    )  # backend-specific (table names, region)


@dataclass(frozen=True, slots=True)
class WarehouseConfig:
    backend: str = "duckdb"
    path: str = "~/.local/share/nephos/warehouse.duckdb"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StorageConfig:
    hot: HotStoreConfig = field(default_factory=HotStoreConfig)
    warehouse: WarehouseConfig = field(default_factory=WarehouseConfig)


@dataclass(frozen=True, slots=True)
class HubConfig:
    listen: str = "127.0.0.1:8765"
    token: str | None = None
    max_frame_bytes: int = 1024 * 1024
    # POST /ingest: None is the hub's host and port + 1; "off" serves no ingest.
    ingest_listen: str | None = None


@dataclass(frozen=True, slots=True)
class SentinelConfig:
    interval: timedelta = timedelta(minutes=2)
    failing_interval: timedelta | None = timedelta(seconds=30)
    timeout: timedelta = timedelta(seconds=10)
    concurrency: int = 200
    latency: LatencyThresholds = field(default_factory=LatencyThresholds)
    default_alerts: tuple[AlertRule, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    flap_window: int = 10  # results considered for flap detection
    flap_threshold: float = 0.5  # share of state changes in the window that marks flapping
    certificate_reminders: tuple[int, ...] = (21, 14, 7)  # days before expiry
    offline_when_all_fail: bool = True  # every target failing at once means we are offline
    metrics_port: int | None = None


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    name: str
    type: str  # log, webhook, slack, sns
    options: Mapping[str, Any] = field(default_factory=dict)
    title_template: str | None = None
    template: str | None = (
        None  # placeholders: {target} {state} {condition} {value} {since} {alert_id}
    )
    events: tuple[str, ...] = ()  # empty: every event


@dataclass(frozen=True, slots=True)
class AnalyticsConfig:
    """What the sentinel does with metrics: online anomaly detection and capacity forecasts."""

    anomalies: bool = True
    forecasts: bool = True
    forecast_interval: timedelta = timedelta(hours=12)
    horizon: timedelta = timedelta(hours=48)
    window: timedelta = timedelta(days=3)
    silence_check: timedelta = timedelta(minutes=1)  # how often missing data is looked for
    notify: tuple[str, ...] | None = None  # None: the notifiers of the sentinel.alerts rules
    thresholds: Mapping[str, float] = field(default_factory=dict)  # per metric, for forecasts
    max_series: int = 100_000  # detectors kept in memory; the least recently fed go first


@dataclass(frozen=True, slots=True)
class EtlConfig:
    """The ETL run inside ``nephos sentinel run`` (off unless the file has an ``etl`` section)."""

    enabled: bool = False
    batch_size: int = 5000
    max_batch_age: timedelta = timedelta(milliseconds=500)


@dataclass(frozen=True, slots=True)
class Config:
    """A whole validated configuration. ``source`` is the file it came from, if any."""

    source: str | None = None
    storage: StorageConfig = field(default_factory=StorageConfig)
    hub: HubConfig = field(default_factory=HubConfig)
    sentinel: SentinelConfig = field(default_factory=SentinelConfig)
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    targets: tuple[Target, ...] = ()
    notifiers: Mapping[str, NotifierConfig] = field(default_factory=dict)
    insights: Mapping[str, Any] = field(default_factory=dict)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    etl: EtlConfig = field(default_factory=EtlConfig)
