"""The hub's Prometheus metrics, read from the hub when scraped so the hot path pays nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nephos.stream.hub import Hub

__all__ = ["HubCollector"]


class HubCollector:
    """A prometheus_client collector over one hub: register it in a CollectorRegistry.

    Gauges: ``nephos_hub_connections``, ``nephos_hub_seq`` (the newest seq the feed read) and
    ``nephos_hub_client_lag_events{client}`` (events queued for a client and not yet sent);
    counter: ``nephos_hub_lags_total``. While the hub serves ingest, the counters
    ``nephos_ingest_points_total`` (accepted), ``nephos_ingest_spooled_points_total`` (of those,
    spooled because the store was down) and ``nephos_ingest_refused_requests_total``.
    """

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Any]:
        """The current values, as prometheus_client metric families."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        hub = self._hub
        sessions = hub.sessions
        yield GaugeMetricFamily(
            "nephos_hub_connections", "Stream clients connected.", value=len(sessions)
        )
        yield GaugeMetricFamily("nephos_hub_seq", "Newest seq read by the feed.", hub.position)
        lag = GaugeMetricFamily(
            "nephos_hub_client_lag_events",
            "Events queued for a client and not yet sent.",
            labels=["client"],
        )
        for session in sessions:
            lag.add_metric([session.name], len(session.outbox))
        yield lag
        lags = hub.lags_total + sum(s.lag_count for s in sessions)
        yield CounterMetricFamily("nephos_hub_lags", "Times a client lagged.", value=lags)
        ingest = hub.ingest
        if ingest is not None:
            yield CounterMetricFamily(
                "nephos_ingest_points", "Points accepted by POST /ingest.", ingest.accepted_total
            )
            yield CounterMetricFamily(
                "nephos_ingest_spooled_points",
                "Accepted points spooled because the store was unavailable.",
                ingest.spooled_total,
            )
            yield CounterMetricFamily(
                "nephos_ingest_refused_requests",
                "POST /ingest requests refused (invalid, too large, unauthorised, spool full).",
                ingest.refused_total,
            )
