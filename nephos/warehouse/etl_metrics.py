"""Prometheus metrics of the ETL, registered in a registry that the caller owns.

Lag in events and in seconds, the checkpoint, events loaded, failed attempts and whether the
warehouse is reachable, each labelled with the consumer's name so that two ETLs can share a
registry. Never the process-global registry.
"""

from __future__ import annotations

from typing import Any

from nephos.warehouse.etl_lag import EtlLag

__all__ = ["EtlMetrics"]


class EtlMetrics:
    """The ETL's gauges and counters in ``registry`` (a prometheus_client CollectorRegistry).

    Args:
        registry: where the metrics are registered.
        name: the consumer name, the value of the ``consumer`` label.
    """

    def __init__(self, registry: Any, name: str) -> None:
        from prometheus_client import Counter, Gauge

        def gauge(metric: str, doc: str) -> Any:
            return _family(registry, Gauge, metric, doc).labels(name)

        def counter(metric: str, doc: str) -> Any:
            return _family(registry, Counter, metric, doc).labels(name)

        self.lag_events = gauge(
            "nephos_etl_lag_events", "Events committed to the hot store and not yet checkpointed."
        )
        self.lag_seconds = gauge(
            "nephos_etl_lag_seconds", "Age of the oldest event not yet loaded into the warehouse."
        )
        self.checkpoint = gauge(
            "nephos_etl_checkpoint_seq", "The last seq loaded and checkpointed."
        )
        self.warehouse_up = gauge(
            "nephos_etl_warehouse_up", "1 while the warehouse answers, 0 during an outage."
        )
        self.loaded = counter(
            "nephos_etl_events_loaded", "Events read from the feed and loaded (new or not)."
        )
        self.batches = counter("nephos_etl_batches", "Batches loaded and checkpointed.")
        self.failures = counter(
            "nephos_etl_load_failures", "Attempts that failed because a backend did not answer."
        )
        self.missing = counter(
            "nephos_etl_missing_events",
            "Seqs absent from the feed when read: purged before they reached the warehouse.",
        )

    def observe_lag(self, lag: EtlLag) -> None:
        """Set the lag and checkpoint gauges from ``lag``."""
        self.lag_events.set(lag.events)
        self.lag_seconds.set(lag.seconds)
        self.checkpoint.set(lag.checkpoint)


def _family(registry: Any, kind: Any, metric: str, doc: str) -> Any:
    """The metric family ``metric`` in ``registry``, created on first use.

    A second ETL on the same registry (another consumer, or a new ETL after a config reload)
    shares the families instead of failing on a duplicate name.
    """
    try:
        return kind(metric, doc, ["consumer"], registry=registry)
    except ValueError:
        # prometheus_client has no public lookup by name; this mapping has been stable for years.
        existing = getattr(registry, "_names_to_collectors", {}).get(metric)
        if not isinstance(existing, kind):
            raise
        return existing
