"""Prometheus metrics of the sentinel, in a registry of its own, and the server that exposes them.

Per target: success, duration, status code, certificate expiry and health. For the sentinel:
checks by result, check errors, schedule jitter, spooled writes and notifications. The
registry is never the process-global one, so that two sentinels (or tests) do not collide.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nephos.errors import BackendError
from nephos.model import CheckResult, Health

__all__ = ["HEALTH_VALUES", "MetricsServer", "SentinelMetrics", "SentinelStats"]

log = logging.getLogger(__name__)

HEALTH_VALUES = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.UNHEALTHY: 2, Health.UNKNOWN: -1}
"""The value of ``nephos_target_health`` per health: the exit code, and -1 for unknown."""

_JITTER_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class SentinelStats:
    """Figures read at scrape time from the parts that own them."""

    spool_pending: int = 0
    spooled_total: int = 0
    notifications_delivered: int = 0
    notifications_failed: int = 0


@dataclass(slots=True)
class _Series:
    """The per-target gauge children, cached so that a result costs no label lookups."""

    key: tuple[str, str, str]
    success: Any
    duration: Any
    health: Any = None
    status: Any = None
    cert: Any = None


class _StatsCollector(Collector):
    def __init__(self, read: Callable[[], SentinelStats]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        stats = self._read()
        yield GaugeMetricFamily(
            "nephos_sentinel_spool_pending",
            "Results waiting in the on-disk spool for the store to recover.",
            value=stats.spool_pending,
        )
        yield CounterMetricFamily(
            "nephos_sentinel_writes_spooled",
            "Results that went to the spool because the store could not be written.",
            value=stats.spooled_total,
        )
        notes = CounterMetricFamily(
            "nephos_sentinel_notifications",
            "Notifications by outcome.",
            labels=["outcome"],
        )
        notes.add_metric(["delivered"], stats.notifications_delivered)
        notes.add_metric(["failed"], stats.notifications_failed)
        yield notes


class SentinelMetrics:
    """The sentinel's metrics; :meth:`observe` is called once per result on the hot path.

    Args:
        stats: read at every scrape for the figures other parts own (spool, notifications).
    """

    def __init__(self, stats: Callable[[], SentinelStats] | None = None) -> None:
        self.registry = CollectorRegistry()
        labels = ["target", "kind", "provider"]
        r = self.registry
        self.success = Gauge(
            "nephos_target_success", "1 if the last check passed.", labels, registry=r
        )
        self.duration = Gauge(
            "nephos_target_duration_seconds", "Duration of the last check.", labels, registry=r
        )
        self.status_code = Gauge(
            "nephos_target_status_code", "HTTP status of the last check.", labels, registry=r
        )
        self.cert_expiry = Gauge(
            "nephos_target_certificate_expiry_timestamp_seconds",
            "Unix time at which the leaf certificate expires.",
            labels,
            registry=r,
        )
        self.health = Gauge(
            "nephos_target_health",
            "Health of the last check: 0 healthy, 1 degraded, 2 unhealthy, -1 unknown.",
            labels,
            registry=r,
        )
        self.checks = Counter(
            "nephos_sentinel_checks", "Checks by resulting health.", ["result"], registry=r
        )
        self.errors = Counter(
            "nephos_sentinel_check_errors", "Checks that could not complete.", registry=r
        )
        self.offline = Counter(
            "nephos_sentinel_offline_results",
            "Results taken while the sentinel looked offline.",
            registry=r,
        )
        self.jitter = Histogram(
            "nephos_sentinel_schedule_jitter_seconds",
            "Actual minus planned start of a check.",
            buckets=_JITTER_BUCKETS,
            registry=r,
        )
        if stats is not None:
            r.register(_StatsCollector(stats))
        self._checks_by_health = {h: self.checks.labels(h.value) for h in Health}
        self._series: dict[str, _Series] = {}

    def observe(self, result: CheckResult) -> None:
        """Record one classified result.

        The status code series appears with the first HTTP answer (then 0 means no answer,
        as in blackbox_exporter); the certificate series with the first certificate seen.
        """
        key = (result.target, result.kind.value, result.provider)
        series = self._series.get(result.target)
        if series is None or series.key != key:
            if series is not None:
                self.forget(result.target)
            series = _Series(key, self.success.labels(*key), self.duration.labels(*key))
            series.health = self.health.labels(*key)
            self._series[result.target] = series
        series.success.set(1 if result.success else 0)
        series.duration.set(result.latency_ms / 1000)
        series.health.set(HEALTH_VALUES[result.health])
        if result.status_code is not None and series.status is None:
            series.status = self.status_code.labels(*key)
        if series.status is not None:
            series.status.set(result.status_code or 0)
        not_after = result.tls.leaf_not_after if result.tls is not None else None
        if not_after is not None:
            if series.cert is None:
                series.cert = self.cert_expiry.labels(*key)
            series.cert.set(not_after.timestamp())
        self._checks_by_health[result.health].inc()
        if result.error is not None:
            self.errors.inc()
        if result.sentinel_offline:
            self.offline.inc()

    def observe_jitter(self, seconds: float) -> None:
        """Record one schedule jitter sample."""
        self.jitter.observe(seconds)

    def forget(self, target: str) -> None:
        """Drop the series of a target that left the config."""
        series = self._series.pop(target, None)
        if series is None:
            return
        for gauge in (self.success, self.duration, self.status_code, self.cert_expiry, self.health):
            with contextlib.suppress(KeyError):
                gauge.remove(*series.key)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return bytes(generate_latest(self.registry))


class MetricsServer:
    """Serves ``GET /metrics`` on 127.0.0.1 from an aiohttp server on the running loop.

    Args:
        metrics: what to expose.
        port: the TCP port; 0 picks a free one (read :attr:`port` after :meth:`start`).
        host: the address to bind; loopback by default, since metrics are not authenticated.
    """

    def __init__(self, metrics: SentinelMetrics, port: int, host: str = "127.0.0.1") -> None:
        self._metrics = metrics
        self._host = host
        self.port = port
        self._runner: object | None = None

    async def start(self) -> None:
        """Start listening.

        Raises:
            BackendError: the port could not be bound.
        """
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            return web.Response(
                body=self._metrics.exposition(),
                headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
            )

        app = web.Application()
        app.router.add_get("/metrics", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise BackendError(
                f"metrics: cannot listen on {self._host}:{self.port}: {exc.strerror}"
            ) from exc
        self._runner = runner
        sockets = getattr(site, "_server", None)
        if self.port == 0 and sockets is not None and sockets.sockets:
            self.port = int(sockets.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening; idempotent."""
        from aiohttp import web

        runner, self._runner = self._runner, None
        if isinstance(runner, web.AppRunner):
            await runner.cleanup()
