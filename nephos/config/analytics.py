"""The ``analytics`` and ``etl`` sections: what the sentinel does with metrics and history.

``analytics`` tunes the online anomaly detector and the forecasts the sentinel runs;
``etl`` turns on the ETL inside ``nephos sentinel run``. Both are typed here, so that a bad
value is reported with its file, line and key path when the config loads.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from nephos.config.section import Section
from nephos.config.types import AnalyticsConfig, EtlConfig
from nephos.config.values import closest, show
from nephos.errors import ConfigError

__all__ = ["ANALYTICS_KEYS", "ETL_KEYS", "read_analytics", "read_etl"]

ANALYTICS_KEYS = frozenset(
    {"anomalies", "forecasts", "forecast_interval", "horizon", "window", "silence_check",
     "notify", "thresholds", "max_series"}
)  # fmt: skip
"""The keys ``analytics`` may hold."""
ETL_KEYS = frozenset({"enabled", "batch_size", "max_batch_age"})
"""The keys ``etl`` may hold."""


def read_analytics(root: Section, notifiers: Collection[str]) -> AnalyticsConfig:
    """The ``analytics`` section, with defaults for what the file leaves out.

    Args:
        root: the top-level section.
        notifiers: the configured notifier names; ``notify`` may only name these.

    Raises:
        ConfigError: an unknown key, a value of the wrong type or out of range, or an unknown
            notifier.
    """
    base = AnalyticsConfig()
    section = root.section("analytics", ANALYTICS_KEYS)
    if section is None:
        return base
    interval = section.duration(
        "forecast_interval", base.forecast_interval, minimum=timedelta(minutes=1)
    )
    return AnalyticsConfig(
        anomalies=section.boolean("anomalies", base.anomalies),
        forecasts=section.boolean("forecasts", base.forecasts),
        forecast_interval=interval,
        horizon=section.duration("horizon", base.horizon, minimum=timedelta(hours=1)),
        window=section.duration("window", base.window, minimum=timedelta(hours=12)),
        silence_check=section.duration(
            "silence_check", base.silence_check, minimum=timedelta(seconds=1)
        ),
        notify=_notify(section, notifiers),
        thresholds=_thresholds(section),
        max_series=section.integer("max_series", base.max_series, minimum=1, maximum=10_000_000),
    )


def _notify(section: Section, notifiers: Collection[str]) -> tuple[str, ...] | None:
    if not section.has("notify"):
        return None
    names = section.texts("notify")
    for (path, node), name in zip(section.nodes("notify"), names, strict=True):
        if name not in notifiers:
            hint = closest(name, notifiers)
            near = f"did you mean {hint}? " if hint else ""
            known = ", ".join(sorted(notifiers)) or "none are configured"
            raise ConfigError(
                f"unknown notifier {show(name)} ({near}known: {known})",
                file=section.file,
                line=node.line,
                path=path,
            )
    return names


def _thresholds(section: Section) -> dict[str, float]:
    node = section.get("thresholds")
    if node is None or node.value is None:
        return {}
    # Metric names are open (disk_percent, latency_ms, an ingested series): every key is known.
    names = frozenset(str(key) for key in node.value) if node.is_mapping else frozenset()
    inner = section.section("thresholds", names)
    assert inner is not None  # the node is set
    return {name: inner.number(name, 0.0, minimum=0.0) for name in sorted(names)}


def read_etl(root: Section) -> EtlConfig:
    """The ``etl`` section; a file that has one runs the ETL in the sentinel unless disabled.

    Raises:
        ConfigError: an unknown key, or a value of the wrong type or out of range.
    """
    base = EtlConfig()
    node = root.get("etl")
    if node is None:
        return base
    if node.value is None:  # `etl:` alone: on, with the defaults
        return EtlConfig(enabled=True)
    section = root.section("etl", ETL_KEYS)
    assert section is not None  # the node is set
    return EtlConfig(
        enabled=section.boolean("enabled", True),
        batch_size=section.integer("batch_size", base.batch_size, minimum=1, maximum=1_000_000),
        max_batch_age=section.duration("max_batch_age", base.max_batch_age),
    )
